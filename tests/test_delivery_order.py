"""Delivery order: one card's changes arrive in order; a slow send holds up no other card."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.cards import Card
from bot.events import CommandInvoked, Event
from bot.refs import ChannelRef, MessageRef
from tests.harness import RecordingChat, TestBot


@dataclass
class GatedChat(RecordingChat):
    """Sends for cards titled in `gated` wait for `gate`; `reached` tells one is waiting."""

    gated: set[str] = field(default_factory=set)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def _wait(self, card: Card) -> None:
        if card.title in self.gated:
            self.reached.set()
            await self.gate.wait()

    async def post_card(
        self, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        await self._wait(card)
        return await super().post_card(channel, card, reply_to)

    async def update_card(self, message: MessageRef, card: Card) -> None:
        await self._wait(card)
        await super().update_card(message, card)


class Rig:
    """Runs events concurrently on one loop; `applied` yields each event once it is stored."""

    def __init__(self, bot: TestBot, *gated: str) -> None:
        self.bot = bot
        self.chat = GatedChat(gated=set(gated))
        self.applied: asyncio.Queue[Event] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        apply = bot.coop._apply

        def applying(event: Event, text: str | None) -> Any:
            effects = apply(event, text)
            loop.call_soon_threadsafe(self.applied.put_nowait, event)
            return effects

        bot.coop._apply = applying  # type: ignore[method-assign]

    def start(self, who: str, text: str) -> asyncio.Task[None]:
        event = CommandInvoked(self.bot.member(who), self.bot.channel(), text)
        return asyncio.create_task(self.bot.coop.handle(event, self.chat))

    def kinds(self) -> list[tuple[str, str]]:
        return [(s.kind, s.card.progress if s.card else s.text) for s in self.chat.sent]


def _run(scenario: Coroutine[Any, Any, None]) -> None:
    # A broken order would deadlock rather than fail: bound it.
    asyncio.run(asyncio.wait_for(scenario, 10))


def test_a_slow_card_post_holds_up_no_other_card(bot: TestBot) -> None:
    bot.say("alice", "task Other")

    async def scenario() -> None:
        rig = Rig(bot, "Slow")
        slow = rig.start("alice", "task Slow")
        await rig.chat.reached.wait()
        await rig.start("bob", "join #1")
        assert [kind for kind, _ in rig.kinds()] == ["update", "private"]  # #1 went ahead
        rig.chat.gate.set()
        await slow
        assert rig.kinds()[-1] == ("post", "0 in")

    _run(scenario())


def test_changes_made_while_a_card_is_on_its_way_are_caught_up(bot: TestBot) -> None:
    async def scenario() -> None:
        rig = Rig(bot, "Fresh")
        post = rig.start("alice", "task Fresh")
        await rig.chat.reached.wait()
        await rig.start("bob", "join #1")  # stored, but the card has no message to edit yet
        assert [kind for kind, _ in rig.kinds()] == ["private"]
        rig.chat.gate.set()
        await post
        assert rig.kinds()[1:] == [("post", "0 in"), ("update", "1 in")]

    _run(scenario())


def test_one_cards_edits_arrive_in_the_order_of_the_changes(bot: TestBot) -> None:
    bot.say("alice", "task Busy need:5")

    async def scenario() -> None:
        rig = Rig(bot, "Busy")
        first = rig.start("bob", "join #1")
        await rig.chat.reached.wait()
        second = rig.start("carol", "join #1")
        await rig.applied.get()
        await rig.applied.get()
        assert rig.kinds() == []  # carol's edit waits behind bob's, which is stuck
        rig.chat.gate.set()
        await asyncio.gather(first, second)
        assert [p for kind, p in rig.kinds() if kind == "update"] == ["1/5 in", "2/5 in"]

    _run(scenario())
