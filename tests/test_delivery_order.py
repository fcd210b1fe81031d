"""Delivery order through the outbox: one card's post and edits, and everything for one
person, arrive in the order of the changes; a slow send holds up no other lane."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.cards import Button, Card
from bot.events import CommandInvoked, Inbound
from bot.ports import Delivery
from bot.refs import ChannelRef, MemberRef, MessageRef
from tests.harness import RecordingChat, TestBot


@dataclass
class GatedChat(RecordingChat):
    """Sends matching `gated` wait for `gate`; `reached` tells one is waiting."""

    gated: Callable[[str, str], bool] = lambda kind, text: False
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _wait(self, kind: str, text: str) -> None:
        if self.gated(kind, text):
            self.reached.set()
            await self.gate.wait()

    def _sent(self) -> None:
        self.changed.set()

    async def post_card(
        self, d: Delivery, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        await self._wait("post", card.title)
        posted = await super().post_card(d, channel, card, reply_to)
        self._sent()
        return posted

    async def update_card(self, d: Delivery, message: MessageRef, card: Card) -> None:
        await self._wait("update", card.title)
        await super().update_card(d, message, card)
        self._sent()

    async def send_dm(
        self, d: Delivery, to: MemberRef, text: str, buttons: tuple[Button, ...] = ()
    ) -> str | None:
        await self._wait("dm", text)
        sent = await super().send_dm(d, to, text, buttons)
        self._sent()
        return sent

    async def reply_private(self, *args: Any, **kw: Any) -> None:
        await super().reply_private(*args, **kw)
        self._sent()

    async def until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.changed.clear()
            await self.changed.wait()


def gated_bot(database_url: str, gated: Callable[[str, str], bool]) -> tuple[TestBot, GatedChat]:
    # The events are created in the loop the scenario runs in, so make the chat there too.
    chat = GatedChat(gated=gated)
    return TestBot(database_url, chat=chat, concurrency=8), chat


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    # A broken order would deadlock rather than fail: bound it.
    asyncio.run(asyncio.wait_for(scenario(), 10))


class Running:
    """The bot's dispatcher delivering in the background while events are applied."""

    def __init__(self, bot: TestBot) -> None:
        self.bot = bot
        self.task = asyncio.create_task(bot.dispatcher.run())

    async def say(self, who: str, text: str) -> None:
        event = CommandInvoked(self.bot.member(who), self.bot.channel(), text)
        await self.bot.inbox.handle(Inbound(event))

    async def stop(self) -> None:
        await self.bot.dispatcher.drain()
        self.bot.dispatcher.stop()
        await self.task


def kinds(chat: RecordingChat) -> list[tuple[str, str]]:
    return [(s.kind, s.card.progress if s.card else s.text) for s in chat.sent]


def test_a_slow_card_post_holds_up_no_other_card(sqlite_url: str) -> None:
    async def scenario() -> None:
        bot, chat = gated_bot(sqlite_url, lambda kind, title: kind == "post" and title == "Slow")
        running = Running(bot)
        await running.say("alice", "task Other")
        await chat.until(lambda: len(chat.sent) == 1)
        await running.say("alice", "task Slow")
        await chat.reached.wait()
        await running.say("bob", "join #1")
        await chat.until(lambda: len(chat.sent) == 3)
        # #1 went ahead (its edit and bob's answer are in lanes of their own, in any order).
        assert sorted(k for k, _ in kinds(chat)) == ["post", "private", "update"]
        chat.gate.set()
        await running.stop()
        assert kinds(chat)[-1] == ("post", "0 in")

    _run(scenario)


def test_changes_made_while_a_card_is_on_its_way_are_caught_up(sqlite_url: str) -> None:
    async def scenario() -> None:
        bot, chat = gated_bot(sqlite_url, lambda kind, title: kind == "post")
        running = Running(bot)
        await running.say("alice", "task Fresh")
        await chat.reached.wait()
        await running.say("bob", "join #1")  # stored; its edit waits behind the post
        await chat.until(lambda: len(chat.sent) == 1)
        assert [k for k, _ in kinds(chat)] == ["private"]
        chat.gate.set()
        await running.stop()
        assert kinds(chat)[1:] == [("post", "0 in"), ("update", "1 in")]

    _run(scenario)


def test_one_cards_edits_arrive_in_the_order_of_the_changes(sqlite_url: str) -> None:
    async def scenario() -> None:
        bot, chat = gated_bot(sqlite_url, lambda kind, title: kind == "update")
        running = Running(bot)
        await running.say("alice", "task Busy need:5")
        await chat.until(lambda: len(chat.of("post")) == 1)
        await running.say("bob", "join #1")
        await chat.reached.wait()  # the first edit is drawn and on its way, and stuck
        await running.say("carol", "join #1")
        await running.say("dave", "join #1")  # coalesced with carol's: one edit is waiting
        await chat.until(lambda: len(chat.of("private")) == 3)
        assert chat.of("update") == []
        chat.gate.set()
        await running.stop()
        assert [p for kind, p in kinds(chat) if kind == "update"] == ["1/5 in", "3/5 in"]

    _run(scenario)


def test_a_promotion_and_then_a_cancellation_reach_the_person_in_that_order(
    sqlite_url: str,
) -> None:
    async def scenario() -> None:
        bot, chat = gated_bot(sqlite_url, lambda kind, text: "spot opened" in text)
        running = Running(bot)
        await running.say("alice", "task Drive the van need:1")
        await chat.until(lambda: len(chat.of("post")) == 1)
        await running.say("bob", "join #1")
        await running.say("carol", "join #1")
        await running.say("bob", "leave #1")  # carol is promoted: a DM, which is slow
        await chat.reached.wait()
        await running.say("alice", "cancel #1")  # carol is told: it waits for the first
        await chat.until(lambda: len(chat.of("private")) >= 4)
        assert chat.of("dm") == []
        chat.gate.set()
        await running.stop()
        dms = [s.text for s in chat.of("dm", "carol")]
        assert len(dms) == 2 and "spot opened" in dms[0] and "was cancelled" in dms[1]

    _run(scenario)
