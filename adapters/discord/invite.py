"""`coopbot discord invite-url`: the OAuth2 link that adds the bot to a server."""

from __future__ import annotations

import discord

from adapters.discord.permissions import BOT_PERMISSIONS

SCOPES = ("bot", "applications.commands")


def invite_url(client_id: int) -> str:
    """The invite URL with the bot and slash-command scopes and exactly the permissions used."""
    return discord.utils.oauth_url(client_id, permissions=BOT_PERMISSIONS, scopes=SCOPES)
