"""Threads of the core's own for blocking database calls, and a fair turn for writes.

Not the event loop's default executor: anything else in the process that waits there (a
library's to_thread, a slow DNS lookup) must never hold up recording an event an
acknowledgement waits for, nor sending.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class WriteTurns:
    """Writes from this process take turns, first come first served.

    SQLite lets one writer in at a time, and a writer that finds the database locked sleeps
    and polls; one that has just finished gets straight back in. Without turns, a steady
    stream of changes starves the outbox's claims for as long as the stream lasts. Other
    databases lock rows, not the file, and need no turns (`fair=False`).
    """

    def __init__(self, fair: bool = True) -> None:
        self.fair = fair
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _current(self) -> asyncio.Lock:
        # A lock belongs to one event loop; tests run several loops in a row.
        loop = asyncio.get_running_loop()
        if self._lock is None or loop is not self._loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    async def run(self, threads: Threads, call: Callable[..., T], *args: Any) -> T:
        if not self.fair:
            return await threads.run(call, *args)
        async with self._current():
            return await threads.run(call, *args)


class Threads:
    """A few named worker threads that blocking calls are run on."""

    def __init__(self, name: str, size: int) -> None:
        self._pool = ThreadPoolExecutor(size, thread_name_prefix=name)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(call, *args))
