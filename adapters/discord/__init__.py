"""The Discord adapter (discord.py): /coop, the "Track as task" menu, reactions and task cards
with buttons, in the same event loop and on the same database as the other adapters."""

from __future__ import annotations

import discord

from adapters.discord.client import CoopBot, endpoints
from bot.config import ConfigError, Secrets
from bot.wiring import Core

__all__ = ["CoopBot", "serve"]


async def serve(core: Core, secrets: Secrets) -> None:
    """Run the bot until cancelled; a refused token or intent is a ConfigError naming it."""
    if not secrets.discord_bot_token:
        raise ConfigError("DISCORD_BOT_TOKEN: not set in the environment")
    with endpoints(core.settings.discord):
        bot = CoopBot(core)
        async with bot:
            try:
                await bot.start(secrets.discord_bot_token)
            except discord.LoginFailure:
                raise ConfigError(
                    "DISCORD_BOT_TOKEN: Discord refused it; copy it again from the Developer "
                    "Portal (Bot, Reset Token)"
                ) from None
            except discord.PrivilegedIntentsRequired:
                raise ConfigError(
                    "setting discord.message_content_intent: true, but the Message Content "
                    "intent is off in the Developer Portal (Bot, Privileged Gateway Intents); "
                    "switch it on there or set this to false"
                ) from None
