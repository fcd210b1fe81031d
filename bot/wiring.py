"""The one place that builds the store, clock, core and adapters from settings."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import Engine

from bot.app import Coop
from bot.clock import AdjustableClock, ShiftedClock
from bot.config import AdapterName, ConfigError, Secrets, Settings
from bot.ports import UnitOfWork
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork


@dataclass
class Core:
    """What every adapter shares: the engine, a unit-of-work factory and the application."""

    settings: Settings
    engine: Engine
    clock: AdjustableClock
    coop: Coop

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine)


def build_core(
    settings: Settings, clock: AdjustableClock | None = None, migrate: bool = True
) -> Core:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    track, commit, done = settings.emoji.canonical()
    prefs = Preferences(track, commit, done, settings.default_timezone)
    clock = clock or ShiftedClock()

    def uow_factory() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    return Core(settings, engine, clock, Coop(uow_factory, clock, prefs))


def choose_adapters(settings: Settings, secrets: Secrets) -> list[AdapterName]:
    """The configured adapters, else those with credentials, else the console."""
    if settings.adapters:
        return list(settings.adapters)
    chosen: list[AdapterName] = []
    if secrets.slack_bot_token or (settings.slack.client_id and secrets.slack_client_secret):
        chosen.append("slack")
    if secrets.discord_bot_token:
        chosen.append("discord")
    return chosen or ["console"]


async def _run_console(core: Core, lines: TextIO, out: TextIO) -> None:
    # Imported here so that only the chosen adapters are loaded.
    from adapters.console.chat import ConsoleChat
    from adapters.console.session import ConsoleSession
    from bot.refs import CommunityRef

    chat = ConsoleChat(
        out, CommunityRef("console", "console", "console"), core.settings.default_timezone
    )
    session = ConsoleSession(
        core.coop, chat, core.clock, core.settings.console.channel, core.settings.console.admins
    )
    await session.run(lines, interactive=lines.isatty())


async def serve(core: Core, adapters: list[AdapterName], lines: TextIO, out: TextIO) -> None:
    """Run every chosen adapter in one event loop until all have stopped."""
    secrets = Secrets.from_env()
    jobs: list[Coroutine[Any, Any, None]] = []
    for name in adapters:
        # Imported here so that only the chosen platforms' libraries are loaded.
        if name == "console":
            jobs.append(_run_console(core, lines, out))
        elif name == "slack":
            from adapters.slack import serve as serve_slack

            jobs.append(serve_slack(core, secrets))
        else:
            from adapters.discord import serve as serve_discord

            jobs.append(serve_discord(core, secrets))
    # A task group, unlike gather, waits on cancellation until every adapter has finished
    # shutting down, so none is cut off mid-cleanup.
    try:
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job)
    except ExceptionGroup as failed:
        # One adapter failed (the others were stopped): report that failure itself.
        raise failed.exceptions[0] from None


def run(settings: Settings, lines: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """`coopbot run`: migrate, then serve the chosen adapters until they stop."""
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    # Migration chatter on every start is noise; failures still surface as exceptions.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    core = build_core(settings)
    try:
        asyncio.run(serve(core, choose_adapters(settings, Secrets.from_env()), lines, out))
    except ConfigError as err:
        # An adapter refused its credentials or settings at start-up: one line, no traceback.
        print(f"coopbot: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Adapters have already shut down cleanly by now; a traceback would only alarm.
        return 130
    return 0
