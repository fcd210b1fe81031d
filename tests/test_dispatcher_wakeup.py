"""The dispatcher's wake-up: a message that falls due while a round is reading the outbox is
sent at once, not a poll later (what held a 1,000-reminder burst a second at a time)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.cards import DirectMessage
from bot.clock import ManualClock
from bot.dispatcher import Dispatcher
from bot.outbox import deliveries
from bot.pacing import Pacing
from bot.refs import CommunityRef, MemberRef
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork
from tests.harness import START, RecordingChat

TEAM = CommunityRef("test", "T1")
POLL = 2.0  # long, so that waiting one out is plain to see
READ_TAKES = timedelta(milliseconds=20)


def test_a_message_falling_due_while_a_round_reads_is_sent_without_waiting_a_poll(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    clock = ManualClock(START)

    def write() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    def read() -> SqlUnitOfWork:
        clock.advance(READ_TAKES)  # the bot's time goes on while the outbox is read
        return SqlUnitOfWork(engine)

    with write() as uow:
        hello = DirectMessage(MemberRef(TEAM, "U1"), "Hello")
        uow.outbox.enqueue(deliveries([hello]), START + READ_TAKES / 2)
        uow.commit()
    chat = RecordingChat()
    dispatcher = Dispatcher(write, read, clock, "one", poll=POLL)
    dispatcher.attach("test", chat, Pacing())

    async def sent_within(seconds: float) -> bool:
        running = asyncio.create_task(dispatcher.run())
        try:
            async with asyncio.timeout(seconds):
                while not chat.sent:
                    await asyncio.sleep(0.01)
            return True
        except TimeoutError:
            return False
        finally:
            dispatcher.stop()
            await running

    assert asyncio.run(sent_within(POLL / 2))
