"""The chat port on Discord: cards as embeds, DMs, and private replies that go back through
the interaction when there is one (ephemeral) and by DM otherwise (reactions); a message the
bot cannot read is tracked from a link, and the reactor is asked for a title afterwards."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any

import discord

from adapters.discord.delivery import CardEditor, send_retrying
from adapters.discord.embeds import card_embed, card_view, chunks, shorten
from adapters.discord.permissions import missing_to_post
from adapters.discord.refs import jump_url
from adapters.discord.views import TitleButton
from bot.cards import Card
from bot.grammar import MAX_TITLE
from bot.refs import ChannelRef, MemberRef, MessageRef

log = logging.getLogger(__name__)

CANNOT_DM = 50007  # Discord's "Cannot send messages to this user"
DM_RETRY_AFTER = 3600.0


class DiscordChat:
    """What every event shares: posting and editing cards, DMs, reading messages."""

    def __init__(self, client: discord.Client, commit_emoji: str, read_text: bool) -> None:
        self.client = client
        self.commit_emoji = commit_emoji
        # Without the Message Content intent Discord blanks other people's text, so asking
        # for it would only cost a request.
        self.read_text = read_text
        self.editor = CardEditor(self._edit_card)
        # People whose DMs are closed: each refused DM is an invalid request, and 10,000 of
        # those in 10 minutes get the bot banned, so do not retry them for a while.
        self._no_dms: dict[int, float] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # --- the chat port ----------------------------------------------------------------------

    async def post_card(
        self, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        guild_id = int(channel.community.id)
        target = self.client.get_partial_messageable(int(channel.id), guild_id=guild_id)
        options: dict[str, Any] = {"embed": card_embed(card)}
        view = card_view(card, guild_id)
        if view is not None:
            options["view"] = view
        if reply_to is not None:
            options["reference"] = discord.MessageReference(
                message_id=int(reply_to.id),
                channel_id=int(reply_to.channel.id),
                guild_id=guild_id,
                fail_if_not_exists=False,
            )
            options["mention_author"] = False
        sent = await send_retrying(lambda: target.send(**options))
        if card.buttons and self.may(
            guild_id, int(channel.id), "add_reactions", "read_message_history"
        ):
            self._in_background(sent.add_reaction(self.commit_emoji))
        return MessageRef(channel, str(sent.id))

    async def update_card(self, message: MessageRef, card: Card) -> None:
        self.editor.submit(message, card)

    async def send_dm(self, to: MemberRef, text: str, view: discord.ui.View | None = None) -> None:
        user_id = int(to.id)
        if self._no_dms.get(user_id, 0.0) > time.monotonic():
            log.info("not sending a DM to %s: their DMs were closed recently", user_id)
            return
        try:
            channel = await self.client.create_dm(discord.Object(user_id))
            parts = chunks(text)
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                await send_retrying(partial(channel.send, part, view=view if last else None))
        except discord.Forbidden as exc:
            if exc.code == CANNOT_DM:
                now = time.monotonic()
                self._no_dms = {u: t for u, t in self._no_dms.items() if t > now}
                self._no_dms[user_id] = now + DM_RETRY_AFTER
            log.info("could not DM %s: %s", user_id, exc)

    async def reply_private(self, to: MemberRef, channel: ChannelRef, text: str) -> None:
        await self.send_dm(to, text)

    async def fetch_message_text(self, message: MessageRef) -> str | None:
        if not self.read_text:
            return None
        channel = self.client.get_partial_messageable(int(message.channel.id))
        try:
            found = await channel.fetch_message(int(message.id))
        except (discord.NotFound, discord.Forbidden):
            return None
        return message_text(found) or None

    # --- helpers ----------------------------------------------------------------------------

    async def send_title_prompt(self, to: MemberRef, message: MessageRef, card: Card) -> None:
        """DM `to` a button to give a real title to `card`, just tracked from `message`."""
        view = discord.ui.View(timeout=None)
        view.add_item(
            TitleButton(int(message.channel.community.id), int(message.channel.id), int(message.id))
        )
        why = "" if self.read_text else " (I run without Discord's Message Content access)"
        await self.send_dm(
            to,
            f"I'm tracking {jump_url(message)} as #{card.number}, but I couldn't read its "
            f"text{why}, so for now it's called “{card.title}”. Give it a title that says what "
            "needs doing.",
            view,
        )

    def channel_name(self, guild_id: int, channel_id: int) -> str:
        """A channel's or thread's name, from the cache; empty when unknown."""
        channel = self._cached_channel(guild_id, channel_id)
        return channel.name if channel is not None else ""

    def permissions(self, guild_id: int, channel_id: int) -> discord.Permissions | None:
        """The bot's permissions in a channel or thread, from the cache; None when unknown."""
        channel = self._cached_channel(guild_id, channel_id)
        return channel.permissions_for(channel.guild.me) if channel is not None else None

    def may(self, guild_id: int, channel_id: int, *names: str) -> bool:
        """Whether the bot has these permissions in a channel, as far as the cache knows."""
        permissions = self.permissions(guild_id, channel_id)
        return permissions is None or all(getattr(permissions, name) for name in names)

    def missing_to_post(self, guild_id: int, channel_id: int) -> list[str]:
        permissions = self.permissions(guild_id, channel_id)
        if permissions is None:
            return []
        guild = self.client.get_guild(guild_id)
        in_thread = guild is not None and guild.get_thread(channel_id) is not None
        return missing_to_post(permissions, in_thread)

    def _cached_channel(
        self, guild_id: int, channel_id: int
    ) -> discord.abc.GuildChannel | discord.Thread | None:
        guild = self.client.get_guild(guild_id)
        return guild.get_channel_or_thread(channel_id) if guild is not None else None

    async def _edit_card(self, message: MessageRef, card: Card) -> None:
        channel = self.client.get_partial_messageable(
            int(message.channel.id), guild_id=int(message.channel.community.id)
        )
        view = card_view(card, int(message.channel.community.id))
        await channel.get_partial_message(int(message.id)).edit(embed=card_embed(card), view=view)

    def _in_background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("background send failed: %s", task.exception())

    async def close(self, timeout: float = 5.0) -> None:
        """Send what is still queued, for up to `timeout` seconds."""
        await self.editor.drain(timeout)
        for task in list(self._background):
            task.cancel()


def message_text(message: discord.Message) -> str:
    """A message's text, or its first embed's title and description when it has none."""
    if message.content.strip():
        return message.content.strip()
    for embed in message.embeds:
        text = "\n".join(t for t in (embed.title, embed.description) if t)
        if text.strip():
            return text.strip()
    return ""


def untitled_text(message: MessageRef, channel_name: str) -> str:
    """What a message the bot cannot read is tracked as: a readable title, then its link."""
    # Embed titles show a `<#id>` mention raw, so the channel is named in plain words.
    where = f" in #{channel_name}" if channel_name else ""
    return f"{shorten(f'Task from a message{where}', MAX_TITLE)}\n{jump_url(message)}"


class _PerEvent:
    """A chat port for one event: the shared chat, with its own way of replying privately."""

    def __init__(self, chat: DiscordChat) -> None:
        self.chat = chat

    async def post_card(
        self, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        return await self.chat.post_card(channel, card, reply_to)

    async def update_card(self, message: MessageRef, card: Card) -> None:
        await self.chat.update_card(message, card)

    async def send_dm(self, to: MemberRef, text: str) -> None:
        await self.chat.send_dm(to, text)

    async def fetch_message_text(self, message: MessageRef) -> str | None:
        return await self.chat.fetch_message_text(message)


class InteractionChat(_PerEvent):
    """Private replies go back through the (already deferred) interaction, as ephemeral
    follow-ups; the interaction token lasts 15 minutes, after that they become DMs."""

    def __init__(self, chat: DiscordChat, interaction: discord.Interaction, thinking: bool) -> None:
        super().__init__(chat)
        self.interaction = interaction
        self.thinking = thinking
        self.replied = False

    async def reply_private(self, to: MemberRef, channel: ChannelRef, text: str) -> None:
        if to.id != str(self.interaction.user.id):
            await self.chat.send_dm(to, text)
            return
        try:
            for part in chunks(text):
                await self.interaction.followup.send(part, ephemeral=True)
            self.replied = True
        except discord.HTTPException as exc:
            log.info("ephemeral reply failed (%s); sending it by DM", exc)
            await self.chat.send_dm(to, text)

    async def finish(self) -> None:
        """Remove the "thinking..." message when the command had nothing private to say."""
        if self.thinking and not self.replied:
            try:
                await self.interaction.delete_original_response()
            except discord.HTTPException as exc:
                log.info("could not remove the deferred response: %s", exc)


class ReactionChat(_PerEvent):
    """Reactions have no interaction, so private replies are DMs. A message whose text cannot
    be read is tracked from a placeholder at once; `untitled` is then the card posted for it."""

    def __init__(self, chat: DiscordChat) -> None:
        super().__init__(chat)
        self._unreadable: MessageRef | None = None
        self.untitled: Card | None = None

    async def fetch_message_text(self, message: MessageRef) -> str | None:
        text = await self.chat.fetch_message_text(message)
        if text is not None:
            return text
        self._unreadable = message
        community = int(message.channel.community.id)
        return untitled_text(message, self.chat.channel_name(community, int(message.channel.id)))

    async def post_card(
        self, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        posted = await self.chat.post_card(channel, card, reply_to)
        if reply_to is not None and reply_to == self._unreadable:
            self.untitled = card
        return posted

    async def reply_private(self, to: MemberRef, channel: ChannelRef, text: str) -> None:
        await self.chat.send_dm(to, text)
