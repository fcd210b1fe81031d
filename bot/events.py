"""What happened on a platform, as neutral events the core understands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.refs import ChannelRef, MemberRef, MessageRef


@dataclass(frozen=True)
class ReplyHandle:
    """Where private answers to whoever caused an event go, while the platform allows it.

    Opaque to the core: `kind` and `value` mean something only to the adapter that made it
    (Slack's response_url, a Discord interaction token). Past `expires_at` answers are dropped.
    `awaits_answer`: the platform shows the person a placeholder ("thinking...") until it gets
    an answer, so an event with nothing to say privately must still close it (`Dismiss`).
    """

    kind: str
    value: str
    expires_at: datetime
    awaits_answer: bool = False


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
    """Someone pressed a button: `join`, `leave` or `done` on the card of action `number`, or
    one under a DM (`snooze_*`: `number` is a reminder occurrence; `checkin_*`: an action).
    A DM's `message` is in the DM channel, in the community the button names."""

    actor: MemberRef
    message: MessageRef
    button: str
    number: int
    event_id: str | None = None
    # What was picked, for a button that asks (a task's role, from a select or role button).
    choice: str = ""


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


@dataclass(frozen=True)
class DriveRequested:
    """Someone turned `message` into a pledge drive ("Start a pledge drive": a shortcut or
    context menu, then a form; `/coop pledge from:m3` in the console). The fields are as
    typed into the form, checked by the core like the command's options."""

    actor: MemberRef
    message: MessageRef
    text: str
    goal: str
    deadline: str
    unit: str = ""
    sealed: bool = False
    event_id: str | None = None


@dataclass(frozen=True)
class EditRequested:
    """Someone filled in the form that edits task `number` (Slack's Edit menu, Discord's Edit
    button). Fields are as typed: None leaves a thing as it is, "" clears it (no need, no due
    time, no cut-off); the core checks them like `/coop edit`'s options."""

    actor: MemberRef
    channel: ChannelRef
    number: int
    title: str | None = None
    need: str | None = None
    due: str | None = None
    closes: str | None = None
    event_id: str | None = None


Event = (
    CommandInvoked
    | ReactionAdded
    | ReactionRemoved
    | ButtonPressed
    | MessageTracked
    | TitleGiven
    | DriveRequested
    | EditRequested
)


@dataclass(frozen=True)
class Inbound:
    """An event as an adapter hands it over, with the way to answer its author privately."""

    event: Event
    reply: ReplyHandle | None = None

    @property
    def key(self) -> str | None:
        """The delivery's id across retries, or None when the platform gives none."""
        event = self.event
        if event.event_id is None:
            return None
        ref = event.actor.community
        return f"{ref.platform}:{ref.id}:{event.event_id}"
