"""Domain entities and the rules for joining, leaving and the waitlist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from bot.timeparse import known


class ActionKind(StrEnum):
    TASK = "task"
    PLEDGE = "pledge"  # a pledge drive: "I'll do it if enough others will"


class ActionState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    TIPPED = "tipped"  # a drive that reached its goal: its group is on a task now
    FAILED = "failed"  # a drive that missed its deadline


class CommitmentStatus(StrEnum):
    COMMITTED = "committed"
    WAITLISTED = "waitlisted"
    WITHDRAWN = "withdrawn"
    DONE = "done"
    MAYBE = "maybe"  # shown and counted apart; never holds a place


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
    tz: str | None = None  # chosen with /coop tz
    platform_tz: str | None = None  # as the platform last reported it

    def zone(self, default: str) -> str:
        """The zone to show this person times in, and to run their reminders in."""
        return self.tz or known(self.platform_tz) or default


@dataclass
class Commitment:
    """Someone on an action; on a pledge drive, their pledge: `amount` (toward an amount goal)
    and their condition (at least `if_others` others in, and each member id in `if_needs`)."""

    member: Member
    status: CommitmentStatus
    via: Via
    seq: int
    at: datetime
    id: int | None = None
    amount: int = 1
    if_others: int = 0
    if_needs: tuple[int, ...] = ()
    checkin: str | None = None  # a tipped drive's "did you do it?": "did" or "didnt"
    role: str | None = None  # the role's name, on a task with roles
    # Promoted close to the due time: the place stays theirs only if they confirm by then.
    confirm_by: datetime | None = None


@dataclass
class Role:
    """One role of a task with roles (`driver:2`): its own count and waitlist; `need` None
    takes anyone. Counted like the task itself (see Action)."""

    name: str
    position: int
    need: int | None = None
    emoji: str = ""  # canonical emoji; reacting with it joins this role
    in_count: int = 0
    waiting_count: int = 0
    id: int | None = None

    @property
    def is_full(self) -> bool:
        return self.need is not None and self.in_count >= self.need


class SeriesState(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"


@dataclass
class Series:
    """A recurring task (`every:"saturday 10am"`): each occurrence is its own action, opened
    when the one before is due; `rule` is a bot.recurrence rule, read in `tz` (the creator's)."""

    community_id: int
    channel_id: str
    creator: Member
    rule: str
    tz: str
    created_at: datetime
    carry: bool = False  # the regulars stay committed to the next occurrence
    state: SeriesState = SeriesState.ACTIVE
    stopped_at: datetime | None = None
    # Reminders before each occurrence's due time, as remind: gave them (None: the defaults).
    remind: tuple[timedelta, ...] | None = None
    id: int | None = None


@dataclass
class CalendarFeed:
    """A private calendar URL (only a hash of its token is kept): what `member` is committed
    to, or, with `channel_id`, that channel's open tasks, shown in `member`'s zone."""

    community_id: int
    member: Member
    created_at: datetime
    channel_id: str | None = None
    revoked_at: datetime | None = None
    id: int | None = None


@dataclass
class Drive:
    """What makes an action a pledge drive: its goal (people, or an amount of `unit`), sign-up
    closing at the action's `due_at`, and how it ended."""

    goal: int
    unit: str | None = None
    sealed: bool = False  # only counts are shown until it tips; names never if it fails
    task_due_at: datetime | None = None  # when the thing itself is to be done, if said
    extended: bool = False  # the creator may move the deadline once
    tipped_at: datetime | None = None
    task_number: int | None = None  # the task the group's pledges became


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
    # Set when the due time passed while it was open (its card says so).
    overdue: bool = False
    drive: Drive | None = None  # set on pledge drives
    closes_at: datetime | None = None  # sign-up closes: joining is refused after it
    maybe_count: int = 0
    roles: list[Role] = field(default_factory=list)  # loaded with the action, in order
    series: Series | None = None  # set on an occurrence of a recurring task
    # Filled by the store on request (card drawing, show, cancel), not on every load.
    commitments: list[Commitment] = field(default_factory=list)
    id: int | None = None

    def with_status(self, *statuses: CommitmentStatus) -> list[Commitment]:
        """Loaded commitments in any of `statuses`, in the order people joined."""
        return sorted((c for c in self.commitments if c.status in statuses), key=lambda c: c.seq)

    @property
    def is_full(self) -> bool:
        return self.need is not None and self.in_count >= self.need

    def role(self, name: str | None) -> Role | None:
        """The role called `name` (in any case), if it has one."""
        wanted = (name or "").casefold()
        return next((r for r in self.roles if r.name.casefold() == wanted), None)

    def is_full_for(self, role: Role | None) -> bool:
        """No place left where one joining `role` (None: a task without roles) would go."""
        return role.is_full if role is not None else self.is_full

    def _count(self, status: CommitmentStatus, delta: int, role: str | None = None) -> None:
        """Count a commitment in `status` (in, waiting) in or out: the task's totals, and
        those of its role `role` on a task with roles."""
        held = self.role(role) if role is not None else None
        if status in (CommitmentStatus.COMMITTED, CommitmentStatus.DONE):
            self.in_count += delta
            if held is not None:
                held.in_count += delta
        elif status is CommitmentStatus.WAITLISTED:
            self.waiting_count += delta
            if held is not None:
                held.waiting_count += delta
        elif status is CommitmentStatus.MAYBE:
            self.maybe_count += delta

    def join(
        self,
        member: Member,
        current: Commitment | None,
        via: Via,
        now: datetime,
        role: Role | None = None,
    ) -> Commitment | None:
        """Commit `member` (whose commitment so far is `current`), or waitlist them when
        full (on a task with roles: in `role`, when it is full); None when nothing changes."""
        if current and current.status not in (CommitmentStatus.WITHDRAWN, CommitmentStatus.MAYBE):
            return None
        full = self.is_full_for(role)
        status = CommitmentStatus.WAITLISTED if full else CommitmentStatus.COMMITTED
        self.last_seq += 1
        if current is None:
            current = Commitment(member=member, status=status, via=via, seq=0, at=now)
        else:
            self._count(current.status, -1, current.role)  # a maybe who joins is a maybe no more
        current.status, current.via, current.at, current.seq = status, via, now, self.last_seq
        current.role = role.name if role is not None else None
        self._count(status, +1, current.role)
        return current

    def maybe(
        self, member: Member, current: Commitment | None, via: Via, now: datetime
    ) -> Commitment:
        """Put `member` down as a maybe (`current`, if any, holds no place by now: see
        `leave`); maybes are counted apart and never fill a place."""
        self.last_seq += 1
        if current is None:
            current = Commitment(member, CommitmentStatus.MAYBE, via, self.last_seq, now)
        else:
            self._count(current.status, -1, current.role)
            current.status, current.via, current.at = CommitmentStatus.MAYBE, via, now
            current.seq, current.confirm_by, current.role = self.last_seq, None, None
        self._count(CommitmentStatus.MAYBE, +1)
        return current

    def hand_over(
        self, giver: Commitment, member: Member, current: Commitment | None, via: Via, now: datetime
    ) -> Commitment:
        """`member` (whose commitment so far is `current`: none, withdrawn, a maybe or
        waitlisted) takes `giver`'s place, role and all, ahead of any waitlist; `giver` is
        withdrawn. The count of those in does not change."""
        self.last_seq += 1
        if current is None:
            current = Commitment(member, CommitmentStatus.COMMITTED, via, self.last_seq, now)
        else:
            self._count(current.status, -1, current.role)
            current.status, current.via, current.at = CommitmentStatus.COMMITTED, via, now
            current.seq = self.last_seq
        current.role, current.confirm_by = giver.role, None
        self._count(CommitmentStatus.COMMITTED, +1, current.role)
        self._count(giver.status, -1, giver.role)
        giver.status, giver.via, giver.at = CommitmentStatus.WITHDRAWN, via, now
        giver.confirm_by = None
        return current

    def leave(
        self,
        current: Commitment,
        via: Via,
        now: datetime,
        first_waiting: Callable[[str | None], Commitment | None],
    ) -> Commitment | None:
        """Withdraw `current`; returns the person promoted from the waitlist, if any
        (`first_waiting(role)` finds who has waited longest in `role`, the one `current` held
        (None on a task without roles); asked only when a place opens)."""
        if current.status == CommitmentStatus.WITHDRAWN:
            return None
        self._count(current.status, -1, current.role)
        current.status, current.via, current.at = CommitmentStatus.WITHDRAWN, via, now
        current.confirm_by = None  # a place given up needs no confirming (see bot.handoff)
        role = self.role(current.role) if current.role is not None else None
        waiting = role.waiting_count if role is not None else self.waiting_count
        if not waiting or self.is_full_for(role):
            return None
        promoted = first_waiting(current.role)
        if promoted is None:
            return None
        self.promote(promoted, now)
        return promoted

    def promote(self, waiting: Commitment, now: datetime) -> None:
        """Move `waiting` off the waitlist into a place (in its role)."""
        self._count(waiting.status, -1, waiting.role)
        waiting.status, waiting.at = CommitmentStatus.COMMITTED, now
        self._count(waiting.status, +1, waiting.role)

    def demote(self, committed: Commitment, now: datetime) -> None:
        """Move `committed` out of their place onto the waitlist (fewer places now); where
        on it is their `seq`, the caller's to set."""
        self._count(committed.status, -1, committed.role)
        committed.status, committed.at = CommitmentStatus.WAITLISTED, now
        self._count(committed.status, +1, committed.role)

    def mark(self, current: Commitment, status: CommitmentStatus, now: datetime) -> None:
        """Move `current` between committed and done (the counts do not change)."""
        self._count(current.status, -1, current.role)
        current.status, current.at = status, now
        self._count(status, +1, current.role)


# --- schedules: reminders, due times, nudges, digests ---------------------------------------


class ScheduleKind(StrEnum):
    REMIND = "remind"  # someone's reminder, numbered R1, R2, ...
    TASK = "task"  # before a task is due, to everyone in
    DUE = "due"  # a task's due time: its card turns overdue
    SHORT = "short"  # a task still short of people: one nudge in its channel
    CHECKIN = "checkin"  # after the due time: "did it happen?" to those not done
    DIGEST = "digest"  # a summary of a channel's open actions
    DEADLINE = "deadline"  # a pledge drive's deadline: it fails if it has not tipped
    PROJECTION = "projection"  # half-way through a drive: its creator told if it will miss
    DRIVE_CHECKIN = "drive_checkin"  # after a tipped drive: "did you do it?" to its group
    CONFIRM = "confirm"  # a promoted person's time to confirm runs out: the place passes on
    HANDOFF = "handoff"  # a place offered to a named person (`to_member`): the offer lapses
    MAYBE = "maybe"  # shortly before due, places still open: the maybes asked once
    CLOSES = "closes"  # sign-up closes: the card says so
    SERIES = "series"  # an occurrence of a recurring task is due: the next one opens


class ScheduleState(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    CANCELLED = "cancelled"


class Target(StrEnum):
    MEMBER = "member"
    CHANNEL = "channel"
    ACTION = "action"  # everyone committed to it


class OccurrenceState(StrEnum):
    SENT = "sent"  # on time
    LATE = "late"  # sent after downtime, marked late
    MISSED = "missed"  # too late to be worth sending (past the grace period)
    SKIPPED = "skipped"  # nothing to say (the task closed, nobody to tell)


@dataclass
class Schedule:
    """Something due at `next_at` (None once over), recurring by `rule` in `tz` if set."""

    community_id: int
    kind: ScheduleKind
    tz: str
    created_at: datetime
    next_at: datetime | None
    text: str = ""
    target: Target | None = None
    creator: Member | None = None
    to_member: Member | None = None
    channel_id: str | None = None
    action_id: int | None = None
    rule: str | None = None
    number: int | None = None
    state: ScheduleState = ScheduleState.ACTIVE
    last_at: datetime | None = None
    snooze_of: int | None = None
    id: int | None = None

    @property
    def label(self) -> str:
        return f"R{self.number}"


@dataclass
class Occurrence:
    schedule_id: int
    at: datetime
    fired_at: datetime
    state: OccurrenceState
    late_seconds: int = 0
    id: int | None = None
    fired_by: str = ""  # the process that fired it
