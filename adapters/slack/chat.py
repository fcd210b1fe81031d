"""The chat port over the Slack Web API, for every workspace the bot serves.

Every message the bot posts carries its delivery key in Slack's message metadata, so after a
crash the dispatcher can ask Slack whether a post it was unsure of arrived (history with
`include_all_metadata`) instead of posting it twice.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import MESSAGE_TEXT_LIMIT, card_blocks, card_fallback, dm_blocks
from adapters.slack.directory import Directory, Workspace
from adapters.slack.payloads import unescape
from adapters.slack.text import inert
from adapters.slack.workspaces import Workspaces
from bot.cards import Button, Card
from bot.emoji_names import canonical
from bot.events import ReplyHandle
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

PLATFORM = "slack"
RESPONSE_URL = "response_url"
# Slack lets a response_url answer for 30 minutes.
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
METADATA_TYPE = "coopbot_delivery"
# How far before the first attempt to look for it in the history (clocks differ).
_CLOCK_SLACK = timedelta(minutes=5)
_HISTORY_PAGES = 5

# Errors meaning the bot cannot write in a channel (not invited, or a private channel).
_NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}
# Public, private and shared channels; not DMs, which have no name to remind in.
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
# Errors that are Slack's trouble, not the request's: worth trying again.
_SLACK_TROUBLE = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


@dataclass(frozen=True)
class SeenMessage:
    text: str
    thread_ts: str | None


class Messages:
    """Text and thread of messages read back from Slack, remembered for repeated reactions."""

    def __init__(self, max_size: int = 2000) -> None:
        self.max_size = max_size
        self._seen: OrderedDict[tuple[str, str, str], SeenMessage] = OrderedDict()

    def remember(self, ws: Workspace, channel: str, ts: str, seen: SeenMessage) -> None:
        self._seen[(ws.id, channel, ts)] = seen
        self._seen.move_to_end((ws.id, channel, ts))
        while len(self._seen) > self.max_size:
            self._seen.popitem(last=False)

    def known(self, ws: Workspace, channel: str, ts: str) -> SeenMessage | None:
        return self._seen.get((ws.id, channel, ts))

    async def fetch(self, ws: Workspace, channel: str, ts: str) -> SeenMessage | None:
        """The message `ts` in `channel`, top-level or in a thread; None when unreadable."""
        seen = self.known(ws, channel, ts)
        if seen is not None:
            return seen
        try:
            # Most tracked messages are top-level; a reply is not in the history, only in
            # its thread (Slack's documented way to read one message).
            history = await ws.client.conversations_history(
                channel=channel, latest=ts, inclusive=True, limit=1
            )
            found = _with_ts(history.get("messages"), ts)
            if found is None:
                replies = await ws.client.conversations_replies(
                    channel=channel, ts=ts, latest=ts, oldest=ts, inclusive=True, limit=2
                )
                found = _with_ts(replies.get("messages"), ts)
        except SlackApiError as err:
            log.warning("cannot read message %s in %s: %s", ts, channel, err.response.get("error"))
            return None
        if found is None:
            return None
        thread = found.get("thread_ts")
        seen = SeenMessage(str(found.get("text") or ""), thread if thread != ts else None)
        self.remember(ws, channel, ts, seen)
        return seen


def _with_ts(messages: Any, ts: str) -> dict[str, Any] | None:
    return next((m for m in messages or () if m.get("ts") == ts), None)


def retry_after(err: SlackApiError) -> float:
    """The seconds a 429 answer asks to wait (1 when it does not say)."""
    headers = getattr(err.response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except ValueError:
                break
    return 1.0


def _method(err: SlackApiError) -> str:
    """The Web API method that answered (chat.postMessage), from the URL it was called at."""
    url = str(getattr(err.response, "api_url", "") or "")
    return url.rstrip("/").rsplit("/", 1)[-1] or "unknown"


def delivery_error(err: Exception) -> DeliveryError | None:
    """What a failed Web API call means for the dispatcher; None for errors it knows not."""
    if isinstance(err, SlackApiError):
        status = getattr(err.response, "status_code", 200)
        code = str(err.response.get("error") or "")
        if status == 429 or code == "ratelimited":
            return RateLimited(retry_after(err), _method(err))
        if status >= 500 or code in _SLACK_TROUBLE:
            return Unavailable(f"Slack answered {status} {code}".strip())
        return Refused(code or f"HTTP {status}")
    if isinstance(err, aiohttp.ClientConnectorError):
        # Nothing reached Slack, so trying again cannot duplicate anything.
        return Unavailable(f"cannot reach Slack: {err}", maybe_sent=False)
    if isinstance(err, aiohttp.ClientError | TimeoutError):
        return Unavailable(f"no answer from Slack: {err!r}")
    return None


@contextlib.asynccontextmanager
async def _sending() -> AsyncIterator[None]:
    try:
        yield
    except (SlackApiError, aiohttp.ClientError, TimeoutError) as err:
        translated = delivery_error(err)
        if translated is None:
            raise
        raise translated from err


def _metadata(d: Delivery) -> dict[str, Any]:
    return {"event_type": METADATA_TYPE, "event_payload": {"key": d.key}}


class SlackChat:
    """Implements the core's chat port for every workspace in `workspaces`."""

    def __init__(self, workspaces: Workspaces, directory: Directory, messages: Messages) -> None:
        self.workspaces = workspaces
        self.directory = directory
        self.messages = messages
        # The emoji of open tasks' roles at start-up and of those on cards drawn since:
        # reactions with them go to the core (see Coop.role_emoji).
        self.role_emoji: set[str] = set()

    def _drawn(self, card: Card) -> list[dict[str, Any]]:
        """The blocks of `card`, noting the emoji of its roles."""
        self.role_emoji.update(canonical(r.emoji) for r in card.roles if r.emoji)
        return card_blocks(card)

    # --- reading ----------------------------------------------------------------------------

    async def member(self, ref: MemberRef) -> MemberRef:
        ws = await self.workspaces.reading(ref.community)
        known = await self.directory.member(ws, ref.id, ref.name)
        return known

    async def find_member(self, community: CommunityRef, external_id: str) -> MemberRef | None:
        """The person, if they are a member of the workspace (see Directory.find)."""
        ws = await self.workspaces.reading(community)
        return await self.directory.find(ws, external_id)

    async def find_channel(self, community: CommunityRef, raw: str) -> ChannelRef | None:
        """A channel id, as Slack writes a channel picked with # (`<#C123|name>`: its ids are
        the workspace's own); a bare name is a channel Slack did not recognise."""
        return ChannelRef(community, raw) if _CHANNEL_ID.match(raw) else None

    async def read_message(self, message: MessageRef) -> MessageText | None:
        ws = await self.workspaces.reading(message.channel.community)
        seen = await self.messages.fetch(ws, message.channel.id, message.id)
        return MessageText(unescape(seen.text), seen.thread_ts) if seen else None

    # --- sending ----------------------------------------------------------------------------

    async def post_card(
        self, d: Delivery, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        thread = (reply_to.thread_id or reply_to.id) if reply_to is not None else None
        try:
            ts = await self._post(
                d,
                channel.community,
                channel.id,
                thread,
                text=card_fallback(card),
                blocks=self._drawn(card),
            )
        except Refused as err:
            if str(err) in _NOT_IN_CHANNEL:
                raise Refused(
                    str(err),
                    notice=f"#{card.number} is saved, but I can't post its card here because "
                    "I'm not in this channel. Invite me with /invite and my name, or use a "
                    "channel I'm in.",
                ) from err
            raise
        return MessageRef(channel, ts, thread_id=thread)

    async def update_card(self, d: Delivery, message: MessageRef, card: Card) -> None:
        client = await self.workspaces.sending(message.channel.community)
        async with _sending():
            await client.chat_update(
                channel=message.channel.id,
                ts=message.id,
                text=card_fallback(card),
                blocks=self._drawn(card),
            )

    async def send_dm(
        self, d: Delivery, to: MemberRef, text: str, buttons: tuple[Button, ...] = ()
    ) -> str | None:
        ws = await self.workspaces.reading(to.community)
        async with _sending():
            channel = await self.directory.dm_channel(ws, to.id)
        # With blocks, `text` is what notifications and clients without blocks show.
        blocks = dm_blocks(text, buttons) if buttons else None
        shown = inert(text, MESSAGE_TEXT_LIMIT)
        return await self._post(d, to.community, channel, None, text=shown, blocks=blocks)

    async def post_message(self, d: Delivery, channel: ChannelRef, text: str) -> str | None:
        try:
            return await self._post(
                d, channel.community, channel.id, None, text=inert(text, MESSAGE_TEXT_LIMIT)
            )
        except Refused as err:
            if str(err) not in _NOT_IN_CHANNEL:
                raise
            # Often nobody caused this post (a reminder that came due): then only the reason
            # is left to tell what happened.
            raise Refused(
                f"{err}: coopbot cannot post in channel {channel.id} (it is not a member, or "
                "the channel is archived or gone); invite it with /invite",
                notice=f"I couldn't post in <#{channel.id}> because I'm not in it. Invite me "
                "with /invite and my name, or use a channel I'm in.",
            ) from err

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
        """An ephemeral message (a card's blocks, with `card`); where the bot cannot post,
        through the request's response_url, else as a DM. (Slack has no way to look an
        ephemeral message up, so one whose send was cut off by a crash is sent again.)"""
        client = await self.workspaces.sending(to.community)
        shown = inert(text, MESSAGE_TEXT_LIMIT) if card is None else card_fallback(card)
        # A private copy of a card (`/coop show`): the dispatcher took its buttons and Edit off.
        blocks = self._drawn(card) if card is not None else None
        try:
            async with _sending():
                await client.chat_postEphemeral(
                    channel=channel.id, user=to.id, text=shown, blocks=blocks
                )
            return
        except Refused as err:
            if str(err) not in _NOT_IN_CHANNEL:
                raise
        if reply is not None and reply.kind == RESPONSE_URL:
            webhook = AsyncWebhookClient(reply.value, session=client.session)
            async with _sending():
                answer = await webhook.send(
                    text=shown, blocks=blocks, response_type="ephemeral", replace_original=False
                )
            if answer.status_code == 429:
                raise RateLimited(1.0, "response_url")
            if answer.status_code >= 500:
                raise Unavailable(f"response_url answered {answer.status_code}")
            if answer.status_code != 200:
                raise Refused(f"response_url answered {answer.status_code} {answer.body}")
            return
        await self.send_dm(d, to, text)

    async def ask_for_title(
        self, d: Delivery, to: MemberRef, message: MessageRef, number: int, title: str
    ) -> str | None:
        text = f"I'm tracking a message as #{number} “{title}”. Rename it with /coop."
        return await self.send_dm(d, to, text)

    async def dismiss(
        self, d: Delivery, to: MemberRef, channel: ChannelRef, reply: ReplyHandle
    ) -> None:
        """Slack leaves nothing open for an answer that never comes."""

    async def _post(
        self, d: Delivery, community: CommunityRef, channel: str, thread: str | None, **message: Any
    ) -> str:
        """Post `message` tagged with `d.key`, unless an earlier attempt is found to have
        arrived; the ts of the message either way."""
        if d.recheck:
            found = await self._find(community, channel, thread, d)
            if found is not None:
                return found
        client = await self.workspaces.sending(community)
        async with _sending():
            posted = await client.chat_postMessage(
                channel=channel, thread_ts=thread, metadata=_metadata(d), **message
            )
        return str(posted["ts"])

    async def _find(
        self, community: CommunityRef, channel: str, thread: str | None, d: Delivery
    ) -> str | None:
        """The ts of the bot's message carrying `d.key` in `channel` (or `thread`), if any."""
        ws = await self.workspaces.reading(community)
        oldest = f"{(d.first_attempt_at - _CLOCK_SLACK).timestamp():.6f}"
        cursor = None
        for _ in range(_HISTORY_PAGES):
            options: dict[str, Any] = {
                "channel": channel,
                "oldest": oldest,
                "include_all_metadata": True,
                "limit": 200,
            }
            if cursor:
                options["cursor"] = cursor
            async with _sending():
                if thread is None:
                    page = await ws.client.conversations_history(**options)
                else:
                    page = await ws.client.conversations_replies(ts=thread, **options)
            for message in page.get("messages") or ():
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("key") == d.key:
                    log.info("%s had arrived in %s already; not sent again", d.key, channel)
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None
