"""The Slack adapter's intake: each request becomes a recorded event before it is
acknowledged; the core applies it afterwards."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack import payloads
from adapters.slack.blocks import drive_form, home_view
from adapters.slack.chat import RESPONSE_URL, RESPONSE_URL_LIFETIME, SeenMessage, SlackChat
from adapters.slack.directory import Workspace
from bot.core import Core
from bot.emoji_names import canonical
from bot.events import Event, Inbound, ReplyHandle
from bot.refs import CommunityRef, MemberRef

log = logging.getLogger(__name__)

Payload = payloads.Payload
T = TypeVar("T")
# What reading a payload of a shape Slack never sends raises (a key missing, a list where an
# object was): such a request is ignored, and the next one read as ever.
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def _read(kind: str, read: Callable[[], T]) -> T | None:
    """`read()` of a payload, or None when the payload is not of a shape Slack sends."""
    try:
        return read()
    except MALFORMED as err:
        log.info("ignored a %s request of a shape Slack never sends (%s)", kind, type(err).__name__)
        return None


def workspace_of(context: AsyncBoltContext) -> Workspace:
    """The workspace a request belongs to: the installation's team, whoever sent it."""
    result = context.authorize_result
    team_id = (result.team_id if result else None) or context.team_id or context.enterprise_id
    name = (result.team if result else None) or ""
    return Workspace(CommunityRef("slack", str(team_id), name), context.client)


class SlackAdapter:
    """Records what Slack sends as neutral events; the listeners acknowledge afterwards.

    Recording waits for the database at most `delivery.ack_wait_seconds`, so an
    acknowledgement always beats Slack's 3 seconds.
    """

    def __init__(self, core: Core, chat: SlackChat) -> None:
        self.core = core
        self.chat = chat
        prefs = core.coop.prefs
        self._emoji = {prefs.track_emoji, prefs.commit_emoji, prefs.done_emoji}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _take(self, event: Event, body: Payload) -> None:
        url = body.get("response_url")
        reply = None
        if url:
            expires = self.core.dispatcher.clock.now() + RESPONSE_URL_LIFETIME
            reply = ReplyHandle(RESPONSE_URL, str(url), expires)
        await self.core.inbox.receive(Inbound(event, reply))

    @staticmethod
    def _actor(body: Payload, ws: Workspace) -> MemberRef:
        # Name, admin rights and time zone are looked up when the event is applied.
        user_id, name = payloads.actor_of(body)
        return MemberRef(ws.community, user_id, name)

    # --- handlers -----------------------------------------------------------------------------

    async def on_command(self, body: Payload, ws: Workspace) -> None:
        event = _read("command", lambda: payloads.command_event(body, ws, self._actor(body, ws)))
        if event is not None:
            await self._take(event, body)

    async def on_reaction(self, body: Payload, ws: Workspace) -> None:
        def read() -> Event | None:
            # Most reactions are not ours: skip them before any database write.
            name = canonical(payloads.reaction_name(str(body["event"]["reaction"])))
            if name not in self._emoji:
                return None
            return payloads.reaction_event(body, ws, self._actor(body, ws))

        event = _read("reaction", read)
        if event is not None:
            await self._take(event, body)

    async def on_button(self, body: Payload, ws: Workspace) -> None:
        event = _read("button", lambda: payloads.button_event(body, ws, self._actor(body, ws)))
        if event is None:
            actions = body.get("actions")
            ids = [a.get("action_id") for a in actions if isinstance(a, dict)] if actions else []
            log.info("ignored a button that is not one of ours: %s", ids)
            return
        await self._take(event, body)

    async def on_shortcut(self, body: Payload, ws: Workspace) -> None:
        event = _read("shortcut", lambda: payloads.shortcut_event(body, ws, self._actor(body, ws)))
        if event is None:
            return
        seen = SeenMessage(event.text, event.message.thread_id)
        self.chat.messages.remember(ws, event.message.channel.id, event.message.id, seen)
        await self._take(event, body)

    async def on_drive_shortcut(self, body: Payload, ws: Workspace) -> None:
        """The "Start a pledge drive" shortcut: open its form now (a trigger lasts 3 seconds);
        nothing is recorded until the form is submitted."""
        read = _read("shortcut", lambda: (*payloads.shortcut_message(body, ws), body["trigger_id"]))
        if read is not None:
            message, text, trigger = read
            self.spawn(self._open_form(ws, str(trigger), drive_form(message, text)))

    async def _open_form(self, ws: Workspace, trigger_id: str, view: Payload) -> None:
        await ws.client.views_open(trigger_id=trigger_id, view=view)

    async def on_drive_form(self, body: Payload, ws: Workspace) -> None:
        event = _read("form", lambda: payloads.drive_form_event(body, ws, self._actor(body, ws)))
        if event is not None:
            await self._take(event, body)

    async def on_home_opened(self, body: Payload, ws: Workspace) -> None:
        if not _read("home", lambda: body["event"].get("tab", "home") == "home"):
            return
        actor = _read("home", lambda: self._actor(body, ws))
        if actor is not None:
            # Drawing the tab reads the database and calls Slack: after the acknowledgement.
            self.spawn(self._publish_home(actor, ws))

    async def _publish_home(self, actor: MemberRef, ws: Workspace) -> None:
        member = await self.chat.member(actor)
        cards = await self.core.coop.commitments_of(member)
        await ws.client.views_publish(user_id=member.id, view=home_view(cards, member.id))

    # --- background work ----------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack request failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until every request taken so far is applied and its answers are sent."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.core.idle()

    async def close(self, timeout: float = 5.0) -> None:
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in late:
                task.cancel()
