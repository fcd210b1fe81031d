"""A test bot people would copy: real SQLite file, a manual clock and a recording chat port."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.app import Coop
from bot.cards import Card
from bot.clock import ManualClock
from bot.events import ButtonPressed, CommandInvoked, Event, ReactionAdded, ReactionRemoved
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork

# A Friday morning, so that "friday 5pm" and "tomorrow" have fixed answers.
START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
COMMUNITY = CommunityRef("test", "T1", "Test team")


@dataclass
class Sent:
    kind: str  # post, update, dm, private
    to: str  # channel id, message id or member id
    text: str = ""
    card: Card | None = None


@dataclass
class RecordingChat:
    """The chat port, remembering every call; messages can be seeded for tracking."""

    sent: list[Sent] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    fail_updates: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self) -> str:
        return f"m{next(self._ids)}"

    async def post_card(
        self, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        ref = MessageRef(channel, self.new_id())
        self.sent.append(Sent("post", channel.id, card.title, card))
        return ref

    async def update_card(self, message: MessageRef, card: Card) -> None:
        if self.fail_updates:
            raise ConnectionError("platform is down")
        self.sent.append(Sent("update", message.id, card.title, card))

    async def send_dm(self, to: MemberRef, text: str) -> None:
        self.sent.append(Sent("dm", to.id, text))

    async def reply_private(self, to: MemberRef, channel: ChannelRef, text: str) -> None:
        self.sent.append(Sent("private", to.id, text))

    async def fetch_message_text(self, message: MessageRef) -> str | None:
        return self.texts.get(message.id)

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
        self, database_url: str, prefs: Preferences | None = None, admins: tuple[str, ...] = ()
    ) -> None:
        self.engine = make_engine(database_url)
        upgrade(self.engine)
        self.clock = ManualClock(START)
        self.chat = RecordingChat()
        self.admins = set(admins)
        self.coop = Coop(lambda: SqlUnitOfWork(self.engine), self.clock, prefs or Preferences())

    def member(self, name: str) -> MemberRef:
        return MemberRef(COMMUNITY, name, name.title(), is_admin=name in self.admins)

    def channel(self, name: str = "general") -> ChannelRef:
        return ChannelRef(COMMUNITY, name)

    def handle(self, event: Event) -> list[Sent]:
        before = len(self.chat.sent)
        asyncio.run(self.coop.handle(event, self.chat))
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

    def statuses(self, number: int) -> dict[str, str]:
        """member id -> commitment status for action `number`."""
        with SqlUnitOfWork(self.engine) as uow:
            community = uow.community(COMMUNITY)
            action = uow.get_action(community.id, number)
            assert action is not None, f"no action #{number}"
            return {c.member.external_id: c.status.value for c in action.commitments}

    def snapshot(self) -> str:
        """Everything in the store, for 'nothing changed' assertions."""
        from bot.export import to_json

        with SqlUnitOfWork(self.engine) as uow:
            return to_json(uow.export()) + repr(uow.audit_log(uow.community(COMMUNITY).id))
