"""Drive the real Slack adapter against the local fake Slack, in Socket Mode or HTTP mode.

A test builds a core on a SQLite file with a manual clock, starts the adapter with
`started(...)` and sends what Slack would send through a driver: `await rig.send.command(
"UA", "task Tidy up")` reaches the adapter as a Socket Mode envelope or as a signed HTTP
request, and returns how it was acknowledged.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp

from adapters.slack import RunningSlack, running
from adapters.slack.chat import Messages, SlackChat
from adapters.slack.directory import Directory
from adapters.slack.surface import METHOD_SCOPES
from adapters.slack.workspaces import Workspaces
from bot.clock import ManualClock
from bot.config import Secrets, Settings, SlackSettings
from bot.core import Core
from bot.export import action_record
from bot.refs import CommunityRef
from bot.wiring import build_core
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import (
    Call,
    FakeSlack,
    block_actions_payload,
    event_callback_payload,
    message_shortcut_payload,
    reaction_event,
    sign,
    slash_command_payload,
    view_submission_payload,
)
from tests.harness import START

SIGNING_SECRET = "test-signing-secret"
SOCKET_SECRETS = Secrets("xoxb-test", "xapp-test", None, None)
HTTP_SECRETS = Secrets("xoxb-test", None, SIGNING_SECRET, None)
TEAM = CommunityRef("slack", "T1")
Mode = Literal["socket", "http"]

# The console scenario's people, as Slack users.
PEOPLE = {
    "alice": "UA",
    "bob": "UB",
    "carol": "UC",
    "dave": "UD",
    "erin": "UE",
    "frank": "UF",
}


def make_core(
    tmp_path: Path,
    slack: FakeSlack,
    mode: Mode = "socket",
    database_url: str | None = None,
    **slack_settings: Any,
) -> Core:
    """A core (on a fresh SQLite file by default), clock at tests.harness.START, using `slack`."""
    settings = Settings(
        database_url=database_url or f"sqlite:///{tmp_path / 'coop.db'}",
        slack=SlackSettings(
            mode=mode,
            api_base_url=slack.base_url,
            http_host="127.0.0.1",
            http_port=0,
            **slack_settings,
        ),
    )
    return build_core(settings, clock=ManualClock(START))


def add_people(slack: FakeSlack, tz: str = "Europe/London") -> None:
    for name, user_id in PEOPLE.items():
        slack.set_user(user_id, name=name, real_name=name.title(), tz=tz)


@dataclass(frozen=True)
class Delivery:
    """How one request was answered: HTTP status (200 for a Socket Mode ack) and latency."""

    status: int
    latency: float
    body: Any = None


class Driver:
    """Sends Slack's payloads; subclasses choose the transport."""

    async def send(self, kind: str, payload: dict[str, Any], retry: int = 0) -> Delivery:
        raise NotImplementedError

    async def command(self, user: str, text: str, channel: str = "C1", **kw: Any) -> Delivery:
        return await self.send("slash_commands", slash_command_payload(text, user, channel, **kw))

    async def react(
        self,
        user: str,
        reaction: str,
        channel: str,
        ts: str,
        *,
        removed: bool = False,
        event_id: str | None = None,
        retry: int = 0,
    ) -> Delivery:
        kind = "reaction_removed" if removed else "reaction_added"
        event = reaction_event(kind, user, reaction, channel, ts)
        return await self.send("events_api", event_callback_payload(event, event_id), retry)

    async def click(
        self, user: str, channel: str, message_ts: str, button: str, number: int, **kw: Any
    ) -> Delivery:
        payload = block_actions_payload(
            user, channel, message_ts, f"coop_{button}", str(number), **kw
        )
        return await self.send("interactive", payload)

    async def shortcut(
        self, user: str, channel: str, ts: str, text: str, author: str, **kw: Any
    ) -> Delivery:
        payload = message_shortcut_payload("coop_track", user, channel, ts, text, author, **kw)
        return await self.send("interactive", payload)

    async def submit(
        self, user: str, view: dict[str, Any], typed: dict[str, str | list[str]]
    ) -> Delivery:
        """`user` submits the modal `view` (as views.open answered) with `typed` entered."""
        return await self.send("interactive", view_submission_payload(user, view, typed))

    async def home_opened(self, user: str) -> Delivery:
        event = {"type": "app_home_opened", "user": user, "channel": "D" + user, "tab": "home"}
        return await self.send("events_api", event_callback_payload(event))


class SocketDriver(Driver):
    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack

    async def send(self, kind: str, payload: dict[str, Any], retry: int = 0) -> Delivery:
        reason = "timeout" if retry else ""
        ack = await self.slack.asend_envelope(kind, payload, retry, reason)
        return Delivery(200, ack["_latency"], ack.get("payload"))


def http_body(kind: str, payload: dict[str, Any]) -> tuple[str, str]:
    """The body and content type Slack uses for each kind of request."""
    form = "application/x-www-form-urlencoded"
    if kind == "slash_commands":
        return urlencode(payload), form
    if kind == "events_api":
        return json.dumps(payload), "application/json"
    return urlencode({"payload": json.dumps(payload)}), form


class HttpDriver(Driver):
    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.url = f"http://127.0.0.1:{port}/slack/events"

    async def send(self, kind: str, payload: dict[str, Any], retry: int = 0) -> Delivery:
        body, content_type = http_body(kind, payload)
        headers = {**sign(SIGNING_SECRET, body), "Content-Type": content_type}
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(body, headers)

    async def post(self, body: str, headers: dict[str, str]) -> Delivery:
        began = time.monotonic()
        async with self.session.post(self.url, data=body.encode(), headers=headers) as answer:
            text = await answer.text()
        return Delivery(answer.status, time.monotonic() - began, text)


@dataclass
class Rig:
    """A running adapter with the fake Slack it talks to and the core behind it."""

    slack: FakeSlack
    core: Core
    bot: RunningSlack
    send: Driver

    async def idle(self) -> None:
        await self.bot.idle()

    def actions(self) -> dict[int, dict[str, Any]]:
        """Every action in the database as `coopbot export` writes it, by number."""
        with SqlUnitOfWork(self.core.engine) as uow:
            return {r.action.number: action_record(r) for r in uow.export()}

    def statuses(self, number: int) -> dict[str, str]:
        return {c["member"]: c["status"] for c in self.actions()[number]["commitments"]}

    def card_ts(self, number: int) -> str:
        """The ts of the message the card of action `number` was posted as."""
        for call in self.slack.calls_to("chat.postMessage"):
            text = str(call.params.get("text", ""))
            if call.status == 200 and text.startswith(f"#{number} "):
                return str(call.response["ts"])
        raise AssertionError(f"no card posted for #{number}")


@asynccontextmanager
async def started(
    slack: FakeSlack,
    core: Core,
    mode: Mode = "socket",
    *,
    secrets: Secrets | None = None,
    post_interval: float = 0.0,
    edit_interval: float = 0.0,
    client_retries: int = 2,
) -> AsyncIterator[Rig]:
    """Run the adapter in `mode` and the core behind it until the block ends; `rig.send`
    speaks that mode. Pacing is off unless asked for, to keep tests quick."""
    secrets = secrets or (SOCKET_SECRETS if mode == "socket" else HTTP_SECRETS)
    connections = slack.socket_connections_total
    async with (
        running(
            core,
            secrets,
            post_interval=post_interval,
            edit_interval=edit_interval,
            client_retries=client_retries,
        ) as bot,
        core.running(),
    ):
        if mode == "socket":
            await slack.await_socket_client(count=connections + 1)
            yield Rig(slack, core, bot, SocketDriver(slack))
        else:
            assert bot.http_port is not None
            async with aiohttp.ClientSession() as session:
                yield Rig(slack, core, bot, HttpDriver(session, bot.http_port))


@asynccontextmanager
async def chat_on(slack: FakeSlack) -> AsyncIterator[SlackChat]:
    """The adapter's chat port alone, on the fake's workspace, as the core calls it; the
    sending client retries nothing, as in production."""
    async with aiohttp.ClientSession() as session:
        workspaces = Workspaces(slack.base_url, session, 0, SOCKET_SECRETS.slack_bot_token)
        yield SlackChat(workspaces, Directory(), Messages())


def undeclared_methods(slack: FakeSlack) -> set[str]:
    """Web API methods the fake was called with that surface.METHOD_SCOPES does not list."""
    return {c.method for c in slack.calls if c.method != "response_url"} - set(METHOD_SCOPES)


# --- driving a rig: type, press, move the clock, look at what Slack got ---------------------


async def say(rig: Rig, user: str, text: str, channel: str = "C1") -> list[Call]:
    """`/coop <text>` from `user` in `channel`, applied and answered; the Web API calls the
    bot made meanwhile."""
    before = len(rig.slack.calls)
    ack = await rig.send.command(user, text, channel, response_url=rig.slack.response_url())
    assert ack.status == 200 and ack.latency < 3.0
    await rig.idle()
    return rig.slack.calls[before:]


async def press(rig: Rig, user: str, posted: Call, button: str, number: int) -> list[Call]:
    """`user` presses `button` on the message `posted` (a chat.postMessage: a card, or a DM
    pressed in the DM), as Slack sends it; the Web API calls the bot made meanwhile."""
    before = len(rig.slack.calls)
    ack = await rig.send.click(
        user,
        str(posted.response["channel"]),
        str(posted.response["ts"]),
        button,
        number,
        message_text=str(posted.params["text"]),
        response_url=rig.slack.response_url(),
    )
    assert ack.status == 200 and ack.latency < 3.0
    await rig.idle()
    return rig.slack.calls[before:]


async def advance(rig: Rig, delta: timedelta) -> list[Call]:
    """Move the bot's clock by `delta`, fire what fell due meanwhile (each at its own time)
    and wait for its deliveries; the Web API calls the bot made meanwhile."""
    before = len(rig.slack.calls)
    rig.core.clock.advance(delta)
    await rig.core.scheduler.tick_now(catch_up=True)
    await rig.idle()
    return rig.slack.calls[before:]


async def advance_to(rig: Rig, when: datetime) -> list[Call]:
    return await advance(rig, when - rig.core.clock.now())


def of(calls: list[Call], method: str, channel: str | None = None) -> list[Call]:
    return [
        c
        for c in calls
        if c.method == method and (channel is None or c.params.get("channel") == channel)
    ]


def buttons(call: Call) -> list[tuple[str, str, str]]:
    """(action_id, value, label) of the buttons a message was posted with (not its selects
    or menus: see `elements`)."""
    return [
        (b["action_id"], b["value"], b["text"]["text"])
        for b in elements(call)
        if b["type"] == "button"
    ]


def elements(call: Call) -> list[dict[str, Any]]:
    """The interactive elements (buttons, selects, menus) a message was posted with."""
    blocks = call.json_field("blocks") or []
    return [b for block in blocks if block["type"] == "actions" for b in block["elements"]]


def answers(calls: list[Call], user: str) -> list[str]:
    """The private answers `user` was given."""
    return [
        str(c.params["text"]) for c in of(calls, "chat.postEphemeral") if c.params["user"] == user
    ]
