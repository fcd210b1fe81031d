"""The one cog: /coop, the "Track as task" and "Start a pledge drive" menus, buttons and
selects (on cards and in DMs), forms (the Edit form included) and reactions, each turned into
a neutral event for the core."""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from zoneinfo import available_timezones

import discord
from discord import app_commands
from discord.ext import commands

from adapters.discord.chat import DiscordChat, interaction_handle, message_text
from adapters.discord.commands import build_group
from adapters.discord.permissions import cannot_post
from adapters.discord.reactions import GatewayReaction
from adapters.discord.refs import (
    channel_ref,
    community_ref,
    jump_url,
    member_ref,
    message_ref,
)
from adapters.discord.text import shorten
from adapters.discord.views import (
    COG_NAME,
    DriveForm,
    DriveModal,
    EditForm,
    EditModal,
    TitleModal,
)
from bot.app import channel_of
from bot.cards import Card
from bot.core import Core
from bot.drives import parse_sealed
from bot.errors import CoopError
from bot.events import (
    ButtonPressed,
    CommandInvoked,
    DriveRequested,
    EditRequested,
    Event,
    Inbound,
    MessageTracked,
    ReactionAdded,
    ReactionRemoved,
    TitleGiven,
)
from bot.grammar import ParamKind
from bot.refs import ChannelRef, CommunityRef, MemberRef

log = logging.getLogger(__name__)

MENU_NAME = "Track as task"
DRIVE_MENU_NAME = "Start a pledge drive"
# Autocomplete must answer within Discord's 3 seconds too; a slow database suggests nothing.
SUGGEST_TIMEOUT = 2.0
CHOICES_LIMIT = 25
# The subcommands that post a card where they are typed.
POSTING = frozenset({"task", "pledge"})


class CoopCog(commands.Cog, name=COG_NAME):
    """Translates Discord interactions and reactions into events for the core."""

    def __init__(
        self, bot: commands.Bot | commands.AutoShardedBot, core: Core, chat: DiscordChat
    ) -> None:
        self.bot = bot
        self.core = core
        self.chat = chat
        self.group = build_group(
            self.run_command,
            {ParamKind.ACTION_ID: self.suggest_actions, ParamKind.TIMEZONE: self.suggest_zones},
        )
        self.menus = [
            app_commands.guild_only(app_commands.ContextMenu(name=name, callback=callback))
            for name, callback in (
                (MENU_NAME, self.track_as_task),
                (DRIVE_MENU_NAME, self.start_drive),
            )
        ]

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.group)
        for menu in self.menus:
            self.bot.tree.add_command(menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.group.name)
        for menu in self.menus:
            self.bot.tree.remove_command(menu.name, type=menu.type)

    # --- interactions -----------------------------------------------------------------------

    async def run_command(self, interaction: discord.Interaction, text: str) -> None:
        """A /coop subcommand, as the grammar text its options stand for."""
        actor, channel = _actor(interaction), _channel(interaction)
        posts = text.split(" ", 1)[0] in POSTING
        event = CommandInvoked(actor, channel, text, str(interaction.id))
        await self._take(event, interaction, thinking=True, posts=posts)

    async def track_as_task(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """The message context menu; Discord hands over the text even without the intent."""
        assert interaction.guild_id is not None
        text = message_text(message)
        if not text:
            modal = TitleModal(interaction.guild_id, message.channel.id, message.id, tracked=False)
            await _open(interaction, modal)
            return
        community = _community(interaction)
        event = MessageTracked(
            _actor(interaction),
            message_ref(community, message.channel.id, message.id),
            text,
            str(interaction.id),
        )
        await self._take(event, interaction, thinking=True, posts=True)

    async def start_drive(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """The message context menu "Start a pledge drive": a form asks for its terms."""
        assert interaction.guild_id is not None
        modal = DriveModal(
            interaction.guild_id, message.channel.id, message.id, message_text(message)
        )
        await _open(interaction, modal)

    async def on_button(
        self,
        interaction: discord.Interaction,
        name: str,
        guild_id: int,
        number: int,
        choice: str = "",
    ) -> None:
        """A button on a card or under a DM, or an option picked from a card's select (its
        `choice`), including ones sent before a restart. One used in another guild than its
        custom_id names is ignored."""
        if interaction.guild_id not in (None, guild_id) or interaction.message is None:
            await _acknowledge(interaction, thinking=False)
            return
        community = community_ref(guild_id, self.bot.get_guild(guild_id))
        ref = message_ref(community, interaction.message.channel.id, interaction.message.id)
        event = ButtonPressed(
            _actor(interaction, community), ref, name, number, str(interaction.id), choice
        )
        await self._take(event, interaction, thinking=False)

    async def on_edit(self, interaction: discord.Interaction, guild_id: int, number: int) -> None:
        """A card's Edit button: the form opens at once (Discord takes a modal only as the
        first answer), prefilled from the card when it is found in time."""
        if interaction.guild_id != guild_id or interaction.message is None:
            await _acknowledge(interaction, thinking=False)
            return
        card = await self._open_card(community_ref(guild_id, interaction.guild), number)
        modal = EditModal(guild_id, interaction.message.channel.id, number, card)
        await _open(interaction, modal)

    async def on_edit_form(
        self,
        interaction: discord.Interaction,
        guild_id: int,
        channel_id: int,
        number: int,
        form: EditForm,
    ) -> None:
        """The Edit form, submitted: the core checks who may edit and what was typed, and
        answers privately."""
        community = community_ref(guild_id, self.bot.get_guild(guild_id))
        name = self.chat.channel_name(guild_id, channel_id)
        event = EditRequested(
            _actor(interaction, community),
            channel_ref(community, channel_id, name),
            number,
            form.title,
            form.need,
            form.due,
            form.closes,
            str(interaction.id),
        )
        await self._take(event, interaction, thinking=True)

    async def on_title_given(
        self,
        interaction: discord.Interaction,
        guild_id: int,
        channel_id: int,
        message_id: int,
        title: str,
        tracked: bool,
    ) -> None:
        """A title for a message the bot could not read: renames the task already tracked from
        it (the DM prompt, sent only once the task exists), else tracks it (the menu)."""
        community = community_ref(guild_id, self.bot.get_guild(guild_id))
        actor = _actor(interaction, community)
        message = message_ref(community, channel_id, message_id)
        title = title.strip()
        event: Event
        if not title:
            await self._refuse(
                TitleGiven(actor, message, title), interaction, "A title needs some text."
            )
            return
        if tracked:
            event = TitleGiven(actor, message, title, str(interaction.id))
        else:
            # The link stays in the task's text, so the task leads back to the message.
            text = f"{title}\n{jump_url(message)}"
            event = MessageTracked(actor, message, text, str(interaction.id))
        await self._take(event, interaction, thinking=True, posts=not tracked)

    async def on_drive_form(
        self,
        interaction: discord.Interaction,
        guild_id: int,
        channel_id: int,
        message_id: int,
        text: str,
        form: DriveForm,
    ) -> None:
        """The "Start a pledge drive" form, filled in: the message becomes a drive."""
        community = community_ref(guild_id, self.bot.get_guild(guild_id))
        message = message_ref(community, channel_id, message_id)
        if not text and form.title.strip():
            # The link stays in the drive's text, so it leads back to the message.
            text = f"{form.title.strip()}\n{jump_url(message)}"
        actor = _actor(interaction, community)
        try:
            sealed = parse_sealed(form.sealed.strip() or None)
        except CoopError as err:
            refused = DriveRequested(actor, message, text, form.goal, form.deadline)
            await self._refuse(refused, interaction, err.message)
            return
        event = DriveRequested(
            actor,
            message,
            text,
            form.goal,
            form.deadline,
            form.unit.strip(),
            sealed,
            str(interaction.id),
        )
        await self._take(event, interaction, thinking=True, posts=True)

    # --- reactions --------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_coop_reaction(self, reaction: GatewayReaction) -> None:
        """A raw reaction add/remove admitted by the gate (see `reactions.py`)."""
        payload = reaction.payload
        assert payload.guild_id is not None
        community = community_ref(payload.guild_id, self.bot.get_guild(payload.guild_id))
        member = payload.member  # only on adds; a remove keeps the stored name
        permissions = member.guild_permissions if member is not None else None
        actor = member_ref(community, member, payload.user_id, permissions)
        message = message_ref(community, payload.channel_id, payload.message_id)
        kind = ReactionAdded if reaction.added else ReactionRemoved
        event = kind(actor, message, reaction.emoji, reaction.event_id)
        posts = reaction.added and reaction.emoji == self.core.coop.prefs.track_emoji
        inbound = Inbound(event)
        if posts and (refusal := self._cannot_post(event.message.channel)):
            await self.core.coop.tell(inbound, refusal)
            return
        await self.core.inbox.receive(inbound)

    # --- autocomplete -----------------------------------------------------------------------

    async def suggest_actions(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """Open actions, this channel's first; for leave and done, the asker's own."""
        if interaction.guild_id is None:
            return []
        command = interaction.command.name if interaction.command else ""
        actor, coop = _actor(interaction), self.core.coop
        if command in ("leave", "done"):
            lookup = coop.commitments_of(actor)
        else:
            lookup = coop.open_cards(actor.community)
        try:
            cards = await asyncio.wait_for(lookup, SUGGEST_TIMEOUT)
        except TimeoutError:
            return []
        here = str(interaction.channel_id)
        cards.sort(key=lambda card: (card.channel_id != here, -card.number))
        needle = current.strip().removeprefix("#").lower()
        return [
            app_commands.Choice(
                name=shorten(f"#{card.number} {card.title}", 100), value=card.number
            )
            for card in cards
            if needle in f"{card.number} {card.title.lower()}"
        ][:CHOICES_LIMIT]

    async def suggest_zones(
        self, _interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.strip().lower().replace(" ", "_")
        found = [z for z in _zones() if needle in z.lower()][:CHOICES_LIMIT]
        return [app_commands.Choice(name=z, value=z) for z in found]

    # --- shared -----------------------------------------------------------------------------

    async def _open_card(self, community: CommunityRef, number: int) -> Card | None:
        """The card of open action `number`; None when there is none, or the database does
        not answer in time to open a form within Discord's 3 seconds."""
        try:
            card = await asyncio.wait_for(self.core.coop.card(community, number), SUGGEST_TIMEOUT)
        except TimeoutError:
            return None
        return card if card is not None and card.state == "open" else None

    async def _take(
        self,
        event: Event,
        interaction: discord.Interaction,
        thinking: bool,
        posts: bool = False,
    ) -> None:
        """Record `event`, then acknowledge the interaction (defer it): the record waits for
        the database at most `delivery.ack_wait_seconds`, well within Discord's 3 seconds. A
        card that could not be posted where it would go is refused here, with the reason."""
        inbound = Inbound(event, interaction_handle(interaction, thinking))
        channel = channel_of(event)
        refusal = self._cannot_post(channel) if posts else None
        if refusal is None:
            await self.core.inbox.receive(inbound)
        if await _acknowledge(interaction, thinking) and refusal is not None:
            await self.core.coop.tell(inbound, refusal)

    async def _refuse(self, event: Event, interaction: discord.Interaction, text: str) -> None:
        """Answer `event` privately with `text`, without handing it to the core."""
        inbound = Inbound(event, interaction_handle(interaction, True))
        if await _acknowledge(interaction, thinking=True):
            await self.core.coop.tell(inbound, text)

    def _cannot_post(self, channel: ChannelRef) -> str | None:
        missing = self.chat.missing_to_post(int(channel.community.id), int(channel.id))
        return cannot_post(channel.id, missing, "cards") if missing else None


async def _open(interaction: discord.Interaction, modal: discord.ui.Modal) -> None:
    try:
        await interaction.response.send_modal(modal)
    except discord.HTTPException as exc:
        log.info("interaction %s not answered: %s", interaction.id, exc)


async def _acknowledge(interaction: discord.Interaction, thinking: bool) -> bool:
    """Defer: Discord shows "thinking..." (or nothing, for a button) until the answer comes.
    False when Discord refuses (a repeated delivery, or too late)."""
    try:
        if thinking:
            await interaction.response.defer(ephemeral=True, thinking=True)
        else:
            await interaction.response.defer()
    except discord.HTTPException as exc:
        log.info("interaction %s not acknowledged: %s", interaction.id, exc)
        return False
    return True


def _community(interaction: discord.Interaction) -> CommunityRef:
    assert interaction.guild_id is not None
    return community_ref(interaction.guild_id, interaction.guild)


def _actor(interaction: discord.Interaction, community: CommunityRef | None = None) -> MemberRef:
    """Who used `interaction`, in `community` (by default its guild's); from a DM, where
    Discord sends no guild permissions, never as an admin."""
    permissions = interaction.permissions if interaction.guild_id else None
    return member_ref(
        community or _community(interaction), interaction.user, interaction.user.id, permissions
    )


def _channel(interaction: discord.Interaction) -> ChannelRef:
    name = getattr(interaction.channel, "name", None) or ""
    return channel_ref(_community(interaction), interaction.channel_id or 0, name)


@cache
def _zones() -> list[str]:
    return sorted(available_timezones())
