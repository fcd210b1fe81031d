"""What every adapter is given: settings, the store, the application and its two queues.

Built once at start-up by `bot.wiring.build_core`; adapters import this module, never the
wiring, so the composition root is the only place that knows every adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from bot.app import Coop
from bot.clock import AdjustableClock
from bot.config import Settings
from bot.dispatcher import Dispatcher
from bot.inbox import Inbox
from bot.metrics import Metrics
from bot.pacing import Pacing
from bot.ports import ChatPort, UnitOfWork
from bot.scheduler import Scheduler
from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Core:
    """The engine, the application, inbox, outbox and the alarm clock."""

    settings: Settings
    engine: Engine
    clock: AdjustableClock
    coop: Coop
    inbox: Inbox
    dispatcher: Dispatcher
    scheduler: Scheduler
    metrics: Metrics = field(default_factory=Metrics)
    # Routes an adapter that runs an HTTP server adds to it (the ops endpoints, in Slack's
    # HTTP mode): each is called with the aiohttp application.
    http_routes: list[Callable[[Any], None]] = field(default_factory=list)
    # Called with the port that server bound, once it has (http_port 0: any free one).
    http_bound: list[Callable[[int], None]] = field(default_factory=list)

    def uow(self) -> UnitOfWork:
        return SqlUnitOfWork(self.engine)

    def attach(self, platform: str, port: ChatPort, pacing: Pacing) -> None:
        """Serve `platform` through `port`: read from it while applying, send to it."""
        self.coop.attach(platform, port)
        self.dispatcher.attach(platform, port, pacing)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Core]:
        """Apply and deliver in the background; on exit, finish within `stop_seconds`.

        Stop the adapters' intake before leaving the block, and close their clients only
        after it: the last deliveries still go out through them.
        """
        loops = [
            asyncio.create_task(self.inbox.run(), name="inbox"),
            asyncio.create_task(self.dispatcher.run(), name="outbox"),
            asyncio.create_task(self.scheduler.run(), name="alarm"),
        ]
        try:
            yield self
        finally:
            await self.finish(self.settings.delivery.stop_seconds)
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def finish(self, timeout: float) -> None:
        """Apply what was received and send what is due, for at most `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        self.scheduler.stop()
        self.inbox.stop()
        await self.inbox.drain(timeout)
        self.dispatcher.stop()
        await self.dispatcher.flush(max(0.0, deadline - asyncio.get_running_loop().time()))

    async def idle(self) -> None:
        """Wait until everything received is applied and every delivery is done (tests)."""
        while True:
            await self.inbox.drain()
            await self.dispatcher.settle()
            if not self.inbox.busy:
                return
