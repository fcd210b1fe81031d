"""Every benchmark against its floor, measured side by side in one run; one table.

Run by hand from the repository root: `python -m benchmarks [--quick] [--postgres URL]
[--runs 3]`. Each path is measured `runs` times (coopbot and its floor each time) and the
table shows the medians; `--quick` uses tiny loads, only to check that everything runs.
The PostgreSQL database given is emptied.
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from dataclasses import replace

from benchmarks import discord_paths, slack_paths, store_paths
from benchmarks.common import Result, table


def machine() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    return (
        f"{len(models)} × {models[0] if models else platform.processor()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def medians(runs: list[list[Result]]) -> list[Result]:
    """Row by row, the run whose ratio is the median, with the floor measured beside it."""
    merged = []
    for rows in zip(*runs, strict=True):
        middle = sorted(rows, key=lambda r: r.ratio)[len(rows) // 2]
        others = ", ".join(f"{r.ratio:.3f}" for r in rows)
        merged.append(replace(middle, note=f"{middle.note} (ratios of {len(rows)} runs: {others})"))
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny loads: only check it runs")
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be emptied")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    suites: list[Callable[[], list[Result]]] = [
        lambda: slack_paths.run(args.quick),
        lambda: discord_paths.run(args.quick),
        lambda: store_paths.run(args.quick, args.postgres),
    ]
    results: list[Result] = []
    for suite in suites:
        results += medians([suite() for _ in range(args.runs)])
    print(machine())
    print(table(results))


if __name__ == "__main__":
    main()
