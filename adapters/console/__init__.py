"""A terminal chat with several people and channels: the default way to try coopbot."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TextIO

from adapters.console.chat import PLATFORM, ConsoleChat
from adapters.console.numbering import highest_message_number
from adapters.console.session import ConsoleSession
from adapters.console.terminal import reading
from bot.core import Core
from bot.pacing import CONSOLE
from bot.refs import CommunityRef

__all__ = ["ConsoleChat", "ConsoleSession", "running"]


class RunningConsole:
    """The console reading its input until the end, or until told to stop."""

    def __init__(self, session: ConsoleSession, lines: TextIO) -> None:
        self._reading = asyncio.create_task(session.run(reading(lines, session.chat.out)))

    async def wait(self) -> None:
        await asyncio.shield(self._reading)

    async def connected(self) -> bool:
        return not self._reading.done()

    async def stop_intake(self) -> None:
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading


@contextlib.asynccontextmanager
async def running(core: Core, lines: TextIO, out: TextIO) -> AsyncIterator[RunningConsole]:
    settings = core.settings
    community = CommunityRef(PLATFORM, "console", "console")
    after = await asyncio.to_thread(highest_message_number, core.engine, community)
    chat = ConsoleChat(out, community, settings.default_timezone, after)
    core.attach(PLATFORM, chat, CONSOLE)
    session = ConsoleSession(core, chat, settings.console.channel, settings.console.admins)
    console = RunningConsole(session, lines)
    try:
        yield console
    finally:
        await console.stop_intake()
