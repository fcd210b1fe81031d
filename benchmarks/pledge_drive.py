"""What a pledge costs as a drive grows, against a join on a task of the same size.

Run by hand from the repository root:
`python -m benchmarks.pledge_drive [--postgres URL] [--people 900]`.
A drive whose goal is one more than `people` takes `people` pledges (six in ten plain, three
conditional on a number of others, one on a named person), then the last pledge tips it. Each
pledge resolves the drive again from all its pledges (bot.pledges), so its cost grows with
the drive; the same number of joins on a task without a need is the floor. Also timed: the
resolution alone, for 10,000 pledges.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks.bench_core import TEAM, build
from bot import pledges
from bot.events import CommandInvoked, Inbound
from bot.inbox import Inbox
from bot.refs import ChannelRef, MemberRef


async def run(inbox: Inbox, lines: list[tuple[str, str]]) -> list[float]:
    channel = ChannelRef(TEAM, "general")
    latencies = []
    for who, text in lines:
        start = time.perf_counter()
        await inbox.handle(Inbound(CommandInvoked(MemberRef(TEAM, who, who), channel, text)))
        latencies.append(time.perf_counter() - start)
    return latencies


def pledge_lines(people: int) -> list[tuple[str, str]]:
    """The drive and its pledges; its goal is what the group is with the last one, so only
    the last pledge (plain: the group without it is smaller) tips it."""
    rng = random.Random(7)
    lines, conditions = [], []
    for p in range(people):
        roll = rng.random()
        if roll < 0.6 or p == 0:
            condition, pledge = "", pledges.Pledge(f"p{p}")
        elif roll < 0.9:
            others = rng.randrange(1, p + 1)
            condition, pledge = f" if:{others}", pledges.Pledge(f"p{p}", others=others)
        else:
            named = f"p{rng.randrange(p)}"
            condition = f" if:@{named}"
            pledge = pledges.Pledge(f"p{p}", needs=frozenset({named}))
        lines.append((f"p{p}", f"join #1{condition}"))
        conditions.append(pledge)
    goal = len(pledges.resolve([*conditions, pledges.Pledge("last")]))
    start = ("lead", f'pledge "Plant trees" goal:{goal} deadline:"in 5 days"')
    return [start, *lines, ("last", "join #1")]


def join_lines(people: int) -> list[tuple[str, str]]:
    return [("lead", 'task "Plant trees"')] + [(f"p{p}", "join #1") for p in range(people + 1)]


def summary(name: str, latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies[1:])  # the creating command left out
    last = sorted(x * 1000 for x in latencies[-100:])
    return (
        f"{name:7} median {statistics.median(ms):6.2f} ms  p95 {ms[int(len(ms) * 0.95)]:6.2f} ms"
        f"  last 100: median {statistics.median(last):6.2f} ms"
    )


def bench(url: str, people: int, tmp: Path | None) -> None:
    backend = make_url(url).get_backend_name()
    results = {}
    for name, lines in (("pledge", pledge_lines(people)), ("join", join_lines(people))):
        target = f"sqlite:///{tmp / f'{name}.db'}" if tmp is not None else url
        inbox, dispatcher, chat = build(target)
        results[name] = asyncio.run(run(inbox, lines))
        if name == "pledge":
            asyncio.run(dispatcher.drain())
            tipped = [s for s in chat.sent if s.kind == "message" and "tipped" in s.text]
            assert len(tipped) == 1, "the drive should tip once, at the last pledge"
        if tmp is None:
            _empty(url)
    ratio = statistics.median(results["pledge"][-100:]) / statistics.median(results["join"][-100:])
    print(f"{backend}, {people:,} pledgers:")
    for name, latencies in results.items():
        print("  " + summary(name, latencies))
    print(f"  a pledge on the full drive costs {ratio:.1f}× a join on a task of that size")


def _empty(url: str) -> None:
    from sqlalchemy import MetaData

    from storage.db import make_engine

    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)
    engine.dispose()


def bench_resolve(count: int = 10_000) -> None:
    rng = random.Random(7)
    found = [
        pledges.Pledge(
            i,
            others=rng.randrange(0, i + 1) if rng.random() < 0.3 else 0,
            needs=frozenset({rng.randrange(i)}) if i and rng.random() < 0.1 else frozenset(),
        )
        for i in range(count)
    ]
    start = time.perf_counter()
    group = pledges.resolve(found)
    took = time.perf_counter() - start
    print(f"resolve() alone, {count:,} pledges: {took * 1000:.1f} ms ({len(group):,} in the group)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be emptied")
    parser.add_argument("--people", type=int, default=900)  # goals count up to 1,000
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench("sqlite://", args.people, Path(tmp))
    if args.postgres:
        _empty(args.postgres)
        bench(args.postgres, args.people, None)
    bench_resolve()


if __name__ == "__main__":
    main()
