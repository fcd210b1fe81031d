"""Threads of the core's own for blocking database calls, and a fair turn for writes.

Not the event loop's default executor: anything else in the process that waits there (a
library's to_thread, a slow DNS lookup) must never hold up recording an event an
acknowledgement waits for, nor sending.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class WriteTurns:
    """Writes from this process take turns: first come first served, except that an urgent
    write (recording an event an acknowledgement waits for) goes before any waiting other.

    SQLite lets one writer in at a time, and a writer that finds the database locked sleeps
    and polls; one that has just finished gets straight back in. Without turns, a steady
    stream of changes starves the outbox's claims for as long as the stream lasts. Other
    databases lock rows, not the file, and need no turns (`fair=False`).
    """

    def __init__(self, fair: bool = True) -> None:
        self.fair = fair
        self._busy = False
        # Waiting writers, urgent ones first; each is handed the turn by its future.
        self._queues: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())

    async def run(
        self, threads: Threads, call: Callable[..., T], *args: Any, urgent: bool = False
    ) -> T:
        if not self.fair:
            return await threads.run(call, *args)
        await self._take(urgent)
        try:
            return await threads.run(call, *args)
        finally:
            self._hand_on()

    async def _take(self, urgent: bool) -> None:
        if not self._busy:
            self._busy = True
            return
        turn = asyncio.get_running_loop().create_future()
        queue = self._queues[0 if urgent else 1]
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._hand_on()  # handed the turn just as it was cancelled: pass it on
            elif turn in queue:
                queue.remove(turn)
            raise

    def _hand_on(self) -> None:
        for queue in self._queues:
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._busy = False


class Threads:
    """A few named worker threads that blocking calls are run on."""

    def __init__(self, name: str, size: int) -> None:
        self._pool = ThreadPoolExecutor(size, thread_name_prefix=name)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(call, *args))
