"""Which bot token answers a request: the one workspace's, or each installed workspace's.

Authorizing never calls Slack while a request waits for its acknowledgement: the single
token is checked once at start-up, and installations are read from our database (cached).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.installations import UnreadableToken

log = logging.getLogger(__name__)


async def single_workspace(
    client: AsyncWebClient, token: str
) -> Callable[[], Awaitable[AuthorizeResult]]:
    """An authorize function for one workspace; fails at once when Slack rejects the token."""
    answer = await client.auth_test(token=token)
    result = AuthorizeResult.from_auth_test_response(auth_test_response=answer, bot_token=token)
    log.info("Slack: connected to workspace %s (%s)", result.team, result.team_id)

    async def authorize() -> AuthorizeResult:
        return result

    return authorize


class InstallationAuthorize(AsyncAuthorize):
    """Authorizes a request with its workspace's bot from the installation store."""

    def __init__(self, store: AsyncInstallationStore) -> None:
        self.store = store

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        try:
            bot = await self.store.async_find_bot(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=context.is_enterprise_install,
            )
        except UnreadableToken as err:
            # The operator's mistake, not the sender's: one line for them, no traceback.
            log.error("%s", err)
            return None
        if bot is None:
            log.warning("no installation for team %s; was the app installed here?", team_id)
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team=bot.team_name,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )
