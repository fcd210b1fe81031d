"""Who people are: workspaces, members from users.info and their DM channels, cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.refs import CommunityRef, MemberRef

log = logging.getLogger(__name__)

V = TypeVar("V")

# users.info errors meaning the bot will never see this person (not: Slack is in trouble).
_NO_SUCH_USER = {"user_not_found", "user_not_visible"}


@dataclass(frozen=True)
class Workspace:
    """The workspace a request came from, with a Web API client holding its bot token."""

    community: CommunityRef
    client: AsyncWebClient

    @property
    def id(self) -> str:
        return self.community.id


class TtlCache(Generic[V]):
    """A bounded cache whose entries expire; concurrent misses for one key share one load."""

    def __init__(self, ttl: float, max_size: int) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Future[V]] = {}

    def get(self, key: Hashable) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: Hashable, value: V) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value, else `load()`'s, which is cached when it does not raise."""
        cached = self.get(key)
        if cached is not None:
            return cached
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark it retrieved: nobody else may be waiting
            raise
        else:
            self.put(key, value)
            future.set_result(value)
            return value
        finally:
            del self._loading[key]


def _zone_or_none(name: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


@dataclass(frozen=True)
class _User:
    """What users.info says of someone: who they are (None: no such person, for the bot) and
    the workspaces they are a member of."""

    member: MemberRef | None
    teams: frozenset[str]


def teams_of(user: dict[str, Any]) -> frozenset[str]:
    """The workspaces a users.info `user` is a member of; none once deactivated.

    On Enterprise Grid `team_id` is one workspace of the person's organisation and
    `enterprise_user.teams` lists every workspace they are in; the organisation's own id
    counts too, for an app installed across the whole organisation. A Slack Connect guest from
    another company has their own company's team id, and so is a member of none of ours.
    """
    if user.get("deleted"):
        return frozenset()
    grid = user.get("enterprise_user") or {}
    ids = {user.get("team_id"), grid.get("enterprise_id"), *(grid.get("teams") or ())}
    return frozenset(str(i) for i in ids if i)


def member_from_user(community: CommunityRef, user: dict[str, Any]) -> MemberRef:
    """A member from a users.info `user` object."""
    profile = user.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or user.get("real_name")
        or user.get("name")
        or ""
    )
    return MemberRef(
        community,
        str(user["id"]),
        name,
        is_admin=bool(user.get("is_admin") or user.get("is_owner")),
        tz=_zone_or_none(user.get("tz")),
    )


class Directory:
    """Members (users.info, kept an hour, as is an answer that there is no such person) and
    DM channels (conversations.open), per workspace."""

    def __init__(self, ttl: float = 3600.0, max_size: int = 10_000) -> None:
        self._users: TtlCache[_User] = TtlCache(ttl, max_size)
        self._dms: TtlCache[str] = TtlCache(24 * ttl, max_size)

    async def member(self, ws: Workspace, user_id: str, fallback_name: str = "") -> MemberRef:
        """The member `user_id`; when users.info fails, just the id and the payload's name."""
        user = await self._lookup(ws, user_id)
        if user is None or user.member is None:
            return MemberRef(ws.community, user_id, fallback_name)
        return user.member

    async def find(self, ws: Workspace, user_id: str) -> MemberRef | None:
        """The member `user_id` if they are a member of `ws` (see `teams_of`), else None.

        When Slack cannot say (it fails, or cannot be reached), the person is given the
        benefit of the doubt, as `member` does: the id came from a mention Slack made.
        """
        user = await self._lookup(ws, user_id)
        if user is None:
            return MemberRef(ws.community, user_id)
        return user.member if ws.id in user.teams else None

    async def _lookup(self, ws: Workspace, user_id: str) -> _User | None:
        """What users.info says of `user_id` (kept a while); None when it failed."""

        async def load() -> _User:
            try:
                answer = await ws.client.users_info(user=user_id)
            except SlackApiError as err:
                if err.response.get("error") in _NO_SUCH_USER:
                    return _User(None, frozenset())
                raise
            user = answer["user"]
            return _User(member_from_user(ws.community, user), teams_of(user))

        try:
            return await self._users.get_or_load((ws.id, user_id), load)
        except SlackApiError as err:
            log.warning("users.info %s failed: %s", user_id, err.response.get("error"))
        except (aiohttp.ClientError, TimeoutError) as err:
            log.warning("users.info %s failed: %r", user_id, err)
        return None

    async def dm_channel(self, ws: Workspace, user_id: str) -> str:
        """The id of the bot's direct-message channel with `user_id`."""

        async def load() -> str:
            answer = await ws.client.conversations_open(users=user_id)
            return str(answer["channel"]["id"])

        return await self._dms.get_or_load((ws.id, user_id), load)
