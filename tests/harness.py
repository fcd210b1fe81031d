"""A test bot people would copy: real SQLite file, a manual clock and a recording chat port.

Each call applies one event through the inbox, then delivers what is due through the outbox
to the recording chat, exactly as a running bot does, one step at a time.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import Coop
from bot.cards import Button, Card
from bot.clock import ManualClock
from bot.dispatcher import Dispatcher
from bot.events import (
    ButtonPressed,
    CommandInvoked,
    Event,
    Inbound,
    ReactionAdded,
    ReactionRemoved,
    ReplyHandle,
)
from bot.inbox import Inbox
from bot.pacing import Pacing
from bot.ports import Delivery, MessageText, Refused, Unavailable
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef
from bot.scheduler import Scheduler
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork

# A Friday morning, so that "friday 5pm" and "tomorrow" have fixed answers.
START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
COMMUNITY = CommunityRef("test", "T1", "Test team")
OWNER = "test-process"


@dataclass
class Sent:
    kind: str  # post, update, dm, message, private
    to: str  # channel id, message id or member id
    text: str = ""
    card: Card | None = None
    buttons: tuple[Button, ...] = ()


@dataclass
class RecordingChat:
    """The chat port, remembering every call; messages can be seeded for tracking."""

    sent: list[Sent] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    fail_updates: bool = False
    # Platform ids of people who are not in the community (find_member says None).
    strangers: set[str] = field(default_factory=set)
    zones: dict[str, str] = field(default_factory=dict)  # platform-reported time zones
    closed: set[str] = field(default_factory=set)  # channels the bot may not post in
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self) -> str:
        return f"m{next(self._ids)}"

    async def member(self, ref: MemberRef) -> MemberRef:
        tz = self.zones.get(ref.id)
        return MemberRef(ref.community, ref.id, ref.name, ref.is_admin, tz) if tz else ref

    async def find_member(self, community: CommunityRef, external_id: str) -> MemberRef | None:
        if external_id in self.strangers:
            return None
        return MemberRef(
            community, external_id, external_id.title(), tz=self.zones.get(external_id)
        )

    async def find_channel(self, community: CommunityRef, raw: str) -> ChannelRef | None:
        return None if raw in self.strangers else ChannelRef(community, raw)

    async def read_message(self, message: MessageRef) -> MessageText | None:
        text = self.texts.get(message.id)
        return MessageText(text) if text is not None else None

    async def post_card(
        self, d: Delivery, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        ref = MessageRef(channel, self.new_id())
        self.sent.append(Sent("post", channel.id, card.title, card))
        return ref

    async def update_card(self, d: Delivery, message: MessageRef, card: Card) -> None:
        if self.fail_updates:
            raise Unavailable("platform is down", maybe_sent=False)
        self.sent.append(Sent("update", message.id, card.title, card))

    async def send_dm(
        self, d: Delivery, to: MemberRef, text: str, buttons: tuple[Button, ...] = ()
    ) -> str | None:
        self.sent.append(Sent("dm", to.id, text, buttons=buttons))
        return self.new_id()

    async def post_message(self, d: Delivery, channel: ChannelRef, text: str) -> str | None:
        if channel.id in self.closed:
            raise Refused("not_in_channel", notice=f"I can't post in #{channel.id}.")
        self.sent.append(Sent("message", channel.id, text))
        return self.new_id()

    async def reply_private(
        self,
        d: Delivery,
        to: MemberRef,
        channel: ChannelRef,
        text: str,
        reply: ReplyHandle | None,
        first: bool,
        card: Card | None = None,
    ) -> None:
        self.sent.append(Sent("private", to.id, text))

    async def ask_for_title(
        self, d: Delivery, to: MemberRef, message: MessageRef, number: int, title: str
    ) -> str | None:
        self.sent.append(Sent("title", to.id, title))
        return None

    async def dismiss(
        self, d: Delivery, to: MemberRef, channel: ChannelRef, reply: ReplyHandle
    ) -> None:
        self.sent.append(Sent("dismiss", to.id))

    def of(self, kind: str, to: str | None = None) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind and (to is None or s.to == to)]

    def last_private(self, member: str) -> str:
        replies = self.of("private", member)
        assert replies, f"no private reply to {member}; sent: {self.sent}"
        return replies[-1].text


class TestBot:
    """Drive the core with what people type: `bot.say("alice", "/coop task Tidy up")`."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        database_url: str,
        prefs: Preferences | None = None,
        admins: tuple[str, ...] = (),
        chat: RecordingChat | None = None,
        concurrency: int = 1,
    ) -> None:
        self.engine = make_engine(database_url)
        upgrade(self.engine)
        self.clock = ManualClock(START)
        self.chat = chat or RecordingChat()
        self.admins = set(admins)

        def uow() -> SqlUnitOfWork:
            return SqlUnitOfWork(self.engine)

        self.coop = Coop(uow, self.clock, prefs or Preferences())
        self.inbox = Inbox(self.coop, uow, self.clock, OWNER)
        self.dispatcher = Dispatcher(uow, uow, self.clock, OWNER)
        self.scheduler = Scheduler(uow, uow, self.clock, self.coop.prefs)
        self.coop.on_enqueued.append(self.dispatcher.kick)
        self.coop.attach(COMMUNITY.platform, self.chat)
        # One send at a time by default, so what was sent is in the order it was enqueued.
        self.dispatcher.attach(COMMUNITY.platform, self.chat, Pacing(concurrency=concurrency))

    def member(self, name: str) -> MemberRef:
        return MemberRef(COMMUNITY, name, name.title(), is_admin=name in self.admins)

    def channel(self, name: str = "general") -> ChannelRef:
        return ChannelRef(COMMUNITY, name)

    def handle(self, event: Event, reply: ReplyHandle | None = None) -> list[Sent]:
        """Apply `event`, deliver what is due, and return what was sent meanwhile."""
        before = len(self.chat.sent)
        asyncio.run(self.deliver_after(self.inbox.handle(Inbound(event, reply))))
        return self.chat.sent[before:]

    async def deliver_after(self, work: Any) -> None:
        await work
        await self.dispatcher.drain()

    def advance(self, delta: timedelta) -> list[Sent]:
        """Move the clock on, fire what fell due meanwhile (each at its time, as a running
        bot would), deliver it; what was sent."""
        before = len(self.chat.sent)
        self.scheduler.catch_up(self.clock.advance(delta))
        asyncio.run(self.dispatcher.drain())
        return self.chat.sent[before:]

    def tick(self) -> list[Sent]:
        """Fire what is due now (as the alarm clock would) and deliver it."""
        before = len(self.chat.sent)
        self.scheduler.tick(self.clock.now())
        asyncio.run(self.dispatcher.drain())
        return self.chat.sent[before:]

    def deliver(self) -> list[Sent]:
        """Deliver what has fallen due (after `bot.clock.advance(...)`)."""
        before = len(self.chat.sent)
        asyncio.run(self.dispatcher.drain())
        return self.chat.sent[before:]

    def say(self, who: str, text: str, channel: str = "general", event_id: str | None = None):
        """`text` is what follows `/coop`, or the whole line starting with `/coop`."""
        text = text.removeprefix("/coop").strip()
        return self.handle(CommandInvoked(self.member(who), self.channel(channel), text, event_id))

    def post(self, who: str, text: str, channel: str = "general") -> MessageRef:
        """A plain chat message someone posts (the bot only sees it if it is tracked)."""
        ref = MessageRef(self.channel(channel), self.chat.new_id())
        self.chat.texts[ref.id] = text
        return ref

    def react(self, who: str, emoji: str, message: MessageRef, event_id: str | None = None):
        return self.handle(ReactionAdded(self.member(who), message, emoji, event_id))

    def unreact(self, who: str, emoji: str, message: MessageRef):
        return self.handle(ReactionRemoved(self.member(who), message, emoji))

    def press(self, who: str, button: str, number: int, message: MessageRef):
        return self.handle(ButtonPressed(self.member(who), message, button, number))

    def card_message(self, number: int) -> MessageRef:
        """Where the card of action `number` was posted."""
        with SqlUnitOfWork(self.engine) as uow:
            community = uow.community(COMMUNITY)
            action = uow.get_action(community.id, number)
            assert action is not None and action.card_message_id is not None
            return MessageRef(self.channel(action.channel_id), action.card_message_id)

    def deliveries(self) -> list[tuple[str, str, str]]:
        """(kind, recipient, state) of every outbox row, oldest first."""
        with SqlUnitOfWork(self.engine) as uow:
            return [(d.kind, d.recipient, d.state) for d in uow.outbox.records()]

    def statuses(self, number: int) -> dict[str, str]:
        """member id -> commitment status for action `number`."""
        with SqlUnitOfWork(self.engine) as uow:
            community = uow.community(COMMUNITY)
            action = uow.get_action(community.id, number)
            assert action is not None, f"no action #{number}"
            uow.load_people([action], withdrawn=True)
            return {c.member.external_id: c.status.value for c in action.commitments}

    def snapshot(self) -> str:
        """Every action, schedule and the audit log, for 'nothing changed' assertions."""
        from bot.export import action_record

        with SqlUnitOfWork(self.engine) as uow:
            actions = [action_record(row) for row in uow.export()]
            schedules = list(uow.schedules.records())
            return (
                repr(actions) + repr(schedules) + repr(uow.audit_log(uow.community(COMMUNITY).id))
            )

    def schedules(self) -> list[Any]:
        """Every schedule with its occurrences (bot.ports.ScheduleRecord)."""
        with SqlUnitOfWork(self.engine) as uow:
            return list(uow.schedules.records())
