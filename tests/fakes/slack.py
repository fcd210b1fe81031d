"""A local fake Slack for tests: Web API, Socket Mode and HTTP-mode payload helpers.

The server binds to 127.0.0.1 on a free port and runs on its own event loop in a thread, so it
can be driven from sync tests and from async tests alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import hmac
import json
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import count as _counter
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import WSMsgType, web
from multidict import CIMultiDict, CIMultiDictProxy

from adapters.slack.surface import bot_scopes

JsonDict = dict[str, Any]
T = TypeVar("T")

APP_ID = "A1"
BOT_ID = "B1"
VERIFICATION_TOKEN = "fake-verification-token"
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/commands/T1/1/fake"
DEFAULT_TZ = "Europe/London"
_FIRST_TS_MICROS = 1_700_000_000_000_100
_TS_STEP_MICROS = 100


@dataclass(frozen=True)
class Call:
    """One request the fake received (Web API call or response_url post)."""

    method: str
    params: dict[str, Any]
    headers: Mapping[str, str]
    time: float
    http_method: str = "POST"
    path: str = ""
    status: int = 200
    response: Any = None

    def json_field(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, JSON-decoded if it arrived as a JSON string (form bodies)."""
        value = self.params.get(name, default)
        if isinstance(value, str | bytes):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    @property
    def token(self) -> str | None:
        """The token sent as ``Authorization: Bearer ...`` or as a ``token`` param."""
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = self.params.get("token")
        return str(token) if token is not None else None


@dataclass(frozen=True)
class Ack:
    """A Socket Mode acknowledgement received for an envelope the fake sent."""

    envelope_id: str
    type: str
    payload: Any
    latency: float
    raw: JsonDict


@dataclass
class _Pending:
    type: str
    future: concurrent.futures.Future[JsonDict] = field(default_factory=concurrent.futures.Future)
    sent_at: float = 0.0


Responder = JsonDict | Callable[[Call], JsonDict]


class FakeSlack:
    """Fake Slack server. Use as ``with FakeSlack() as slack:`` or call start()/stop()."""

    def __init__(
        self,
        *,
        bot_user_id: str = "UBOT",
        team_id: str = "T1",
        bot_id: str = BOT_ID,
        app_id: str = APP_ID,
        ack_timeout: float = 5.0,
        invent_users: bool = True,
    ) -> None:
        """`invent_users`: users.info makes up a member of the team for an id nobody set
        with set_user; False: it answers user_not_found, as Slack does for an unknown id."""
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.ack_timeout = ack_timeout
        self.invent_users = invent_users
        self.port = 0

        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._rate_limits: dict[str, deque[int]] = {}
        self._storms: dict[str, tuple[int, int, float | None, int]] = {}
        self._failures: dict[str, deque[str]] = {}
        self._delays: dict[str, float] = {}
        self._post_interval: float | None = None
        self._last_post: dict[str, float] = {}
        self._overrides: dict[str, Responder] = {}
        self._scopes: list[str] = bot_scopes()
        self._users: dict[str, JsonDict] = {}
        self._messages: dict[str, list[JsonDict]] = {}
        self._last_ts = _FIRST_TS_MICROS - _TS_STEP_MICROS
        self._view_ids = _counter(1)
        self._pending: dict[str, _Pending] = {}
        self._acks: list[Ack] = []
        self._socket_messages: list[Any] = []
        self._sockets_opened = 0
        self._sockets_open = 0

        # Touched only on the server loop.
        self._sockets: list[web.WebSocketResponse] = []
        self._sockets_changed: asyncio.Condition | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], JsonDict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "apps.connections.open": self._apps_connections_open,
        }

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket-mode"

    def response_url(self, key: str = "1") -> str:
        """A response_url served by the fake; posts to it are recorded as ``response_url``."""
        return f"http://127.0.0.1:{self.port}/response/{key}"

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError("FakeSlack already started")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="fake-slack", daemon=True
        )
        self._thread.start()
        ready.result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            self._loop = None
            self._thread = None
            with self._cond:
                for pending in self._pending.values():
                    if not pending.future.done():
                        pending.future.set_exception(RuntimeError("FakeSlack stopped"))
                self._pending.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            ready.set_exception(exc)
            loop.close()
            return
        self._loop = loop
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        self._sockets_changed = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/socket-mode", self._handle_socket)
        app.router.add_post("/response/{key}", self._handle_response_url)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def _shutdown(self) -> None:
        self._closing = True
        for task in list(self._background):
            task.cancel()
        await self._close_sockets(1001)
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("FakeSlack is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("cannot block on the fake's own event loop")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    # ------------------------------------------------------------------ recording / waiting

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.method == method]

    def clear_calls(self) -> None:
        with self._cond:
            self._calls.clear()

    def wait_for_call(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until at least ``count`` calls to ``method`` were recorded; return them all."""
        with self._cond:
            done = self._cond.wait_for(
                lambda: sum(c.method == method for c in self._calls) >= count, timeout
            )
            if not done:
                seen = "\n  ".join(_describe(c) for c in self._calls) or "(none)"
                raise AssertionError(
                    f"expected {count} call(s) to {method} within {timeout}s; calls seen:\n  {seen}"
                )
            return [c for c in self._calls if c.method == method]

    async def await_call(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Async wait_for_call that leaves the caller's event loop free."""
        return await asyncio.to_thread(self.wait_for_call, method, count, timeout)

    # ------------------------------------------------------------------ behaviour control

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with HTTP 429 and Retry-After."""
        with self._cond:
            self._rate_limits.setdefault(method, deque()).extend([int(retry_after)] * times)

    def rate_limit_every(
        self, method: str, every: int, retry_after: int, seconds: float | None = None
    ) -> None:
        """Answer every `every`-th call to ``method`` with 429 and Retry-After, for `seconds`
        from now (None: from now on); 0 for `every` stops it."""
        until = None if seconds is None else time.monotonic() + seconds
        with self._cond:
            if every:
                self._storms[method] = (every, int(retry_after), until, 0)
            else:
                self._storms.pop(method, None)

    def limit_posts_per_channel(self, interval: float | None = 1.0) -> None:
        """Hold chat.postMessage to one accepted message per `interval` seconds per channel,
        as Slack does: a post sooner than that after the channel's last accepted one is
        answered HTTP 429 `ratelimited` with Retry-After (whole seconds); None lifts it."""
        with self._cond:
            self._post_interval = interval
            self._last_post.clear()

    def fail_next(self, method: str, error: str = "channel_not_found", times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with ``{ok: false, error}``."""
        with self._cond:
            self._failures.setdefault(method, deque()).extend([error] * times)

    def stop_failing(self, method: str) -> None:
        """Answer ``method`` normally again, whatever ``fail_next`` had queued."""
        with self._cond:
            self._failures.pop(method, None)

    def delay(self, method: str, seconds: float) -> None:
        """Delay every answer to ``method`` (0 removes the delay). Calls are recorded on arrival."""
        with self._cond:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def set_response(self, method: str, response: Responder | None) -> None:
        """Replace the answer to ``method`` with a dict or a ``Call -> dict`` function.

        The function runs on the server thread: it must not block on the fake's loop.
        ``None`` restores the default.
        """
        with self._cond:
            if response is None:
                self._overrides.pop(method, None)
            else:
                self._overrides[method] = response

    def set_scopes(self, scopes: Sequence[str]) -> None:
        """The bot token's scopes, sent by auth.test in ``x-oauth-scopes`` (default: every
        scope the manifest asks for)."""
        with self._cond:
            self._scopes = list(scopes)

    def set_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str | None = DEFAULT_TZ,
        tz_label: str | None = None,
        tz_offset: int | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        deleted: bool = False,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        enterprise_teams: Sequence[str] = (),
    ) -> JsonDict:
        """Configure what users.info answers for ``user_id``; ``tz=None`` gives a null tz.

        ``team_id`` is the user's own team (another one for a Slack Connect guest); with
        ``enterprise_id`` they are an Enterprise Grid user, a member of ``enterprise_teams``.
        """
        label, offset = _tz_label_offset(tz)
        user: JsonDict = {
            "id": user_id,
            "team_id": team_id if team_id is not None else self.team_id,
            "name": name if name is not None else user_id.lower(),
            "real_name": real_name if real_name is not None else f"User {user_id}",
            "deleted": deleted,
            "tz": tz,
            "tz_label": tz_label if tz_label is not None else label,
            "tz_offset": tz_offset if tz_offset is not None else offset,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_bot": is_bot,
        }
        user["profile"] = {"real_name": user["real_name"], "display_name": user["name"]}
        if enterprise_id is not None:
            user["enterprise_user"] = {
                "id": user_id,
                "enterprise_id": enterprise_id,
                "enterprise_name": "Fake Org",
                "is_admin": is_admin,
                "is_owner": is_owner,
                "is_primary_owner": False,
                "teams": list(enterprise_teams),
            }
        with self._cond:
            self._users[user_id] = user
        return dict(user)

    # ------------------------------------------------------------------ message store

    def add_message(
        self,
        channel: str,
        ts: str,
        text: str,
        user: str,
        thread_ts: str | None = None,
        **extra: Any,
    ) -> JsonDict:
        """Seed a message for conversations.history / .replies (``extra``: blocks, metadata...)."""
        message: JsonDict = {"type": "message", "ts": ts, "text": text, "user": user}
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        message.update(extra)
        with self._cond:
            self._store(channel, message)
            self._last_ts = max(self._last_ts, _ts_micros(ts))
        return dict(message)

    def messages(self, channel: str) -> list[JsonDict]:
        """Stored messages of ``channel``, oldest first."""
        with self._cond:
            return [dict(m) for m in sorted(self._messages.get(channel, []), key=_ts_key)]

    def _store(self, channel: str, message: JsonDict) -> None:
        stored = self._messages.setdefault(channel, [])
        stored[:] = [m for m in stored if m["ts"] != message["ts"]]
        stored.append(message)

    def _find(self, channel: str, ts: str) -> JsonDict | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _next_ts(self) -> str:
        # Like Slack's: the time of posting, unique and increasing.
        self._last_ts = max(self._last_ts + _TS_STEP_MICROS, int(time.time() * 1_000_000))
        return f"{self._last_ts // 1_000_000}.{self._last_ts % 1_000_000:06d}"

    # ------------------------------------------------------------------ Web API

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params, bad_json = await _read_params(request)
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        with self._cond:
            call = Call(method, params, headers, time.monotonic(), request.method, request.path)
            status, body, extra_headers = self._answer(call, bad_json)
            if method == "chat.postMessage" and status == 200 and body.get("ok"):
                self._last_post[self._posted_to(call)] = call.time
            self._calls.append(replace(call, status=status, response=body))
            delay = self._delays.get(method, 0.0)
            self._cond.notify_all()
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status, headers=extra_headers)

    def _answer(self, call: Call, bad_json: bool) -> tuple[int, JsonDict, dict[str, str]]:
        method = call.method
        limits = self._rate_limits.get(method)
        if limits:
            retry_after = limits.popleft()
            return 429, _error("ratelimited"), {"Retry-After": str(retry_after)}
        storm = self._storms.get(method)
        if storm is not None:
            every, retry_after, until, seen = storm
            if until is not None and time.monotonic() > until:
                del self._storms[method]
            else:
                self._storms[method] = (every, retry_after, until, seen + 1)
                if (seen + 1) % every == 0:
                    return 429, _error("ratelimited"), {"Retry-After": str(retry_after)}
        if method == "chat.postMessage" and self._post_interval is not None:
            last = self._last_post.get(self._posted_to(call))
            if last is not None and call.time - last < self._post_interval:
                wait = math.ceil(last + self._post_interval - call.time)
                return 429, _error("ratelimited"), {"Retry-After": str(max(1, wait))}
        failures = self._failures.get(method)
        if failures:
            return 200, _error(failures.popleft()), {}
        if bad_json:
            return 200, _error("invalid_json"), {}
        override = self._overrides.get(method)
        if override is not None:
            body = override(call) if callable(override) else override
            return 200, dict(body), {}
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {**_error("unknown_method"), "req_method": method}, {}
        if method == "apps.connections.open":
            token = call.token or ""
            if token.startswith(("xoxb-", "xoxp-")):
                return 200, _error("not_allowed_token_type"), {}
        if method == "auth.test":
            return 200, handler(call.params), {"x-oauth-scopes": ",".join(self._scopes)}
        return 200, handler(call.params), {}

    def _auth_test(self, params: dict[str, Any]) -> JsonDict:
        return {
            "ok": True,
            "url": "https://fake-slack.slack.com/",
            "team": "Fake Team",
            "user": "coopbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _channel_for(self, channel: str) -> str:
        return "D" + channel if channel.startswith(("U", "W")) else channel

    def _posted_to(self, call: Call) -> str:
        return self._channel_for(str(call.params.get("channel") or ""))

    def _chat_post_message(self, params: dict[str, Any]) -> JsonDict:
        channel = str(params.get("channel") or "")
        if not channel:
            return _error("channel_not_found")
        channel = self._channel_for(channel)
        message: JsonDict = {
            "type": "message",
            "ts": self._next_ts(),
            "text": str(params.get("text") or ""),
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "team": self.team_id,
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                message[key] = _maybe_json(params[key])
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
            if _truthy(params.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        self._store(channel, message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": dict(message)}

    def _chat_update(self, params: dict[str, Any]) -> JsonDict:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        stored = self._find(channel, ts)
        if stored is not None:
            for key in ("text", "blocks", "attachments", "metadata"):
                if params.get(key) is not None:
                    stored[key] = _maybe_json(params[key])
            stored["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        text = params.get("text", stored.get("text", "") if stored else "")
        message = dict(stored) if stored else {"type": "message", "ts": ts, "text": text}
        return {"ok": True, "channel": channel, "ts": ts, "text": text, "message": message}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> JsonDict:
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_get_permalink(self, params: dict[str, Any]) -> JsonDict:
        channel, ts = str(params.get("channel") or ""), str(params.get("message_ts") or "")
        link = f"https://fake-slack.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _conversations_open(self, params: dict[str, Any]) -> JsonDict:
        if params.get("channel"):
            return {"ok": True, "channel": {"id": str(params["channel"])}}
        users = params.get("users")
        if isinstance(users, str):
            users = [u.strip() for u in users.split(",") if u.strip()]
        if not users:
            return _error("users_list_not_supplied")
        return {"ok": True, "channel": {"id": "D" + str(users[0])}}

    def _users_info(self, params: dict[str, Any]) -> JsonDict:
        user_id = str(params.get("user") or "")
        if not user_id:
            return _error("user_not_found")
        user = self._users.get(user_id)
        if user is None:
            if user_id == self.bot_user_id:
                user = self.set_user(user_id, name="coopbot", real_name="coopbot", is_bot=True)
            elif self.invent_users:
                user = self.set_user(user_id)
            else:
                return _error("user_not_found")
        return {"ok": True, "user": json.loads(json.dumps(user))}

    def _views_publish(self, params: dict[str, Any]) -> JsonDict:
        view = _maybe_json(params.get("view")) or {}
        view = dict(view) if isinstance(view, dict) else {}
        view.setdefault("type", "home")
        view["id"] = f"V{next(self._view_ids):07d}"
        return {"ok": True, "view": view}

    def _views_open(self, params: dict[str, Any]) -> JsonDict:
        """A modal, as Slack answers views.open: the view with its id and an empty state.
        (Slack also refuses a trigger older than 3 seconds; the fake takes any trigger.)"""
        if not params.get("trigger_id"):
            return _error("invalid_trigger_id")
        view = _maybe_json(params.get("view"))
        if not isinstance(view, dict) or view.get("type") != "modal":
            return _error("invalid_arguments")
        opened = {
            **view,
            "id": f"V{next(self._view_ids):07d}",
            "team_id": self.team_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "state": {"values": {}},
            "hash": uuid.uuid4().hex[:20],
            "private_metadata": str(view.get("private_metadata") or ""),
            "callback_id": str(view.get("callback_id") or ""),
        }
        return {"ok": True, "view": opened}

    def _apps_connections_open(self, params: dict[str, Any]) -> JsonDict:
        return {"ok": True, "url": self.socket_url}

    def _render(self, channel: str, message: JsonDict, with_metadata: bool) -> JsonDict:
        out = dict(message)
        if not with_metadata:
            out.pop("metadata", None)
        if out.get("thread_ts", out["ts"]) == out["ts"]:
            replies = [
                m
                for m in self._messages.get(channel, [])
                if m.get("thread_ts") == out["ts"] and m["ts"] != out["ts"]
            ]
            if replies:
                replies.sort(key=_ts_key)
                out["thread_ts"] = out["ts"]
                out["reply_count"] = len(replies)
                out["reply_users"] = sorted({str(m.get("user")) for m in replies})
                out["latest_reply"] = replies[-1]["ts"]
        return out

    def _select(self, messages: list[JsonDict], params: dict[str, Any]) -> list[JsonDict]:
        inclusive = _truthy(params.get("inclusive"))
        latest = _ts_decimal(params.get("latest"))
        oldest = _ts_decimal(params.get("oldest"))

        def within(m: JsonDict) -> bool:
            ts = _ts_key(m)
            if latest is not None and (ts > latest if inclusive else ts >= latest):
                return False
            return not (oldest is not None and (ts < oldest if inclusive else ts <= oldest))

        return [m for m in messages if within(m)]

    def _conversations_history(self, params: dict[str, Any]) -> JsonDict:
        channel = str(params.get("channel") or "")
        if not channel:
            return _error("channel_not_found")
        top_level = [
            m
            for m in self._messages.get(channel, [])
            if m.get("thread_ts", m["ts"]) == m["ts"] or m.get("subtype") == "thread_broadcast"
        ]
        selected = sorted(self._select(top_level, params), key=_ts_key, reverse=True)
        limit = _limit(params.get("limit"))
        metadata = _truthy(params.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(channel, m, metadata) for m in selected[:limit]],
            "has_more": len(selected) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_replies(self, params: dict[str, Any]) -> JsonDict:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        target = self._find(channel, ts)
        if target is None:
            return _error("thread_not_found")
        root = str(target.get("thread_ts") or ts)
        thread = [
            m
            for m in self._messages.get(channel, [])
            if m["ts"] == root or m.get("thread_ts") == root
        ]
        selected = sorted(self._select(thread, params), key=_ts_key)
        limit = _limit(params.get("limit"))
        metadata = _truthy(params.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(channel, m, metadata) for m in selected[:limit]],
            "has_more": len(selected) > limit,
            "response_metadata": {"next_cursor": ""},
        }

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        params, _ = await _read_params(request)
        headers = CIMultiDictProxy(CIMultiDict(request.headers))
        with self._cond:
            self._calls.append(
                Call(
                    "response_url",
                    params,
                    headers,
                    time.monotonic(),
                    request.method,
                    request.path,
                    200,
                    "ok",
                )
            )
            self._cond.notify_all()
        return web.Response(text="ok")

    # ------------------------------------------------------------------ Socket Mode

    @property
    def acks(self) -> list[Ack]:
        with self._cond:
            return list(self._acks)

    @property
    def socket_messages(self) -> list[Any]:
        """Every text frame a Socket Mode client sent (decoded JSON where possible)."""
        with self._cond:
            return list(self._socket_messages)

    @property
    def socket_clients(self) -> int:
        """Number of currently open Socket Mode connections."""
        with self._cond:
            return self._sockets_open

    @property
    def socket_connections_total(self) -> int:
        with self._cond:
            return self._sockets_opened

    def wait_for_socket_client(self, timeout: float = 5.0, count: int = 1) -> None:
        """Block until ``count`` connections were ever opened and one is open now."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._sockets_opened >= count and self._sockets_open > 0, timeout
            ):
                raise AssertionError(
                    f"no Socket Mode client (wanted {count} connection(s), "
                    f"saw {self._sockets_opened}) within {timeout}s"
                )

    async def await_socket_client(self, timeout: float = 5.0, count: int = 1) -> None:
        await asyncio.to_thread(self.wait_for_socket_client, timeout, count)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            return web.Response(status=503, text="shutting down")
        ws = web.WebSocketResponse(autoping=True, timeout=1.0)
        await ws.prepare(request)
        with self._cond:
            open_now = self._sockets_open + 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": open_now,
                "debug_info": {
                    "host": "fake-slack",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._sockets.append(ws)
        with self._cond:
            self._sockets_opened += 1
            self._sockets_open += 1
            self._cond.notify_all()
        await self._notify_sockets_changed()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_socket_text(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.remove(ws)
            with self._cond:
                self._sockets_open -= 1
                self._cond.notify_all()
            await self._notify_sockets_changed()
        return ws

    async def _notify_sockets_changed(self) -> None:
        assert self._sockets_changed is not None
        async with self._sockets_changed:
            self._sockets_changed.notify_all()

    def _on_socket_text(self, data: str) -> None:
        received = time.monotonic()
        try:
            message: Any = json.loads(data)
        except ValueError:
            message = data
        with self._cond:
            self._socket_messages.append(message)
            if not isinstance(message, dict):
                return
            pending = self._pending.pop(str(message.get("envelope_id")), None)
            if pending is None:
                return
            latency = received - pending.sent_at
            self._acks.append(
                Ack(message["envelope_id"], pending.type, message.get("payload"), latency, message)
            )
            self._cond.notify_all()
        pending.future.set_result({**message, "_latency": latency})

    async def _send_to_sockets(self, text: str, latest_only: bool) -> int:
        targets = [ws for ws in self._sockets if not ws.closed]
        if latest_only:
            targets = targets[-1:]
        for ws in targets:
            await ws.send_str(text)
        return len(targets)

    async def _send_envelope_frame(self, text: str, pending: _Pending) -> int:
        pending.sent_at = time.monotonic()
        return await self._send_to_sockets(text, latest_only=True)

    async def _close_sockets(self, code: int) -> int:
        targets = list(self._sockets)
        for ws in targets:
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(ws.close(code=code), timeout=2.0)
        return len(targets)

    def _envelope(
        self,
        type_: str,
        payload: JsonDict,
        retry_attempt: int,
        retry_reason: str,
        accepts_response_payload: bool | None,
        envelope_id: str | None,
    ) -> tuple[str, str, _Pending]:
        if accepts_response_payload is None:
            accepts_response_payload = _accepts_response_payload(type_, payload)
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": type_,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        pending = _Pending(type_)
        with self._cond:
            self._pending[envelope_id] = pending
        return envelope_id, json.dumps(envelope), pending

    def _no_ack(self, type_: str, envelope_id: str, wait: float) -> AssertionError:
        seen = "\n  ".join(repr(m)[:200] for m in self.socket_messages) or "(none)"
        return AssertionError(
            f"no ack for {type_} envelope {envelope_id} within {wait}s; "
            f"socket messages seen:\n  {seen}"
        )

    def send_envelope(
        self,
        type_: str,
        payload: JsonDict,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        *,
        envelope_id: str | None = None,
        timeout: float | None = None,
    ) -> JsonDict:
        """Send an envelope to the newest Socket Mode client and return its ack.

        The ack dict gets an extra ``_latency`` key (seconds from send to ack); it is also
        recorded in ``acks``. Raises AssertionError when no client is connected or no ack
        comes within ``timeout`` (default ``ack_timeout``).
        """
        wait = self.ack_timeout if timeout is None else timeout
        self.wait_for_socket_client(timeout=wait)
        envelope_id, text, pending = self._envelope(
            type_, payload, retry_attempt, retry_reason, accepts_response_payload, envelope_id
        )
        try:
            if not self._run(self._send_envelope_frame(text, pending), wait):
                raise AssertionError("no Socket Mode client connected to send the envelope to")
            return pending.future.result(timeout=wait)
        except concurrent.futures.TimeoutError:
            raise self._no_ack(type_, envelope_id, wait) from None
        finally:
            with self._cond:
                self._pending.pop(envelope_id, None)

    async def asend_envelope(
        self,
        type_: str,
        payload: JsonDict,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
        *,
        envelope_id: str | None = None,
        timeout: float | None = None,
    ) -> JsonDict:
        """send_envelope for async callers: waits without holding a thread of their loop's
        executor, so a burst of envelopes takes none from the bot under test."""
        wait = self.ack_timeout if timeout is None else timeout
        if not self.socket_clients:
            await self.await_socket_client(timeout=wait)
        envelope_id, text, pending = self._envelope(
            type_, payload, retry_attempt, retry_reason, accepts_response_payload, envelope_id
        )
        loop = self._loop
        assert loop is not None, "FakeSlack is not running"
        try:
            frame = asyncio.run_coroutine_threadsafe(self._send_envelope_frame(text, pending), loop)
            if not await asyncio.wrap_future(frame):
                raise AssertionError("no Socket Mode client connected to send the envelope to")
            return await asyncio.wait_for(asyncio.wrap_future(pending.future), wait)
        except TimeoutError:
            raise self._no_ack(type_, envelope_id, wait) from None
        finally:
            with self._cond:
                self._pending.pop(envelope_id, None)

    def disconnect_socket(
        self, reason: str = "refresh_requested", close_old_after: float | None = 5.0
    ) -> int:
        """Send a ``disconnect`` message to every open client; returns how many got it.

        Like Slack, the fake then closes those old connections: as soon as a new connection
        arrives, or after ``close_old_after`` seconds (``None``: leave them open).
        """
        return self._run(self._disconnect(reason, close_old_after))

    async def _disconnect(self, reason: str, close_old_after: float | None) -> int:
        old = [ws for ws in self._sockets if not ws.closed]
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}}
        for ws in old:
            await ws.send_str(json.dumps(message))
        if old and close_old_after is not None:
            task = asyncio.get_running_loop().create_task(
                self._close_when_replaced(old, close_old_after)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return len(old)

    async def _close_when_replaced(self, old: list[web.WebSocketResponse], grace: float) -> None:
        assert self._sockets_changed is not None
        changed = self._sockets_changed

        async def replaced() -> None:
            async with changed:
                await changed.wait_for(lambda: any(ws not in old for ws in self._sockets))

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(replaced(), grace)
        for ws in old:
            if not ws.closed:
                with contextlib.suppress(TimeoutError, ConnectionError):
                    await asyncio.wait_for(ws.close(code=1000), timeout=2.0)

    def close_sockets(self, code: int = 1000) -> int:
        """Close every open Socket Mode connection from the server side."""
        return self._run(self._close_sockets(code))


# ---------------------------------------------------------------------- helpers (internal)


def _describe(call: Call) -> str:
    return f"{call.http_method} {call.method} -> {call.status} {call.params!r}"[:300]


def _error(error: str) -> JsonDict:
    return {"ok": False, "error": error}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _limit(value: Any, default: int = 100) -> int:
    try:
        limit = int(value)
    except (TypeError, ValueError):
        return default
    return limit if limit > 0 else default


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _ts_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _ts_key(message: JsonDict) -> Decimal:
    return _ts_decimal(message["ts"]) or Decimal(0)


def _ts_micros(ts: str) -> int:
    value = _ts_decimal(ts)
    return int(value * 1_000_000) if value is not None else 0


def _tz_label_offset(tz: str | None) -> tuple[str | None, int]:
    if tz is None:
        return None, 0
    try:
        now = datetime.now(UTC).astimezone(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return tz, 0
    offset = now.utcoffset()
    return now.tzname(), int(offset.total_seconds()) if offset is not None else 0


def _accepts_response_payload(type_: str, payload: JsonDict) -> bool:
    if type_ == "slash_commands":
        return True
    return type_ == "interactive" and payload.get("type") in ("view_submission", "block_suggestion")


async def _read_params(request: web.Request) -> tuple[dict[str, Any], bool]:
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params, False
    ctype = request.content_type
    if ctype == "application/json":
        raw = await request.text()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            params["_body"] = raw
            return params, True
        if isinstance(body, dict):
            params.update(body)
        else:
            params["_body"] = body
    elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            params[key] = value.file.read() if isinstance(value, web.FileField) else value
    else:
        raw = await request.text()
        if raw:
            params["_body"] = raw
    return params, False


# ---------------------------------------------------------------------- HTTP-mode helpers


def sign(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack request-signing headers for ``body`` (timestamp defaults to now)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(
        signing_secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256
    ).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(ts)}


def _trigger_id() -> str:
    return f"{int(time.time())}.1.{uuid.uuid4().hex[:16]}"


def _event_ts() -> str:
    return f"{time.time():.6f}"


def slash_command_payload(
    text: str,
    user_id: str,
    channel_id: str,
    team_id: str = "T1",
    command: str = "/coop",
    user_name: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    channel_name: str = "general",
    trigger_id: str | None = None,
) -> dict[str, str]:
    """Slash-command fields as a dict (Socket Mode ``slash_commands`` envelope payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": "fake-slack",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name if user_name is not None else user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }


def slash_command_body(
    text: str,
    user_id: str,
    channel_id: str,
    team_id: str = "T1",
    command: str = "/coop",
    user_name: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
    *,
    channel_name: str = "general",
    trigger_id: str | None = None,
) -> tuple[str, str]:
    """Form-encoded slash command body and its content type."""
    payload = slash_command_payload(
        text,
        user_id,
        channel_id,
        team_id,
        command,
        user_name,
        response_url,
        channel_name=channel_name,
        trigger_id=trigger_id,
    )
    return urlencode(payload), "application/x-www-form-urlencoded"


def event_callback_payload(
    event: JsonDict,
    event_id: str | None = None,
    team_id: str = "T1",
    *,
    bot_user_id: str = "UBOT",
    event_time: int | None = None,
) -> JsonDict:
    """An ``event_callback`` dict (Socket Mode ``events_api`` envelope payload)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def event_callback_body(
    event: JsonDict,
    event_id: str | None = None,
    team_id: str = "T1",
    *,
    bot_user_id: str = "UBOT",
    event_time: int | None = None,
) -> tuple[str, str]:
    """JSON event_callback body and its content type."""
    payload = event_callback_payload(
        event, event_id, team_id, bot_user_id=bot_user_id, event_time=event_time
    )
    return json.dumps(payload), "application/json"


def reaction_event(
    type_: str,
    user: str,
    reaction: str,
    channel: str,
    ts: str,
    item_user: str | None = None,
    *,
    event_ts: str | None = None,
) -> JsonDict:
    """A ``reaction_added`` / ``reaction_removed`` event (the inner ``event`` dict)."""
    event: JsonDict = {
        "type": type_,
        "user": user,
        "reaction": reaction,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "event_ts": event_ts or _event_ts(),
    }
    if item_user is not None:
        event["item_user"] = item_user
    return event


def _user_block(user_id: str, team_id: str, user_name: str | None) -> JsonDict:
    name = user_name if user_name is not None else user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def block_actions_payload(
    user_id: str,
    channel_id: str,
    message_ts: str,
    action_id: str,
    value: str,
    team_id: str = "T1",
    *,
    block_id: str = "actions",
    user_name: str | None = None,
    message_text: str = "",
    message_user: str = "UBOT",
    response_url: str = DEFAULT_RESPONSE_URL,
) -> JsonDict:
    """A button click (``block_actions``) payload dict (Socket Mode ``interactive``); in a
    DM with the bot (a ``D...`` channel) Slack names the channel ``directmessage``."""
    channel_name = "directmessage" if channel_id.startswith("D") else "general"
    return {
        "type": "block_actions",
        "user": _user_block(user_id, team_id, user_name),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": "fake-slack"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": {
            "type": "message",
            "user": message_user,
            "ts": message_ts,
            "text": message_text,
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": "Button", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": _event_ts(),
            }
        ],
    }


def option_picked_payload(
    user_id: str,
    channel_id: str,
    message_ts: str,
    action_id: str,
    value: str,
    element: str = "static_select",
    **kwargs: Any,
) -> JsonDict:
    """An option picked in a select (``static_select``) or ``overflow`` menu on a message:
    a ``block_actions`` payload whose action carries the option instead of a value."""
    payload = block_actions_payload(user_id, channel_id, message_ts, action_id, "", **kwargs)
    action = payload["actions"][0]
    picked = {"text": {"type": "plain_text", "text": "Option", "emoji": True}, "value": value}
    payload["actions"] = [
        {
            "type": element,
            "action_id": action["action_id"],
            "block_id": action["block_id"],
            "selected_option": picked,
            "action_ts": action["action_ts"],
        }
    ]
    return payload


def block_actions_body(
    user_id: str,
    channel_id: str,
    message_ts: str,
    action_id: str,
    value: str,
    team_id: str = "T1",
    **kwargs: Any,
) -> tuple[str, str]:
    """Form body ``payload=<json>`` for a button click, and its content type."""
    payload = block_actions_payload(
        user_id, channel_id, message_ts, action_id, value, team_id, **kwargs
    )
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def message_shortcut_payload(
    callback_id: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    message_text: str,
    message_user: str,
    team_id: str = "T1",
    *,
    user_name: str | None = None,
    thread_ts: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
) -> JsonDict:
    """A message shortcut (``message_action``) payload dict (Socket Mode ``interactive``)."""
    message: JsonDict = {
        "type": "message",
        "user": message_user,
        "ts": message_ts,
        "text": message_text,
    }
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    return {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": _event_ts(),
        "team": {"id": team_id, "domain": "fake-slack"},
        "user": _user_block(user_id, team_id, user_name),
        "channel": {"id": channel_id, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": _trigger_id(),
        "response_url": response_url,
        "message_ts": message_ts,
        "message": message,
    }


def message_shortcut_body(
    callback_id: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    message_text: str,
    message_user: str,
    team_id: str = "T1",
    **kwargs: Any,
) -> tuple[str, str]:
    """Form body ``payload=<json>`` for a message shortcut, and its content type."""
    payload = message_shortcut_payload(
        callback_id,
        user_id,
        channel_id,
        message_ts,
        message_text,
        message_user,
        team_id,
        **kwargs,
    )
    return urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"


def view_submission_payload(
    user_id: str,
    view: JsonDict,
    typed: Mapping[str, str | Sequence[str]],
    team_id: str = "T1",
    *,
    user_name: str | None = None,
) -> JsonDict:
    """A submitted modal (``view_submission``, Socket Mode ``interactive``): `view` as
    views.open answered it, `typed` what was entered in each input block, by block id (for
    checkboxes, the values of the ticked options). Like Slack, every input of the view has a
    state, empty ones a null value; an input not in `typed` keeps its `initial_value`."""
    values: JsonDict = {}
    for block in view.get("blocks") or ():
        if block.get("type") != "input":
            continue
        element = block["element"]
        entered = typed.get(block["block_id"], element.get("initial_value"))
        if element["type"] == "checkboxes":
            ticked = [o for o in element.get("options") or () if o["value"] in (entered or ())]
            state: JsonDict = {"type": "checkboxes", "selected_options": ticked}
        else:
            state = {"type": element["type"], "value": entered or None}
        values[block["block_id"]] = {element["action_id"]: state}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake-slack"},
        "user": _user_block(user_id, team_id, user_name),
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": _trigger_id(),
        "view": {**view, "state": {"values": values}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
