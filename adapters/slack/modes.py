"""How the adapter connects, decided from settings and secrets, with errors that say what to set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.config import ConfigError, Secrets, SlackSettings

DEFAULT_API_BASE_URL = "https://slack.com/api/"


@dataclass(frozen=True)
class Plan:
    """Socket Mode, or HTTP for one workspace (bot token) or many (OAuth install flow)."""

    mode: Literal["socket", "http"]
    api_base_url: str
    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def oauth(self) -> bool:
        return self.client_id is not None


def _token(value: str | None, name: str, prefix: str, what: str) -> str:
    if not value:
        raise ConfigError(f"Slack: set {name} ({what})")
    if not value.startswith(prefix):
        raise ConfigError(f"Slack: {name} should start with {prefix} ({what})")
    return value


def plan(settings: SlackSettings, secrets: Secrets) -> Plan:
    """The connection to make; a ConfigError names what is missing."""
    base = settings.api_base_url or DEFAULT_API_BASE_URL
    base = base if base.endswith("/") else base + "/"
    bot_what = "the Bot User OAuth Token, on the app's OAuth & Permissions page"
    if settings.mode == "socket":
        return Plan(
            "socket",
            base,
            bot_token=_token(secrets.slack_bot_token, "SLACK_BOT_TOKEN", "xoxb-", bot_what),
            app_token=_token(
                secrets.slack_app_token,
                "SLACK_APP_TOKEN",
                "xapp-",
                "an App-Level Token with connections:write, under Basic Information; "
                "or set slack.mode: http",
            ),
        )
    if not secrets.slack_signing_secret:
        raise ConfigError(
            "Slack: http mode needs SLACK_SIGNING_SECRET (the Signing Secret under Basic "
            "Information)"
        )
    if settings.client_id or secrets.slack_client_secret:
        if not (settings.client_id and secrets.slack_client_secret):
            raise ConfigError(
                "Slack: installing in many workspaces needs both slack.client_id and "
                "SLACK_CLIENT_SECRET (App Credentials under Basic Information)"
            )
        return Plan(
            "http",
            base,
            signing_secret=secrets.slack_signing_secret,
            client_id=settings.client_id,
            client_secret=secrets.slack_client_secret,
        )
    return Plan(
        "http",
        base,
        bot_token=_token(secrets.slack_bot_token, "SLACK_BOT_TOKEN", "xoxb-", bot_what),
        signing_secret=secrets.slack_signing_secret,
    )
