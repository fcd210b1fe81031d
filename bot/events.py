"""What happened on a platform, as neutral events the core understands."""

from __future__ import annotations

from dataclasses import dataclass

from bot.refs import ChannelRef, MemberRef, MessageRef


@dataclass(frozen=True)
class CommandInvoked:
    """Someone typed `/coop <text>` in a channel."""

    actor: MemberRef
    channel: ChannelRef
    text: str
    event_id: str | None = None


@dataclass(frozen=True)
class ReactionAdded:
    """Someone reacted to a message; `emoji` is a short name or the character itself."""

    actor: MemberRef
    message: MessageRef
    emoji: str
    event_id: str | None = None


@dataclass(frozen=True)
class ReactionRemoved:
    """Someone removed their reaction from a message."""

    actor: MemberRef
    message: MessageRef
    emoji: str
    event_id: str | None = None


@dataclass(frozen=True)
class ButtonPressed:
    """Someone pressed a button (`join`, `leave`, `done`) on the card of action `number`."""

    actor: MemberRef
    message: MessageRef
    button: str
    number: int
    event_id: str | None = None


@dataclass(frozen=True)
class MessageTracked:
    """Someone asked to track a message as a task (message shortcut or context menu)."""

    actor: MemberRef
    message: MessageRef
    text: str
    event_id: str | None = None


@dataclass(frozen=True)
class TitleGiven:
    """Someone gave a new title to the task tracked from `message` (e.g. from a form)."""

    actor: MemberRef
    message: MessageRef
    title: str
    event_id: str | None = None


Event = (
    CommandInvoked | ReactionAdded | ReactionRemoved | ButtonPressed | MessageTracked | TitleGiven
)
