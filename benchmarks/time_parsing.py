"""What reading a time costs at the longest `due:` the grammar lets through (100 characters),
in English alone and in every language dateparser knows.

Run by hand from the repository root: `python -m benchmarks.time_parsing [--cases 300]`.
Each case is 100 characters of time words, numbers and punctuation run together, mostly
unreadable: the worst case, since a time no language reads is tried in every language. The
first case of each set is timed apart (it loads the languages' data).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from datetime import UTC, datetime

from bot.errors import CoopError
from bot.grammar import SUBCOMMANDS
from bot.timeparse import languages, parse_when

WORDS = tuple(
    [
        "next",
        "friday",
        "5pm",
        "in",
        "2",
        "hours",
        "tomorrow",
        "at",
        "10:30",
        "2026-12-24",
        "18:00",
        "monday",
        "week",
        "days",
        "ago",
        "of",
        "the",
        "and",
        "1",
        "12",
        "am",
        "pm",
        "dec",
        "january",
        "1st",
        "noon",
        "midnight",
        ":",
        ",",
        "-",
        "/",
        "+",
    ]
)
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def cases(n: int, length: int) -> list[str]:
    rng = random.Random(1)
    out = []
    for _ in range(n):
        text = ""
        while len(text) < length:
            text += rng.choice(WORDS) + rng.choice((" ", "", " "))
        out.append(text[:length])
    return out


def timed(texts: list[str], langs: tuple[str, ...]) -> tuple[float, list[float]]:
    def one(text: str) -> float:
        start = time.perf_counter()
        with contextlib.suppress(CoopError):
            parse_when(text, "Europe/Berlin", NOW, languages=langs)
        return (time.perf_counter() - start) * 1000

    first = one("zz qq " + texts[0])
    return first, [one(text) for text in texts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=300)
    args = parser.parse_args()
    length = SUBCOMMANDS["task"].option("due").limit
    texts = cases(args.cases, length)
    print(f"{args.cases} times of {length} characters, Europe/Berlin")
    print("languages   first (ms)   mean   p99   worst")
    for name, langs in (("en", ("en",)), ("all", tuple(sorted(languages())))):
        first, ms = timed(texts, langs)
        p99 = statistics.quantiles(ms, n=100)[98]
        print(f"{name:<10} {first:>10.1f} {statistics.mean(ms):>6.1f} {p99:>5.1f} {max(ms):>7.1f}")


if __name__ == "__main__":
    main()
