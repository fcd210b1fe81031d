"""The alarm clock (APScheduler rings, the schedule table decides) and firing from two
schedulers at once: every occurrence exactly once."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.clock import ManualClock, ShiftedClock
from bot.model import Occurrence, OccurrenceState, Schedule, ScheduleKind, Target
from bot.refs import CommunityRef, MemberRef
from bot.scheduler import Scheduler
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork

COMMUNITY = CommunityRef("test", "T1", "Test team")


def add_reminders(engine: Any, at: datetime, count: int = 1, text: str = "Hello") -> None:
    """`count` one-off reminders, each for its own person, due at `at`."""
    with SqlUnitOfWork(engine) as uow:
        community = uow.community(COMMUNITY)
        for i in range(count):
            member = uow.member(community, MemberRef(COMMUNITY, f"U{i:04d}", f"P{i}"))
            uow.schedules.add(
                Schedule(
                    community_id=community.id,
                    kind=ScheduleKind.REMIND,
                    tz="UTC",
                    created_at=at,
                    next_at=at,
                    text=f"{text} {i}",
                    target=Target.MEMBER,
                    creator=member,
                    to_member=member,
                )
            )
        uow.commit()


def occurrences(engine: Any) -> list[Occurrence]:
    with SqlUnitOfWork(engine) as uow:
        return [o for r in uow.schedules.records() for o in r.occurrences]


def scheduler(engine: Any, clock: Any, owner: str = "one", sweep: float = 60.0) -> Scheduler:
    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    return Scheduler(uow, uow, clock, Preferences(), sweep=sweep, owner=owner)


async def until_fired(s: Scheduler, count: int, timeout: float = 10.0) -> None:
    """Run the alarm clock until `count` occurrences were fired (or fail after `timeout`)."""
    fired = asyncio.Event()
    engine = s.uow_factory().engine  # type: ignore[attr-defined]

    def check() -> None:
        if len(occurrences(engine)) >= count:
            fired.set()

    s.on_enqueued.append(check)
    running = asyncio.create_task(s.run())
    try:
        await asyncio.wait_for(fired.wait(), timeout)
    finally:
        s.stop()
        await running


def test_the_alarm_rings_when_the_soonest_reminder_is_due(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    clock = ShiftedClock()
    due = clock.now() + timedelta(milliseconds=300)
    add_reminders(engine, due)
    add_reminders(engine, due + timedelta(days=1), text="Later")
    asyncio.run(until_fired(scheduler(engine, clock), 1))
    (fired,) = occurrences(engine)
    # Not before its time, and on time (no "late" marker).
    assert fired.fired_at >= due and fired.state is OccurrenceState.SENT


def test_the_sweep_finds_what_another_process_added(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    clock = ShiftedClock()
    s = scheduler(engine, clock, sweep=0.2)

    async def scenario() -> None:
        running = asyncio.create_task(until_fired(s, 1))
        await asyncio.sleep(0)  # the alarm starts with nothing to ring for
        # Added behind its back, with no call to `scheduled`: only the sweep can find it.
        await asyncio.to_thread(add_reminders, engine, clock.now())
        await running

    asyncio.run(scenario())
    assert len(occurrences(engine)) == 1


def test_something_sooner_re_arms_the_alarm(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    clock = ShiftedClock()
    add_reminders(engine, clock.now() + timedelta(hours=1), text="Later")
    s = scheduler(engine, clock)

    async def scenario() -> None:
        running = asyncio.create_task(until_fired(s, 1))
        for _ in range(100):  # let it arm for the hour-away one first
            await asyncio.sleep(0)
        soon = clock.now() + timedelta(milliseconds=200)
        await asyncio.to_thread(add_reminders, engine, soon)
        s.scheduled(soon)
        await running

    asyncio.run(scenario())
    assert [o.state for o in occurrences(engine)] == [OccurrenceState.SENT]


def test_an_occurrence_is_recorded_once(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    add_reminders(engine, at)
    with SqlUnitOfWork(engine) as uow:
        (record,) = list(uow.schedules.records())
        assert record.schedule.id is not None
        first = Occurrence(record.schedule.id, at, at, OccurrenceState.SENT)
        again = Occurrence(record.schedule.id, at, at, OccurrenceState.SENT)
        assert uow.schedules.occur(first) and first.id is not None
        assert not uow.schedules.occur(again) and again.id is None
        uow.commit()


def test_two_schedulers_share_a_burst_and_fire_each_reminder_once(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    add_reminders(engine, at, 1000)
    clock = ManualClock(at)
    b_claimed = threading.Event()

    def gated(owner: str) -> Scheduler:
        """A scheduler whose first claim is held open until the other has claimed too, so
        the two are certainly at work at the same time."""

        def uow() -> SqlUnitOfWork:
            unit = SqlUnitOfWork(engine)
            claim = unit.schedules.due

            def due(now: datetime, limit: int) -> list[Schedule]:
                rows = claim(now, limit)
                if owner == "b":
                    b_claimed.set()
                elif not b_claimed.is_set():
                    assert b_claimed.wait(30), "the second scheduler never claimed"
                return rows

            unit.schedules.due = due  # type: ignore[method-assign]
            return unit

        return Scheduler(uow, uow, clock, Preferences(), owner=owner)

    a, b = gated("a"), gated("b")
    results: dict[str, int] = {}
    threads = [
        threading.Thread(target=lambda s=s, n=n: results.__setitem__(n, s.tick(at)))
        for s, n in ((a, "a"), (b, "b"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    fired = occurrences(engine)
    assert len(fired) == 1000 and len({o.schedule_id for o in fired}) == 1000
    by = Counter(o.fired_by for o in fired)
    assert set(by) == {"a", "b"} and sum(by.values()) == 1000, by
    with SqlUnitOfWork(engine) as uow:
        rows = list(uow.outbox.records())
    assert len(rows) == 1000 and len({r.occurrence_id for r in rows}) == 1000
    assert results["a"] + results["b"] == 1000


@pytest.mark.parametrize("late_by", [timedelta(hours=3), timedelta(days=2)])
def test_a_recurring_reminder_that_missed_runs_fires_once(
    sqlite_url: str, late_by: timedelta
) -> None:
    from tests.harness import START, TestBot

    bot = TestBot(sqlite_url)
    bot.say("alice", '/coop remind me "Hourly check" when:"in 1 hour" every:"0 * * * *"')
    restarted = TestBot(sqlite_url)
    restarted.clock.advance(timedelta(hours=1) + late_by)
    sent = [s for s in restarted.tick() if s.kind == "dm"]
    assert len(sent) == 1 and "Late" not in sent[0].text  # the latest run, on the hour
    (record,) = restarted.schedules()
    assert len(record.occurrences) == 1
    assert record.schedule.next_at == START + timedelta(hours=2) + late_by


def test_a_schedule_that_cannot_fire_holds_up_nothing_and_is_tried_again(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    add_reminders(engine, at, 3)
    with engine.begin() as conn:  # one row made unreadable, as a bad release might leave it
        from sqlalchemy import text

        conn.execute(text("UPDATE schedule SET rule = 'cron nonsense' WHERE text = 'Hello 1'"))
    s = scheduler(engine, ManualClock(at))
    assert s.tick(at) == 3
    fired = {o.schedule_id for o in occurrences(engine)}
    with SqlUnitOfWork(engine) as uow:
        records = {r.schedule.text: r.schedule for r in uow.schedules.records()}
    assert fired == {records["Hello 0"].id, records["Hello 2"].id}
    assert records["Hello 1"].next_at == at + timedelta(minutes=5)
    assert records["Hello 1"].state.value == "active"
