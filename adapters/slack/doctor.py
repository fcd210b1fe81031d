"""`coopbot doctor` for Slack: the tokens are accepted and carry the manifest's scopes."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.installations import token_cipher
from adapters.slack.modes import Plan, plan
from adapters.slack.surface import bot_scopes
from bot.config import ConfigError, Secrets, Settings
from bot.doctor import TIMEOUT, Check

UNREACHABLE = (aiohttp.ClientError, TimeoutError, OSError)


async def examine(settings: Settings, secrets: Secrets) -> list[Check]:
    """The checks of the mode the settings choose; nothing connects for longer than a call."""
    try:
        how = plan(settings.slack, secrets)
    except ConfigError as err:
        return [Check("Slack", False, str(err).removeprefix("Slack: "))]
    if how.oauth:
        return [_install_flow(how), _token_keys(secrets)]
    checks = await _bot_token(how)
    if how.mode == "socket":
        checks.append(await _socket_mode(how))
    else:
        checks.append(Check("Slack HTTP mode", True, "SLACK_SIGNING_SECRET is set"))
    return checks


def _client(how: Plan, token: str | None) -> AsyncWebClient:
    # No retry handlers: one try, one line.
    return AsyncWebClient(
        token=token, base_url=how.api_base_url, timeout=int(TIMEOUT), retry_handlers=[]
    )


async def _bot_token(how: Plan) -> list[Check]:
    """auth.test accepts the bot token; the scopes it answers with cover the manifest's."""
    try:
        answer = await _client(how, how.bot_token).auth_test()
    except SlackApiError as err:
        return [
            Check(
                "Slack token",
                False,
                f"auth.test refused it ({err.response.get('error')}); copy the Bot User "
                "OAuth Token again (OAuth & Permissions)",
            )
        ]
    except UNREACHABLE as err:
        return [Check("Slack token", False, _unreachable(how, err))]
    who = f"bot {answer.get('user')} ({answer.get('user_id')}) in {answer.get('team')}"
    token = Check("Slack token", True, f"{who} ({answer.get('team_id')})")
    headers = {key.lower(): value for key, value in answer.headers.items()}
    granted = headers.get("x-oauth-scopes")
    if granted is None:
        return [token, Check("Slack scopes", False, "auth.test did not say the token's scopes")]
    have = {scope.strip() for scope in granted.split(",")}
    missing = [scope for scope in bot_scopes() if scope not in have]
    if missing:
        scopes = Check(
            "Slack scopes",
            False,
            f"missing {', '.join(missing)}: add them under OAuth & Permissions and reinstall",
        )
    else:
        scopes = Check("Slack scopes", True, f"all {len(bot_scopes())} the manifest asks for")
    return [token, scopes]


async def _socket_mode(how: Plan) -> Check:
    """apps.connections.open accepts the app-level token (the socket itself is not opened)."""
    try:
        await _client(how, how.app_token).apps_connections_open(app_token=how.app_token or "")
    except SlackApiError as err:
        return Check(
            "Slack Socket Mode",
            False,
            f"apps.connections.open refused SLACK_APP_TOKEN ({err.response.get('error')}); "
            "make an App-Level Token with connections:write under Basic Information",
        )
    except UNREACHABLE as err:
        return Check("Slack Socket Mode", False, _unreachable(how, err))
    return Check("Slack Socket Mode", True, "apps.connections.open accepts SLACK_APP_TOKEN")


def _install_flow(how: Plan) -> Check:
    return Check(
        "Slack install flow",
        True,
        f"many workspaces: client {how.client_id}, SLACK_CLIENT_SECRET and "
        "SLACK_SIGNING_SECRET set",
    )


def _token_keys(secrets: Secrets) -> Check:
    try:
        token_cipher(secrets.token_keys)
    except ConfigError as err:
        return Check("Slack token keys", False, str(err).removeprefix("Slack: "))
    return Check("Slack token keys", True, "every key in COOPBOT_TOKEN_KEYS is a Fernet key")


def _unreachable(how: Plan, err: BaseException) -> str:
    return f"cannot reach {how.api_base_url} ({str(err) or type(err).__name__})"
