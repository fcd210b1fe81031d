"""The Web API clients of each workspace the bot serves, with its bot token.

Two per workspace: one for reading (slack-sdk retries its rate-limited calls by itself) and
one for sending, which retries nothing: a rate-limited send goes back to the dispatcher, which
keeps Slack's pace per channel and tries again after Retry-After, and a send that may or may
not have reached Slack is looked up before it is tried again.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.directory import TtlCache, Workspace
from adapters.slack.installations import UnreadableToken
from bot.ports import Refused
from bot.refs import CommunityRef


def reading_client(
    base_url: str, session: aiohttp.ClientSession, retries: int, token: str | None = None
) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=retries),
        ],
    )


class Workspaces:
    """Clients by workspace: the one bot token, or each installation's (OAuth)."""

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        retries: int,
        token: str | None = None,
        installations: AsyncInstallationStore | None = None,
    ) -> None:
        self.base_url = base_url
        self.session = session
        self.retries = retries
        self.token = token
        self.installations = installations
        self._clients: TtlCache[tuple[AsyncWebClient, AsyncWebClient]] = TtlCache(300.0, 10_000)

    async def reading(self, community: CommunityRef) -> Workspace:
        reader, _ = await self._pair(community.id)
        return Workspace(community, reader)

    async def sending(self, community: CommunityRef) -> AsyncWebClient:
        _, sender = await self._pair(community.id)
        return sender

    async def _pair(self, team_id: str) -> tuple[AsyncWebClient, AsyncWebClient]:
        async def load() -> tuple[AsyncWebClient, AsyncWebClient]:
            token = await self._token(team_id)
            reader = reading_client(self.base_url, self.session, self.retries, token)
            sender = AsyncWebClient(
                token=token, base_url=self.base_url, session=self.session, retry_handlers=[]
            )
            return reader, sender

        return await self._clients.get_or_load(team_id, load)

    async def _token(self, team_id: str) -> str:
        if self.installations is None:
            assert self.token is not None
            return self.token
        try:
            bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        except UnreadableToken as err:
            raise Refused(str(err)) from None
        if bot is None or not bot.bot_token:
            raise Refused(f"coopbot is not installed in workspace {team_id} (any more)")
        return bot.bot_token
