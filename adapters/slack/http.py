"""HTTP mode: an aiohttp server for Slack's signed requests and, with OAuth, the install flow."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


FRESH_FOR = 5 * 60  # seconds: Slack's window against replayed requests
MAX_BODY = 1024 * 1024  # Slack's requests are a few KiB; more is refused with 413


def signed(secret: bytes, body: bytes, headers: Mapping[str, str], now: float) -> bool:
    """Whether Slack signed `body` in the 5 minutes around `now`; False however malformed
    the headers or the body. (slack_sdk's verifier raises on a timestamp that is no number
    and on a body that is not UTF-8, which would answer 500.)"""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > FRESH_FOR:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


# What Slack's requests hold, by key, where Bolt or our listeners read it: a signed body that
# has one of these keys with another type is unreadable, not a reason to crash. Only the
# types Slack gives a key in every request that has it are checked.
_Shape = dict[str, type | tuple[type, ...]]
_BODY: _Shape = {
    "type": str,
    "token": str,
    "team_id": str,
    "api_app_id": str,
    "event": dict,
    "event_id": str,
    "challenge": str,
    "authorizations": list,
    "command": str,
    "text": str,
    "user_id": str,
    "channel_id": str,
    "response_url": str,
    "trigger_id": str,
    "user": (dict, str),
    "team": (dict, str, type(None)),
    "channel": (dict, str),
    "actions": list,
    "view": dict,
    "container": dict,
    "message": dict,
    "callback_id": str,
}
_EVENT: _Shape = {
    "type": str,
    "user": (str, dict),
    "channel": (str, dict),
    "reaction": str,
    "item": dict,
    "text": str,
    "ts": str,
    "event_ts": str,
    "thread_ts": str,
}
# What each type of request must carry, for Bolt to tell which listener it is for.
_NEEDS = {
    "event_callback": ("event",),
    "block_actions": ("actions",),
    "shortcut": ("callback_id",),
    "message_action": ("callback_id",),
    "view_submission": ("view",),
    "view_closed": ("view",),
}
_ACTION: _Shape = {"action_id": str, "block_id": str, "value": str, "type": str}
_VIEW: _Shape = {
    "type": str,
    "callback_id": str,
    "private_metadata": str,
    "state": dict,
    "id": str,
}


def _fits(value: object, shape: _Shape, needs: tuple[str, ...] = ()) -> bool:
    """Whether `value` is an object whose keys in `shape` have its types, with `needs`
    present (what Bolt's matchers read without asking)."""
    return (
        isinstance(value, dict)
        and all(key in value for key in needs)
        and all(key not in value or isinstance(value[key], kind) for key, kind in shape.items())
    )


def well_formed(body: Mapping[str, object]) -> bool:
    """Whether the keys Slack's requests have hold the types Slack gives them, in the body,
    its event, its view and each of its actions."""
    kind = body.get("type")
    needs = _NEEDS.get(kind if isinstance(kind, str) else "", ())
    return (
        _fits(body, _BODY, needs)
        and (kind != "block_actions" or bool(_items(body.get("actions"))))
        and (
            kind not in ("view_submission", "view_closed")
            or _fits(body["view"], _VIEW, ("callback_id", "type"))
        )
        and ("event" not in body or _fits(body["event"], _EVENT, ("type",)))
        and ("view" not in body or _fits(body["view"], _VIEW))
        and all(_fits(action, _ACTION, ("action_id",)) for action in _items(body.get("actions")))
    )


def _items(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def web_app(
    app: AsyncApp, signing_secret: str, extra: Iterable[Callable[[web.Application], None]] = ()
) -> web.Application:
    """POST /slack/events for commands, events and interactivity; OAuth pages when enabled.

    Answers 401 to anything not signed, 400 to a signed body that cannot be read and 413 to
    one too large, before Bolt sees it: input never gets a 500.
    """
    secret = signing_secret.encode()

    async def events(request: web.Request) -> web.Response:
        body = await request.read()  # 413 beyond MAX_BODY
        if not signed(secret, body, request.headers, time.time()):
            return web.Response(status=401, text="invalid request")
        try:
            bolt_request = await to_bolt_request(request)
        # Signed, yet not UTF-8, or not the form or JSON it says it is, or JSON of another
        # shape: Bolt's parsing of the body (and nothing else) is in this try.
        except (ValueError, TypeError, AttributeError, KeyError):
            return web.Response(status=400, text="unreadable request body")
        body_read = bolt_request.body
        if not isinstance(body_read, dict) or not body_read or not well_formed(dict(body_read)):
            return web.Response(status=400, text="unreadable request body")
        # Bolt checks the signature again, and the rest.
        response = await app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    server = web.Application(client_max_size=MAX_BODY)
    server.router.add_post(EVENTS_PATH, events)
    flow = app.oauth_flow
    if flow is not None:

        async def install(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_installation(await to_bolt_request(request))
            )

        async def redirect(request: web.Request) -> web.Response:
            return await to_aiohttp_response(
                await flow.handle_callback(await to_bolt_request(request))
            )

        server.router.add_get(flow.install_path, install)
        server.router.add_get(flow.redirect_uri_path, redirect)
    for add in extra:  # the ops endpoints share this server
        add(server)
    return server


async def start(
    app: AsyncApp,
    host: str,
    port: int,
    signing_secret: str,
    extra: Iterable[Callable[[web.Application], None]] = (),
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0: any free port), with the routes `extra` adds; returns
    the runner and the bound port."""
    server = web_app(app, signing_secret, extra)
    runner = web.AppRunner(server, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, int(bound)
