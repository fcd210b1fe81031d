"""A local fake of Discord (REST API + gateway websocket) for driving the real discord.py in tests.

``FakeDiscord`` runs an aiohttp server on 127.0.0.1 (random port) in a background thread with
its own event loop, records every REST call, answers the routes a bot uses, and speaks enough of
the gateway protocol (HELLO, heartbeat ACK, READY, GUILD_CREATE, RESUMED, dispatches) for
``discord.Client`` to log in, become ready and receive events. Module functions build event
payloads (slash commands, context menus, buttons, reactions, messages) for ``fake.dispatch``.

Typical use::

    with FakeDiscord() as fake, fake.point_discord_here():
        async def scenario() -> None:
            client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.1)
            async with running_client(client):
                await fake.dispatch_async("MESSAGE_REACTION_ADD", reaction_add(...))
        asyncio.run(scenario())
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import hashlib
import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yarl
from aiohttp import WSMsgType, web

JSON = dict[str, Any]
T = TypeVar("T")

__all__ = [
    "APPLICATION_ID",
    "BOT_PERMISSIONS",
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_GUILD_ID",
    "DEFAULT_USER_ID",
    "FakeDiscord",
    "MEMBER_PERMISSIONS",
    "RecordedCall",
    "component_interaction",
    "make_user",
    "member_payload",
    "message_command_interaction",
    "message_create",
    "message_payload",
    "reaction_add",
    "reaction_remove",
    "running_client",
    "slash_command_interaction",
    "snowflake",
    "text_channel",
]

APPLICATION_ID = 1200000000000000001
"""Default application id; also the bot user's id (as on Discord for bot applications)."""
DEFAULT_GUILD_ID = 1200000000000000100
DEFAULT_CHANNEL_ID = 1200000000000000200
DEFAULT_USER_ID = 1200000000000000300
BOT_PERMISSIONS = "274877992000"
"""View Channel, Send Messages (+ in threads), Embed Links, Read History, Add Reactions."""
MEMBER_PERMISSIONS = "2248473465835073"
"""A plausible non-admin member's permissions string, used in interaction ``member``."""

API_VERSION = 10
DISCORD_EPOCH_MS = 1420070400000
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
MESSAGE_CONTENT_LIMIT = 2000
NONCE_LIMIT = 25
CUSTOM_ID_LIMIT = 100
# Embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
EMBED_LIMITS = {"title": 256, "description": 4096, "name": 256, "value": 1024, "text": 2048}
EMBED_FIELDS_LIMIT = 25
EMBEDS_TOTAL_LIMIT = 6000


# --------------------------------------------------------------------------------------------
# ids and small payload helpers
# --------------------------------------------------------------------------------------------

_snowflake_lock = threading.Lock()
_last_snowflake = 0


def snowflake() -> int:
    """Return a fresh, strictly increasing snowflake whose timestamp is now."""
    global _last_snowflake
    with _snowflake_lock:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        value = max(value, _last_snowflake + 1)
        _last_snowflake = value
        return value


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _token() -> str:
    return "fake-interaction-token-" + uuid.uuid4().hex


def make_user(
    user_id: int, username: str | None = None, *, bot: bool = False, global_name: str | None = None
) -> JSON:
    """A user object as Discord sends it (new-style username, discriminator ``"0"``)."""
    name = username or f"user{user_id}"
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": global_name if global_name is not None else (None if bot else name),
        "avatar": None,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "public_flags": 0,
        "flags": 0,
        "bot": bot,
        "system": False,
    }


def _as_user(user: JSON | int) -> JSON:
    return make_user(user) if isinstance(user, int) else copy.deepcopy(user)


def member_payload(
    user: JSON | int,
    *,
    roles: Sequence[int] = (),
    nick: str | None = None,
    permissions: str | None = None,
    joined_at: str | None = None,
) -> JSON:
    """A guild member object (with ``user``); ``permissions`` is only set in interactions."""
    member: JSON = {
        "user": _as_user(user),
        "roles": [str(r) for r in roles],
        "nick": nick,
        "avatar": None,
        "banner": None,
        "joined_at": joined_at or "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        member["permissions"] = permissions
    return member


def text_channel(
    channel_id: int,
    guild_id: int,
    name: str = "general",
    *,
    position: int = 0,
    topic: str | None = None,
    parent_id: int | None = None,
    channel_type: int = 0,
) -> JSON:
    """A guild text channel object (type 0) valid for discord.py's ``TextChannel``."""
    return {
        "id": str(channel_id),
        "type": channel_type,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": topic,
        "parent_id": str(parent_id) if parent_id is not None else None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def message_payload(
    channel_id: int,
    content: str,
    author: JSON | int,
    *,
    message_id: int | None = None,
    guild_id: int | None = None,
    embeds: Sequence[JSON] | None = None,
    components: Sequence[JSON] | None = None,
    flags: int = 0,
    message_type: int = 0,
    timestamp: str | None = None,
) -> JSON:
    """A full message object. ``guild_id`` is added only when given (REST omits it)."""
    msg: JSON = {
        "id": str(message_id if message_id is not None else snowflake()),
        "type": message_type,
        "channel_id": str(channel_id),
        "author": _as_user(author),
        "content": content,
        "timestamp": timestamp or _now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": list(copy.deepcopy(embeds or [])),
        "components": list(copy.deepcopy(components or [])),
        "pinned": False,
        "flags": flags,
    }
    if guild_id is not None:
        msg["guild_id"] = str(guild_id)
    return msg


def message_create(
    channel_id: int,
    content: str,
    author: JSON | int,
    *,
    guild_id: int | None = None,
    message_id: int | None = None,
    embeds: Sequence[JSON] | None = None,
    components: Sequence[JSON] | None = None,
) -> JSON:
    """MESSAGE_CREATE ``d``: a message plus ``guild_id`` and a partial ``member`` in guilds."""
    msg = message_payload(
        channel_id,
        content,
        author,
        message_id=message_id,
        guild_id=guild_id,
        embeds=embeds,
        components=components,
    )
    if guild_id is not None:
        member = member_payload(msg["author"])
        del member["user"]
        msg["member"] = member
    return msg


# --------------------------------------------------------------------------------------------
# interaction and event builders
# --------------------------------------------------------------------------------------------


def _option_type(value: Any) -> tuple[int, Any]:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        return value[0], value[1]
    if isinstance(value, bool):
        return 5, value
    if isinstance(value, int):
        return 4, value
    if isinstance(value, float):
        return 10, value
    if isinstance(value, str):
        return 3, value
    raise TypeError(f"cannot infer option type of {value!r}; pass (type, value)")


def _typed_options(options: Mapping[str, Any] | None) -> list[JSON]:
    result: list[JSON] = []
    for name, raw in (options or {}).items():
        opt_type, value = _option_type(raw)
        if opt_type in (6, 7, 8, 9, 11):
            value = str(value)
        result.append({"name": name, "type": opt_type, "value": value})
    return result


def _interaction_base(
    interaction_type: int,
    guild_id: int | None,
    channel_id: int,
    user: JSON | int,
    *,
    application_id: int,
    permissions: str,
    app_permissions: str,
    locale: str,
    channel: JSON | None,
) -> JSON:
    user_obj = _as_user(user)
    payload: JSON = {
        "id": str(snowflake()),
        "application_id": str(application_id),
        "type": interaction_type,
        "token": _token(),
        "version": 1,
        "channel_id": str(channel_id),
        "app_permissions": app_permissions,
        "locale": locale,
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild"] = {"id": str(guild_id), "locale": "en-US", "features": []}
        payload["guild_locale"] = "en-US"
        payload["member"] = member_payload(user_obj, permissions=permissions)
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
        payload["context"] = 0
        chan = channel or {**text_channel(channel_id, guild_id), "permissions": app_permissions}
    else:
        payload["user"] = user_obj
        payload["authorizing_integration_owners"] = {"1": user_obj["id"]}
        payload["context"] = 1
        chan = channel or {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user_obj],
        }
    payload["channel"] = copy.deepcopy(chan)
    return payload


def slash_command_interaction(
    guild_id: int | None,
    channel_id: int,
    user: JSON | int,
    name: str,
    subcommand: str | None = None,
    options: Mapping[str, Any] | None = None,
    *,
    group: str | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    resolved: JSON | None = None,
    application_id: int = APPLICATION_ID,
    permissions: str = MEMBER_PERMISSIONS,
    app_permissions: str = BOT_PERMISSIONS,
    locale: str = "en-US",
    channel: JSON | None = None,
) -> JSON:
    """INTERACTION_CREATE ``d`` for ``/name [group] subcommand opt:value`` (type 2, data.type 1).

    Option types are inferred: str 3, int 4, bool 5, float 10; pass ``(type, value)`` for
    others (6 user, 7 channel, 8 role, 9 mentionable, 11 attachment; add ``resolved``).
    ``command_guild_id`` marks a guild-registered command (``data.guild_id``); leave it None for
    global commands, or discord.py's CommandTree looks in the wrong place. ``guild_id=None``
    builds a DM interaction (``user`` instead of ``member``).
    """
    opts = _typed_options(options)
    if subcommand is not None:
        opts = [{"name": subcommand, "type": 1, "options": opts}]
        if group is not None:
            opts = [{"name": group, "type": 2, "options": opts}]
    data: JSON = {
        "id": str(command_id if command_id is not None else snowflake()),
        "name": name,
        "type": 1,
        "options": opts,
    }
    if resolved is not None:
        data["resolved"] = copy.deepcopy(resolved)
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    payload = _interaction_base(
        2,
        guild_id,
        channel_id,
        user,
        application_id=application_id,
        permissions=permissions,
        app_permissions=app_permissions,
        locale=locale,
        channel=channel,
    )
    payload["data"] = data
    return payload


def message_command_interaction(
    guild_id: int | None,
    channel_id: int,
    user: JSON | int,
    name: str,
    target_message: JSON,
    *,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    application_id: int = APPLICATION_ID,
    permissions: str = MEMBER_PERMISSIONS,
    app_permissions: str = BOT_PERMISSIONS,
    locale: str = "en-US",
) -> JSON:
    """INTERACTION_CREATE ``d`` for a message context-menu command (type 2, data.type 3)."""
    target = copy.deepcopy(target_message)
    data: JSON = {
        "id": str(command_id if command_id is not None else snowflake()),
        "name": name,
        "type": 3,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: target}},
    }
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    payload = _interaction_base(
        2,
        guild_id,
        channel_id,
        user,
        application_id=application_id,
        permissions=permissions,
        app_permissions=app_permissions,
        locale=locale,
        channel=None,
    )
    payload["data"] = data
    return payload


def component_interaction(
    guild_id: int | None,
    channel_id: int,
    user: JSON | int,
    custom_id: str,
    message: JSON,
    *,
    component_type: int = 2,
    values: Sequence[str] | None = None,
    application_id: int = APPLICATION_ID,
    permissions: str = MEMBER_PERMISSIONS,
    app_permissions: str = BOT_PERMISSIONS,
    locale: str = "en-US",
) -> JSON:
    """INTERACTION_CREATE ``d`` for a click on a component of ``message`` (type 3).

    ``component_type`` 2 is a button; for selects (3, 5-8) pass ``values``.
    """
    data: JSON = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = list(values)
    payload = _interaction_base(
        3,
        guild_id,
        channel_id,
        user,
        application_id=application_id,
        permissions=permissions,
        app_permissions=app_permissions,
        locale=locale,
        channel=None,
    )
    payload["data"] = data
    payload["message"] = copy.deepcopy(message)
    return payload


def _emoji_obj(emoji_name: str, emoji_id: int | None, animated: bool = False) -> JSON:
    emoji: JSON = {"id": str(emoji_id) if emoji_id is not None else None, "name": emoji_name}
    if animated:
        emoji["animated"] = True
    return emoji


def reaction_add(
    user_id: int,
    channel_id: int,
    message_id: int,
    guild_id: int | None,
    emoji_name: str,
    emoji_id: int | None = None,
    member: JSON | None = None,
    *,
    with_member: bool = True,
    message_author_id: int | None = None,
) -> JSON:
    """MESSAGE_REACTION_ADD ``d``. In guilds a ``member`` is generated unless given or disabled."""
    payload: JSON = {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "emoji": _emoji_obj(emoji_name, emoji_id),
        "burst": False,
        "burst_colors": [],
        "type": 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        if member is not None:
            payload["member"] = copy.deepcopy(member)
        elif with_member:
            payload["member"] = member_payload(user_id)
    if message_author_id is not None:
        payload["message_author_id"] = str(message_author_id)
    return payload


def reaction_remove(
    user_id: int,
    channel_id: int,
    message_id: int,
    guild_id: int | None,
    emoji_name: str,
    emoji_id: int | None = None,
) -> JSON:
    """MESSAGE_REACTION_REMOVE ``d`` (Discord sends no member here)."""
    payload: JSON = {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "message_id": str(message_id),
        "emoji": _emoji_obj(emoji_name, emoji_id),
        "burst": False,
        "type": 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


# --------------------------------------------------------------------------------------------
# recording
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedCall:
    """One REST request received by the fake, with the answer it got."""

    method: str
    path: str  # without the /api/v10 prefix, percent-decoded, e.g. "/channels/1/messages"
    query: dict[str, str]
    json: Any  # parsed JSON body, or the parsed ``payload_json`` of a multipart body
    files: list[JSON]  # multipart file parts: {"field", "filename", "content_type", "size"}
    headers: dict[str, str]
    time: float  # time.time() at arrival
    status: int
    response: Any


@dataclass
class _Rule:
    kind: str  # "ratelimit" | "delay" | "fail"
    method: str
    pattern: re.Pattern[str]
    times: int | None
    retry_after: float = 0.0
    is_global: bool = False
    seconds: float = 0.0
    status: int = 0
    code: int = 0
    message: str = ""

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and self.pattern.fullmatch(path) is not None


class _Waiters:
    """Condition-based waiting for sync callers plus future-based waiting for async ones."""

    def __init__(self, lock: threading.RLock) -> None:
        self.cond = threading.Condition(lock)
        self._async: list[tuple[Callable[[], Any], asyncio.AbstractEventLoop, asyncio.Future[Any]]]
        self._async = []

    def notify(self) -> None:
        """Wake waiters; the caller holds the lock."""
        self.cond.notify_all()
        pending = []
        for pred, loop, fut in self._async:
            if fut.done():
                continue
            result = pred()
            if result:
                loop.call_soon_threadsafe(_resolve, fut, result)
            else:
                pending.append((pred, loop, fut))
        self._async = pending

    def wait(self, pred: Callable[[], T | None], timeout: float, describe: Callable[[], str]) -> T:
        with self.cond:
            result = self.cond.wait_for(pred, timeout)
            if not result:
                raise AssertionError(describe())
            return result

    async def wait_async(
        self, pred: Callable[[], T | None], timeout: float, describe: Callable[[], str]
    ) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self.cond:
            result = pred()
            if result:
                return result
            self._async.append((pred, loop, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            with self.cond:
                raise AssertionError(describe()) from None


def _resolve(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


@dataclass
class _Session:
    session_id: str
    seq: int = 0


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    path: str
    query: dict[str, str]
    session: _Session | None = None
    closed_with: int | None = None  # close code sent by the fake, if it closed the socket


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    channel_id: int | None
    guild_id: int | None
    message_id: int | None
    message: JSON | None
    dispatched_at: float = field(default_factory=time.monotonic)
    responded: bool = False
    response_type: int | None = None
    original: JSON | None = None
    messages: dict[int, JSON] = field(default_factory=dict)


class _HTTPError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "code": code}


def _not_found(what: str, code: int) -> _HTTPError:
    return _HTTPError(404, code, f"Unknown {what}")


def _invalid(reason: str) -> _HTTPError:
    return _HTTPError(400, 50035, f"Invalid Form Body: {reason}")


_Response = tuple[int, Any, dict[str, str]]
_Handler = Callable[[re.Match[str], "_Req"], Any]


@dataclass
class _Req:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    files: list[JSON]
    headers: dict[str, str]


# --------------------------------------------------------------------------------------------
# the fake
# --------------------------------------------------------------------------------------------


class FakeDiscord:
    """Fake Discord REST API + gateway on 127.0.0.1, run in a background thread.

    ``guilds``: list of dicts with ``add_guild`` keyword arguments (``guild_id`` or ``id``,
    ``name``, ``channels``, ``members``, ``owner_id``); None gives one default guild
    (``DEFAULT_GUILD_ID``) with a ``#general`` text channel (``DEFAULT_CHANNEL_ID``) and a
    member ``DEFAULT_USER_ID``. ``token``: if set, REST calls and IDENTIFY must use it
    (401 / close 4004 otherwise). ``reject_privileged_intents``: close with 4014 on an IDENTIFY
    asking for members, presences or message content. ``interaction_deadline``: an initial
    interaction response later than this many seconds after the dispatch gets 404 "Unknown
    interaction" (10062) as on Discord (None disables); follow-ups work for ``token_ttl`` s.
    ``nonce_window``: a message posted with ``enforce_nonce`` and the nonce of one the bot
    posted in the channel less than this many seconds ago returns that one instead (Discord
    says "a few minutes"); nonces are not kept beyond that, nor returned when reading.
    ``application_flags``: the application's ``flags`` (GET /applications/@me and READY), e.g.
    ``1 << 18`` when the Message Content intent is switched on; settable later too.
    """

    def __init__(
        self,
        *,
        guilds: Sequence[Mapping[str, Any]] | None = None,
        application_id: int = APPLICATION_ID,
        bot_name: str = "coopbot",
        token: str | None = None,
        heartbeat_interval_ms: int = 41250,
        reject_privileged_intents: bool = False,
        interaction_deadline: float | None = 3.0,
        token_ttl: float = 15 * 60,
        nonce_window: float = 120.0,
        application_flags: int = 0,
    ) -> None:
        self.application_id = application_id
        self.bot_user: JSON = {
            **make_user(application_id, bot_name, bot=True),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
        }
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.reject_privileged_intents = reject_privileged_intents
        self.interaction_deadline = interaction_deadline
        self.token_ttl = token_ttl
        self.nonce_window = nonce_window
        self.application_flags = application_flags

        self._lock = threading.RLock()
        self._waiters = _Waiters(self._lock)
        self._calls: list[RecordedCall] = []
        self._rules: list[_Rule] = []
        self._errors: list[str] = []

        self._guilds: dict[int, JSON] = {}
        self._channels: dict[int, JSON] = {}
        self._users: dict[int, JSON] = {application_id: copy.deepcopy(self.bot_user)}
        self._dms: dict[int, int] = {}  # recipient id -> DM channel id
        self._messages: dict[int, dict[int, JSON]] = {}
        self._reactors: dict[tuple[int, int], dict[str, set[int]]] = {}
        self._interactions: dict[str, _Interaction] = {}
        self._commands: dict[int | None, list[JSON]] = {}
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}  # -> (posted at, id)

        self._identifies: list[JSON] = []
        self._resumes: list[JSON] = []
        self._received: list[JSON] = []
        self._sent: list[JSON] = []
        self._connections: list[JSON] = []
        self._sessions: dict[str, _Session] = {}
        self._conn: _Conn | None = None
        self._conns: set[_Conn] = set()

        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._live: asyncio.Event | None = None
        self.port = 0
        self._route_table = self._build_routes()

        if guilds is None:
            self.add_guild(
                DEFAULT_GUILD_ID,
                "Coop Test Guild",
                channels=[{"id": DEFAULT_CHANNEL_ID, "name": "general"}],
                members=[make_user(DEFAULT_USER_ID, "alice")],
                owner_id=DEFAULT_USER_ID,
            )
        else:
            for spec in guilds:
                spec = dict(spec)
                gid = spec.pop("guild_id", None) or spec.pop("id")
                self.add_guild(int(gid), **spec)

    # ---------------------------------------------------------------- lifecycle

    @property
    def rest_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"http://127.0.0.1:{self.port}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> yarl.URL:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``."""
        return yarl.URL(f"ws://127.0.0.1:{self.port}/gateway")

    @property
    def resume_gateway_url(self) -> yarl.URL:
        """Sent as READY's ``resume_gateway_url``; discord.py reconnects here to RESUME."""
        return yarl.URL(f"ws://127.0.0.1:{self.port}/gateway/resume")

    def start(self) -> FakeDiscord:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        loop = asyncio.new_event_loop()
        self._loop = loop
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._startup(sock))
            except BaseException as exc:  # pragma: no cover - reported to start()
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"FakeDiscord:{self.port}", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise RuntimeError("FakeDiscord failed to start") from failure[0]
        return self

    def stop(self) -> None:
        """Close gateway sockets, stop the server and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def point_discord_here(self) -> Iterator[FakeDiscord]:
        """Point discord.py's ``Route.BASE`` and ``DEFAULT_GATEWAY`` here; restore on exit."""
        import discord.gateway
        import discord.http

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.rest_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self.gateway_url
        try:
            yield self
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    async def _startup(self, sock: socket.socket) -> None:
        self._live = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_get("/gateway/resume", self._gateway_handler)
        app.router.add_route("*", "/{tail:.*}", self._rest_handler)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def _shutdown(self) -> None:
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001), 2)
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coro: Any, timeout: float) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("FakeDiscord is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _run_async(self, coro: Any) -> Any:
        if self._loop is None:
            coro.close()
            raise RuntimeError("FakeDiscord is not started")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    # ---------------------------------------------------------------- configuration / state

    def add_guild(
        self,
        guild_id: int,
        name: str = "Test Guild",
        channels: Sequence[int | Mapping[str, Any]] | None = None,
        members: Sequence[int | Mapping[str, Any]] | None = None,
        owner_id: int | None = None,
    ) -> JSON:
        """Add a guild (sent in READY/GUILD_CREATE on the next IDENTIFY); returns its payload.

        ``channels``: ids or dicts merged over a text channel (``id``, ``name``, ``type``...);
        None gives one ``#general`` with a fresh id. ``members``: user ids, user dicts or member
        dicts (with ``user``); the bot is always a member. Roles: ``@everyone`` (id = guild id)
        and a managed bot role. Add it before the client connects (GUILD_CREATE is not sent
        live; dispatch one yourself with ``guild_create_payload``).
        """
        bot_role_id = snowflake()
        roles = [
            _role(guild_id, "@everyone", "1071698660929", position=0),
            {
                **_role(bot_role_id, self.bot_user["username"], BOT_PERMISSIONS, position=1),
                "managed": True,
                "tags": {"bot_id": str(self.application_id)},
            },
        ]
        chans: list[JSON] = []
        for pos, chan_spec in enumerate(
            channels if channels is not None else [{"name": "general"}]
        ):
            spec: dict[str, Any] = (
                {"id": chan_spec, "name": f"channel-{chan_spec}"}
                if isinstance(chan_spec, int)
                else dict(chan_spec)
            )
            base = text_channel(int(spec.get("id") or snowflake()), guild_id, position=pos)
            chan = {**base, **{k: v for k, v in spec.items() if k != "id"}}
            chans.append(chan)
        member_list = [member_payload(self.bot_user, roles=[bot_role_id])]
        for member_spec in members or []:
            if isinstance(member_spec, int):
                member = member_payload(member_spec)
            elif "user" in member_spec:
                given: JSON = copy.deepcopy(dict(member_spec))
                member = {**member_payload(given["user"]), **given}
            else:
                member = member_payload(dict(member_spec))
            member_list.append(member)
        if owner_id is None:
            owner_id = int(member_list[1]["user"]["id"]) if len(member_list) > 1 else None
        guild: JSON = {
            "id": str(guild_id),
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(owner_id or self.application_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": chans[0]["id"] if chans else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "features": [],
            "roles": roles,
            "emojis": [],
            "stickers": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
        }
        with self._lock:
            self._guilds[guild_id] = {"guild": guild, "channels": chans, "members": member_list}
            for chan in chans:
                self._channels[int(chan["id"])] = chan
            for member in member_list:
                self._users.setdefault(int(member["user"]["id"]), member["user"])
        return copy.deepcopy(guild)

    def guild_create_payload(self, guild_id: int) -> JSON:
        """The GUILD_CREATE ``d`` the fake sends for this guild after READY."""
        with self._lock:
            entry = self._guilds[guild_id]
            guild: JSON = copy.deepcopy(entry["guild"])
            guild.update(
                channels=copy.deepcopy(entry["channels"]),
                members=copy.deepcopy(entry["members"]),
                member_count=len(entry["members"]),
                large=False,
                unavailable=False,
                joined_at="2024-01-01T00:00:00+00:00",
                threads=[],
                presences=[],
                voice_states=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
            return guild

    def set_bot_permissions(self, guild_id: int, permissions: int | str) -> None:
        """Give the bot exactly these server-wide permissions: its managed role gets them and
        @everyone keeps only those among them. Set it before the client connects (roles are
        sent in GUILD_CREATE)."""
        value = int(permissions)
        with self._lock:
            for role in self._guilds[guild_id]["guild"]["roles"]:
                if role.get("managed") and role.get("tags", {}).get("bot_id"):
                    role["permissions"] = str(value)
                elif role["id"] == str(guild_id):
                    role["permissions"] = str(int(role["permissions"]) & value)

    def add_user(self, user: JSON | int) -> JSON:
        """Register a user (for GET /users/{id} and DM creation); returns the user object."""
        obj = _as_user(user)
        with self._lock:
            self._users[int(obj["id"])] = obj
        return copy.deepcopy(obj)

    def add_message(
        self,
        channel_id: int,
        content: str,
        author_id: int,
        message_id: int | None = None,
        *,
        embeds: Sequence[JSON] | None = None,
        components: Sequence[JSON] | None = None,
    ) -> int:
        """Seed a message (e.g. one sent before the bot restarted); returns its id."""
        with self._lock:
            author = self._users.get(author_id) or make_user(author_id)
            msg = message_payload(
                channel_id,
                content,
                author,
                message_id=message_id,
                embeds=embeds,
                components=components,
            )
            self._store_message(channel_id, msg)
            return int(msg["id"])

    def get_message(self, channel_id: int, message_id: int) -> JSON | None:
        """A copy of a stored message (with reactions), or None."""
        with self._lock:
            msg = self._messages.get(channel_id, {}).get(message_id)
            return self._render(msg) if msg is not None else None

    def messages(self, channel_id: int) -> list[JSON]:
        """Copies of the stored messages of a channel, oldest first."""
        with self._lock:
            stored = self._messages.get(channel_id, {})
            return [self._render(stored[mid]) for mid in sorted(stored)]

    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """Application commands last bulk-overwritten (global, or for ``guild_id``)."""
        with self._lock:
            return copy.deepcopy(self._commands.get(guild_id, []))

    def original_response(self, token: str) -> JSON | None:
        """The ``@original`` message of an interaction dispatched through this fake."""
        with self._lock:
            rec = self._interactions.get(token)
            if rec is None or rec.original is None:
                return None
            return self._render(rec.original)

    def followups(self, token: str) -> list[JSON]:
        """Follow-up messages of an interaction (not counting the original response)."""
        with self._lock:
            rec = self._interactions.get(token)
            if rec is None:
                return []
            original_id = rec.original["id"] if rec.original else None
            return [self._render(m) for m in rec.messages.values() if m["id"] != original_id]

    def dm_channel_id(self, user_id: int) -> int | None:
        """The DM channel created for ``user_id`` via POST /users/@me/channels, if any."""
        with self._lock:
            return self._dms.get(user_id)

    # ---------------------------------------------------------------- REST recording API

    @property
    def calls(self) -> list[RecordedCall]:
        """Every REST call so far (a copy), in arrival order of their answers."""
        with self._lock:
            return list(self._calls)

    @property
    def errors(self) -> list[str]:
        """Exceptions raised inside the fake's handlers (answered as 400)."""
        with self._lock:
            return list(self._errors)

    def calls_to(
        self, method: str, path_regex: str, *, status: int | None = None
    ) -> list[RecordedCall]:
        """Calls whose method matches (``"*"`` = any) and whose path ``re.fullmatch``-es."""
        with self._lock:
            return self._match(method, path_regex, status)

    def _match(self, method: str, path_regex: str, status: int | None) -> list[RecordedCall]:
        pattern = re.compile(path_regex)
        method = method.upper()
        return [
            c
            for c in self._calls
            if method in ("*", c.method)
            and pattern.fullmatch(c.path)
            and (status is None or c.status == status)
        ]

    def _describe_calls(self, what: str) -> str:
        lines = [f"{c.method} {c.path} -> {c.status}" for c in self._calls]
        listing = "\n  ".join(lines) or "(none)"
        return f"timed out waiting for {what}; calls so far:\n  {listing}"

    def wait_for(
        self,
        method: str,
        path_regex: str,
        count: int = 1,
        timeout: float = 5.0,
        *,
        status: int | None = None,
    ) -> list[RecordedCall]:
        """Block until ``count`` matching calls were answered; returns all matches.

        Do not call this from the event loop the discord.py client runs on (it would block
        the client): use ``await_for`` there.
        """
        return self._waiters.wait(
            self._call_pred(method, path_regex, count, status),
            timeout,
            lambda: self._describe_calls(f"{count} x {method} {path_regex}"),
        )

    async def await_for(
        self,
        method: str,
        path_regex: str,
        count: int = 1,
        timeout: float = 5.0,
        *,
        status: int | None = None,
    ) -> list[RecordedCall]:
        """Async ``wait_for``: waits without blocking the caller's event loop."""
        return await self._waiters.wait_async(
            self._call_pred(method, path_regex, count, status),
            timeout,
            lambda: self._describe_calls(f"{count} x {method} {path_regex}"),
        )

    def _call_pred(
        self, method: str, path_regex: str, count: int, status: int | None
    ) -> Callable[[], list[RecordedCall] | None]:
        def pred() -> list[RecordedCall] | None:
            found = self._match(method, path_regex, status)
            return found if len(found) >= count else None

        return pred

    # ---------------------------------------------------------------- fault injection

    def rate_limit_next(
        self,
        method: str,
        path_regex: str,
        retry_after: float = 0.5,
        is_global: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching calls with a 429 discord.py will honour."""
        self._add_rule(
            _Rule(
                "ratelimit", method.upper(), re.compile(path_regex), times, retry_after, is_global
            )
        )

    def delay(self, method: str, path_regex: str, seconds: float, times: int | None = None) -> None:
        """Hold matching calls ``seconds`` before answering (``times=None``: every call)."""
        self._add_rule(
            _Rule("delay", method.upper(), re.compile(path_regex), times, seconds=seconds)
        )

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        code: int = 0,
        message: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next matching calls with an error. discord.py retries 500/502/504 itself
        (sleeping 1, 3, 5... s), so prefer 403/404/400 unless testing that."""
        self._add_rule(
            _Rule(
                "fail",
                method.upper(),
                re.compile(path_regex),
                times,
                status=status,
                code=code,
                message=message or f"{status}: fake failure",
            )
        )

    def _add_rule(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take_rule(self, kind: str, method: str, path: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.kind == kind and rule.matches(method, path):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    # ---------------------------------------------------------------- gateway API

    @property
    def identifies(self) -> list[JSON]:
        """``d`` of every IDENTIFY received (token, intents, properties...)."""
        with self._lock:
            return copy.deepcopy(self._identifies)

    @property
    def resumes(self) -> list[JSON]:
        """``d`` of every RESUME received (token, session_id, seq)."""
        with self._lock:
            return copy.deepcopy(self._resumes)

    @property
    def gateway_received(self) -> list[JSON]:
        """Every frame received from clients (heartbeats included)."""
        with self._lock:
            return copy.deepcopy(self._received)

    @property
    def gateway_sent(self) -> list[JSON]:
        """Every frame the fake sent to clients."""
        with self._lock:
            return copy.deepcopy(self._sent)

    @property
    def gateway_connections(self) -> list[JSON]:
        """One entry per websocket connection: ``{path, query, time, close_code, closed_by}``
        (``closed_by``: "fake" or "client"; None while open)."""
        with self._lock:
            return copy.deepcopy(self._connections)

    @property
    def session_id(self) -> str | None:
        """Session id of the current gateway connection, if identified or resumed."""
        with self._lock:
            conn = self._conn
            return conn.session.session_id if conn and conn.session else None

    @property
    def last_seq(self) -> int:
        """Last sequence number sent on the current session (0 if none)."""
        with self._lock:
            conn = self._conn
            return conn.session.seq if conn and conn.session else 0

    def wait_for_identify(self, timeout: float = 5.0, count: int = 1) -> JSON:
        """Block until the ``count``-th IDENTIFY; returns its ``d``."""
        return self._waiters.wait(
            self._list_pred(self._identifies, count), timeout, lambda: "no IDENTIFY received"
        )

    async def wait_for_identify_async(self, timeout: float = 5.0, count: int = 1) -> JSON:
        return await self._waiters.wait_async(
            self._list_pred(self._identifies, count), timeout, lambda: "no IDENTIFY received"
        )

    def wait_for_resume(self, timeout: float = 5.0, count: int = 1) -> JSON:
        """Block until the ``count``-th RESUME; returns its ``d``."""
        return self._waiters.wait(
            self._list_pred(self._resumes, count), timeout, lambda: "no RESUME received"
        )

    async def wait_for_resume_async(self, timeout: float = 5.0, count: int = 1) -> JSON:
        return await self._waiters.wait_async(
            self._list_pred(self._resumes, count), timeout, lambda: "no RESUME received"
        )

    @staticmethod
    def _list_pred(items: list[JSON], count: int) -> Callable[[], JSON | None]:
        return lambda: copy.deepcopy(items[count - 1]) if len(items) >= count else None

    def dispatch(self, event: str, data: JSON, timeout: float = 5.0) -> int:
        """Send ``{op: 0, t: event, s: next, d: data}`` to the connected client; returns ``s``.

        Waits up to ``timeout`` for a live session (READY or RESUMED sent). INTERACTION_CREATE
        registers the interaction so its callback/follow-ups are accepted; MESSAGE_CREATE and
        reaction events update the message store. Blocks the calling thread: from async code
        use ``dispatch_async``.
        """
        return int(self._run(self._dispatch(event, data, timeout), timeout + 5))

    async def dispatch_async(self, event: str, data: JSON, timeout: float = 5.0) -> int:
        return int(await self._run_async(self._dispatch(event, data, timeout)))

    def close_gateway(self, code: int = 4000) -> None:
        """Close the current gateway socket with ``code`` (4000: discord.py resumes)."""
        self._run(self._close_gateway(code), 15)

    async def close_gateway_async(self, code: int = 4000) -> None:
        await self._run_async(self._close_gateway(code))

    def send_gateway_op(self, op: int, d: Any = None) -> None:
        """Send a raw non-dispatch frame, e.g. op 7 (RECONNECT) or op 9 (INVALID_SESSION)."""
        self._run(self._send_op(op, d), 10)

    async def send_gateway_op_async(self, op: int, d: Any = None) -> None:
        await self._run_async(self._send_op(op, d))

    # ---------------------------------------------------------------- gateway internals

    async def _send(self, conn: _Conn, payload: JSON) -> None:
        with self._lock:
            self._sent.append(copy.deepcopy(payload))
        await conn.ws.send_str(json.dumps(payload))

    async def _send_dispatch(self, conn: _Conn, event: str, data: Any) -> int:
        assert conn.session is not None
        with self._lock:
            conn.session.seq += 1
            seq = conn.session.seq
        await self._send(conn, {"op": 0, "t": event, "s": seq, "d": data})
        return seq

    async def _wait_live(self, timeout: float, what: str) -> _Conn:
        assert self._live is not None
        try:
            await asyncio.wait_for(self._live.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no live gateway session to {what}") from None
        assert self._conn is not None
        return self._conn

    async def _dispatch(self, event: str, data: JSON, timeout: float) -> int:
        conn = await self._wait_live(timeout, f"dispatch {event}")
        data = copy.deepcopy(data)
        with self._lock:
            self._observe_dispatch(event, data)
        return await self._send_dispatch(conn, event, data)

    async def _close_gateway(self, code: int) -> None:
        conn = await self._wait_live(5.0, "close")
        assert self._live is not None
        self._live.clear()
        with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.closed_with = code
        await conn.ws.close(code=code)

    async def _send_op(self, op: int, d: Any) -> None:
        conn = await self._wait_live(5.0, f"send op {op}")
        if op in (7, 9):
            assert self._live is not None
            self._live.clear()
        await self._send(conn, {"op": op, "d": d, "s": None, "t": None})

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=0)
        await ws.prepare(request)
        conn = _Conn(ws, request.path, dict(request.query))
        record: JSON = {
            "path": request.path,
            "query": dict(request.query),
            "time": time.time(),
            "close_code": None,
            "closed_by": None,
        }
        with self._lock:
            self._connections.append(record)
            self._conns.add(conn)
            self._waiters.notify()
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            await self._send(conn, {"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.BINARY:
                    conn.closed_with = 4002
                    await ws.close(code=4002, message=b"fake gateway expects JSON text frames")
        except ConnectionResetError:
            pass
        except Exception as exc:  # a bug in the fake: keep it visible to the test
            with self._lock:
                self._errors.append(f"gateway: {exc!r}")
        finally:
            with self._lock:
                fake_closed = conn.closed_with is not None
                record["close_code"] = conn.closed_with if fake_closed else ws.close_code
                record["closed_by"] = "fake" if fake_closed else "client"
                self._conns.discard(conn)
                if self._conn is conn:
                    self._conn = None
                    if self._live is not None:
                        self._live.clear()
                self._waiters.notify()
        return ws

    async def _on_frame(self, conn: _Conn, frame: JSON) -> None:
        with self._lock:
            self._received.append(copy.deepcopy(frame))
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._on_identify(conn, d or {})
        elif op == 6:
            await self._on_resume(conn, d or {})
        elif op == 8:
            await self._on_request_members(conn, d or {})
        # op 3 (presence), 4 (voice) and others are only recorded

    async def _on_identify(self, conn: _Conn, d: JSON) -> None:
        with self._lock:
            self._identifies.append(copy.deepcopy(d))
            self._waiters.notify()
        if self.token is not None and d.get("token") != self.token:
            conn.closed_with = 4004
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if self.reject_privileged_intents and int(d.get("intents") or 0) & PRIVILEGED_INTENTS:
            conn.closed_with = 4014
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        session = _Session(uuid.uuid4().hex)
        with self._lock:
            self._sessions[session.session_id] = session
            conn.session = session
            guild_ids = list(self._guilds)
        ready = {
            "v": API_VERSION,
            "user": copy.deepcopy(self.bot_user),
            "guilds": [{"id": str(gid), "unavailable": True} for gid in guild_ids],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": str(self.resume_gateway_url),
            "shard": d.get("shard") or [0, 1],
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "_trace": ["fake-gateway"],
        }
        await self._send_dispatch(conn, "READY", ready)
        for gid in guild_ids:
            await self._send_dispatch(conn, "GUILD_CREATE", self.guild_create_payload(gid))
        self._make_live(conn)

    async def _on_resume(self, conn: _Conn, d: JSON) -> None:
        with self._lock:
            self._resumes.append(copy.deepcopy(d))
            self._waiters.notify()
            session = self._sessions.get(str(d.get("session_id")))
        if session is None or (self.token is not None and d.get("token") != self.token):
            await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        conn.session = session
        await self._send_dispatch(conn, "RESUMED", {"_trace": ["fake-gateway"]})
        self._make_live(conn)

    def _make_live(self, conn: _Conn) -> None:
        with self._lock:
            self._conn = conn
            self._waiters.notify()
        assert self._live is not None
        self._live.set()

    async def _on_request_members(self, conn: _Conn, d: JSON) -> None:
        gid = int(d.get("guild_id") or 0)
        with self._lock:
            members = copy.deepcopy(self._guilds.get(gid, {}).get("members", []))
        if conn.session is None:
            return
        chunk = {
            "guild_id": str(gid),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if "nonce" in d:
            chunk["nonce"] = d["nonce"]
        await self._send_dispatch(conn, "GUILD_MEMBERS_CHUNK", chunk)

    def _observe_dispatch(self, event: str, data: JSON) -> None:
        """Keep the fake's stores in step with events the test dispatches (lock held)."""
        if event == "INTERACTION_CREATE":
            if data["token"] in self._interactions:
                return  # delivered again: still one interaction, acknowledged at most once
            message = data.get("message")
            rec = _Interaction(
                id=int(data["id"]),
                token=data["token"],
                type=int(data["type"]),
                channel_id=_opt_int(data.get("channel_id")),
                guild_id=_opt_int(data.get("guild_id")),
                message_id=int(message["id"]) if message else None,
                message=copy.deepcopy(message) if message else None,
            )
            self._interactions[rec.token] = rec
        elif event == "MESSAGE_CREATE":
            stored = {k: v for k, v in copy.deepcopy(data).items() if k not in ("member",)}
            self._store_message(int(data["channel_id"]), stored)
        elif event in ("MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE"):
            key = (int(data["channel_id"]), int(data["message_id"]))
            users = self._reactors.setdefault(key, {}).setdefault(_emoji_key(data["emoji"]), set())
            if event.endswith("ADD"):
                users.add(int(data["user_id"]))
            else:
                users.discard(int(data["user_id"]))

    # ---------------------------------------------------------------- REST internals

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        prefix = f"/api/v{API_VERSION}"
        path = request.path[len(prefix) :] if request.path.startswith(prefix) else request.path
        path = path or "/"
        req = _Req(
            method=request.method.upper(),
            path=path,
            query=dict(request.query),
            body=None,
            files=[],
            headers=dict(request.headers),
        )
        headers: dict[str, str]
        try:
            req.body, req.files = await _read_body(request)
        except ValueError as exc:
            status, payload, headers = (
                400,
                {"message": f"400: Bad Request ({exc})", "code": 50109},
                {},
            )
        else:
            delay_rule = self._take_rule("delay", req.method, path)
            if delay_rule is not None:
                await asyncio.sleep(delay_rule.seconds)
            status, payload, headers = self._respond(req, request.path.startswith(prefix))
        call = RecordedCall(
            method=req.method,
            path=path,
            query=req.query,
            json=req.body,
            files=req.files,
            headers=req.headers,
            time=arrived,
            status=status,
            response=copy.deepcopy(payload),
        )
        with self._lock:
            self._calls.append(call)
            self._waiters.notify()
        if status == 204 or payload is None:
            return web.Response(status=status, headers=headers)
        body = json.dumps(payload).encode()
        # discord.py only parses JSON when Content-Type is exactly "application/json".
        return web.Response(
            status=status, body=body, headers={"Content-Type": "application/json", **headers}
        )

    def _respond(self, req: _Req, under_api: bool) -> _Response:
        limited = self._take_rule("ratelimit", req.method, req.path)
        if limited is not None:
            return _rate_limited(limited, req)
        failing = self._take_rule("fail", req.method, req.path)
        if failing is not None:
            return failing.status, {"message": failing.message, "code": failing.code}, {}
        needs_auth = not req.path.startswith(("/interactions/", "/webhooks/"))
        if (
            self.token is not None
            and needs_auth
            and req.headers.get("Authorization") != f"Bot {self.token}"
        ):
            return 401, {"message": "401: Unauthorized", "code": 0}, {}
        if under_api:
            for method, pattern, handler in self._route_table:
                if method != req.method:
                    continue
                match = pattern.fullmatch(req.path)
                if match is None:
                    continue
                try:
                    with self._lock:
                        result = handler(match, req)
                except _HTTPError as exc:
                    return exc.status, exc.body, {}
                except Exception as exc:  # a bug in the fake: fail fast instead of 500 retries
                    with self._lock:
                        self._errors.append(f"{req.method} {req.path}: {exc!r}")
                    return 400, {"message": f"fake handler error: {exc!r}", "code": 50035}, {}
                room = _room_left(method, pattern)
                if result is None:
                    return 204, None, room
                if isinstance(result, tuple):
                    return result[0], result[1], room
                return 200, result, room
        return 404, {"message": "404: Not Found", "code": 0}, {}

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        c, m, tok = r"(?P<cid>\d+)", r"(?P<mid>\d+)", r"(?P<token>[^/]+)"
        app = r"(?P<app>\d+)"
        wh = rf"/webhooks/{app}/{tok}"
        table: list[tuple[str, str, _Handler]] = [
            ("GET", r"/users/@me", lambda _m, _r: copy.deepcopy(self.bot_user)),
            ("GET", r"/users/@me/guilds", self._my_guilds),
            ("GET", r"/users/(?P<uid>\d+)", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", r"/oauth2/applications/@me", self._app_info),
            ("GET", r"/applications/@me", self._app_info),
            ("GET", r"/gateway", lambda _m, _r: {"url": str(self.gateway_url)}),
            ("GET", r"/gateway/bot", self._gateway_bot),
            ("GET", rf"/channels/{c}", self._get_channel),
            ("POST", rf"/channels/{c}/typing", lambda mm, _r: self._channel(mm) and None),
            ("GET", rf"/channels/{c}/messages", self._history),
            ("POST", rf"/channels/{c}/messages", self._post_message),
            ("GET", rf"/channels/{c}/messages/{m}", self._get_message),
            ("PATCH", rf"/channels/{c}/messages/{m}", self._edit_message),
            ("DELETE", rf"/channels/{c}/messages/{m}", self._delete_message),
            ("PUT", rf"/channels/{c}/messages/{m}/reactions/(?P<emoji>[^/]+)/@me", self._react),
            (
                "DELETE",
                rf"/channels/{c}/messages/{m}/reactions/(?P<emoji>[^/]+)/@me",
                self._unreact,
            ),
            ("GET", r"/guilds/(?P<gid>\d+)", self._get_guild),
            ("GET", r"/guilds/(?P<gid>\d+)/channels", self._guild_channels),
            ("GET", r"/guilds/(?P<gid>\d+)/members/(?P<uid>\d+)", self._get_member),
            ("POST", rf"/interactions/(?P<iid>\d+)/{tok}/callback", self._callback),
            ("GET", wh, self._get_webhook),
            ("PATCH", wh, self._patch_webhook),
            ("DELETE", wh, lambda mm, r: self._webhook_interaction(mm) and None),
            ("POST", wh, self._followup),
            ("GET", rf"{wh}/messages/(?P<wmid>@original|\d+)", self._get_webhook_message),
            ("PATCH", rf"{wh}/messages/(?P<wmid>@original|\d+)", self._edit_webhook_message),
            ("DELETE", rf"{wh}/messages/(?P<wmid>@original|\d+)", self._del_webhook_message),
            ("GET", rf"/applications/{app}/commands", self._get_commands),
            ("PUT", rf"/applications/{app}/commands", self._put_commands),
            ("POST", rf"/applications/{app}/commands", self._post_command),
            ("GET", rf"/applications/{app}/guilds/(?P<gid>\d+)/commands", self._get_commands),
            ("PUT", rf"/applications/{app}/guilds/(?P<gid>\d+)/commands", self._put_commands),
            ("POST", rf"/applications/{app}/guilds/(?P<gid>\d+)/commands", self._post_command),
        ]
        return [(meth, re.compile(pat), h) for meth, pat, h in table]

    # -- users, app, gateway

    def _get_user(self, match: re.Match[str], _req: _Req) -> JSON:
        user = self._users.get(int(match["uid"]))
        if user is None:
            raise _not_found("User", 10013)
        return copy.deepcopy(user)

    def _create_dm(self, _match: re.Match[str], req: _Req) -> JSON:
        recipient = int((req.body or {}).get("recipient_id") or 0)
        if not recipient:
            raise _invalid("recipient_id is required")
        user = self._users.setdefault(recipient, make_user(recipient))
        cid = self._dms.get(recipient)
        if cid is None:
            cid = snowflake()
            self._dms[recipient] = cid
            self._channels[cid] = {
                "id": str(cid),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [copy.deepcopy(user)],
            }
        return copy.deepcopy(self._channels[cid])

    def _app_info(self, _match: re.Match[str], _req: _Req) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "description": "coopbot test application",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": make_user(DEFAULT_USER_ID, "owner"),
            "team": None,
            "verify_key": hashlib.sha256(str(self.application_id).encode()).hexdigest(),
            "flags": self.application_flags,
            "summary": "",
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "bot": copy.deepcopy(self.bot_user),
            "approximate_guild_count": len(self._guilds),
        }

    def _gateway_bot(self, _match: re.Match[str], _req: _Req) -> JSON:
        return {
            "url": str(self.gateway_url),
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14400000,
                "max_concurrency": 1,
            },
        }

    # -- channels and messages

    def _channel(self, match: re.Match[str]) -> JSON:
        chan = self._channels.get(int(match["cid"]))
        if chan is None:
            raise _not_found("Channel", 10003)
        return chan

    def _get_channel(self, match: re.Match[str], _req: _Req) -> JSON:
        return copy.deepcopy(self._channel(match))

    def _stored(self, match: re.Match[str]) -> JSON:
        cid, mid = int(match["cid"]), int(match["mid"])
        msg = self._messages.get(cid, {}).get(mid)
        if msg is None:
            if cid not in self._channels and cid not in self._messages:
                raise _not_found("Channel", 10003)
            raise _not_found("Message", 10008)
        return msg

    def _history(self, match: re.Match[str], req: _Req) -> list[JSON]:
        cid = int(match["cid"])
        if cid not in self._channels and cid not in self._messages:
            raise _not_found("Channel", 10003)
        ids = sorted(self._messages.get(cid, {}), reverse=True)
        limit = max(1, min(100, int(req.query.get("limit", 50))))
        if "before" in req.query:
            ids = [i for i in ids if i < int(req.query["before"])]
        if "after" in req.query:
            ids = sorted(i for i in ids if i > int(req.query["after"]))[:limit]
            ids.reverse()
        if "around" in req.query:
            around = int(req.query["around"])
            ids = sorted(ids, key=lambda i: abs(i - around))[:limit]
            ids.sort(reverse=True)
        return [self._render(self._messages[cid][i]) for i in ids[:limit]]

    def _post_message(self, match: re.Match[str], req: _Req) -> JSON:
        chan = self._channel(match)
        cid = int(chan["id"])
        body = req.body or {}
        _validate_message(body, req.files, creating=True)
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            posted_at, old_id = self._nonces.get((cid, str(nonce)), (float("-inf"), 0))
            old = self._messages.get(cid, {}).get(old_id)
            if old is not None and time.monotonic() - posted_at < self.nonce_window:
                return {**self._render(old), "nonce": nonce}
        msg = self._new_message(cid, body, req.files, flags=int(body.get("flags") or 0) & ~64)
        if nonce is not None:
            self._nonces[(cid, str(nonce))] = (time.monotonic(), int(msg["id"]))
        ref = body.get("message_reference")
        if ref:
            msg["message_reference"] = {"type": 0, "channel_id": str(cid), **ref}
            target = self._messages.get(cid, {}).get(int(ref.get("message_id") or 0))
            if target is not None:
                msg["referenced_message"] = self._render(target)
            msg["type"] = 19
        self._store_message(cid, msg)
        chan["last_message_id"] = msg["id"]
        return {**self._render(msg), **({"nonce": nonce} if nonce is not None else {})}

    def _get_message(self, match: re.Match[str], _req: _Req) -> JSON:
        return self._render(self._stored(match))

    def _edit_message(self, match: re.Match[str], req: _Req) -> JSON:
        msg = self._stored(match)
        if msg["author"]["id"] != self.bot_user["id"]:
            raise _HTTPError(403, 50005, "Cannot edit a message authored by another user")
        body = req.body or {}
        _validate_message(body, req.files, creating=False)
        _apply_edit(msg, body, req.files)
        return self._render(msg)

    def _delete_message(self, match: re.Match[str], _req: _Req) -> None:
        msg = self._stored(match)
        del self._messages[int(msg["channel_id"])][int(msg["id"])]

    def _react(self, match: re.Match[str], _req: _Req) -> None:
        msg = self._stored(match)
        key = (int(msg["channel_id"]), int(msg["id"]))
        emoji = _emoji_key(_parse_emoji(match["emoji"]))
        self._reactors.setdefault(key, {}).setdefault(emoji, set()).add(self.application_id)

    def _unreact(self, match: re.Match[str], _req: _Req) -> None:
        msg = self._stored(match)
        key = (int(msg["channel_id"]), int(msg["id"]))
        emoji = _emoji_key(_parse_emoji(match["emoji"]))
        self._reactors.get(key, {}).get(emoji, set()).discard(self.application_id)

    # -- guilds

    def _guild(self, match: re.Match[str]) -> JSON:
        entry = self._guilds.get(int(match["gid"]))
        if entry is None:
            raise _not_found("Guild", 10004)
        return entry

    def _my_guilds(self, _match: re.Match[str], req: _Req) -> list[JSON]:
        """The bot's guilds in id order, paged by ``after`` / ``before`` and ``limit`` (200),
        each with the bot's server-wide ``permissions``, as Discord lists them."""
        after, before = int(req.query.get("after") or 0), int(req.query.get("before") or 0)
        limit = int(req.query.get("limit") or 200)
        if not 1 <= limit <= 200:
            raise _invalid("limit: must be 1 to 200")
        ids = [g for g in sorted(self._guilds) if g > after and (not before or g < before)]
        return [self._partial_guild(g) for g in ids[:limit]]

    def _partial_guild(self, guild_id: int) -> JSON:
        guild = self._guilds[guild_id]["guild"]
        return {
            "id": guild["id"],
            "name": guild["name"],
            "icon": None,
            "banner": None,
            "owner": guild["owner_id"] == str(self.application_id),
            "permissions": str(self._bot_permissions(guild_id)),
            "features": list(guild["features"]),
        }

    def _bot_permissions(self, guild_id: int) -> int:
        """@everyone's permissions and those of each of the bot's roles, together."""
        entry = self._guilds[guild_id]
        bot = next(m for m in entry["members"] if m["user"]["id"] == str(self.application_id))
        mine = {str(guild_id), *bot["roles"]}
        value = 0
        for role in entry["guild"]["roles"]:
            if role["id"] in mine:
                value |= int(role["permissions"])
        return value

    def _get_guild(self, match: re.Match[str], _req: _Req) -> JSON:
        entry = self._guild(match)
        return {**copy.deepcopy(entry["guild"]), "approximate_member_count": len(entry["members"])}

    def _guild_channels(self, match: re.Match[str], _req: _Req) -> list[JSON]:
        return copy.deepcopy(self._guild(match)["channels"])

    def _get_member(self, match: re.Match[str], _req: _Req) -> JSON:
        for member in self._guild(match)["members"]:
            if member["user"]["id"] == match["uid"]:
                return copy.deepcopy(member)
        raise _not_found("Member", 10007)

    # -- interactions and webhooks

    def _callback(self, match: re.Match[str], req: _Req) -> tuple[int, Any] | None:
        rec = self._interactions.get(match["token"])
        if rec is None or rec.id != int(match["iid"]):
            raise _not_found("interaction", 10062)
        if rec.responded:
            raise _HTTPError(400, 40060, "Interaction has already been acknowledged.")
        late = time.monotonic() - rec.dispatched_at
        if self.interaction_deadline is not None and late > self.interaction_deadline:
            raise _not_found("interaction", 10062)
        body = req.body or {}
        kind = body.get("type")
        data = body.get("data") or {}
        allowed = {1, 4, 5, 9, 10, 12}
        if rec.type in (3, 5):
            allowed |= {6, 7}
        if rec.type == 4:
            allowed = {8}
        if kind not in allowed:
            raise _invalid(f"callback type {kind!r} is not valid for interaction type {rec.type}")
        if kind in (4, 7):
            _validate_message(data, req.files, creating=kind == 4)
        rec.responded = True
        rec.response_type = kind
        message: JSON | None = None
        ephemeral = bool(int(data.get("flags") or 0) & 64)
        if kind in (4, 5):
            flags = (int(data.get("flags") or 0) & 64) | (128 if kind == 5 else 0)
            message = self._interaction_message(rec, data if kind == 4 else {}, req.files, flags)
            rec.original = message
        elif kind in (6, 7) and rec.message_id is not None:
            message = self._component_message(rec)
            if kind == 7:
                _apply_edit(message, data, req.files)
            rec.original = message
            ephemeral = bool(int(message.get("flags") or 0) & 64)
        if req.query.get("with_response") not in ("1", "true", "True"):
            return None
        interaction: JSON = {
            "id": str(rec.id),
            "type": rec.type,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": ephemeral,
        }
        response: JSON = {"interaction": interaction}
        if message is not None:
            interaction["response_message_id"] = message["id"]
            response["resource"] = {"type": kind, "message": self._render(message)}
        else:
            response["resource"] = {"type": kind}
        return 200, response

    def _interaction_message(
        self, rec: _Interaction, data: JSON, files: list[JSON], flags: int
    ) -> JSON:
        cid = rec.channel_id or 0
        msg = self._new_message(cid, data, files, flags=flags)
        msg["type"] = 20 if rec.type == 2 else 0
        msg["webhook_id"] = str(self.application_id)
        msg["application_id"] = str(self.application_id)
        rec.messages[int(msg["id"])] = msg
        if not flags & 64:
            self._store_message(cid, msg)
        return msg

    def _component_message(self, rec: _Interaction) -> JSON:
        assert rec.message_id is not None and rec.message is not None
        stored = self._messages.get(rec.channel_id or 0, {}).get(rec.message_id)
        if stored is None:
            stored = rec.message
        rec.messages[rec.message_id] = stored
        return stored

    def _webhook_interaction(self, match: re.Match[str]) -> _Interaction:
        rec = self._interactions.get(match["token"])
        if int(match["app"]) != self.application_id or rec is None:
            raise _not_found("Webhook", 10015)
        if time.monotonic() - rec.dispatched_at > self.token_ttl:
            raise _HTTPError(401, 50027, "Invalid Webhook Token")
        return rec

    def _get_webhook(self, match: re.Match[str], _req: _Req) -> JSON:
        rec = self._webhook_interaction(match)
        return {
            "id": str(self.application_id),
            "type": 3,
            "application_id": str(self.application_id),
            "name": self.bot_user["username"],
            "avatar": None,
            "channel_id": str(rec.channel_id) if rec.channel_id else None,
            "guild_id": str(rec.guild_id) if rec.guild_id else None,
            "token": rec.token,
        }

    def _patch_webhook(self, match: re.Match[str], req: _Req) -> JSON:
        hook = self._get_webhook(match, req)
        hook.update({k: v for k, v in (req.body or {}).items() if k in ("name", "avatar")})
        return hook

    def _followup(self, match: re.Match[str], req: _Req) -> JSON | None:
        rec = self._webhook_interaction(match)
        if not rec.responded:
            raise _not_found("Webhook", 10015)
        body = req.body or {}
        _validate_message(body, req.files, creating=True)
        loading = rec.original is not None and int(rec.original.get("flags") or 0) & 128
        if rec.response_type == 5 and loading:
            # The first follow-up after a "thinking" defer replaces the loading message and
            # keeps the defer's ephemeral flag.
            assert rec.original is not None
            msg = rec.original
            _apply_edit(msg, {k: v for k, v in body.items() if k != "flags"}, req.files)
            msg["flags"] = int(msg.get("flags") or 0) & ~128
        else:
            flags = int(body.get("flags") or 0) & 64
            msg = self._interaction_message(rec, body, req.files, flags)
        if req.query.get("wait") in ("1", "true", "True"):
            return self._render(msg)
        return None

    def _webhook_message(self, match: re.Match[str]) -> tuple[_Interaction, JSON]:
        rec = self._webhook_interaction(match)
        wmid = match["wmid"]
        msg = rec.original if wmid == "@original" else rec.messages.get(int(wmid))
        if msg is None:
            raise _not_found("Message", 10008)
        return rec, msg

    def _get_webhook_message(self, match: re.Match[str], _req: _Req) -> JSON:
        return self._render(self._webhook_message(match)[1])

    def _edit_webhook_message(self, match: re.Match[str], req: _Req) -> JSON:
        _rec, msg = self._webhook_message(match)
        body = req.body or {}
        _validate_message(body, req.files, creating=False)
        _apply_edit(msg, body, req.files)
        msg["flags"] = int(msg.get("flags") or 0) & ~128  # no longer "thinking"
        return self._render(msg)

    def _del_webhook_message(self, match: re.Match[str], _req: _Req) -> None:
        rec, msg = self._webhook_message(match)
        mid = int(msg["id"])
        rec.messages.pop(mid, None)
        if rec.original is msg:
            rec.original = None
        self._messages.get(int(msg["channel_id"]), {}).pop(mid, None)

    # -- application commands

    def _command_scope(self, match: re.Match[str]) -> int | None:
        if int(match["app"]) != self.application_id:
            raise _not_found("Application", 10002)
        gid = match.groupdict().get("gid")
        return int(gid) if gid else None

    def _get_commands(self, match: re.Match[str], _req: _Req) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._command_scope(match), []))

    def _put_commands(self, match: re.Match[str], req: _Req) -> list[JSON]:
        scope = self._command_scope(match)
        if not isinstance(req.body, list):
            raise _invalid("expected a list of commands")
        old = {(c["name"], c["type"]): c["id"] for c in self._commands.get(scope, [])}
        stored = [self._stored_command(cmd, scope, old) for cmd in req.body]
        if sum(1 for c in stored if c["type"] == 1) > 100:
            raise _invalid("at most 100 chat input commands")
        self._commands[scope] = stored
        return copy.deepcopy(stored)

    def _post_command(self, match: re.Match[str], req: _Req) -> tuple[int, JSON]:
        scope = self._command_scope(match)
        current = self._commands.setdefault(scope, [])
        old = {(c["name"], c["type"]): c["id"] for c in current}
        cmd = self._stored_command(req.body or {}, scope, old)
        current[:] = [c for c in current if (c["name"], c["type"]) != (cmd["name"], cmd["type"])]
        current.append(cmd)
        return (200 if (cmd["name"], cmd["type"]) in old else 201), copy.deepcopy(cmd)

    def _stored_command(
        self, cmd: JSON, scope: int | None, old: dict[tuple[str, int], str]
    ) -> JSON:
        kind = int(cmd.get("type") or 1)
        name = cmd.get("name") or ""
        if not 1 <= len(name) <= 32 or (kind == 1 and not _slash_name(name)):
            raise _invalid(f"bad command name {name!r}")
        description = cmd.get("description") or ""
        if kind == 1 and not 1 <= len(description) <= 100:
            raise _invalid(f"command {name!r} needs a 1-100 character description")
        _validate_options(name, cmd.get("options") or [])
        stored: JSON = {
            "default_member_permissions": None,
            "nsfw": False,
            "options": [],
            "name_localizations": None,
            "description_localizations": None,
            "contexts": None,
            "integration_types": None,
            **copy.deepcopy(cmd),
            "id": old.get((name, kind)) or str(snowflake()),
            "application_id": str(self.application_id),
            "version": str(snowflake()),
            "type": kind,
            "description": description,
        }
        if scope is not None:
            stored["guild_id"] = str(scope)
        return stored

    # -- store helpers (lock held)

    def _new_message(self, channel_id: int, body: JSON, files: list[JSON], flags: int) -> JSON:
        msg = message_payload(
            channel_id,
            body.get("content") or "",
            self.bot_user,
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            flags=flags,
        )
        msg["tts"] = bool(body.get("tts"))
        msg["attachments"] = [_attachment(f, channel_id) for f in files]
        return msg

    def _store_message(self, channel_id: int, msg: JSON) -> None:
        self._messages.setdefault(channel_id, {})[int(msg["id"])] = msg

    def _render(self, msg: JSON) -> JSON:
        out = copy.deepcopy(msg)
        reactors = self._reactors.get((int(msg["channel_id"]), int(msg["id"])), {})
        reactions = []
        for key, users in reactors.items():
            if not users:
                continue
            name, _, emoji_id = key.partition(":")
            reactions.append(
                {
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.application_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": {"id": emoji_id or None, "name": name},
                }
            )
        if reactions:
            out["reactions"] = reactions
        return out


# --------------------------------------------------------------------------------------------
# module helpers
# --------------------------------------------------------------------------------------------


def _role(role_id: int, name: str, permissions: str, *, position: int) -> JSON:
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": permissions,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _opt_int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _parse_emoji(raw: str) -> JSON:
    """``✅`` or ``name:id`` (the forms discord.py puts in reaction URLs)."""
    name, sep, emoji_id = raw.partition(":")
    if sep and emoji_id.isdigit():
        return {"id": emoji_id, "name": name.removeprefix("a")}
    return {"id": None, "name": raw}


def _emoji_key(emoji: Mapping[str, Any]) -> str:
    return f"{emoji.get('name')}:{emoji['id']}" if emoji.get("id") else str(emoji.get("name"))


def _attachment(part: JSON, channel_id: int) -> JSON:
    att_id = snowflake()
    url = f"https://cdn.fake.invalid/attachments/{channel_id}/{att_id}/{part['filename']}"
    return {
        "id": str(att_id),
        "filename": part["filename"],
        "size": part["size"],
        "url": url,
        "proxy_url": url,
        "content_type": part.get("content_type"),
    }


def _validate_message(body: JSON, files: list[JSON], *, creating: bool) -> None:
    content = body.get("content") or ""
    if len(content) > MESSAGE_CONTENT_LIMIT:
        raise _invalid(f"content: Must be {MESSAGE_CONTENT_LIMIT} or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        raise _invalid("embeds: Must be 10 or fewer in length.")
    _validate_embeds(embeds)
    if len(body.get("components") or []) > 5 and not int(body.get("flags") or 0) & (1 << 15):
        raise _invalid("components: Must be 5 or fewer in length.")
    nonce = body.get("nonce")
    if isinstance(nonce, str) and len(nonce) > NONCE_LIMIT:
        raise _invalid(f"nonce: Must be {NONCE_LIMIT} or fewer in length.")
    if any(not 1 <= len(c) <= CUSTOM_ID_LIMIT for c in _custom_ids(body.get("components") or [])):
        raise _invalid(f"components: custom_id must be 1-{CUSTOM_ID_LIMIT} characters.")
    if creating and not (
        content
        or embeds
        or body.get("components")
        or files
        or body.get("sticker_ids")
        or body.get("poll")
    ):
        raise _HTTPError(400, 50006, "Cannot send an empty message")


def _validate_embeds(embeds: Sequence[JSON]) -> None:
    """Each text of each embed within its limit, and all of them together within 6,000."""
    total = 0
    for embed in embeds:
        fields = embed.get("fields") or []
        if len(fields) > EMBED_FIELDS_LIMIT:
            raise _invalid(f"embeds.fields: Must be {EMBED_FIELDS_LIMIT} or fewer in length.")
        texts = [("title", embed.get("title")), ("description", embed.get("description"))]
        texts += [("text", (embed.get("footer") or {}).get("text"))]
        texts += [("name", (embed.get("author") or {}).get("name"))]
        texts += [(key, f.get(key)) for f in fields for key in ("name", "value")]
        for key, text in texts:
            if text is None:
                continue
            if len(str(text)) > EMBED_LIMITS[key]:
                raise _invalid(f"embeds.{key}: Must be {EMBED_LIMITS[key]} or fewer in length.")
            total += len(str(text))
    if total > EMBEDS_TOTAL_LIMIT:
        raise _invalid(f"embeds: Must be {EMBEDS_TOTAL_LIMIT} or fewer characters in all.")


_NAME = re.compile(r"[-_'\w]{1,32}")
_NESTING = (1, 2)  # option types: subcommand, subcommand group


def _slash_name(name: str) -> bool:
    """A valid name for a slash command or option: 1-32 word characters, lowercase."""
    return _NAME.fullmatch(name) is not None and name == name.lower()


def _validate_options(owner: str, options: Sequence[JSON]) -> None:
    """Discord's rules for the options of a command, subcommand or group (400 otherwise)."""
    if len(options) > 25:
        raise _invalid(f"{owner}: more than 25 options")
    names = [str(o.get("name") or "") for o in options]
    if len(set(names)) != len(names):
        raise _invalid(f"{owner}: option names must be unique")
    kinds = [int(o.get("type") or 0) for o in options]
    if any(k in _NESTING for k in kinds) and not all(k in _NESTING for k in kinds):
        raise _invalid(f"{owner}: subcommands cannot sit beside other options")
    optional_seen = False
    for option, kind in zip(options, kinds, strict=True):
        where = f"{owner} {option.get('name')}"
        if not _slash_name(str(option.get("name") or "")):
            raise _invalid(f"{where}: bad option name")
        if not 1 <= len(option.get("description") or "") <= 100:
            raise _invalid(f"{where}: needs a 1-100 character description")
        inner = option.get("options") or []
        if kind in _NESTING:
            # A group holds subcommands only; a subcommand holds no subcommands.
            inner_kinds = {int(o.get("type") or 0) for o in inner}
            if inner_kinds - {1} if kind == 2 else inner_kinds & set(_NESTING):
                raise _invalid(f"{where}: a group holds subcommands, a subcommand none")
            _validate_options(where, inner)
            continue
        if option.get("required"):
            if optional_seen:
                raise _invalid(f"{where}: required options must be placed before optional ones")
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            raise _invalid(f"{where}: more than 25 choices")
        if choices and option.get("autocomplete"):
            raise _invalid(f"{where}: autocomplete cannot have choices")


def _custom_ids(components: Sequence[JSON]) -> Iterator[str]:
    for component in components:
        if "custom_id" in component:
            yield str(component["custom_id"])
        yield from _custom_ids(component.get("components") or [])


def _apply_edit(msg: JSON, body: JSON, files: list[JSON]) -> None:
    for key in ("content", "embeds", "components"):
        if key in body:
            default: Any = "" if key == "content" else []
            msg[key] = copy.deepcopy(body[key]) if body[key] is not None else default
    if "flags" in body and body["flags"] is not None:
        msg["flags"] = (int(msg.get("flags") or 0) & 64) | (int(body["flags"]) & ~64)
    if "attachments" in body:
        keep = {str(a.get("id")) for a in body["attachments"] or []}
        msg["attachments"] = [a for a in msg.get("attachments", []) if a["id"] in keep]
    msg["attachments"] = list(msg.get("attachments", [])) + [
        _attachment(f, int(msg["channel_id"])) for f in files
    ]
    msg["edited_timestamp"] = _now_iso()


def _room_left(method: str, pattern: re.Pattern[str]) -> dict[str, str]:
    """The rate-limit headers of an answer within the limits, as Discord sends them: plenty of
    room left, so discord.py lets requests in one bucket run side by side, as it does on
    Discord (without them it would send them one at a time)."""
    bucket = hashlib.sha1(f"{method} {pattern.pattern}".encode()).hexdigest()[:16]
    return {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "49",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": bucket,
    }


def _rate_limited(rule: _Rule, req: _Req) -> _Response:
    retry = rule.retry_after
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry,
        "global": rule.is_global,
    }
    headers = {
        "Retry-After": str(max(1, math.ceil(retry))),
        "X-RateLimit-Scope": "global" if rule.is_global else "user",
        "Via": "1.1 google",  # without it discord.py assumes a Cloudflare ban and raises
    }
    if rule.is_global:
        headers["X-RateLimit-Global"] = "true"
        body["code"] = 0
    else:
        bucket = hashlib.sha1(f"{req.method} {rule.pattern.pattern}".encode()).hexdigest()[:16]
        headers.update(
            {
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry:.3f}",
                "X-RateLimit-Reset-After": f"{retry:.3f}",
                "X-RateLimit-Bucket": bucket,
            }
        )
    return 429, body, headers


async def _read_body(request: web.Request) -> tuple[Any, list[JSON]]:
    if not request.body_exists:
        return None, []
    content_type = request.content_type
    if content_type.startswith("multipart/"):
        form = await request.post()
        payload: Any = None
        files: list[JSON] = []
        for name, value in form.items():
            if isinstance(value, web.FileField):
                data = value.file.read()
                files.append(
                    {
                        "field": name,
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(data),
                    }
                )
            elif name == "payload_json":
                payload = json.loads(value)
        return payload, files
    raw = await request.read()
    if not raw:
        return None, []
    text = raw.decode("utf-8")
    try:
        return json.loads(text), []
    except json.JSONDecodeError:
        if content_type == "application/json":
            raise ValueError("body is not valid JSON") from None
        return text, []


# --------------------------------------------------------------------------------------------
# running a real client in a test
# --------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_client(
    client: Any, token: str = "fake-token", timeout: float = 5.0
) -> AsyncIterator[Any]:
    """Start ``client`` (a ``discord.Client``) against the fake, wait for on_ready, and close
    it cleanly on exit. Raises the start-up error, or AssertionError if not ready in time."""
    async with client:
        task = asyncio.create_task(client.start(token), name="discord-client")
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when="FIRST_COMPLETED")
        if ready not in done:
            ready.cancel()
            await client.close()
            if task.done():
                task.result()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise AssertionError(f"discord client not ready within {timeout}s")
        try:
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(task, timeout)
