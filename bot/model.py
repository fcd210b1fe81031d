"""Domain entities and the rules for joining, leaving and the waitlist."""

from __future__ import annotations

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
    commitments: list[Commitment] = field(default_factory=list)
    id: int | None = None

    def with_status(self, *statuses: CommitmentStatus) -> list[Commitment]:
        """Commitments in any of `statuses`, in the order people joined."""
        return sorted((c for c in self.commitments if c.status in statuses), key=lambda c: c.seq)

    @property
    def in_count(self) -> int:
        return len(self.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.DONE))

    @property
    def is_full(self) -> bool:
        return self.need is not None and self.in_count >= self.need

    def commitment_of(self, member: Member) -> Commitment | None:
        return next((c for c in self.commitments if c.member.id == member.id), None)

    def _next_seq(self) -> int:
        return max((c.seq for c in self.commitments), default=0) + 1

    def join(self, member: Member, via: Via, now: datetime) -> Commitment | None:
        """Commit `member`, or waitlist them when full; None when nothing changes."""
        current = self.commitment_of(member)
        if current and current.status != CommitmentStatus.WITHDRAWN:
            return None
        status = CommitmentStatus.WAITLISTED if self.is_full else CommitmentStatus.COMMITTED
        if current is None:
            current = Commitment(member=member, status=status, via=via, seq=0, at=now)
            self.commitments.append(current)
        current.status, current.via, current.at = status, via, now
        current.seq = self._next_seq()
        return current

    def leave(self, member: Member, via: Via, now: datetime) -> Commitment | None:
        """Withdraw `member`; returns the person promoted from the waitlist, if any."""
        current = self.commitment_of(member)
        if current is None or current.status == CommitmentStatus.WITHDRAWN:
            return None
        current.status, current.via, current.at = CommitmentStatus.WITHDRAWN, via, now
        waiting = self.with_status(CommitmentStatus.WAITLISTED)
        if waiting and not self.is_full:
            promoted = waiting[0]
            promoted.status, promoted.at = CommitmentStatus.COMMITTED, now
            return promoted
        return None
