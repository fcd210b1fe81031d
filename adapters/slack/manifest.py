"""`coopbot slack manifest`: the Slack app manifest (YAML) for Slack's "From a manifest"."""

from __future__ import annotations

from typing import Any

import yaml

from adapters.slack.http import EVENTS_PATH, REDIRECT_PATH
from adapters.slack.surface import (
    BOT_EVENTS,
    COMMAND,
    COMMAND_DESCRIPTION,
    COMMAND_USAGE_HINT,
    OAUTH_EVENTS,
    SHORTCUTS,
    bot_scopes,
)
from bot.config import Settings, SlackSettings

PLACEHOLDER_URL = "https://coopbot.example.org"
DESCRIPTION = "Turns chat into tracked cooperative work: tasks, sign-ups, waitlists, pledge drives."

_HOW_TO = """\
# Slack app manifest for {name}. At https://api.slack.com/apps choose "Create New App",
# then "From a manifest", pick your workspace and paste everything below.
"""
_PLACEHOLDER_NOTE = """\
# The request URLs below are placeholders: set slack.public_url (or COOPBOT_SLACK__PUBLIC_URL)
# to the https address Slack can reach, and print the manifest again.
"""


def manifest(settings: SlackSettings) -> dict[str, Any]:
    """The manifest as data: Socket Mode, or request URLs under `public_url` in http mode."""
    http_mode = settings.mode == "http"
    events_url = (settings.public_url or PLACEHOLDER_URL).rstrip("/") + EVENTS_PATH
    request_url = {"request_url": events_url} if http_mode else {}
    many_workspaces = http_mode and settings.client_id is not None
    command = {
        "command": COMMAND,
        **({"url": events_url} if http_mode else {}),
        "description": COMMAND_DESCRIPTION,
        "usage_hint": COMMAND_USAGE_HINT,
        # Mentions then arrive as <@U123|name>: ids, not names that can change.
        "should_escape": True,
    }
    oauth: dict[str, Any] = {"scopes": {"bot": bot_scopes()}}
    if many_workspaces:
        oauth["redirect_urls"] = [events_url.removesuffix(EVENTS_PATH) + REDIRECT_PATH]
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": settings.app_name, "description": DESCRIPTION},
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": settings.app_name, "always_online": True},
            "slash_commands": [command],
            "shortcuts": [
                {
                    "name": shortcut.name,
                    "type": "message",
                    "callback_id": shortcut.callback_id,
                    "description": shortcut.description,
                }
                for shortcut in SHORTCUTS
            ],
        },
        "oauth_config": oauth,
        "settings": {
            "event_subscriptions": {
                **request_url,
                "bot_events": [*BOT_EVENTS, *(OAUTH_EVENTS if many_workspaces else ())],
            },
            "interactivity": {"is_enabled": True, **request_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": not http_mode,
            "token_rotation_enabled": False,
        },
    }


def render_manifest(settings: Settings) -> str:
    """The manifest as YAML, with a comment on how to use it."""
    slack = settings.slack
    notes = _HOW_TO.format(name=slack.app_name)
    if slack.mode == "http" and not slack.public_url:
        notes += _PLACEHOLDER_NOTE
    body = yaml.safe_dump(manifest(slack), sort_keys=False, allow_unicode=True, width=100)
    return notes + body
