"""Domain entities and the rules for joining, leaving and the waitlist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ActionKind(StrEnum):
    TASK = "task"


class ActionState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class CommitmentStatus(StrEnum):
    COMMITTED = "committed"
    WAITLISTED = "waitlisted"
    WITHDRAWN = "withdrawn"
    DONE = "done"


class Via(StrEnum):
    """How a person did something; kept on commitments and in the audit log."""

    REACTION = "reaction"
    COMMAND = "command"
    BUTTON = "button"
    SHORTCUT = "shortcut"
    SYSTEM = "system"


@dataclass
class Community:
    id: int
    platform: str
    external_id: str
    name: str


@dataclass
class Member:
    id: int
    community_id: int
    external_id: str
    display_name: str
    tz: str | None = None


@dataclass
class Commitment:
    member: Member
    status: CommitmentStatus
    via: Via
    seq: int
    at: datetime
    id: int | None = None


@dataclass
class Action:
    """An action and the counts its rules need; its people are loaded only to draw its card.

    `in_count` counts commitments committed or done, `waiting_count` those waitlisted, and
    `last_seq` is the highest join order handed out: a join reads and changes these and the
    joiner's own commitment, never the whole list, so it costs the same on a full card.
    """

    community_id: int
    number: int
    kind: ActionKind
    title: str
    body: str
    channel_id: str
    creator: Member
    created_at: datetime
    state: ActionState = ActionState.OPEN
    need: int | None = None
    due_at: datetime | None = None
    source_message_id: str | None = None
    card_message_id: str | None = None
    thread_id: str | None = None
    in_count: int = 0
    waiting_count: int = 0
    last_seq: int = 0
    # Filled by the store on request (card drawing, show, cancel), not on every load.
    commitments: list[Commitment] = field(default_factory=list)
    id: int | None = None

    def with_status(self, *statuses: CommitmentStatus) -> list[Commitment]:
        """Loaded commitments in any of `statuses`, in the order people joined."""
        return sorted((c for c in self.commitments if c.status in statuses), key=lambda c: c.seq)

    @property
    def is_full(self) -> bool:
        return self.need is not None and self.in_count >= self.need

    def _count(self, status: CommitmentStatus, delta: int) -> None:
        if status in (CommitmentStatus.COMMITTED, CommitmentStatus.DONE):
            self.in_count += delta
        elif status is CommitmentStatus.WAITLISTED:
            self.waiting_count += delta

    def join(
        self, member: Member, current: Commitment | None, via: Via, now: datetime
    ) -> Commitment | None:
        """Commit `member` (whose commitment so far is `current`), or waitlist them when
        full; None when nothing changes."""
        if current and current.status != CommitmentStatus.WITHDRAWN:
            return None
        status = CommitmentStatus.WAITLISTED if self.is_full else CommitmentStatus.COMMITTED
        self.last_seq += 1
        if current is None:
            current = Commitment(member=member, status=status, via=via, seq=0, at=now)
        current.status, current.via, current.at, current.seq = status, via, now, self.last_seq
        self._count(status, +1)
        return current

    def leave(
        self,
        current: Commitment,
        via: Via,
        now: datetime,
        first_waiting: Callable[[], Commitment | None],
    ) -> Commitment | None:
        """Withdraw `current`; returns the person promoted from the waitlist, if any
        (`first_waiting` finds who has waited longest, asked only when a place opens)."""
        if current.status == CommitmentStatus.WITHDRAWN:
            return None
        self._count(current.status, -1)
        current.status, current.via, current.at = CommitmentStatus.WITHDRAWN, via, now
        if not self.waiting_count or self.is_full:
            return None
        promoted = first_waiting()
        if promoted is None:
            return None
        self._count(promoted.status, -1)
        promoted.status, promoted.at = CommitmentStatus.COMMITTED, now
        self._count(promoted.status, +1)
        return promoted

    def mark(self, current: Commitment, status: CommitmentStatus, now: datetime) -> None:
        """Move `current` between committed and done (the counts do not change)."""
        self._count(current.status, -1)
        current.status, current.at = status, now
        self._count(status, +1)
