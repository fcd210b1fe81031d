"""How fast the core turns commands into stored changes, on SQLite and PostgreSQL.

Run by hand from the repository root:
`python -m benchmarks.bench_core [--postgres URL] [--tasks 200] [--people 20]`.
Each task is created by a command, then `people` members join it (the later ones go on the
waitlist) and one withdraws, which promotes someone: the whole path an adapter drives,
including the transaction, the audit log and the card update, with a chat that only counts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.app import Coop
from bot.cards import Card
from bot.clock import ManualClock
from bot.events import CommandInvoked
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork

TEAM = CommunityRef("bench", "T1")


class CountingChat:
    """A chat port that only counts what it is asked to send."""

    def __init__(self) -> None:
        self.sent = 0

    async def post_card(self, channel: ChannelRef, card: Card, reply_to: MessageRef | None):
        self.sent += 1
        return MessageRef(channel, f"m{self.sent}")

    async def update_card(self, message: MessageRef, card: Card) -> None:
        self.sent += 1

    async def send_dm(self, to: MemberRef, text: str) -> None:
        self.sent += 1

    async def reply_private(self, to: MemberRef, channel: ChannelRef, text: str) -> None:
        self.sent += 1

    async def fetch_message_text(self, message: MessageRef) -> str | None:
        return None


async def drive(coop: Coop, tasks: int, people: int) -> list[float]:
    chat = CountingChat()
    channel = ChannelRef(TEAM, "general")
    latencies: list[float] = []

    async def say(who: str, text: str) -> None:
        start = time.perf_counter()
        await coop.handle(CommandInvoked(MemberRef(TEAM, who, who), channel, text), chat)
        latencies.append(time.perf_counter() - start)

    for n in range(1, tasks + 1):
        await say("lead", f'task "Task {n}" need:{people // 2} due:"in 3 days"')
        for p in range(people):
            await say(f"p{p}", f"join #{n}")
        await say("p0", f"leave #{n}")
    return latencies


def bench(url: str, tasks: int, people: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    clock = ManualClock(datetime(2026, 11, 27, 10, tzinfo=UTC))
    coop = Coop(lambda: SqlUnitOfWork(engine), clock, Preferences())
    start = time.perf_counter()
    latencies = asyncio.run(drive(coop, tasks, people))
    elapsed = time.perf_counter() - start
    ms = sorted(x * 1000 for x in latencies)
    print(
        f"{engine.dialect.name:10} {len(ms):6} commands  {len(ms) / elapsed:7.0f}/s  "
        f"median {statistics.median(ms):5.1f} ms  p95 {ms[int(len(ms) * 0.95)]:5.1f} ms  "
        f"max {ms[-1]:6.1f} ms"
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
