"""The neutral card and outgoing messages that adapters render for their platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.events import ReplyHandle
from bot.model import Action, ActionState, CommitmentStatus, Member
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

    @property
    def in_count(self) -> int:
        return len(self.committed) + len(self.done)

    @property
    def progress(self) -> str:
        return progress(self.in_count, self.need)

    def progress_bar(self, width: int = 10) -> str:
        if not self.need:
            return ""
        filled = min(width, round(width * self.in_count / self.need))
        return "▰" * filled + "▱" * (width - filled)


def progress(in_count: int, need: int | None) -> str:
    """ "2/3 in" with a need, "2 in" without."""
    return f"{in_count}/{need} in" if need else f"{in_count} in"


def _person(member: Member) -> Person:
    return Person(member.external_id, member.display_name)


def card_for(action: Action) -> Card:
    """The card of `action`, whose people must have been loaded (see UnitOfWork.load_people)."""

    def people(status: CommitmentStatus) -> tuple[Person, ...]:
        return tuple(_person(c.member) for c in action.with_status(status))

    open_ = action.state is ActionState.OPEN
    buttons = (
        (
            Button("join", "Join", action.number),
            Button("leave", "Leave", action.number),
            Button("done", "Done", action.number),
        )
        if open_
        else ()
    )
    return Card(
        number=action.number,
        kind=action.kind.value,
        title=action.title,
        creator=_person(action.creator),
        state=action.state.value,
        need=action.need,
        due_at=action.due_at,
        committed=people(CommitmentStatus.COMMITTED),
        done=people(CommitmentStatus.DONE),
        waitlist=people(CommitmentStatus.WAITLISTED),
        buttons=buttons,
        channel_id=action.channel_id,
        overdue=open_ and action.overdue,
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
