"""Persistent components: the core's buttons (on cards and under DMs), the "give it a
title" button and its modal, and the form that starts a pledge drive from a message.

Their custom_ids carry everything needed (button, guild, number or message), and the classes
are registered with `add_dynamic_items` at start-up, so buttons posted before a restart work.
Discord draws no markdown in labels, titles and placeholders: their text is only cut to size.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, cast

import discord

from adapters.discord.text import shorten
from bot.cards import Button
from bot.drives import MAX_UNIT
from bot.grammar import MAX_TITLE

COG_NAME = "Coop"

# Green to join (or pledge) or to say it happened, blue for done; the rest (leave, snoozes,
# "it didn't") grey.
_STYLES = {
    "join": discord.ButtonStyle.success,
    "done": discord.ButtonStyle.primary,
    "checkin_done": discord.ButtonStyle.success,
    "pledge_did": discord.ButtonStyle.success,
}
# Open modals are forgotten after 15 minutes, when the interaction token would be dead anyway.
MODAL_TIMEOUT = 15 * 60
LABEL_LIMIT = 80  # a button's label


@dataclass(frozen=True)
class DriveForm:
    """The "Start a pledge drive" form as filled in, every field as typed (the core checks
    them); `title` is asked for only when the message has no text to take it from."""

    goal: str
    deadline: str
    unit: str = ""
    sealed: str = ""
    title: str = ""


class ComponentHandler(Protocol):
    """What the cog does when someone uses one of these components."""

    async def on_button(
        self, interaction: discord.Interaction, name: str, guild_id: int, number: int
    ) -> None: ...

    async def on_title_given(
        self,
        interaction: discord.Interaction,
        guild_id: int,
        channel_id: int,
        message_id: int,
        title: str,
        tracked: bool,
    ) -> None: ...

    async def on_drive_form(
        self,
        interaction: discord.Interaction,
        guild_id: int,
        channel_id: int,
        message_id: int,
        text: str,
        form: DriveForm,
    ) -> None: ...


def _handler(interaction: discord.Interaction) -> ComponentHandler:
    client = cast(Any, interaction.client)
    return cast(ComponentHandler, client.get_cog(COG_NAME))


class CoopButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"coop:(?P<name>[a-z0-9_]+):(?P<guild>\d+):(?P<number>\d+)",
):
    """One of the core's buttons (`join` on a card, `snooze_1h` under a reminder...) about
    `number` in guild `guild_id`, wherever it was posted."""

    def __init__(self, name: str, label: str, guild_id: int, number: int) -> None:
        self.name, self.guild_id, self.number = name, guild_id, number
        super().__init__(
            discord.ui.Button(
                label=shorten(label, LABEL_LIMIT),
                style=_STYLES.get(name, discord.ButtonStyle.secondary),
                custom_id=f"coop:{name}:{guild_id}:{number}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CoopButton:
        label = getattr(item, "label", None) or match["name"].title()
        return cls(match["name"], label, int(match["guild"]), int(match["number"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).on_button(interaction, self.name, self.guild_id, self.number)


def button_view(buttons: tuple[Button, ...], guild_id: int) -> discord.ui.View | None:
    """The core's `buttons` as persistent components, or None when there are none."""
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(CoopButton(button.name, button.label, guild_id, button.number))
    return view


class TitleButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"coop:title:(?P<guild>\d+):(?P<channel>\d+):(?P<message>\d+)",
):
    """Sent by DM after tracking a message the bot could not read: asks for the task's title."""

    def __init__(self, guild_id: int, channel_id: int, message_id: int) -> None:
        self.ids = (guild_id, channel_id, message_id)
        super().__init__(
            discord.ui.Button(
                label="Give it a title",
                style=discord.ButtonStyle.primary,
                custom_id=f"coop:title:{guild_id}:{channel_id}:{message_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> TitleButton:
        return cls(int(match["guild"]), int(match["channel"]), int(match["message"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(TitleModal(*self.ids, tracked=True))


class TitleModal(discord.ui.Modal):
    """Asks for the title of a task from a message the bot cannot read; `tracked` when the
    task already exists (the DM button), else the title tracks the message (the menu)."""

    title_input: discord.ui.TextInput[TitleModal] = discord.ui.TextInput(
        label="Title", placeholder="What needs doing?", max_length=MAX_TITLE
    )

    def __init__(self, guild_id: int, channel_id: int, message_id: int, *, tracked: bool) -> None:
        super().__init__(
            title="Name the task", custom_id=_opening("titled", message_id), timeout=MODAL_TIMEOUT
        )
        self.ids = (guild_id, channel_id, message_id)
        self.tracked = tracked

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).on_title_given(
            interaction, *self.ids, self.title_input.value, self.tracked
        )


class DriveModal(discord.ui.Modal):
    """The terms of a pledge drive started from a message (the "Start a pledge drive" menu).
    Modals have no checkbox, so "sealed" is a yes or no typed in."""

    def __init__(self, guild_id: int, channel_id: int, message_id: int, text: str) -> None:
        super().__init__(
            title="Start a pledge drive",
            custom_id=_opening("drive", message_id),
            timeout=MODAL_TIMEOUT,
        )
        self.ids = (guild_id, channel_id, message_id)
        self.text = text
        self.title_input: discord.ui.TextInput[DriveModal] | None = None
        if not text:
            self.title_input = discord.ui.TextInput(
                label="Title", placeholder="What everyone would do", max_length=MAX_TITLE
            )
            self.add_item(self.title_input)
        self.goal: discord.ui.TextInput[DriveModal] = discord.ui.TextInput(
            label="Goal", placeholder="How many people (or, with a unit, how much)", max_length=12
        )
        self.deadline: discord.ui.TextInput[DriveModal] = discord.ui.TextInput(
            label="Sign-up closes", placeholder='e.g. "friday 5pm" or "in 3 days"', max_length=100
        )
        self.unit: discord.ui.TextInput[DriveModal] = discord.ui.TextInput(
            label="Unit (leave empty to count people)",
            placeholder="hours, EUR, trees...",
            required=False,
            max_length=MAX_UNIT,
        )
        self.sealed: discord.ui.TextInput[DriveModal] = discord.ui.TextInput(
            label="Sealed? (yes or no)",
            placeholder="no; yes: only counts show until it tips",
            required=False,
            max_length=5,
        )
        for item in (self.goal, self.deadline, self.unit, self.sealed):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        form = DriveForm(
            goal=self.goal.value,
            deadline=self.deadline.value,
            unit=self.unit.value,
            sealed=self.sealed.value,
            title=self.title_input.value if self.title_input is not None else "",
        )
        await _handler(interaction).on_drive_form(interaction, *self.ids, self.text, form)


def _opening(kind: str, message_id: int) -> str:
    """A modal's custom_id, unique per opening: two people may fill one in for the same
    message at once."""
    return f"coop:{kind}:{message_id}:{uuid.uuid4().hex[:12]}"
