"""Outgoing Web API writes: FIFO queues, paced and retried on HTTP 429 until sent.

Slack allows about one chat.postMessage per second per channel and answers 429 with a
Retry-After when a limit is hit. Writes go out in order from one queue per key (the chat
uses a channel and a kind of write), so a rate-limited queue waits without holding up the
others, and a card edit still waiting is replaced by a newer edit of the same card instead
of piling up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[Any]]


@dataclass
class _Job:
    send: Send
    paced: bool
    replaces: Hashable | None
    future: asyncio.Future[Any]
    started: bool = False


@dataclass
class _Channel:
    jobs: deque[_Job] = field(default_factory=deque)
    last_post: float = float("-inf")
    worker: asyncio.Task[None] | None = None


def retry_after(err: SlackApiError) -> float:
    """The seconds a 429 answer asks to wait (1 when it does not say)."""
    headers = getattr(err.response, "headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except ValueError:
                break
    return 1.0


def is_rate_limited(err: Exception) -> bool:
    return isinstance(err, SlackApiError) and getattr(err.response, "status_code", 0) == 429


class Outbox:
    """FIFO queues of Web API writes, one per key."""

    def __init__(self, post_interval: float = 1.0, max_attempts: int = 10) -> None:
        self.post_interval = post_interval
        self.max_attempts = max_attempts
        self._channels: dict[Hashable, _Channel] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(
        self,
        channel: Hashable,
        send: Send,
        *,
        paced: bool = False,
        replaces: Hashable | None = None,
    ) -> asyncio.Future[Any]:
        """Queue `send` under `channel`; the future resolves with its result once it went out.

        `paced` spaces these sends `post_interval` apart in that queue (chat.postMessage).
        A queued, unstarted job with the same `replaces` key gets `send` instead.
        """
        queue = self._channels.setdefault(channel, _Channel())
        if replaces is not None:
            for job in queue.jobs:
                if job.replaces == replaces and not job.started:
                    job.send = send
                    return job.future
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue.jobs.append(_Job(send, paced, replaces, future))
        self._idle.clear()
        if queue.worker is None:
            queue.worker = asyncio.create_task(self._drain(channel, queue))
        return future

    def post_later(
        self,
        channel: Hashable,
        send: Send,
        what: str,
        *,
        paced: bool = False,
        replaces: Hashable | None = None,
    ) -> None:
        """Queue `send` without waiting for it; a final failure is logged."""

        def report(future: asyncio.Future[Any]) -> None:
            if not future.cancelled() and future.exception() is not None:
                log.error("gave up sending %s: %s", what, future.exception())

        self.submit(channel, send, paced=paced, replaces=replaces).add_done_callback(report)

    @property
    def idle(self) -> bool:
        return self._idle.is_set()

    async def join(self) -> None:
        """Wait until every queued send went out or failed."""
        await self._idle.wait()

    async def close(self, timeout: float) -> None:
        """Give queued sends `timeout` seconds to go out, then drop the rest."""
        try:
            await asyncio.wait_for(self.join(), timeout)
        except TimeoutError:
            left = sum(len(c.jobs) for c in self._channels.values())
            log.warning("stopping with %d Slack message(s) not sent", left)
        for queue in list(self._channels.values()):
            if queue.worker is not None:
                queue.worker.cancel()

    async def _drain(self, channel: Hashable, queue: _Channel) -> None:
        try:
            while queue.jobs:
                job = queue.jobs[0]
                job.started = True
                if job.paced:
                    wait = queue.last_post + self.post_interval - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                try:
                    result = await self._attempt(job)
                except Exception as err:  # noqa: BLE001 - handed to whoever awaits the job
                    if not job.future.done():
                        job.future.set_exception(err)
                else:
                    if not job.future.done():
                        job.future.set_result(result)
                finally:
                    if job.paced:
                        queue.last_post = time.monotonic()
                    queue.jobs.popleft()
        finally:
            for job in queue.jobs:
                job.future.cancel()
            queue.jobs.clear()
            queue.worker = None
            # Keep the entry while a paced send is recent, so the next one still waits.
            if time.monotonic() - queue.last_post >= self.post_interval:
                self._channels.pop(channel, None)
            if not any(c.jobs for c in self._channels.values()):
                self._idle.set()

    async def _attempt(self, job: _Job) -> Any:
        attempt = 1
        while True:
            try:
                return await job.send()
            except SlackApiError as err:
                if not is_rate_limited(err) or attempt >= self.max_attempts:
                    raise
                delay = retry_after(err)
                log.warning("Slack rate limit; retrying in %.0f s", delay)
            except aiohttp.ClientConnectorError:
                # Nothing reached Slack, so sending again cannot duplicate the message.
                if attempt >= self.max_attempts:
                    raise
                delay = min(30.0, 0.5 * 2**attempt)
                log.warning("cannot reach Slack; retrying in %.0f s", delay)
            attempt += 1
            await asyncio.sleep(delay)
