"""The Discord adapter (discord.py): /coop, the "Track as task" and "Start a pledge drive"
menus, reactions, and cards (tasks and pledge drives) with buttons, in the same event loop and
on the same database as the other adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import discord

from adapters.discord.chat import route
from adapters.discord.client import CoopBot, endpoints
from bot.config import ConfigError, Secrets
from bot.core import Core

__all__ = ["CoopBot", "RunningDiscord", "running"]


class RunningDiscord:
    """The bot connected to the gateway, until it is stopped or Discord refuses it."""

    def __init__(self, bot: CoopBot, connection: asyncio.Task[None]) -> None:
        self.bot = bot
        self.connection = connection

    async def wait(self) -> None:
        try:
            await asyncio.shield(self.connection)
        except discord.PrivilegedIntentsRequired:
            raise ConfigError(
                "setting discord.message_content_intent: true, but the Message Content "
                "intent is off in the Developer Portal (Bot, Privileged Gateway Intents); "
                "switch it on there or set this to false"
            ) from None

    async def stop_intake(self) -> None:
        await self.bot.stop_intake()

    async def connected(self) -> bool:
        """Ready, and every shard's gateway websocket open."""
        bot = self.bot
        shards = list(bot.shards.values())
        return bot.is_ready() and bool(shards) and not any(s.is_closed() for s in shards)


class _RateLimits(logging.Filter):
    """Counts the 429s discord.py waits out by itself (it says so in a warning, and nowhere
    else), by route, for /metrics; the warning itself is logged as before."""

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.counter = core.metrics.rate_limited

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("We are being rate limited.") and isinstance(
            record.args, tuple
        ):
            method, url = (str(a) for a in record.args[:2])
            self.counter.labels("discord", route(method, url)).inc()
        return True


@contextlib.asynccontextmanager
async def running(core: Core, secrets: Secrets) -> AsyncIterator[RunningDiscord]:
    """Log in and connect; a refused token or intent is a ConfigError naming it."""
    if not secrets.discord_bot_token:
        raise ConfigError("DISCORD_BOT_TOKEN: not set in the environment")
    counting = _RateLimits(core)
    http_log = logging.getLogger("discord.http")
    http_log.addFilter(counting)
    with endpoints(core.settings.discord), contextlib.ExitStack() as stack:
        stack.callback(http_log.removeFilter, counting)
        bot = CoopBot(core)
        async with bot:
            try:
                await bot.login(secrets.discord_bot_token)
            except discord.LoginFailure:
                raise ConfigError(
                    "DISCORD_BOT_TOKEN: Discord refused it; copy it again from the Developer "
                    "Portal (Bot, Reset Token)"
                ) from None
            connection = asyncio.create_task(bot.connect(), name="discord-gateway")
            try:
                yield RunningDiscord(bot, connection)
            finally:
                await bot.close()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await connection
