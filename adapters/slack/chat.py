"""The chat port over the Slack Web API, for the workspace and person of one request."""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import MESSAGE_TEXT_LIMIT, card_blocks, card_fallback, mrkdwn
from adapters.slack.directory import Directory, Workspace
from adapters.slack.outbox import Outbox
from adapters.slack.payloads import unescape
from bot.cards import Card
from bot.refs import ChannelRef, MemberRef, MessageRef

log = logging.getLogger(__name__)

# Errors meaning the bot cannot write in a channel (not invited, or a private channel).
_NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}


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


class SlackChat:
    """Implements the core's chat port for one request in one workspace.

    `actor` and `response_url` are who made the request and where Slack takes replies to it:
    private answers go there when the bot cannot post in the channel.
    """

    def __init__(
        self,
        ws: Workspace,
        outbox: Outbox,
        directory: Directory,
        messages: Messages,
        actor: MemberRef | None = None,
        response_url: str | None = None,
    ) -> None:
        self.ws = ws
        self.outbox = outbox
        self.directory = directory
        self.messages = messages
        self.actor = actor
        self.response_url = response_url

    def _queue(self, kind: str, where: str) -> tuple[str, str, str]:
        # Posts, edits and private answers queue apart: a rate-limited edit must not hold up
        # a new card (which the core waits for) or an answer. Order only matters within each.
        return (self.ws.id, kind, where)

    async def post_card(
        self, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        thread = None
        if reply_to is not None:
            known = self.messages.known(self.ws, reply_to.channel.id, reply_to.id)
            thread = reply_to.thread_id or (known and known.thread_ts) or reply_to.id
        client = self.ws.client

        async def post() -> Any:
            return await client.chat_postMessage(
                channel=channel.id,
                text=card_fallback(card),
                blocks=card_blocks(card),
                thread_ts=thread,
            )

        try:
            posted = await self.outbox.submit(self._queue("post", channel.id), post, paced=True)
        except SlackApiError as err:
            if err.response.get("error") in _NOT_IN_CHANNEL and self.actor is not None:
                await self._tell_not_in_channel(card)
            raise
        return MessageRef(channel, str(posted["ts"]), thread_id=thread)

    async def _tell_not_in_channel(self, card: Card) -> None:
        assert self.actor is not None
        text = (
            f"#{card.number} is saved, but I can't post its card here because I'm not in this "
            "channel. Invite me with `/invite` and my name, or use a channel I'm in."
        )
        try:
            await self._reply_elsewhere(self.actor, text)
        except Exception:
            log.exception("could not tell %s that the card was not posted", self.actor.id)

    async def update_card(self, message: MessageRef, card: Card) -> None:
        client = self.ws.client

        async def update() -> Any:
            return await client.chat_update(
                channel=message.channel.id,
                ts=message.id,
                text=card_fallback(card),
                blocks=card_blocks(card),
            )

        self.outbox.post_later(
            self._queue("edit", message.channel.id),
            update,
            f"the card of #{card.number}",
            replaces=("update", message.channel.id, message.id),
        )

    async def send_dm(self, to: MemberRef, text: str) -> None:
        async def send() -> Any:
            channel = await self.directory.dm_channel(self.ws, to.id)
            return await self.ws.client.chat_postMessage(
                channel=channel, text=mrkdwn(text, MESSAGE_TEXT_LIMIT)
            )

        self.outbox.post_later(self._queue("dm", to.id), send, f"a DM to {to.id}", paced=True)

    async def reply_private(self, to: MemberRef, channel: ChannelRef, text: str) -> None:
        async def send() -> Any:
            try:
                return await self.ws.client.chat_postEphemeral(
                    channel=channel.id, user=to.id, text=mrkdwn(text, MESSAGE_TEXT_LIMIT)
                )
            except SlackApiError as err:
                if err.response.get("error") not in _NOT_IN_CHANNEL:
                    raise
            return await self._reply_elsewhere(to, text)

        queue = self._queue("private", channel.id)
        self.outbox.post_later(queue, send, f"a private reply to {to.id}")

    async def _reply_elsewhere(self, to: MemberRef, text: str) -> Any:
        """Where the bot cannot post: through the request's response_url, else as a DM."""
        shown = mrkdwn(text, MESSAGE_TEXT_LIMIT)
        if self.response_url and self.actor is not None and to.id == self.actor.id:
            webhook = AsyncWebhookClient(self.response_url, session=self.ws.client.session)
            answer = await webhook.send(
                text=shown, response_type="ephemeral", replace_original=False
            )
            if answer.status_code != 200:
                raise RuntimeError(f"response_url answered {answer.status_code} {answer.body}")
            return answer
        channel = await self.directory.dm_channel(self.ws, to.id)
        return await self.ws.client.chat_postMessage(channel=channel, text=shown)

    async def fetch_message_text(self, message: MessageRef) -> str | None:
        seen = await self.messages.fetch(self.ws, message.channel.id, message.id)
        return unescape(seen.text) if seen else None
