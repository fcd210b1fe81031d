"""The one place that builds the store, clock, core and adapters from settings, and runs them
until they stop or a signal asks them to."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Protocol, TextIO

from bot import logs
from bot.app import Coop
from bot.clock import AdjustableClock, Clock, ShiftedClock, SystemClock
from bot.config import AdapterName, ConfigError, Secrets, Settings
from bot.core import Core
from bot.dispatcher import Dispatcher
from bot.inbox import Inbox
from bot.metrics import Backlog, Metrics, age
from bot.ops import Ops, calendar_url
from bot.ports import UnitOfWork
from bot.reminders import parse_offsets
from bot.scheduler import Scheduler
from bot.threads import WriteTurns
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

# Young objects collected after 10,000 allocations (not 700): a burst of events makes many
# short-lived objects, and each collection costs the same whether it finds garbage or not.
GC_THRESHOLDS = (10_000, 20, 20)


def build_core(
    settings: Settings,
    clock: AdjustableClock | None = None,
    migrate: bool = True,
    delivery_clock: Clock | None = None,
) -> Core:
    """Everything but the adapters. `clock` is the bot's now (the console's `:advance` and
    tests move it); leases, retries and pacing always follow `delivery_clock`, real time."""
    # Below debug logging, a failed statement's error does not carry its values (people's text).
    hide = settings.log_level != "DEBUG"
    engine = make_engine(settings.database_url, hide_parameters=hide)
    read_engine = make_engine(settings.database_url, read_only=True, hide_parameters=hide)
    if migrate:
        upgrade(engine)
    prefs = preferences(settings)
    clock = clock or ShiftedClock()
    delivery_clock = delivery_clock or SystemClock()

    def uow_factory() -> UnitOfWork:
        return SqlUnitOfWork(engine)

    def read_factory() -> UnitOfWork:
        return SqlUnitOfWork(read_engine)

    # Names this process in leases: unique even when two run on one host.
    owner = f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    delivery = settings.delivery
    # SQLite has one writer at a time: this process's writes take turns rather than poll.
    turns = WriteTurns(fair=engine.dialect.name == "sqlite")
    coop = Coop(uow_factory, clock, prefs, read_factory, delivery_clock, turns)
    inbox = Inbox(
        coop,
        uow_factory,
        delivery_clock,
        owner,
        lease=delivery.lease_seconds,
        ack_wait=delivery.ack_wait_seconds,
        poll=delivery.poll_seconds,
        keep=delivery.keep_hours * 3600,
    )
    dispatcher = Dispatcher(
        uow_factory,
        read_factory,
        delivery_clock,
        owner,
        lease=delivery.lease_seconds,
        poll=delivery.poll_seconds,
        turns=turns,
        card_clock=clock,
    )
    scheduler = Scheduler(
        uow_factory,
        read_factory,
        clock,
        prefs,
        delivery_clock,
        turns,
        sweep=settings.reminders.sweep_seconds,
        owner=owner,
    )
    coop.on_enqueued.append(dispatcher.kick)
    coop.on_scheduled.append(scheduler.scheduled)
    scheduler.on_enqueued.append(dispatcher.kick)
    metrics = Metrics()
    inbox.metrics = dispatcher.metrics = scheduler.metrics = metrics

    def backlog() -> list[Backlog]:
        now = delivery_clock.now()
        with read_factory() as uow:
            rows = uow.outbox.backlog()
        return [Backlog(p, n, age(now, oldest)) for p, n, oldest in rows]

    metrics.backlog(backlog)
    return Core(settings, engine, clock, coop, inbox, dispatcher, scheduler, metrics)


def preferences(settings: Settings) -> Preferences:
    """The operator's choices, as the use cases take them."""
    track, commit, done = settings.emoji.canonical()
    r = settings.reminders

    def hours(value: float) -> timedelta | None:
        return timedelta(hours=value) if value > 0 else None

    return Preferences(
        track,
        commit,
        done,
        settings.default_timezone,
        task_offsets=parse_offsets(r.task_reminders),
        short_before=hours(r.short_nudge_hours),
        checkin_after=hours(r.checkin_hours),
        drive_checkin_after=hours(24 * r.drive_checkin_days),
        grace=timedelta(hours=r.grace_hours),
        max_reminders=r.max_per_person,
        maybe_ask_before=hours(r.maybe_ask_hours),
        confirm_window=hours(r.confirm_window_hours),
        confirm_within=timedelta(hours=r.confirm_within_hours),
        horizon=timedelta(days=round(365.25 * settings.horizon_years)),
        languages=tuple(settings.time_languages),
    )


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


class Serving(Protocol):
    """A running adapter."""

    async def wait(self) -> None:
        """Return when the adapter stopped by itself (the console at end of input); raise
        when it failed."""
        ...

    async def stop_intake(self) -> None:
        """Take no more events; sending goes on until the adapter is closed."""
        ...

    async def connected(self) -> bool:
        """Whether it is connected to its platform (for /readyz)."""
        ...


def _open(
    name: AdapterName, core: Core, lines: TextIO, out: TextIO
) -> contextlib.AbstractAsyncContextManager[Serving]:
    # Imported here so that only the chosen platforms' libraries are loaded.
    if name == "console":
        from adapters.console import running as console

        return console(core, lines, out)
    secrets = Secrets.from_env()
    if name == "slack":
        from adapters.slack import running as slack

        return slack(core, secrets)
    from adapters.discord import running as discord

    return discord(core, secrets)


async def serve(
    core: Core,
    adapters: list[AdapterName],
    lines: TextIO,
    out: TextIO,
    stop: asyncio.Event | None = None,
    tune_gc: bool = False,
) -> None:
    """Run the chosen adapters until all have stopped, one fails, or `stop` is set; then stop
    taking events, finish what was taken and send what is due, and close the adapters.
    `tune_gc` (in a process of its own: `coopbot run`) sets the collector for steady latency."""
    stop = stop or asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        ops = await _ops(core, adapters, stack)
        served: list[Serving] = []
        for name in adapters:
            served.append(await stack.enter_async_context(_open(name, core, lines, out)))
            ops.serving(name, served[-1])
        if ops.where is not None:
            # Said once the adapters are up: a start-up that fails stays one line.
            log.info("ops: /healthz, /readyz and /metrics on %s", ops.where)
        if tune_gc:
            steady_gc()
        async with core.running():
            try:
                await _until_stopped(served, stop)
            finally:
                ops.stopping = True
                for adapter in served:
                    try:
                        await adapter.stop_intake()
                    except Exception:
                        log.exception("an adapter failed to stop taking events")


async def _ops(core: Core, adapters: list[AdapterName], stack: contextlib.AsyncExitStack) -> Ops:
    """The health and metrics endpoints: on a listener of their own, or on the Slack HTTP
    server (ops.listen: auto in Slack HTTP mode), or nowhere (the console alone, or off)."""
    ops = Ops(core, list(adapters))
    stack.callback(ops.close)
    settings = core.settings
    slack_http = "slack" in adapters and settings.slack.mode == "http"
    address = settings.ops.address(console_only=adapters == ["console"], slack_http=slack_http)
    listening: tuple[str, int] | None = None
    if address is not None:
        try:
            runner, port = await ops.start(*address)
            listening = (address[0], port)
        except OSError as err:
            raise ConfigError(
                f"setting ops.listen: cannot listen on {address[0]}:{address[1]} "
                f"({os.strerror(err.errno).lower() if err.errno else err}); choose another "
                "port, or off"
            ) from None
        stack.push_async_callback(runner.cleanup)
    elif slack_http and settings.ops.listen == "auto":
        core.http_routes.append(ops.add_routes)
        # Its address is known once it listens: http_port 0 leaves the port to the system.
        core.http_bound.append(lambda port: _link_calendars(core, None, True, port))
    _link_calendars(core, listening, slack_http)
    return ops


def _link_calendars(
    core: Core, listening: tuple[str, int] | None, slack_http: bool, slack_port: int | None = None
) -> None:
    """/coop calendar hands out links to where the feeds are served, or says they are off."""
    base = calendar_url(core.settings, listening, slack_http, slack_port)
    core.coop.prefs = dataclasses.replace(core.coop.prefs, calendar_url=base)


def steady_gc() -> None:
    """Keep full garbage collections off the hot path once everything is loaded.

    What start-up made (modules, the app, the ORM's mappers: most objects there will ever be)
    is moved out of the collector's sight, so a full collection walks only what came later
    instead of pausing for tens of milliseconds; young collections run less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _until_stopped(served: list[Serving], stop: asyncio.Event) -> None:
    waiting: set[asyncio.Task[Any]] = {asyncio.create_task(a.wait()) for a in served}
    stopped: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    try:
        while waiting:
            done, _ = await asyncio.wait(waiting | {stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:
                return
            for task in done:
                waiting.discard(task)
                task.result()  # an adapter's failure stops everything, and is reported
    finally:
        for task in (*waiting, stopped):
            task.cancel()


@contextlib.asynccontextmanager
async def _signals(stop: asyncio.Event) -> AsyncIterator[None]:
    """SIGTERM and SIGINT ask for a graceful stop; a second one stops at once."""
    loop = asyncio.get_running_loop()
    names = (signal.SIGTERM, signal.SIGINT)

    def graceful(signum: int) -> None:
        log.info("%s: stopping (again to stop at once)", signal.Signals(signum).name)
        stop.set()
        for sig in names:
            loop.remove_signal_handler(sig)

    for sig in names:
        loop.add_signal_handler(sig, graceful, sig)
    try:
        yield
    finally:
        for sig in names:
            loop.remove_signal_handler(sig)


def run(settings: Settings, lines: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """`coopbot run`: migrate, then serve the chosen adapters until they stop."""
    logs.configure(settings.log_level, settings.log_format)
    if lines.isatty() and settings.log_level != "DEBUG":
        # Someone is typing in this terminal: a log line per event would land amid the chat.
        logging.getLogger("bot.events").setLevel(logging.WARNING)
    core = build_core(settings)

    async def main() -> None:
        stop = asyncio.Event()
        async with _signals(stop):
            adapters = choose_adapters(settings, Secrets.from_env())
            await serve(core, adapters, lines, out, stop, tune_gc=True)

    try:
        asyncio.run(main())
    except ConfigError as err:
        # An adapter refused its credentials or settings at start-up: one line, no traceback.
        print(f"coopbot: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # A second Ctrl-C: what was not finished is in the database for the next start.
        return 130
    return 0
