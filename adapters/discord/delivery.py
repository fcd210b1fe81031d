"""Sending through rate limits: retried sends, and card edits in the background.

discord.py already waits out a 429 (per route and global) and retries up to five times; this
adds the rest. Sends still rate limited after that are retried after Retry-After. Card edits
run in the background, so the core never waits for a rate-limited edit: one that fails for a
transient reason is retried with a growing pause, and while it waits, a newer card for the same
message replaces it, so a busy card costs one edit per pause instead of one per change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp
import discord

from bot.cards import Card
from bot.refs import MessageRef

log = logging.getLogger(__name__)

Edit = Callable[[MessageRef, Card], Awaitable[None]]
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """A failure worth retrying: a rate limit, a server error or a broken connection."""
    if isinstance(exc, discord.HTTPException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, OSError | aiohttp.ClientError | asyncio.TimeoutError)


def retry_delay(exc: BaseException, attempt: int, cap: float = 60.0) -> float:
    """Discord's Retry-After when it gave one, else 1, 2, 4... seconds up to `cap`."""
    response = getattr(exc, "response", None)
    header = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return min(cap, float(header)) if header else min(cap, 2.0 ** (attempt - 1))
    except ValueError:
        return min(cap, 2.0 ** (attempt - 1))


async def send_retrying(send: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    """Call `send` again while it is rate limited; other failures are raised at once.

    Only a 429 is retried here: Discord did not act on it, so a retry cannot duplicate a post.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await send()
        except discord.HTTPException as exc:
            if exc.status != 429 or attempt == attempts:
                raise
            await asyncio.sleep(retry_delay(exc, attempt))
    raise AssertionError("unreachable")


class CardEditor:
    """Applies the newest card to each card message, one edit at a time per message."""

    def __init__(self, edit: Edit, max_attempts: int = 10) -> None:
        self._edit = edit
        self._max_attempts = max_attempts
        self._pending: dict[str, tuple[MessageRef, Card]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    def submit(self, message: MessageRef, card: Card) -> None:
        """Queue `card` for `message`, replacing any card still waiting for it."""
        key = f"{message.channel.id}/{message.id}"
        self._pending[key] = (message, card)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._work(key), name=f"card-edit-{key}")

    async def _work(self, key: str) -> None:
        attempt = 0
        try:
            while key in self._pending:
                message, card = self._pending.pop(key)
                try:
                    await self._edit(message, card)
                    attempt = 0
                except Exception as exc:
                    if not is_transient(exc):
                        log.warning("card edit of message %s refused: %s", message.id, exc)
                        continue
                    attempt += 1
                    if attempt >= self._max_attempts:
                        log.error("gave up editing message %s after %d tries", message.id, attempt)
                        continue
                    self._pending.setdefault(key, (message, card))  # unless a newer card came
                    delay = retry_delay(exc, attempt)
                    log.info("card edit of message %s delayed %.1fs: %s", message.id, delay, exc)
                    await asyncio.sleep(delay)
        finally:
            self._workers.pop(key, None)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for queued edits, then cancel what is left."""
        workers = list(self._workers.values())
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=timeout)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if late:
            log.warning("%d card edits were not sent before shutdown", len(late))
