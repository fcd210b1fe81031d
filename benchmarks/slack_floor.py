"""The bare slack-bolt floor for `benchmarks.slack_paths`, and the signed-request load that both
coopbot and the floor are measured with.

This module imports slack-bolt, aiohttp and the fake Slack, never coopbot: the floor runs in a
process of its own (`python -m benchmarks.slack_floor ...` prints its figures as JSON) so that
its resident memory is that of a bare bolt app. On both sides the load comes from a further
process (`LoadProcess`), as Slack's requests come from outside the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from benchmarks.common import rss_mib
from tests.fakes.slack import (
    FakeSlack,
    event_callback_body,
    reaction_event,
    sign,
    slash_command_body,
)

EVENTS_PATH = "/slack/events"
BOT_TOKEN = "xoxb-test"
# Any message ts will do for the floor: its listener never looks at the item.
FLOOR_CARD_TS = "1700000000.000100"
# Generous bounds on one request and on the wait for the floor's answers.
REQUEST_SECONDS = 30.0
ANSWERS_SECONDS = 30.0


@dataclass(frozen=True)
class Signed:
    """One request as Slack would send it: the raw body and its signed headers."""

    body: bytes
    headers: dict[str, str]


def _signed(secret: str, body: str, content_type: str) -> Signed:
    return Signed(body.encode(), {**sign(secret, body), "Content-Type": content_type})


def command_request(
    secret: str, user: str, text: str, channel: str, response_url: str | None = None
) -> Signed:
    """A signed `/coop` slash command from `user` in `channel`."""
    extra = {"response_url": response_url} if response_url else {}
    return _signed(secret, *slash_command_body(text, user, channel, **extra))


def reaction_request(secret: str, user: str, reaction: str, channel: str, ts: str) -> Signed:
    """A signed `reaction_added` event callback: `user` reacted on message `ts`."""
    event = reaction_event("reaction_added", user, reaction, channel, ts)
    return _signed(secret, *event_callback_body(event))


# --- the load ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """When one request left and when its answer had been read, and the answer's status."""

    start: float
    end: float
    status: int

    @property
    def latency(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Load:
    """How a load went, timed with perf_counter in the load's process: when it began, each
    request in order, and (steady loads) when each was due."""

    began: float
    sent: list[Sent]
    due: list[float]
    # time.monotonic() - time.perf_counter() there: the fake Slack stamps calls with
    # time.monotonic, which (unlike perf_counter, by its documentation) one host shares.
    offset: float

    def from_fake(self, when: float) -> float:
        """A time the fake Slack recorded, on this load's clock."""
        return when - self.offset

    @property
    def acked(self) -> float:
        """When the last answer had been read."""
        return max(s.end for s in self.sent)

    @property
    def late(self) -> float:
        """How far (seconds) the latest request left behind its schedule."""
        return max((s.start - d for d, s in zip(self.due, self.sent, strict=True)), default=0.0)


@asynccontextmanager
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    # No connection limit: a slow server must show as slow answers, not as requests queued
    # inside the load generator.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session


async def _post(session: aiohttp.ClientSession, url: str, request: Signed) -> Sent:
    start = time.perf_counter()
    async with session.post(url, data=request.body, headers=request.headers) as answer:
        await answer.read()
    return Sent(start, time.perf_counter(), answer.status)


def _load(began: float, sent: Sequence[Sent | None], due: list[float], what: str) -> Load:
    failed = [s.status if s else None for s in sent if s is None or s.status != 200]
    if failed:
        raise RuntimeError(f"{what}: {len(failed)} request(s) not answered 200 ({failed[:5]})")
    done = [s for s in sent if s is not None]
    return Load(began, done, due, time.monotonic() - time.perf_counter())


async def _burst(url: str, requests: Sequence[Signed], concurrency: int) -> Load:
    slots: list[Sent | None] = [None] * len(requests)
    indices = iter(range(len(requests)))
    async with _session() as session:

        async def worker() -> None:
            # One iterator shared by every worker: each request is taken exactly once.
            for i in indices:
                slots[i] = await _post(session, url, requests[i])

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _load(began, slots, [], "burst")


async def _steady(url: str, requests: Sequence[Signed], rate: float) -> Load:
    async with _session() as session:
        began = time.perf_counter()
        due = [began + i / rate for i in range(len(requests))]
        flights: list[asyncio.Task[Sent]] = []
        for when, request in zip(due, requests, strict=True):
            wait = when - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            flights.append(asyncio.create_task(_post(session, url, request)))
        sent = await asyncio.gather(*flights)
    return _load(began, sent, due, "steady load")


def _run_burst(url: str, requests: Sequence[Signed], concurrency: int) -> Load:
    return asyncio.run(_burst(url, requests, concurrency))


def _run_steady(url: str, requests: Sequence[Signed], rate: float) -> Load:
    return asyncio.run(_steady(url, requests, rate))


def _ready() -> None:
    """Nothing: the load process has started and imported this module."""


class LoadProcess:
    """Sends Slack's requests from a process of its own, so that the server under test,
    busy or blocked, holds back neither the requests nor the clock that times them.

    Use as `with LoadProcess() as load:`; the process is started (and its imports paid for)
    before any load is sent.
    """

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def __enter__(self) -> Self:
        self._pool.submit(_ready).result()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown()

    async def burst(self, url: str, requests: Sequence[Signed], concurrency: int) -> Load:
        """Send `requests` from `concurrency` workers, each sending its next one as soon as
        its last was answered."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _run_burst, url, requests, concurrency)

    async def steady(self, url: str, requests: Sequence[Signed], rate: float) -> Load:
        """Send request i at i / `rate` seconds from the start, answered or not (an open
        loop, as Slack sends)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _run_steady, url, requests, rate)


# --- the bare bolt app ---------------------------------------------------------------------------


def bare_app(client: AsyncWebClient, secret: str, answer: bool) -> AsyncApp:
    """The least a bolt app can do with coopbot's requests: ack them (and, with `answer`,
    post a private answer to each command after its ack).

    Same flavour as the adapter: `AsyncApp`, answering only when a listener returns.
    """
    app = AsyncApp(client=client, signing_secret=secret, process_before_response=True)
    answering: set[asyncio.Task[Any]] = set()

    @app.event("reaction_added")
    async def on_reaction() -> None:
        """Bolt acknowledges an event once its listener returns."""

    @app.command("/coop")
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        if answer:
            # In the background, as coopbot answers: the ack goes out when this returns.
            post = client.chat_postEphemeral(
                channel=body["channel_id"], user=body["user_id"], text="You're in."
            )
            task = asyncio.create_task(post)
            answering.add(task)
            task.add_done_callback(answering.discard)

    return app


@asynccontextmanager
async def serving(app: AsyncApp) -> AsyncIterator[str]:
    """Serve `app` with bolt's own aiohttp server on a free local port; yields its URL."""
    runner = web.AppRunner(app.web_app(path=EVENTS_PATH), access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = int(runner.addresses[0][1])
    try:
        yield f"http://127.0.0.1:{port}{EVENTS_PATH}"
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class FloorSizes:
    people: int
    concurrency: int
    rate: float
    seconds: float


async def _warm_up(load: LoadProcess, url: str, secret: str) -> None:
    """One event and one command first, so bolt has checked its token (auth.test) already."""
    warm = [
        reaction_request(secret, "UWARM", "raised_hand", "C1", FLOOR_CARD_TS),
        command_request(secret, "UWARM", "join #1", "C1"),
    ]
    await load.burst(url, warm, 1)


def _commands(secret: str, users: Sequence[str]) -> list[Signed]:
    return [command_request(secret, user, "join #1", "C1") for user in users]


async def _measure(
    slack: FakeSlack, load: LoadProcess, sizes: FloorSizes, secret: str
) -> dict[str, Any]:
    count = round(sizes.rate * sizes.seconds)
    answering_users = [f"UB{i:05}" for i in range(count)]
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.base_url, session=session)
        async with serving(bare_app(client, secret, answer=False)) as url:
            await _warm_up(load, url, secret)
            reactions = [
                reaction_request(secret, f"UR{i:05}", "raised_hand", "C1", FLOOR_CARD_TS)
                for i in range(sizes.people)
            ]
            reacted = await load.burst(url, reactions, sizes.concurrency)
            acking_users = [f"UA{i:05}" for i in range(count)]
            acked = await load.steady(url, _commands(secret, acking_users), sizes.rate)
        async with serving(bare_app(client, secret, answer=True)) as url:
            await _warm_up(load, url, secret)
            answered = await load.steady(url, _commands(secret, answering_users), sizes.rate)
            await slack.await_call("chat.postEphemeral", count + 1, ANSWERS_SECONDS)
    arrived = {str(c.params.get("user")): c.time for c in slack.calls_to("chat.postEphemeral")}
    waited = [
        answered.from_fake(arrived[user]) - sent.start
        for user, sent in zip(answering_users, answered.sent, strict=True)
    ]
    return {
        "burst_seconds": reacted.acked - reacted.began,
        "events_per_second": sizes.people / (reacted.acked - reacted.began),
        "ack_ms": [s.latency * 1000 for s in acked.sent],
        "late_ms": acked.late * 1000,
        "answer_ms": [w * 1000 for w in waited],
        "answering_late_ms": answered.late * 1000,
        "rss_mib": rss_mib(),
    }


def measure(sizes: FloorSizes, secret: str) -> dict[str, Any]:
    """Every floor figure, measured in this process against a fake Slack of its own."""
    with LoadProcess() as load, FakeSlack() as slack:
        return asyncio.run(_measure(slack, load, sizes, secret))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--secret", required=True, help="the signing secret to sign with")
    args = parser.parse_args()
    sizes = FloorSizes(args.people, args.concurrency, args.rate, args.seconds)
    print(json.dumps(measure(sizes, args.secret)))


if __name__ == "__main__":
    main()
