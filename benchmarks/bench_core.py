"""How fast the core turns commands into stored changes, on SQLite and PostgreSQL.

Run by hand from the repository root:
`python -m benchmarks.bench_core [--postgres URL] [--tasks 200] [--people 20]`.
Each task is created by a command, then `people` members join it (the later ones go on the
waitlist) and one withdraws, which promotes someone: the whole path an adapter drives, the
event recorded in the inbox, then applied in one transaction with the audit log and the
outbox rows for what it says. The outbox is then delivered to a chat that only records.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.app import Coop
from bot.clock import ManualClock, SystemClock
from bot.dispatcher import Dispatcher
from bot.events import CommandInvoked, Inbound
from bot.inbox import Inbox
from bot.pacing import Pacing
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork
from tests.harness import RecordingChat

TEAM = CommunityRef("bench", "T1")


def build(url: str) -> tuple[Inbox, Dispatcher, RecordingChat]:
    """The core's inbox and dispatcher on `url`, delivering to the tests' recording chat."""
    engine = make_engine(url)
    read = make_engine(url, read_only=True)
    upgrade(engine)
    clock = ManualClock(datetime(2026, 11, 27, 10, tzinfo=UTC))

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    def reader() -> SqlUnitOfWork:
        return SqlUnitOfWork(read)

    coop = Coop(uow, clock, Preferences(), reader, SystemClock())
    chat = RecordingChat()
    coop.attach(TEAM.platform, chat)
    inbox = Inbox(coop, uow, SystemClock(), "bench")
    dispatcher = Dispatcher(uow, reader, SystemClock(), "bench")
    dispatcher.attach(TEAM.platform, chat, Pacing())
    return inbox, dispatcher, chat


async def drive(inbox: Inbox, tasks: int, people: int) -> list[float]:
    channel = ChannelRef(TEAM, "general")
    latencies: list[float] = []

    async def say(who: str, text: str) -> None:
        start = time.perf_counter()
        await inbox.handle(Inbound(CommandInvoked(MemberRef(TEAM, who, who), channel, text)))
        latencies.append(time.perf_counter() - start)

    for n in range(1, tasks + 1):
        await say("lead", f'task "Task {n}" need:{people // 2} due:"in 3 days"')
        for p in range(people):
            await say(f"p{p}", f"join #{n}")
        await say("p0", f"leave #{n}")
    return latencies


def bench(url: str, tasks: int, people: int) -> None:
    inbox, dispatcher, chat = build(url)
    start = time.perf_counter()
    latencies = asyncio.run(drive(inbox, tasks, people))
    elapsed = time.perf_counter() - start
    ms = sorted(x * 1000 for x in latencies)
    started = time.perf_counter()
    asyncio.run(dispatcher.drain())
    delivered = time.perf_counter() - started
    print(
        f"{make_url(url).get_backend_name():10} {len(ms):6} commands  {len(ms) / elapsed:7.0f}/s  "
        f"median {statistics.median(ms):5.1f} ms  p95 {ms[int(len(ms) * 0.95)]:5.1f} ms  "
        f"max {ms[-1]:6.1f} ms;  {len(chat.sent)} deliveries in {delivered:5.2f} s "
        f"({len(chat.sent) / delivered:5.0f}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be filled")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{Path(tmp) / 'bench.db'}", args.tasks, args.people)
    if args.postgres:
        bench(args.postgres, args.tasks, args.people)


if __name__ == "__main__":
    main()
