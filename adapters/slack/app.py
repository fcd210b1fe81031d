"""The Slack adapter: acknowledged requests become neutral events handled by the core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack import payloads
from adapters.slack.blocks import home_view
from adapters.slack.chat import Messages, SeenMessage, SlackChat
from adapters.slack.directory import Directory, Workspace
from adapters.slack.outbox import Outbox
from bot.app import Coop
from bot.emoji_names import canonical
from bot.events import Event
from bot.refs import CommunityRef, MemberRef

log = logging.getLogger(__name__)

Payload = payloads.Payload


def workspace_of(context: AsyncBoltContext) -> Workspace:
    """The workspace a request belongs to: the installation's team, whoever sent it."""
    result = context.authorize_result
    team_id = (result.team_id if result else None) or context.team_id or context.enterprise_id
    name = (result.team if result else None) or ""
    return Workspace(CommunityRef("slack", str(team_id), name), context.client)


class SlackAdapter:
    """Runs the work behind each acknowledged request and sends what the core answers.

    Listeners acknowledge first and hand the rest to `spawn`, so that slow databases or a
    slow Slack never delay an acknowledgement past Slack's 3 seconds.
    """

    def __init__(self, coop: Coop, post_interval: float = 1.0) -> None:
        self.coop = coop
        self.outbox = Outbox(post_interval)
        self.directory = Directory()
        self.messages = Messages()
        prefs = coop.prefs
        self._emoji = {prefs.track_emoji, prefs.commit_emoji, prefs.done_emoji}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- work after the ack ----------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack request failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until every request taken so far is handled and its answers are sent."""
        while self._tasks or not self.outbox.idle:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.outbox.join()

    async def close(self, timeout: float = 10.0) -> None:
        """Finish the requests in hand and their answers, for up to `timeout` seconds each."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in late:
                task.cancel()
        await self.outbox.close(timeout)

    # --- handlers -----------------------------------------------------------------------------

    async def _actor(self, body: Payload, ws: Workspace) -> MemberRef:
        user_id, name = payloads.actor_of(body)
        return await self.directory.member(ws, user_id, name)

    async def _handle(self, event: Event, ws: Workspace, response_url: str | None = None) -> None:
        chat = SlackChat(ws, self.outbox, self.directory, self.messages, event.actor, response_url)
        await self.coop.handle(event, chat)

    async def on_command(self, body: Payload, ws: Workspace) -> None:
        event = payloads.command_event(body, ws, await self._actor(body, ws))
        await self._handle(event, ws, body.get("response_url"))

    async def on_reaction(self, body: Payload, ws: Workspace) -> None:
        # Most reactions are not ours: skip them before any lookup or database write.
        if canonical(payloads.reaction_name(str(body["event"]["reaction"]))) not in self._emoji:
            return
        event = payloads.reaction_event(body, ws, await self._actor(body, ws))
        if event is not None:
            await self._handle(event, ws)

    async def on_button(self, body: Payload, ws: Workspace) -> None:
        event = payloads.button_event(body, ws, await self._actor(body, ws))
        if event is None:
            log.warning("ignored an unknown button: %r", body.get("actions"))
            return
        await self._handle(event, ws, body.get("response_url"))

    async def on_shortcut(self, body: Payload, ws: Workspace) -> None:
        event = payloads.shortcut_event(body, ws, await self._actor(body, ws))
        seen = SeenMessage(event.text, event.message.thread_id)
        self.messages.remember(ws, event.message.channel.id, event.message.id, seen)
        await self._handle(event, ws, body.get("response_url"))

    async def on_home_opened(self, body: Payload, ws: Workspace) -> None:
        if body["event"].get("tab", "home") != "home":
            return
        member = await self._actor(body, ws)
        cards = await self.coop.commitments_of(member)
        await ws.client.views_publish(user_id=member.id, view=home_view(cards, member.id))
