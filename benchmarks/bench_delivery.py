"""How fast the outbox drains, on SQLite and PostgreSQL.

Run by hand from the repository root:
`python -m benchmarks.bench_delivery [--postgres URL] [--rows 2000]`. `rows` direct messages to
as many people are written to the outbox at once, then delivered by the dispatcher: once to a
chat that only counts (the outbox's own cost: claims under leases, fenced results), once
through the real Slack adapter to the local fake Slack (the whole way out, each message with
its delivery key in Slack's metadata).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from benchmarks.bench_core import TEAM, build
from bot.cards import DirectMessage
from bot.clock import SystemClock
from bot.outbox import deliveries
from bot.refs import CommunityRef, MemberRef
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import FakeSlack
from tests.slack_support import make_core, started


def enqueue(url: str, community: CommunityRef, rows: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    people = [MemberRef(community, f"U{i:05d}") for i in range(rows)]
    with SqlUnitOfWork(engine) as uow:
        uow.outbox.enqueue(
            deliveries([DirectMessage(p, f"Hello {p.id}") for p in people]), SystemClock().now()
        )
        uow.commit()
    engine.dispose()


def empty(url: str) -> None:
    if make_url(url).get_backend_name() == "postgresql":
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()


def to_recording_chat(url: str, rows: int) -> float:
    empty(url)
    _, dispatcher, chat = build(url)
    enqueue(url, TEAM, rows)
    start = time.perf_counter()
    asyncio.run(dispatcher.drain())
    elapsed = time.perf_counter() - start
    assert len(chat.sent) == rows
    return elapsed


def through_slack(url: str, tmp: Path, rows: int) -> float:
    empty(url)
    with FakeSlack() as slack:
        core = make_core(tmp, slack, "http", database_url=url)
        enqueue(url, CommunityRef("slack", "T1"), rows)

        async def drain() -> float:
            async with started(slack, core, "http") as rig:
                start = time.perf_counter()
                await rig.idle()
                return time.perf_counter() - start

        elapsed = asyncio.run(drain())
        sent = [c for c in slack.calls_to("chat.postMessage") if c.status == 200]
        assert len(sent) == rows
    return elapsed


def report(name: str, url: str, rows: int, elapsed: float) -> None:
    backend = make_url(url).get_backend_name()
    print(f"{backend:10} {name:18} {rows} rows in {elapsed:6.2f} s  ({rows / elapsed:6.0f}/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be emptied")
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = [f"sqlite:///{Path(tmp) / 'bench.db'}"] + ([args.postgres] if args.postgres else [])
        for i, url in enumerate(urls):
            if url.startswith("sqlite"):
                url = f"sqlite:///{Path(tmp) / f'count{i}.db'}"
            report("to a recording chat", url, args.rows, to_recording_chat(url, args.rows))
        for i, url in enumerate(urls):
            if url.startswith("sqlite"):
                url = f"sqlite:///{Path(tmp) / f'slack{i}.db'}"
            report("through Slack", url, args.rows, through_slack(url, Path(tmp), args.rows))


if __name__ == "__main__":
    main()
