"""Ports the core owns: the chat platform and the store, implemented outside `bot/`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from bot.cards import Button, Card
from bot.events import ReplyHandle
from bot.model import (
    Action,
    CalendarFeed,
    Commitment,
    Community,
    Member,
    Occurrence,
    Schedule,
    ScheduleKind,
    Series,
    Via,
)
from bot.pledges import Pledge
from bot.queues import (
    DeliveryRecord,
    DeliveryState,
    InboxEntry,
    InboxState,
    NewDelivery,
    OutboxEntry,
)
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef


@dataclass(frozen=True)
class MessageText:
    """A message's text as read back from the platform.

    `thread_id` is the thread it is a reply in; `readable` is False when the platform hides
    the text and `text` is only a stand-in (a link), so the person should be asked for a title.
    """

    text: str
    thread_id: str | None = None
    readable: bool = True


@dataclass(frozen=True)
class Delivery:
    """What a send is told about itself: the key the platform can deduplicate or be searched
    by, and whether an earlier attempt (first made at `first_attempt_at`) may have arrived."""

    key: str
    recheck: bool
    first_attempt_at: datetime


class DeliveryError(Exception):
    """A send did not happen; the subclass says what the dispatcher should do about it."""


class RateLimited(DeliveryError):
    """The platform asked to wait `retry_after` seconds; nothing was sent."""

    def __init__(self, retry_after: float, route: str = "unknown") -> None:
        super().__init__(f"rate limited for {retry_after:g} s")
        self.retry_after = retry_after
        # The API method or path (ids left out) that answered 429, for the operator's metrics.
        self.route = route


class Unavailable(DeliveryError):
    """The platform could not be reached or failed; `maybe_sent` when it may have acted."""

    def __init__(self, reason: str, maybe_sent: bool = True) -> None:
        super().__init__(reason)
        self.maybe_sent = maybe_sent


class Refused(DeliveryError):
    """The platform refused for good. `notice` is told privately to whoever caused the send;
    `unreachable` means messages to this recipient would be refused too for a while."""

    def __init__(self, reason: str, notice: str | None = None, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.notice = notice
        self.unreachable = unreachable


class ChatPort(Protocol):
    """What the core asks of a chat platform: reading while an event is applied, and sending
    what the outbox holds. Sends raise a DeliveryError when they did not happen."""

    async def member(self, ref: MemberRef) -> MemberRef:
        """`ref` with what the platform knows of the person (name, admin, time zone)."""
        ...

    async def find_member(self, community: CommunityRef, external_id: str) -> MemberRef | None:
        """The person `external_id` if they belong to `community` (with their name and zone),
        else None: someone mentioned in a command, before the bot messages them."""
        ...

    async def find_channel(self, community: CommunityRef, raw: str) -> ChannelRef | None:
        """The channel `raw` (a platform id, or a name as typed) is in `community`, else None:
        a channel a reminder is for, before the bot posts there."""
        ...

    async def read_message(self, message: MessageRef) -> MessageText | None:
        """The text of a message, or None when it does not exist or cannot be read."""
        ...

    async def post_card(
        self, d: Delivery, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef: ...

    async def update_card(self, d: Delivery, message: MessageRef, card: Card) -> None: ...

    async def send_dm(
        self, d: Delivery, to: MemberRef, text: str, buttons: tuple[Button, ...] = ()
    ) -> str | None:
        """Send a direct message, with `buttons` under it; the platform's id of it, when there
        is one."""
        ...

    async def post_message(self, d: Delivery, channel: ChannelRef, text: str) -> str | None:
        """Post a plain message in a channel (no card, no mentions); the platform's id of it."""
        ...

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
        """Answer `to` privately; `first` when it is the first answer through `reply`. With
        `card`, the answer is that card (`text` is its plain rendering)."""
        ...

    async def ask_for_title(
        self, d: Delivery, to: MemberRef, message: MessageRef, number: int, title: str
    ) -> str | None: ...

    async def dismiss(
        self, d: Delivery, to: MemberRef, channel: ChannelRef, reply: ReplyHandle
    ) -> None: ...


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


@dataclass(frozen=True)
class ScheduleRecord:
    """One schedule and every occurrence of it, as `coopbot export` lists them."""

    community: str
    schedule: Schedule
    occurrences: list[Occurrence]


class ScheduleStore(Protocol):
    """Reminders, due times, nudges and digests, inside a unit of work (storage/schedules.py)."""

    def add(self, schedule: Schedule) -> Schedule:
        """Store a new schedule (a person's reminder gets the community's next R number)."""
        ...

    def due(self, now: datetime, limit: int) -> list[Schedule]:
        """Active schedules due by `now`, oldest first, locked until the transaction ends
        (rows another process has locked are skipped)."""
        ...

    def next_due(self) -> datetime | None:
        """When the soonest active schedule is due."""
        ...

    def save(self, schedule: Schedule) -> None:
        """Write back `next_at`, `last_at` and `state`."""
        ...

    def occur(self, occurrence: Occurrence) -> bool:
        """Record an occurrence; False (and nothing written) when it exists already."""
        ...

    def set_state(self, occurrence: Occurrence) -> None: ...

    @property
    def earliest(self) -> datetime | None:
        """When the soonest schedule added in this transaction is due."""
        ...

    def by_number(self, community_id: int, number: int) -> Schedule | None: ...

    def listed(self, member: Member) -> list[Schedule]:
        """Active reminders `member` made or gets, soonest first."""
        ...

    def missed(self, member: Member, since: datetime) -> list[tuple[Schedule, Occurrence]]:
        """Occurrences of `member`'s reminders missed (past the grace period) since `since`."""
        ...

    def active_count(self, member: Member) -> int:
        """Active reminders `member` made."""
        ...

    def cancel_for_action(self, action_id: int) -> None:
        """Cancel everything still to happen for an action (it was closed or cancelled), but
        its series' next occurrence opening (a ScheduleKind.SERIES row)."""
        ...

    def of_action(self, action_id: int, kind: ScheduleKind) -> list[Schedule]:
        """The active schedules of `kind` for an action, locked (to move or end them)."""
        ...

    def all_of_action(self, action_id: int) -> list[Schedule]:
        """Every active schedule of an action, whatever its kind, locked (to move them)."""
        ...

    def move(self, schedule: Schedule, at: datetime | None) -> None:
        """Move an active schedule to `at`, or cancel it (None); the alarm is set by it."""
        ...

    def occurrence(self, occurrence_id: int) -> tuple[Schedule, Occurrence] | None: ...

    def snoozed(self, occurrence_id: int, member: Member) -> Schedule | None:
        """The snooze `member` made of an occurrence, if any."""
        ...

    def digest(self, community_id: int, channel_id: str) -> Schedule | None:
        """The channel's active digest, locked."""
        ...

    def records(self) -> Iterator[ScheduleRecord]: ...


class InboxStore(Protocol):
    """The inbox table, inside a unit of work (see storage/queues.py)."""

    def record(
        self,
        entries: Sequence[tuple[str, str, str, datetime]],
        owner: str,
        lease_until: datetime,
    ) -> list[int | None]: ...

    def claim(
        self,
        platforms: Iterable[str],
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        busy: Sequence[int] = (),
    ) -> list[InboxEntry]: ...

    def settle(
        self, entry: InboxEntry, owner: str, state: InboxState, now: datetime, error: str = ""
    ) -> bool: ...

    def extend(self, ids: Sequence[int], owner: str, lease_until: datetime) -> None: ...

    def prune(self, before: datetime, limit: int) -> int:
        """Forget settled events received before `before` (at most `limit`); how many."""
        ...

    def unsettled(self) -> int: ...


class OutboxStore(Protocol):
    """The outbox table, inside a unit of work (see storage/queues.py)."""

    def enqueue(self, deliveries: Iterable[NewDelivery], now: datetime) -> None: ...

    def claim(
        self, platform: str, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxEntry]: ...

    def next_due(self, platforms: Iterable[str]) -> datetime | None: ...

    def finish(
        self,
        entry: OutboxEntry,
        owner: str,
        state: DeliveryState,
        now: datetime,
        message_id: str | None = None,
        error: str = "",
        tried: bool = True,
    ) -> bool: ...

    def release(
        self,
        entry: OutboxEntry,
        owner: str,
        not_before: datetime,
        maybe_sent: bool,
        error: str = "",
        tried: bool = True,
    ) -> bool: ...

    def extend(self, ids: Sequence[int], owner: str, lease_until: datetime) -> None: ...

    def prune(self, before: datetime, limit: int) -> int:
        """Forget finished deliveries created before `before` (at most `limit`); how many."""
        ...

    def records(self) -> Iterator[DeliveryRecord]: ...

    def count(self, *states: DeliveryState) -> int: ...

    def backlog(self) -> list[tuple[str, int, datetime]]: ...


class UnitOfWork(Protocol):
    """One transaction against the store; leaving the block without `commit()` rolls back."""

    @property
    def inbox(self) -> InboxStore: ...

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def schedules(self) -> ScheduleStore: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def community(self, ref: CommunityRef) -> Community:
        """Get or create the community."""
        ...

    def find_community(self, ref: CommunityRef) -> Community | None:
        """The community if it is known (never creates one: for read-only queries)."""
        ...

    def find_member(self, community: Community, external_id: str) -> Member | None: ...

    def known_member(self, ref: MemberRef) -> Member | None:
        """The member `ref` names, if the bot knows them (one query, never creates)."""
        ...

    def member(self, community: Community, ref: MemberRef) -> Member:
        """Get or create the member, refreshing the display name."""
        ...

    def set_member_tz(self, member: Member, tz: str) -> None: ...

    def community_by_id(self, community_id: int) -> Community: ...

    def add_action(self, action: Action) -> Action:
        """Store a new action, giving it the community's next number."""
        ...

    def get_action(self, community_id: int, number: int) -> Action | None:
        """The action with its counts (not its people), locked for update until the
        transaction ends."""
        ...

    def action_by_message(
        self, community_id: int, channel_id: str, message_id: str
    ) -> Action | None:
        """The action tracked from, or carded by, a message; locked like `get_action`."""
        ...

    def action_by_id(self, action_id: int) -> Action | None:
        """The action with its people, not locked (for drawing its card)."""
        ...

    def read_action(self, community_id: int, number: int) -> Action | None:
        """Action `number` with its people, not locked (for a card read outside a turn)."""
        ...

    def load_people(self, actions: Sequence[Action], withdrawn: bool = False) -> None:
        """Fill each action's `commitments` (all in one query); `withdrawn` ones too if asked."""
        ...

    def commitment(self, action: Action, member: Member) -> Commitment | None:
        """`member`'s commitment to `action`, in any status."""
        ...

    def first_waiting(self, action: Action, role: str | None = None) -> Commitment | None:
        """Who has waited longest on `action`'s waitlist (that of its role `role`, on a task
        with roles)."""
        ...

    def save_commitment(self, action: Action, commitment: Commitment) -> None:
        """Write one commitment (new or changed); a new one gets its id."""
        ...

    def card_shown(self, action_id: int) -> tuple[str | None, str | None]:
        """The message the action's card is in, and the digest of what it shows."""
        ...

    def set_card_shown(self, action_id: int, message_id: str, digest: str) -> None: ...

    def save_action(self, action: Action) -> None:
        """Write back the action's own fields and counts (commitments are saved one by one)."""
        ...

    def pledges(self, action: Action) -> list[Pledge]:
        """A drive's standing pledges, without loading who made them (`who`: member id)."""
        ...

    def save_drive(self, action: Action) -> None:
        """Write back a pledge drive's deadline and outcome (extended, tipped, its task)."""
        ...

    def locked_action(self, action_id: int) -> Action | None:
        """The action with its counts, locked like `get_action`."""
        ...

    def set_overdue(self, action: Action) -> None:
        """Mark the action overdue (its card says so from now on)."""
        ...

    def open_actions(self, community_id: int, channel_id: str | None = None) -> list[Action]:
        """Open actions, soonest due first (then those without a due time), by number within
        each, with their counts (not their people)."""
        ...

    def open_actions_of(self, member: Member) -> list[tuple[Action, Commitment]]:
        """Open actions where `member` is committed or waitlisted, with that commitment."""
        ...

    def open_role_emoji(self, platform: str) -> set[str]:
        """The emoji of the roles of open actions in every community on `platform`."""
        ...

    def add_series(self, series: Series, first: Action) -> Series:
        """Store a new series (it gets its id) with `first` as its first occurrence."""
        ...

    def save_series(self, series: Series) -> None:
        """Write back a series' state (stopped, and when)."""
        ...

    def open_in_series(self, series: Series) -> list[Action]:
        """The open occurrences of `series`, by number, with their counts."""
        ...

    def dated_commitments(self, member: Member, since: datetime) -> list[tuple[Action, Commitment]]:
        """Tasks (any state) due at or after `since` that `member` is on in any status but
        withdrawn, soonest first, with that commitment (for a calendar feed)."""
        ...

    def add_feed(self, feed: CalendarFeed, token_hash: str) -> CalendarFeed:
        """Store a calendar feed by the SHA-256 hash of its token; it gets its id."""
        ...

    def active_feed(self, member: Member, channel_id: str | None) -> CalendarFeed | None:
        """`member`'s feed (of `channel_id`, or their own with None) not revoked, if any."""
        ...

    def revoke_feeds(self, member: Member, channel_id: str | None, now: datetime) -> int:
        """Revoke `member`'s feeds of `channel_id` (None: their own); how many were active."""
        ...

    def feed(self, token_hash: str) -> CalendarFeed | None:
        """The active feed whose token hashes to `token_hash`, with its member."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A block whose writes are undone, alone, if it raises (the rest of the transaction
        stands)."""
        ...

    def audit(self, entry: AuditEntry) -> None: ...

    def audit_log(self, community_id: int) -> list[AuditEntry]: ...

    def export(self) -> Iterator[ExportRow]: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
