"""The neutral card and outgoing messages that adapters render for their platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import pledges, recurrence
from bot.events import ReplyHandle
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    Commitment,
    CommitmentStatus,
    Member,
    Series,
    SeriesState,
)
from bot.refs import ChannelRef, MemberRef, MessageRef


@dataclass(frozen=True)
class Person:
    id: str
    name: str


@dataclass(frozen=True)
class Button:
    """A button on a card (`join`, `leave`, `done`: `number` is the action's) or on a DM
    (`snooze_15m`, `snooze_1h`, `snooze_tomorrow`: `number` is the reminder occurrence's;
    `checkin_done`, `checkin_not`: the action's). Pressed, it comes back as ButtonPressed."""

    name: str
    label: str
    number: int


@dataclass(frozen=True)
class DriveView:
    """What a pledge drive's card shows beyond a task's: progress toward the goal by the
    group whose conditions all hold, how many more are conditional, and the time left.

    A sealed drive that has not tipped shows counts only: the card's people are empty.
    """

    goal: int
    unit: str | None  # None: the goal counts people
    reached: int  # what the group brings: people, or the sum of their amounts
    group: int  # people in the group
    conditional: int  # pledgers outside it, their condition not (yet) holding
    deadline_at: datetime
    sealed: bool
    time_left: str = ""  # "2 days left", as it was when the card was drawn
    task_number: int | None = None  # once tipped: the task the pledges became
    conditional_people: tuple[Person, ...] = ()  # names: only when not sealed
    # Who is in the group: empty on a sealed drive until it tips (the card's `committed`).
    group_people: tuple[Person, ...] = ()
    did: int = 0  # answers to the check-in after a tipped drive's task
    didnt: int = 0

    @property
    def progress(self) -> str:
        """ "7 of 10 in", or "14 of 20 hours"."""
        return drive_progress(self.reached, self.goal, self.unit)

    def sealed_note(self, state: str) -> str:
        """What a sealed drive's card says about names, in `state` ("" when not sealed or
        tipped)."""
        if not self.sealed or state == "tipped":
            return ""
        if state == "open":
            return "Sealed: only counts show until it tips"
        return "Sealed: who pledged stays private"

    def progress_bar(self, width: int = 10) -> str:
        filled = min(width, round(width * self.reached / self.goal)) if self.goal else 0
        return "▰" * filled + "▱" * (width - filled)


@dataclass(frozen=True)
class RoleView:
    """One role on a task's card: its progress, its people and the emoji that joins it."""

    name: str
    need: int | None
    emoji: str = ""
    committed: tuple[Person, ...] = ()
    done: tuple[Person, ...] = ()
    waitlist: tuple[Person, ...] = ()

    @property
    def in_count(self) -> int:
        return len(self.committed) + len(self.done)

    @property
    def progress(self) -> str:
        return progress(self.in_count, self.need)

    @property
    def count(self) -> str:
        """ "1/2" with a need, "1" without."""
        return f"{self.in_count}/{self.need}" if self.need else str(self.in_count)

    @property
    def full(self) -> bool:
        return self.need is not None and self.in_count >= self.need


@dataclass(frozen=True)
class Card:
    """Everything a platform needs to draw an action's card."""

    number: int
    kind: str
    title: str
    creator: Person
    state: str
    need: int | None
    due_at: datetime | None
    committed: tuple[Person, ...]
    done: tuple[Person, ...]
    waitlist: tuple[Person, ...]
    buttons: tuple[Button, ...]
    channel_id: str = ""
    # Open and past its due time (set when the due time came, so every platform agrees).
    overdue: bool = False
    drive: DriveView | None = None  # set on pledge drives
    # Shaped tasks. With roles, the Join button asks which one (a select, role buttons, or
    # `role:`), each press coming back as ButtonPressed("join", number, choice=role name).
    roles: tuple[RoleView, ...] = ()
    maybe: tuple[Person, ...] = ()  # counted apart: never a place
    # Of `committed`, those promoted close to the due time who have yet to confirm.
    confirming: tuple[Person, ...] = ()
    closes_at: datetime | None = None  # when sign-up closes (joining is refused after)
    signup_closed: bool = False  # past closes_at: the card says so and Join is gone
    repeats: str = ""  # a recurring task's rule in words, "every Saturday at 10:00"
    # Its creator or an admin may change it: platforms add an Edit control (a menu item or
    # button opening a form that comes back as EditRequested); the core checks who may.
    editable: bool = False

    @property
    def in_count(self) -> int:
        return len(self.committed) + len(self.done)

    @property
    def progress(self) -> str:
        if self.drive is not None:
            return self.drive.progress
        return progress(self.in_count, self.need)

    def progress_bar(self, width: int = 10) -> str:
        if self.drive is not None:
            return self.drive.progress_bar(width)
        if not self.need:
            return ""
        filled = min(width, round(width * self.in_count / self.need))
        return "▰" * filled + "▱" * (width - filled)


def drive_progress(reached: int, goal: int, unit: str | None) -> str:
    """ "7 of 10 in", "14 of 20 hours"; past the goal "12 in (goal 10)"."""
    what = unit or "in"
    if reached > goal:
        return f"{reached:,} {what} (goal {goal:,})"
    return f"{reached:,} of {goal:,} {what}"


def progress(in_count: int, need: int | None) -> str:
    """ "2/3 in" with a need, "2 in" without."""
    return f"{in_count}/{need} in" if need else f"{in_count} in"


def _person(member: Member) -> Person:
    return Person(member.external_id, member.display_name)


def time_left(deadline: datetime, now: datetime) -> str:
    """ "3 days left", "5 h left", "40 min left", or "closed"."""
    seconds = (deadline - now).total_seconds()
    if seconds <= 0:
        return "closed"
    minutes = max(1, round(seconds / 60))
    if minutes >= 2 * 24 * 60:
        return f"{round(minutes / (24 * 60))} days left"
    if minutes >= 120:
        return f"{round(minutes / 60)} h left"
    return f"{minutes} min left"


def drive_view(action: Action, now: datetime | None = None) -> DriveView:
    """A drive's progress, resolved from its loaded pledges (see bot.pledges)."""
    drive = action.drive
    assert drive is not None and action.due_at is not None
    pledged = action.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.DONE)
    found = [pledge_of(c) for c in pledged]
    group = pledges.resolve(found)
    reached = pledges.reached(found, group)
    inside = tuple(_person(c.member) for c in pledged if c.member.id in group)
    outside = tuple(_person(c.member) for c in pledged if c.member.id not in group)
    open_ = action.state is ActionState.OPEN
    return DriveView(
        goal=drive.goal,
        unit=drive.unit,
        reached=reached if drive.unit else len(group),
        group=len(group),
        conditional=len(outside),
        deadline_at=action.due_at,
        sealed=drive.sealed,
        time_left=time_left(action.due_at, now) if now is not None and open_ else "",
        task_number=drive.task_number,
        # Who is conditional stays unnamed on a sealed drive, even after it tips.
        conditional_people=() if drive.sealed else outside,
        group_people=() if drive.sealed and action.state is not ActionState.TIPPED else inside,
        did=sum(1 for c in pledged if c.checkin == "did"),
        didnt=sum(1 for c in pledged if c.checkin == "didnt"),
    )


def pledge_of(c: Commitment) -> pledges.Pledge:
    return pledges.Pledge(c.member.id, c.amount, c.if_others, frozenset(c.if_needs))


def card_for(action: Action, now: datetime | None = None) -> Card:
    """The card of `action`, whose people must have been loaded (see UnitOfWork.load_people);
    `now` is when it is drawn (a drive's card says how much time is left)."""
    if action.kind is ActionKind.PLEDGE:
        return _drive_card(action, now)

    def people(status: CommitmentStatus) -> tuple[Person, ...]:
        return tuple(_person(c.member) for c in action.with_status(status))

    open_ = action.state is ActionState.OPEN
    # Past its cut-off a task takes no one new: Join and Maybe go (leaving still works).
    closed = open_ and signup_closed(action, now)
    joining = (Button("join", "Join", action.number), Button("maybe", "Maybe", action.number))
    staying = (Button("leave", "Leave", action.number), Button("done", "Done", action.number))
    buttons = ((() if closed else joining) + staying) if open_ else ()
    return _card(
        action,
        need=action.need,
        committed=people(CommitmentStatus.COMMITTED),
        done=people(CommitmentStatus.DONE),
        waitlist=people(CommitmentStatus.WAITLISTED),
        buttons=buttons,
        overdue=open_ and action.overdue,
        maybe=people(CommitmentStatus.MAYBE),
        confirming=tuple(
            _person(c.member)
            for c in action.with_status(CommitmentStatus.COMMITTED)
            if c.confirm_by is not None
        ),
        closes_at=action.closes_at,
        signup_closed=closed,
        roles=role_views(action),
        editable=open_,  # a task (drives are not edited)
        repeats=repeats(action.series),
    )


def repeats(series: Series | None) -> str:
    """A recurring task's rule in words, "every Saturday at 10:00 (Europe/Berlin)"; "" for
    a task that doesn't repeat, or whose series was stopped."""
    if series is None or series.state is not SeriesState.ACTIVE:
        return ""
    return f"{recurrence.describe(series.rule)} ({series.tz})"


def role_views(action: Action) -> tuple[RoleView, ...]:
    """Each role of `action`, in order, with its loaded people."""

    def people(role: str, status: CommitmentStatus) -> tuple[Person, ...]:
        return tuple(_person(c.member) for c in action.with_status(status) if c.role == role)

    return tuple(
        RoleView(
            name=r.name,
            need=r.need,
            emoji=r.emoji,
            committed=people(r.name, CommitmentStatus.COMMITTED),
            done=people(r.name, CommitmentStatus.DONE),
            waitlist=people(r.name, CommitmentStatus.WAITLISTED),
        )
        for r in action.roles
    )


def signup_closed(action: Action, now: datetime | None) -> bool:
    """Whether `action`'s sign-up has closed by `now` (its `closes:` passed)."""
    return action.closes_at is not None and now is not None and now >= action.closes_at


def _card(action: Action, **rest: Any) -> Card:
    """A card with what every kind of action shows, and `rest`."""
    return Card(
        number=action.number,
        kind=action.kind.value,
        title=action.title,
        creator=_person(action.creator),
        state=action.state.value,
        due_at=action.due_at,
        channel_id=action.channel_id,
        **rest,
    )


def _drive_card(action: Action, now: datetime | None) -> Card:
    view = drive_view(action, now)
    open_ = action.state is ActionState.OPEN
    buttons = (
        (Button("join", "Pledge", action.number), Button("leave", "Withdraw", action.number))
        if open_
        else ()
    )
    return _card(
        action,
        need=None,
        committed=view.group_people,
        done=(),
        waitlist=(),
        buttons=buttons,
        drive=view,
    )


@dataclass(frozen=True)
class PostCard:
    """Post the card of action `action_id` in `channel` (in the thread of `reply_to`, if any).

    The card is drawn when it is sent, so it always shows the action as it is then.
    """

    action_id: int
    channel: ChannelRef
    reply_to: MessageRef | None = None


@dataclass(frozen=True)
class UpdateCard:
    """The action changed: bring its card up to date (edits of one card are coalesced)."""

    action_id: int
    channel: ChannelRef


@dataclass(frozen=True)
class DirectMessage:
    """A message to one person, in their DM with the bot, with `buttons` under it."""

    to: MemberRef
    text: str
    buttons: tuple[Button, ...] = ()
    # The sealed drive it is about: the export then keeps whom it went to to itself.
    about: int | None = None


@dataclass(frozen=True)
class ChannelMessage:
    """A message from the bot in a channel: a reminder, a nudge, a digest. It names nobody
    with a mention, so it pings nobody."""

    channel: ChannelRef
    text: str


@dataclass(frozen=True)
class PrivateReply:
    """A reply only `to` can see, in `channel`."""

    to: MemberRef
    channel: ChannelRef
    text: str
    about: int | None = None  # as for DirectMessage
    # An action whose card the reply is (`/coop show`): drawn when sent, as a card post is,
    # for platforms that draw cards; `text` is what the others show.
    shows: int | None = None


@dataclass(frozen=True)
class AskForTitle:
    """Ask `to` (by DM) for a title for task `number`, tracked from a message nobody could read."""

    to: MemberRef
    message: MessageRef
    number: int
    title: str


@dataclass(frozen=True)
class Dismiss:
    """The event needed no private answer: close whatever its acknowledgement left open for
    `to` (a Discord "thinking..." message); nothing on platforms without such a thing."""

    to: MemberRef
    channel: ChannelRef


Effect = (
    PostCard | UpdateCard | DirectMessage | ChannelMessage | PrivateReply | AskForTitle | Dismiss
)


@dataclass(frozen=True)
class Cause:
    """Who caused some effects, where, and how to answer them privately (see ReplyHandle)."""

    actor: MemberRef
    channel: ChannelRef
    reply: ReplyHandle | None = None


@dataclass(frozen=True)
class Outgoing:
    """An effect on its way out, as the outbox keeps it: `reply` is how a private answer goes
    (`first` when it is the first through that handle); `cause` is whom to tell if it fails."""

    effect: Effect
    cause: Cause | None = None
    reply: ReplyHandle | None = None
    first: bool = False
