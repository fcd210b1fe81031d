"""Ports the core owns: the chat platform and the store, implemented outside `bot/`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from bot.cards import Card
from bot.model import Action, Community, Member, Via
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef


class ChatPort(Protocol):
    """What the core asks of a chat platform."""

    async def post_card(
        self, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef: ...

    async def update_card(self, message: MessageRef, card: Card) -> None: ...

    async def send_dm(self, to: MemberRef, text: str) -> None: ...

    async def reply_private(self, to: MemberRef, channel: ChannelRef, text: str) -> None: ...

    async def fetch_message_text(self, message: MessageRef) -> str | None:
        """The text of a message, or None when it does not exist or cannot be read."""
        ...


@dataclass(frozen=True)
class AuditEntry:
    community_id: int
    kind: str
    via: Via
    at: datetime
    actor_id: int | None = None
    action_id: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ExportRow:
    community: Community
    action: Action


class UnitOfWork(Protocol):
    """One transaction against the store; leaving the block without `commit()` rolls back."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def claim_event(self, key: str, now: datetime) -> bool:
        """Record an inbound event id; False when it was seen before."""
        ...

    def community(self, ref: CommunityRef) -> Community:
        """Get or create the community."""
        ...

    def member(self, community: Community, ref: MemberRef) -> Member:
        """Get or create the member, refreshing the display name."""
        ...

    def set_member_tz(self, member: Member, tz: str) -> None: ...

    def add_action(self, action: Action) -> Action:
        """Store a new action, giving it the community's next number."""
        ...

    def get_action(self, community_id: int, number: int) -> Action | None:
        """The action with its commitments, locked for update until the transaction ends."""
        ...

    def action_by_message(self, community_id: int, message_id: str) -> Action | None:
        """The action tracked from, or carded by, a message; locked like `get_action`."""
        ...

    def save_action(self, action: Action) -> None:
        """Write back the action's fields and commitments."""
        ...

    def open_actions(self, community_id: int, channel_id: str | None = None) -> list[Action]: ...

    def open_actions_of(self, member: Member) -> list[Action]:
        """Open actions where `member` is committed or waitlisted."""
        ...

    def audit(self, entry: AuditEntry) -> None: ...

    def audit_log(self, community_id: int) -> list[AuditEntry]: ...

    def export(self) -> Iterator[ExportRow]: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
