"""Persistent components: the core's buttons (on cards and under DMs), the role select that
stands for Join on a task with roles, the card's Edit button and its form, the "give it a
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

from adapters.discord.embeds import component_emoji
from adapters.discord.text import shorten
from bot.cards import Button, Card, RoleView
from bot.drives import MAX_UNIT
from bot.grammar import MAX_TITLE
from bot.shaping import NONE_WORDS

COG_NAME = "Coop"

# Green to join (or pledge) or to say it happened, blue for done; the rest (leave, snoozes,
# "it didn't") grey.
_STYLES = {
    "join": discord.ButtonStyle.success,
    "done": discord.ButtonStyle.primary,
    "checkin_done": discord.ButtonStyle.success,
    "pledge_did": discord.ButtonStyle.success,
    "confirm": discord.ButtonStyle.success,
    "handoff_yes": discord.ButtonStyle.success,
}
# Open modals are forgotten after 15 minutes, when the interaction token would be dead anyway.
MODAL_TIMEOUT = 15 * 60
LABEL_LIMIT = 80  # a button's label
# A select's options, each one's label, value and description, and its placeholder.
OPTIONS_LIMIT = 25
OPTION_LIMIT = 100
PLACEHOLDER_LIMIT = 150
# A modal's title and its inputs' labels; an input's placeholder.
MODAL_TITLE_LIMIT = 45
INPUT_PLACEHOLDER_LIMIT = 100
JOIN_AS = "Join as…"
EDIT_LABEL = "Edit"


@dataclass(frozen=True)
class DriveForm:
    """The "Start a pledge drive" form as filled in, every field as typed (the core checks
    them); `title` is asked for only when the message has no text to take it from."""

    goal: str
    deadline: str
    unit: str = ""
    sealed: str = ""
    title: str = ""


@dataclass(frozen=True)
class EditForm:
    """The Edit form as submitted, as EditRequested takes it: None leaves a thing as it is,
    "" clears it; the rest as typed (the core checks it like `/coop edit`'s options)."""

    title: str | None = None
    need: str | None = None
    due: str | None = None
    closes: str | None = None


class ComponentHandler(Protocol):
    """What the cog does when someone uses one of these components."""

    async def on_button(
        self,
        interaction: discord.Interaction,
        name: str,
        guild_id: int,
        number: int,
        choice: str = "",
    ) -> None: ...

    async def on_edit(self, interaction: discord.Interaction, guild_id: int, number: int) -> None:
        """Open the Edit form of task `number` (a modal must be the interaction's answer)."""

    async def on_edit_form(
        self,
        interaction: discord.Interaction,
        guild_id: int,
        channel_id: int,
        number: int,
        form: EditForm,
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


def card_view(card: Card, guild_id: int) -> discord.ui.View | None:
    """A card's components: its buttons, Join as a role select on a task with roles (on a
    row of its own, above the buttons), and Edit when the card may be edited."""
    view = discord.ui.View(timeout=None)
    for button in card.buttons:
        if button.name == "join" and card.roles:
            view.add_item(
                ChoiceSelect(button.name, guild_id, button.number, role_options(card.roles))
            )
        else:
            view.add_item(CoopButton(button.name, button.label, guild_id, button.number))
    if card.editable:
        view.add_item(EditButton(guild_id, card.number))
    return view if view.children else None


def role_options(roles: tuple[RoleView, ...]) -> list[discord.SelectOption]:
    """One option per role (Discord takes 25), its value the role's name, its description how
    full it is; with the role's emoji when it is one Discord draws (not a custom name)."""
    options: list[discord.SelectOption] = []
    values: set[str] = set()
    for role in roles:
        value = role.name[:OPTION_LIMIT]
        if value in values:  # Discord refuses two options with one value
            continue
        values.add(value)
        full = role.full
        description = role.progress + (" · full: you'd be on the waitlist" if full else "")
        options.append(
            discord.SelectOption(
                label=shorten(role.name, OPTION_LIMIT),
                value=value,
                description=shorten(description, OPTION_LIMIT),
                emoji=component_emoji(role.emoji),
            )
        )
        if len(options) == OPTIONS_LIMIT:
            break
    return options


class ChoiceSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"coop:pick:(?P<name>[a-z0-9_]+):(?P<guild>\d+):(?P<number>\d+)",
):
    """A core button that asks which (Join on a task with roles): the option picked comes
    back as that button pressed, with the pick as its choice."""

    def __init__(
        self, name: str, guild_id: int, number: int, options: list[discord.SelectOption]
    ) -> None:
        self.name, self.guild_id, self.number = name, guild_id, number
        super().__init__(
            discord.ui.Select(
                custom_id=f"coop:pick:{name}:{guild_id}:{number}",
                placeholder=shorten(JOIN_AS, PLACEHOLDER_LIMIT),
                options=options,
                min_values=1,
                max_values=1,
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ChoiceSelect:
        # The options come back with the message: the ones it was posted with.
        options = list(getattr(item, "options", None) or [])
        return cls(match["name"], int(match["guild"]), int(match["number"]), options)

    async def callback(self, interaction: discord.Interaction) -> None:
        picked = self.item.values[0] if self.item.values else ""
        await _handler(interaction).on_button(
            interaction, self.name, self.guild_id, self.number, picked
        )


class EditButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"coop:form:edit:(?P<guild>\d+):(?P<number>\d+)",
):
    """The Edit button on a card that may be edited: opens the Edit form (for anyone; the
    core tells whoever may not edit so, when the form comes back)."""

    def __init__(self, guild_id: int, number: int) -> None:
        self.guild_id, self.number = guild_id, number
        super().__init__(
            discord.ui.Button(
                label=EDIT_LABEL,
                emoji="✏️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"coop:form:edit:{guild_id}:{number}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> EditButton:
        return cls(int(match["guild"]), int(match["number"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).on_edit(interaction, self.guild_id, self.number)


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


class EditModal(discord.ui.Modal):
    """The Edit form of task `number`, prefilled with its title and need from `card` (None
    when the card could not be looked up in time: then every field left blank is kept). A
    task with roles has no need to edit (each role counts its own): no input for it."""

    def __init__(self, guild_id: int, channel_id: int, number: int, card: Card | None) -> None:
        super().__init__(
            title=shorten(f"Edit #{number}", MODAL_TITLE_LIMIT),
            custom_id=_opening("edit", number),
            timeout=MODAL_TIMEOUT,
        )
        self.ids = (guild_id, channel_id, number)
        self.card = card
        known = card is not None
        self.title_input: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label="Title",
            default=card.title[:MAX_TITLE] or None if card is not None else None,
            placeholder="What needs doing (blank: unchanged)",
            required=False,
            max_length=MAX_TITLE,
        )
        need = str(card.need) if card is not None and card.need else ""
        self.need: discord.ui.TextInput[EditModal] | None = None
        if card is None or not card.roles:
            self.need = discord.ui.TextInput(
                label="People needed",
                default=need or None,
                placeholder="A number; blank or none: no limit" if known else _KEEP_OR_NONE,
                required=False,
                max_length=12,
            )
        self.due: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label="Due",
            placeholder=_placeholder('"friday 5pm"; blank: unchanged; none: no due time'),
            required=False,
            max_length=100,
        )
        self.closes: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label="Sign-up closes",
            placeholder=_placeholder('"friday 6pm"; blank: unchanged; none: no cut-off'),
            required=False,
            max_length=100,
        )
        for item in (self.title_input, self.need, self.due, self.closes):
            if item is not None:
                self.add_item(item)

    def form(self) -> EditForm:
        """What was changed: a field left as it was prefilled is None, as is a blank one
        (but a blank need that had one clears it: blank means no limit)."""
        title = self.title_input.value.strip()
        prefilled = self.card.title[:MAX_TITLE] if self.card is not None else ""
        unchanged_title = not title or title == prefilled
        need = self.need.value.strip() if self.need is not None else ""
        need_change = _cleared(need)
        if self.card is not None and self.need is not None:
            # Prefilled, blank is no limit: the change is whatever differs from before.
            before = str(self.card.need) if self.card.need else ""
            wanted = need_change or ""
            need_change = None if wanted == before else wanted
        return EditForm(
            title=None if unchanged_title else title,
            need=need_change,
            due=_cleared(self.due.value.strip()),
            closes=_cleared(self.closes.value.strip()),
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).on_edit_form(interaction, *self.ids, self.form())


_KEEP_OR_NONE = "A number; blank: unchanged; none: no limit"


def _placeholder(text: str) -> str:
    return shorten(f"e.g. {text}", INPUT_PLACEHOLDER_LIMIT)


def _cleared(typed: str) -> str | None:
    """A typed field as EditRequested takes it: blank None (unchanged), "none" "" (clear)."""
    if not typed:
        return None
    return "" if typed.lower() in NONE_WORDS else typed


def _opening(kind: str, message_id: int) -> str:
    """A modal's custom_id, unique per opening: two people may fill one in for the same
    message at once."""
    return f"coop:{kind}:{message_id}:{uuid.uuid4().hex[:12]}"
