"""The chat port on Discord: cards as embeds, DMs (with buttons), plain channel messages,
and private answers through the interaction they answer (ephemeral) while Discord allows it.

The core's texts are plain: each is made inert (text.py) on its way out, and every message
and edit is sent with no mention allowed to ping, whatever it names.

Every message the bot creates carries its delivery key as the `nonce`, with `enforce_nonce`
(discord.py adds it when a nonce is given): sent again within Discord's window, Discord returns
the message it already has instead of posting a second one. Later than that, the channel's
recent messages are searched before anything is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import discord

from adapters.discord.embeds import card_embed, component_emoji
from adapters.discord.permissions import cannot_post, missing_to_post
from adapters.discord.refs import jump_url, member_ref
from adapters.discord.text import chunks, shorten
from adapters.discord.views import TitleButton, button_view, card_view
from bot.cards import Button, Card
from bot.events import ReplyHandle
from bot.grammar import MAX_TITLE
from bot.ports import (
    Delivery,
    DeliveryError,
    MessageText,
    RateLimited,
    Refused,
    Unavailable,
)
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef

log = logging.getLogger(__name__)

CANNOT_DM = 50007  # Discord's "Cannot send messages to this user"
UNKNOWN_CHANNEL = 10003
MISSING_ACCESS = 50001  # the bot cannot see the channel
INTERACTION = "interaction"
ORIGINAL = "@original"
# Discord keeps an interaction's token usable for follow-ups for 15 minutes.
INTERACTION_LIFETIME = timedelta(minutes=15)
# Discord deduplicates a nonce "within a few minutes" (no exact window is published).
NONCE_WINDOW = timedelta(minutes=2)
_SEARCHED = 100  # recent messages looked through for one sent before the nonce window
NO_PINGS = discord.AllowedMentions.none()
REACTIONS_LIMIT = 20  # distinct reactions on one message


def interaction_handle(interaction: discord.Interaction, thinking: bool) -> ReplyHandle:
    """How private answers reach whoever used `interaction` (deferred; `thinking` when a
    "thinking..." message waits for the first answer)."""
    expires = discord.utils.snowflake_time(interaction.id) + INTERACTION_LIFETIME
    value = f"{interaction.application_id}:{interaction.token}"
    return ReplyHandle(INTERACTION, value, expires, awaits_answer=thinking)


def delivery_error(err: BaseException) -> DeliveryError | None:
    """What a failed request means for the dispatcher; None for errors it knows not.

    discord.py has already waited out rate limits (per route and global) and retried server
    errors by itself before raising.
    """
    if isinstance(err, discord.HTTPException):
        if err.status == 429:
            response = getattr(err, "response", None)
            method = str(getattr(response, "method", ""))
            return RateLimited(_retry_after(err), route(method, str(getattr(response, "url", ""))))
        if err.status >= 500:
            return Unavailable(f"Discord answered {err.status}")
        return Refused(f"{err.status} {err.code}: {err.text}", unreachable=err.code == CANNOT_DM)
    if isinstance(err, aiohttp.ClientConnectorError):
        return Unavailable(f"cannot reach Discord: {err}", maybe_sent=False)
    if isinstance(err, OSError | aiohttp.ClientError | TimeoutError):
        return Unavailable(f"no answer from Discord: {err!r}")
    return None


def route(method: str, url: str) -> str:
    """`POST /channels/{id}/messages`: a request's method and path with ids and tokens left
    out, so that metrics have one series per route, not one per channel."""
    path = urlsplit(url).path.split("/api/", 1)[-1]
    parts = [p for p in path.split("/") if p]
    if parts and parts[0].startswith("v") and parts[0][1:].isdigit():
        parts = parts[1:]
    shown: list[str] = []
    for part in parts:
        secret = len(shown) >= 2 and shown[-2] in ("webhooks", "interactions")
        shown.append("{token}" if secret else "{id}" if part.isdigit() else part)
    return f"{method} /{'/'.join(shown)}".strip()


def _retry_after(err: discord.HTTPException) -> float:
    response = getattr(err, "response", None)
    header = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(header) if header else 1.0
    except ValueError:
        return 1.0


@contextlib.asynccontextmanager
async def _sending() -> AsyncIterator[None]:
    try:
        yield
    except (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError) as err:
        translated = delivery_error(err)
        if translated is None:
            raise
        raise translated from err


class DiscordChat:
    """Implements the core's chat port over the bot's connection."""

    def __init__(
        self,
        client: discord.Client,
        commit_emoji: str,
        read_text: bool,
        role_emoji_seen: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        self.client = client
        self.commit_emoji = commit_emoji
        # Told the emoji of every role on a card drawn, so their reactions are let through.
        self._role_emoji_seen = role_emoji_seen
        # Without the Message Content intent Discord blanks other people's text, so asking
        # for it would only cost a request.
        self.read_text = read_text
        self._background: set[asyncio.Task[Any]] = set()

    # --- reading ----------------------------------------------------------------------------

    async def member(self, ref: MemberRef) -> MemberRef:
        """Discord sends the name and permissions with every event: nothing to look up."""
        return ref

    async def find_member(self, community: CommunityRef, external_id: str) -> MemberRef | None:
        """The member from the cache, else from Discord (the bot runs without the Members
        intent, so the cache holds few); None for a stranger or a guild the bot is not in.
        Discord tells no time zone."""
        if not external_id.isdigit():
            return None
        guild = self.client.get_guild(int(community.id))
        member = guild.get_member(int(external_id)) if guild is not None else None
        if member is None:
            try:
                if guild is None:  # on a shard another process runs, or left
                    guild = await self.client.fetch_guild(int(community.id), with_counts=False)
                member = await guild.fetch_member(int(external_id))
            except (discord.NotFound, discord.Forbidden):
                return None
        return member_ref(community, member, member.id, member.guild_permissions)

    async def find_channel(self, community: CommunityRef, raw: str) -> ChannelRef | None:
        """A channel or thread of this guild, by id (a picked `<#id>`) or by name; None for
        one of another guild, or none at all."""
        guild_id = int(community.id)
        guild = self.client.get_guild(guild_id)
        if not raw.isdigit():
            named = guild and discord.utils.get(guild.text_channels, name=raw.lower())
            return ChannelRef(community, str(named.id), named.name) if named else None
        found = guild.get_channel_or_thread(int(raw)) if guild is not None else None
        if found is None:
            try:
                fetched = await self.client.fetch_channel(int(raw))
            except (discord.NotFound, discord.Forbidden, discord.InvalidData):
                return None
            if getattr(getattr(fetched, "guild", None), "id", None) != guild_id:
                return None
            return ChannelRef(community, raw, getattr(fetched, "name", "") or "")
        return ChannelRef(community, raw, found.name)

    async def read_message(self, message: MessageRef) -> MessageText:
        """The message's text; one the bot cannot read is tracked from a stand-in (a title
        naming the channel, then the link), and whoever tracked it is asked for a title."""
        text = await self._text(message)
        if text:
            return MessageText(text)
        community = int(message.channel.community.id)
        name = self.channel_name(community, int(message.channel.id))
        return MessageText(untitled_text(message, name), readable=False)

    async def _text(self, message: MessageRef) -> str:
        if not self.read_text:
            return ""
        channel = self.client.get_partial_messageable(int(message.channel.id))
        try:
            found = await channel.fetch_message(int(message.id))
        except (discord.NotFound, discord.Forbidden):
            return ""
        return message_text(found)

    # --- sending ----------------------------------------------------------------------------

    async def post_card(
        self, d: Delivery, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        guild_id = int(channel.community.id)
        target = self.client.get_partial_messageable(int(channel.id), guild_id=guild_id)
        options: dict[str, Any] = {"embed": self._embed(card), "allowed_mentions": NO_PINGS}
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
        found = await self._sent_before(d, target, lambda m: _is_card(m, card.number))
        sent = found or await self._send(target, d.key, **options)
        if (
            card.buttons
            and not _sealed(card)
            and self.may(guild_id, int(channel.id), "add_reactions", "read_message_history")
        ):
            # Ready to click (on a task with roles, each role's emoji); adding a reaction
            # the bot already added changes nothing.
            for emoji in self._seeds(card):
                self._in_background(sent.add_reaction(emoji))
        return MessageRef(channel, str(sent.id))

    def _seeds(self, card: Card) -> list[str]:
        if not card.roles:
            return [self.commit_emoji]
        drawn = [component_emoji(role.emoji) for role in card.roles]
        return [e for e in drawn if e][:REACTIONS_LIMIT]

    def _embed(self, card: Card) -> discord.Embed:
        if card.roles and self._role_emoji_seen is not None:
            self._role_emoji_seen(role.emoji for role in card.roles)
        return card_embed(card)

    async def update_card(self, d: Delivery, message: MessageRef, card: Card) -> None:
        guild_id = int(message.channel.community.id)
        channel = self.client.get_partial_messageable(int(message.channel.id), guild_id=guild_id)
        view = card_view(card, guild_id)
        async with _sending():
            await channel.get_partial_message(int(message.id)).edit(
                embed=self._embed(card), view=view, allowed_mentions=NO_PINGS
            )

    async def send_dm(
        self, d: Delivery, to: MemberRef, text: str, buttons: tuple[Button, ...] = ()
    ) -> str | None:
        return await self._dm(d, to, text, button_view(buttons, int(to.community.id)))

    async def post_message(self, d: Delivery, channel: ChannelRef, text: str) -> str | None:
        """A message that pings nobody, whatever it names; refused with the reason when the
        bot may not post there (as far as the cache knows) or the channel is gone."""
        guild_id, channel_id = int(channel.community.id), int(channel.id)
        missing = self.missing_to_post(guild_id, channel_id, card=False)
        if missing:
            raise _refused_in(channel, missing)
        target = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            return await self._send_text(d, target, text)
        except Refused as err:
            cause = err.__cause__
            if isinstance(cause, discord.NotFound) and cause.code == UNKNOWN_CHANNEL:
                gone = f"I can't post in <#{channel.id}>: it was deleted, or I can't see it."
                raise Refused(f"channel {channel.id} is unknown", notice=gone) from cause
            if isinstance(cause, discord.Forbidden):
                # The cache was behind, or does not hold the channel (an archived thread).
                lacks = "view_channel" if cause.code == MISSING_ACCESS else "send_messages"
                raise _refused_in(channel, [lacks]) from cause
            raise

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
        """Through the interaction while it lasts (a card's embed, with `card`); the first
        answer after "thinking..." replaces it (sending it again replaces it again, so it
        never doubles). Without an interaction (a reaction), or when Discord no longer takes
        it, a DM."""
        if reply is None or reply.kind != INTERACTION:
            await self.send_dm(d, to, text)
            return
        hook = self._webhook(reply)
        parts = chunks(text)
        try:
            async with _sending():
                if card is not None:
                    await self._card_answer(hook, card, first and reply.awaits_answer)
                    return
                if first and reply.awaits_answer:
                    # "@original" is Discord's name for the interaction's first response;
                    # discord.py puts it in the path as it is.
                    await hook.edit_message(  # type: ignore[call-overload]
                        ORIGINAL, content=parts[0], allowed_mentions=NO_PINGS
                    )
                    parts = parts[1:]
                for part in parts:
                    await hook.send(part, ephemeral=True, allowed_mentions=NO_PINGS)
        except Refused as err:
            log.info("the interaction no longer takes answers (%s); sending a DM", err)
            await self.send_dm(d, to, text)

    @staticmethod
    async def _card_answer(hook: discord.Webhook, card: Card, replaces: bool) -> None:
        embed = card_embed(card)
        if replaces:
            await hook.edit_message(  # type: ignore[call-overload]
                ORIGINAL, content=None, embed=embed, allowed_mentions=NO_PINGS
            )
        else:
            await hook.send(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    async def ask_for_title(
        self, d: Delivery, to: MemberRef, message: MessageRef, number: int, title: str
    ) -> str | None:
        """DM `to` a button to give a real title to task `number`, tracked from `message`."""
        view = discord.ui.View(timeout=None)
        view.add_item(
            TitleButton(int(message.channel.community.id), int(message.channel.id), int(message.id))
        )
        why = "" if self.read_text else " (I run without Discord's Message Content access)"
        text = (
            f"I'm tracking {jump_url(message)} as #{number}, but I couldn't read its "
            f"text{why}, so for now it's called “{title}”. Give it a title that says what "
            "needs doing."
        )
        return await self._dm(d, to, text, view)

    async def dismiss(
        self, d: Delivery, to: MemberRef, channel: ChannelRef, reply: ReplyHandle
    ) -> None:
        """Remove the "thinking..." message of a command that had nothing private to say."""
        try:
            async with _sending():
                await self._webhook(reply).delete_message(ORIGINAL)  # type: ignore[arg-type]
        except Refused as err:
            log.info("could not remove the deferred response: %s", err)

    # --- helpers ----------------------------------------------------------------------------

    async def _dm(self, d: Delivery, to: MemberRef, text: str, view: discord.ui.View | None) -> str:
        async with _sending():
            channel = await self.client.create_dm(discord.Object(int(to.id)))
        return await self._send_text(d, channel, text, view)

    async def _send_text(
        self,
        d: Delivery,
        target: discord.abc.Messageable,
        text: str,
        view: discord.ui.View | None = None,
    ) -> str:
        """`text` (plain) in as many messages as it takes, `view` under the last; each part
        found sent before (on a recheck) is not sent again. The id of the last."""
        parts = chunks(text)
        for i, part in enumerate(parts):
            key = d.key if len(parts) == 1 else f"{d.key}.{i}"
            last = i == len(parts) - 1

            def same(m: discord.Message, part: str = part) -> bool:
                return m.content == part

            sent = await self._sent_before(d, target, same) or await self._send(
                target, key, content=part, view=view if last else None, allowed_mentions=NO_PINGS
            )
        return str(sent.id)

    async def _send(
        self, target: discord.abc.Messageable, nonce: str, **options: Any
    ) -> discord.Message:
        async with _sending():
            return await target.send(nonce=nonce, **options)

    async def _sent_before(
        self,
        d: Delivery,
        target: discord.abc.Messageable,
        matches: Callable[[discord.Message], bool],
    ) -> discord.Message | None:
        """On a retry past Discord's nonce window: the bot's matching message sent since the
        first attempt, if any. Within the window the nonce itself prevents a second copy."""
        if not d.recheck or discord.utils.utcnow() - d.first_attempt_at < NONCE_WINDOW:
            return None
        after = discord.Object(discord.utils.time_snowflake(d.first_attempt_at - NONCE_WINDOW))
        me = self.client.user.id if self.client.user else None
        async with _sending():
            async for message in target.history(limit=_SEARCHED, after=after):
                if message.author.id == me and matches(message):
                    log.info("%s had arrived already; not sent again", d.key)
                    return message
        return None

    def _webhook(self, reply: ReplyHandle) -> discord.Webhook:
        application_id, token = reply.value.split(":", 1)
        data = {"id": int(application_id), "type": 3, "token": token}
        return discord.Webhook.from_state(data=data, state=self.client._connection)  # type: ignore[arg-type]

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

    def missing_to_post(self, guild_id: int, channel_id: int, card: bool = True) -> list[str]:
        """What the bot lacks to post a card (or a plain message) there, as far as the cache
        knows."""
        permissions = self.permissions(guild_id, channel_id)
        if permissions is None:
            return []
        guild = self.client.get_guild(guild_id)
        in_thread = guild is not None and guild.get_thread(channel_id) is not None
        return missing_to_post(permissions, in_thread, card)

    def _cached_channel(
        self, guild_id: int, channel_id: int
    ) -> discord.abc.GuildChannel | discord.Thread | None:
        guild = self.client.get_guild(guild_id)
        return guild.get_channel_or_thread(channel_id) if guild is not None else None

    def _in_background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("background send failed: %s", task.exception())

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()


def _refused_in(channel: ChannelRef, missing: list[str]) -> Refused:
    reason = f"missing {', '.join(missing)} in channel {channel.id}"
    return Refused(reason, notice=cannot_post(channel.id, missing, "messages"))


def _sealed(card: Card) -> bool:
    """A sealed drive, which takes no reactions: everyone sees who reacted, so no reaction
    is seeded to invite one."""
    return card.drive is not None and card.drive.sealed


def _is_card(message: discord.Message, number: int) -> bool:
    return any(e.title and e.title.startswith(f"#{number} ") for e in message.embeds)


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
