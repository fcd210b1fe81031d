"""The Slack adapter's intake: each request becomes a recorded event before it is
acknowledged; the core applies it afterwards."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack import payloads
from adapters.slack.blocks import drive_form, edit_form, home_view
from adapters.slack.chat import RESPONSE_URL, RESPONSE_URL_LIFETIME, SeenMessage, SlackChat
from adapters.slack.directory import Workspace
from adapters.slack.surface import EDIT_ITEM
from bot.core import Core
from bot.emoji_names import canonical
from bot.events import EditRequested, Event, Inbound, ReplyHandle
from bot.refs import CommunityRef, MemberRef, MessageRef
from bot.shaping import PALETTE

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
        # Roles given no emoji of their own take one of the palette's.
        self._emoji = {prefs.track_emoji, prefs.commit_emoji, prefs.done_emoji, *PALETTE}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _take(self, event: Event, body: Payload) -> None:
        await self.core.inbox.receive(Inbound(event, self._reply(body)))

    def _reply(self, body: Payload) -> ReplyHandle | None:
        url = body.get("response_url")
        if not url:
            return None
        expires = self.core.dispatcher.clock.now() + RESPONSE_URL_LIFETIME
        return ReplyHandle(RESPONSE_URL, str(url), expires)

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
            # A role's own emoji: of an open task at start-up, or on a card drawn since.
            if name not in self._emoji and name not in self.chat.role_emoji:
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

    async def on_card_menu(self, body: Payload, ws: Workspace) -> None:
        """An item of a card's overflow menu: Edit opens the Edit form, filled in with the
        task as it is; nothing is recorded until the form is submitted."""
        picked = _read("menu", lambda: payloads.menu_item(body, ws))
        trigger = _read("menu", lambda: str(body["trigger_id"]))
        actor = _read("menu", lambda: self._actor(body, ws))
        if picked is None or trigger is None or actor is None or picked[0] != EDIT_ITEM:
            log.info("ignored a card menu item that is not one of ours")
            return
        _, number, message = picked
        self.spawn(self._open_edit_form(ws, trigger, actor, number, message, self._reply(body)))

    async def _open_edit_form(
        self,
        ws: Workspace,
        trigger_id: str,
        actor: MemberRef,
        number: int,
        message: MessageRef,
        reply: ReplyHandle | None,
    ) -> None:
        # The trigger lasts 3 seconds: one action's card, then the form.
        card = await self.core.coop.card(ws.community, number)
        if card is None or card.state != "open":
            # The card was drawn when the task was open; it has closed since.
            inbound = Inbound(EditRequested(actor, message.channel, number), reply)
            text = f"#{number} isn't open any more, so it can't be edited."
            await self.core.coop.tell(inbound, text)
            return
        await self._open_form(ws, trigger_id, edit_form(card, message.channel.id))

    async def on_edit_form(self, body: Payload, ws: Workspace) -> None:
        event = _read("form", lambda: payloads.edit_form_event(body, ws, self._actor(body, ws)))
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
