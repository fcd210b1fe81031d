"""The operator's HTTP endpoints: /healthz (the process is up), /readyz (it can do its work:
database reachable and migrated, every adapter connected) and /metrics (Prometheus); and the
private calendar feeds, /calendar/<token>.ics, on the same listener."""

from __future__ import annotations

import asyncio
import logging
from functools import cached_property
from typing import Protocol

from aiohttp import web
from sqlalchemy import Engine, text

from bot import calendar
from bot.config import Settings
from bot.core import Core
from bot.metrics import CONTENT_TYPE
from storage.db import make_engine, unreachable
from storage.migrate import current_revision, head_revision
from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"
# A token as /coop calendar makes them (secrets.token_urlsafe(32): 43 characters).
CALENDAR_ROUTE = calendar.PATH.replace("{token}", "{token:[A-Za-z0-9_-]{20,100}}")
# A probe answers within this, whatever the database does: an orchestrator's probe times out
# after a few seconds, and a hung database is as good as an unreachable one.
PROBE_SECONDS = 3.0


class Connected(Protocol):
    async def connected(self) -> bool:
        """Whether the adapter is connected to its platform (or serving its requests)."""
        ...


class Ops:
    """Health, readiness and metrics of one core and the adapters it serves."""

    def __init__(self, core: Core, adapters: list[str]) -> None:
        self.core = core
        self.expected = list(adapters)
        self.adapters: dict[str, Connected] = {}
        self.stopping = False
        self.where: str | None = None  # host:port of a listener of its own

    def serving(self, name: str, adapter: Connected) -> None:
        self.adapters[name] = adapter

    def add_routes(self, server: web.Application) -> None:
        server.router.add_get(HEALTH_PATH, self._health)
        server.router.add_get(READY_PATH, self._ready)
        server.router.add_get(METRICS_PATH, self._metrics)
        server.router.add_get(CALENDAR_ROUTE, self._calendar)

    async def start(self, host: str, port: int) -> tuple[web.AppRunner, int]:
        """Listen on host:port (0: any free port); returns the runner and the bound port."""
        server = web.Application()
        self.add_routes(server)
        runner = web.AppRunner(server, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound = int(runner.addresses[0][1]) if runner.addresses else port
        self.where = f"{host}:{bound}"
        return runner, bound

    @cached_property
    def _engine(self) -> Engine:
        # Its own read-only engine, made at the first probe (a console that serves none never
        # makes it): a probe never waits for, or takes, SQLite's write lock.
        return make_engine(self.core.settings.database_url, read_only=True, probe=True)

    @cached_property
    def _head(self) -> str:
        return head_revision()

    def close(self) -> None:
        if "_engine" in self.__dict__:
            self._engine.dispose()

    async def readiness(self) -> list[tuple[str, str | None]]:
        """Each check with its problem (None: fine)."""
        checks: list[tuple[str, str | None]] = []
        try:
            database, migrations = await asyncio.wait_for(
                asyncio.to_thread(self._database), PROBE_SECONDS
            )
        except TimeoutError:
            database, migrations = f"no answer within {PROBE_SECONDS:g} s", "unknown"
        checks += [("database", database), ("migrations", migrations)]
        for name in self.expected:
            adapter = self.adapters.get(name)
            if self.stopping:
                problem: str | None = "stopping"
            elif adapter is None:
                problem = "starting"
            else:
                try:
                    ok = await asyncio.wait_for(adapter.connected(), PROBE_SECONDS)
                except Exception as err:  # a probe reports, it does not fail
                    log.info("readiness of %s: %r", name, err)
                    ok = False
                problem = None if ok else "not connected"
            checks.append((name, problem))
        return checks

    def _database(self) -> tuple[str | None, str | None]:
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current = current_revision(self._engine)
        except Exception as err:
            return unreachable(self.core.settings.database_url, err), "unknown"
        if current != self._head:
            return None, f"at {current or 'none'}, head is {self._head} (coopbot db upgrade)"
        return None, None

    async def _health(self, _: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _ready(self, _: web.Request) -> web.Response:
        checks = await self.readiness()
        ready = all(problem is None for _, problem in checks)
        lines = [("ready" if ready else "not ready")]
        lines += [f"{name}: {problem or 'ok'}" for name, problem in checks]
        return web.Response(status=200 if ready else 503, text="\n".join(lines) + "\n")

    async def _metrics(self, _: web.Request) -> web.Response:
        # Collecting reads the outbox's backlog from the database: off the event loop.
        body = await asyncio.to_thread(self.core.metrics.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def _calendar(self, request: web.Request) -> web.Response:
        # Unknown and revoked tokens look alike: a 404 that says nothing more.
        token = request.match_info["token"]
        try:
            body = await asyncio.to_thread(self._feed, token)
        except Exception:
            log.exception("reading a calendar feed failed")
            return web.Response(status=503, text="try again later\n")
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=body,
            headers={
                "Content-Type": "text/calendar; charset=utf-8",
                "Cache-Control": "private, max-age=300",
            },
        )

    def _feed(self, token: str) -> bytes | None:
        # On the probes' read-only engine: a calendar app polling never takes the write lock.
        with SqlUnitOfWork(self._engine) as uow:
            return calendar.feed_for(uow, token, self.core.coop.prefs, self.core.clock.now())


def calendar_url(
    settings: Settings,
    listening: tuple[str, int] | None,
    slack_http: bool,
    slack_port: int | None = None,
) -> str | None:
    """The base of the links /coop calendar hands out: ops.public_url, else the listener's
    own address (`listening`), else the Slack HTTP server's when the endpoints are on it
    (slack.public_url, or its host and `slack_port`, the port it bound, by default the
    configured one); None when nothing serves them."""
    on_slack = listening is None and slack_http and settings.ops.listen == "auto"
    if listening is None and not on_slack:
        return None
    if settings.ops.public_url:
        return settings.ops.public_url
    if listening is None:
        if settings.slack.public_url:
            return settings.slack.public_url.rstrip("/")
        port = settings.slack.http_port if slack_port is None else slack_port
        listening = (settings.slack.http_host, port)
    host, port = listening
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"
