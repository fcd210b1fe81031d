"""The alarm clock: wakes the bot when the next schedule is due and fires what is due.

The schedule table is the truth. APScheduler (3.x, asyncio) only rings: a one-off job at
the soonest `next_at` (re-armed after every tick and whenever something sooner is added),
and a periodic sweep in case a ring was missed (another process added a row, the machine
slept). Its job stores hold nothing that matters, so nothing is lost or run twice when a
process stops or several run at once: each tick locks the rows it fires.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import failpoints
from bot.clock import Clock
from bot.errors import StoreUnavailable
from bot.metrics import Metrics
from bot.model import Community, ScheduleState
from bot.occurrences import fire
from bot.ports import UnitOfWorkFactory
from bot.threads import Threads, WriteTurns
from bot.turn import Preferences

log = logging.getLogger(__name__)

BATCH = 200  # schedules fired per transaction
RETRY_BROKEN = timedelta(minutes=5)  # a schedule that failed to fire is tried again then
_CATCH_UP_STEPS = 100_000


class Scheduler:
    """Fires due schedules at `clock`'s now (the bot's: the console's `:advance` and tests
    move it); outbox rows are stamped with `delivery_clock` (real time, which the dispatcher
    compares with). `on_enqueued` is told when rows were written (the dispatcher's kick).
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        read_factory: UnitOfWorkFactory,
        clock: Clock,
        prefs: Preferences,
        delivery_clock: Clock | None = None,
        turns: WriteTurns | None = None,
        sweep: float = 60.0,
        owner: str = "",
    ) -> None:
        self.uow_factory = uow_factory
        self.read_factory = read_factory
        self.clock = clock
        self.delivery_clock = delivery_clock or clock
        self.prefs = prefs
        self.turns = turns or WriteTurns(fair=False)
        self.sweep = sweep
        self.owner = owner
        self.on_enqueued: list[Callable[[], None]] = []
        self._threads = Threads("coopbot-schedule", 2)
        self._wake: asyncio.Event | None = None
        self._armed_for: datetime | None = None
        self._stopping = False
        self.metrics = Metrics()

    # --- the one entry point ------------------------------------------------------------

    def tick(self, now: datetime) -> int:
        """Fire everything due by `now`, a batch per transaction; how many fired."""
        fired = 0
        communities: dict[int, Community] = {}
        while True:
            lags: list[float] = []
            with self.uow_factory() as uow:
                due = uow.schedules.due(now, BATCH)
                for schedule in due:
                    if schedule.next_at is not None:
                        lags.append(max(0.0, (now - schedule.next_at).total_seconds()))
                    if schedule.community_id not in communities:
                        communities[schedule.community_id] = uow.community_by_id(
                            schedule.community_id
                        )
                    community = communities[schedule.community_id]
                    try:
                        with uow.savepoint():
                            stamp = self.delivery_clock.now()
                            fire(uow, schedule, community, now, self.prefs, stamp, self.owner)
                    except StoreUnavailable:
                        raise
                    except Exception:
                        # One broken schedule must not hold up the rest: try it again later.
                        log.exception("schedule %s failed to fire", schedule.id)
                        schedule.state = ScheduleState.ACTIVE
                        schedule.next_at = now + RETRY_BROKEN
                        uow.schedules.save(schedule)
                if due:
                    failpoints.hold(failpoints.SCHEDULE_BEFORE_COMMIT, str(len(due)))
                uow.commit()
            for lag in lags:
                self.metrics.reminder_lag.observe(lag)
            fired += len(due)
            if len(due) < BATCH:
                return fired

    def catch_up(self, until: datetime) -> int:
        """Fire everything due by `until` as if the bot had been running all along: each at
        its own time, so nothing is late (the console's `:advance` moved the clock)."""
        fired = 0
        for _ in range(_CATCH_UP_STEPS):
            due = self._next_due()
            if due is None or due >= until:
                break
            fired += self.tick(due)
        return fired + self.tick(until)

    async def tick_now(self, catch_up: bool = False) -> int:
        """Fire what is due at the bot's now (`catch_up`: each at its own time), and kick
        delivery."""
        call = self.catch_up if catch_up else self.tick
        fired = await self.turns.run(self._threads, call, self.clock.now())
        if fired:
            for callback in self.on_enqueued:
                callback()
        return fired

    # --- the alarm clock -----------------------------------------------------------------

    def kick(self) -> None:
        """Look for due schedules now (the clock was moved, or something was added)."""
        if self._wake is not None:
            self._wake.set()

    def scheduled(self, at: datetime | None) -> None:
        """Something was added that is due at `at`: ring then, if sooner than the alarm."""
        if at is None or self._wake is None:
            return
        if self._armed_for is None or at < self._armed_for:
            self.kick()

    async def run(self) -> None:
        """Ring and fire until `stop()`."""
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        alarm = AsyncIOScheduler(event_loop=loop, timezone=UTC)
        alarm.add_job(
            self._ring,
            IntervalTrigger(seconds=self.sweep),
            id="sweep",
            coalesce=True,
            misfire_grace_time=None,
        )
        alarm.start()
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    await self.tick_now()
                    await self._arm(alarm)
                except StoreUnavailable as err:
                    log.warning("cannot fire reminders (%s); trying again shortly", err)
                    self._ring_in(alarm, timedelta(seconds=2))
                await self._wake.wait()
        finally:
            alarm.shutdown(wait=False)

    def stop(self) -> None:
        self._stopping = True
        self.kick()

    async def _ring(self) -> None:
        self.kick()

    async def _arm(self, alarm: AsyncIOScheduler) -> None:
        due = await self._threads.run(self._next_due)
        self._armed_for = due
        if due is None:
            if alarm.get_job("wake") is not None:
                alarm.remove_job("wake")
            return
        # The bot's clock may run ahead of real time (the console's :advance): ring after
        # the same interval in real time.
        self._ring_in(alarm, due - self.clock.now())

    def _ring_in(self, alarm: AsyncIOScheduler, delay: timedelta) -> None:
        when = datetime.now(UTC) + max(delay, timedelta())
        alarm.add_job(
            self._ring,
            DateTrigger(run_date=when),
            id="wake",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def _next_due(self) -> datetime | None:
        with self.read_factory() as uow:
            return uow.schedules.next_due()
