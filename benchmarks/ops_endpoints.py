"""What the operator's endpoints cost: a /metrics scrape and a /readyz probe with an outbox of
0, 10,000 and 100,000 undelivered rows, and what the per-event bookkeeping (counters, the
event's log line as JSON) adds to applying an event.

Run by hand from the repository root: `python -m benchmarks.ops_endpoints [--postgres URL]`
(the PostgreSQL database is emptied). A scrape counts the backlog with one query over the
outbox's active rows, so its cost grows with the backlog; the probe does not.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import text

from bot import logs
from bot.clock import ManualClock
from bot.config import Settings
from bot.events import CommandInvoked
from bot.metrics import kind, verb
from bot.ops import Ops
from bot.queues import DeliveryKind, NewDelivery
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.wiring import build_core
from storage.uow import SqlUnitOfWork
from tests.harness import START

SIZES = (0, 10_000, 100_000)


def _fill(core: object, rows: int) -> None:
    engine = core.engine  # type: ignore[attr-defined]
    with SqlUnitOfWork(engine) as uow:
        batch = [
            NewDelivery("slack", "T1", DeliveryKind.DM, f"dm:U{i % 500}", f"U{i % 500}", "{}")
            for i in range(rows)
        ]
        uow.outbox.enqueue(batch, START)
        uow.commit()


async def _timed(session: aiohttp.ClientSession, url: str, times: int) -> list[float]:
    took = []
    for _ in range(times):
        began = time.perf_counter()
        async with session.get(url) as answer:
            await answer.read()
        took.append((time.perf_counter() - began) * 1000)
    return took


async def _endpoints(url: str, times: int) -> list[tuple[str, int, float, float]]:
    core = build_core(Settings(database_url=url), clock=ManualClock(START))
    results = []
    with core.engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))
    ops = Ops(core, [])
    runner, port = await ops.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            filled = 0
            for size in SIZES:
                _fill(core, size - filled)
                filled = size
                for path in ("/metrics", "/readyz"):
                    took = await _timed(session, f"http://127.0.0.1:{port}{path}", times)
                    took.sort()
                    results.append((path, size, statistics.mean(took), took[-1]))
    finally:
        await runner.cleanup()
        ops.close()
        core.engine.dispose()
    return results


def _bookkeeping(times: int) -> tuple[float, float]:
    """Microseconds per event: the counters alone, and the counters with the JSON line."""
    from bot.metrics import Metrics

    metrics = Metrics()
    community = CommunityRef("slack", "T1")
    event = CommandInvoked(
        MemberRef(community, "U1", "ana"), ChannelRef(community, "C1"), "join #3"
    )
    began = time.perf_counter()
    for _ in range(times):
        metrics.event(metrics.applied, event)
        metrics.apply_seconds.labels("slack").observe(0.01)
    counters = (time.perf_counter() - began) / times * 1e6
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logs.Json())
    log = logging.getLogger("benchmark.events")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    began = time.perf_counter()
    for i in range(times):
        metrics.event(metrics.applied, event)
        metrics.apply_seconds.labels("slack").observe(0.01)
        log.info(
            "applied %s %s (%s, %.0f ms)",
            kind(event),
            f"slack:T1:Ev{i}",
            verb(event),
            10.0,
            extra={"event": f"slack:T1:Ev{i}", "kind": kind(event), "action": verb(event)},
        )
    return counters, (time.perf_counter() - began) / times * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be emptied")
    parser.add_argument("--times", type=int, default=20, help="requests per endpoint and size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        urls = [f"sqlite:///{Path(folder) / 'bench.db'}"]
        if args.postgres:
            urls.append(args.postgres)
        for url in urls:
            name = url.split(":", 1)[0].split("+")[0]
            for path, size, mean, worst in asyncio.run(_endpoints(url, args.times)):
                print(
                    f"{name:10} {path:9} outbox {size:>7,}: "
                    f"mean {mean:7.1f} ms, worst {worst:7.1f} ms"
                )
    counters, with_log = _bookkeeping(20_000)
    print(f"per event: counters {counters:.1f} µs; counters and a JSON log line {with_log:.1f} µs")


if __name__ == "__main__":
    main()
