"""Two real `coopbot run` processes on one PostgreSQL database take the last pledges of a
drive at the same moment: the drive tips once, into one task, and each of its group gets one
DM; the pledges that came too late are told so, privately.

The moment is made, not hoped for: the test holds the drive's row lock while the last pledges
arrive, half at each process, and lets go only once both processes wait on it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from storage.db import make_engine
from storage.migrate import upgrade
from tests.conftest import POSTGRES_URL
from tests.fakes.slack import Call, FakeSlack
from tests.process_support import (
    BotProcess,
    accepted_posts,
    bot_process,
    command,
    exported,
    slack_http_env,
    slack_port,
)

TITLE = "Paint the fence"
CREATOR = "UA"
EARLY = ["UB", "UC"]  # pledged with no condition
CAREFUL = "UD"  # pledged only if at least 3 others are in: not counted until the last ones
LAST_AT_ONE, LAST_AT_TWO = ["UE", "UF"], ["UG", "UH"]  # arrive at the same moment
LAST = LAST_AT_ONE + LAST_AT_TWO
TIPPED_LATE = "has tipped: the pledges are commitments on #2"


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards: the shared one may be
    reset by another test run while the two processes still work on it."""
    if not POSTGRES_URL:
        pytest.skip("COOPBOT_TEST_POSTGRES_URL is not set (.ci/run sets it to a local server)")
    server = make_url(POSTGRES_URL)
    name = f"coopbot_drive_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        upgrade(make_engine(url))  # before either process starts, so that they do not race
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scalar(url: str, query: str) -> Any:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def wait_until_settled(url: str, events: int, bots: Sequence[BotProcess]) -> None:
    """Until `events` events are recorded, none is left to apply and no delivery is left to
    do: every effect is written with its event, so after this no message can come."""
    deadline = time.monotonic() + 90
    engine = make_engine(url)
    try:
        while True:
            with engine.connect() as conn:
                state = conn.execute(
                    text(
                        "select (select count(*) from inbox),"
                        " (select count(*) from inbox where state = 'applying'),"
                        " (select count(*) from outbox where state in ('pending', 'sending'))"
                    )
                ).one()
            if state[0] >= events and state[1:] == (0, 0):
                return
            for bot in bots:
                assert bot.proc is not None and bot.proc.poll() is None, bot.log()
            assert time.monotonic() < deadline, f"(recorded, to apply, to deliver): {state}"
            time.sleep(0.05)
    finally:
        engine.dispose()


@contextmanager
def drive_locked(url: str, number: int) -> Iterator[Connection]:
    """Hold action `number`'s row lock, as a pledge being applied holds it, until the end."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            lock = "select id from action where number = :number for update"
            assert conn.execute(text(lock), {"number": number}).scalar_one()
            yield conn
    finally:
        engine.dispose()


def wait_until_both_wait(conn: Connection, events: int, bots: Sequence[BotProcess]) -> int:
    """Until `events` events are recorded and each process with one still to apply is stuck
    behind `conn`'s lock (a process applies one transaction at a time); how many
    transactions wait on it."""
    deadline = time.monotonic() + 60
    while True:
        recorded, owners = conn.execute(
            text(
                "select count(*), count(distinct owner) filter (where state = 'applying')"
                " from inbox"
            )
        ).one()
        waiting = conn.execute(
            text(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and wait_event_type = 'Lock' and pid <> pg_backend_pid()"
            )
        ).scalar_one()
        # With none left to apply, nothing waits: those were applied without the lock.
        if recorded >= events and waiting >= owners:
            return int(waiting)
        for bot in bots:
            assert bot.proc is not None and bot.proc.poll() is None, bot.log()
        assert time.monotonic() < deadline, f"{waiting} waiting on the lock, {owners} to apply"
        time.sleep(0.05)


async def all_at_once(sends: Sequence[tuple[int, str, str]]) -> list[int | None]:
    """Each (port, user, text) is sent at the same moment; how each was acknowledged."""
    return list(await asyncio.gather(*(command(port, user, said) for port, user, said in sends)))


def said_to(slack: FakeSlack) -> list[tuple[str, str]]:
    """(channel, text) of every message Slack accepted (a DM's channel is D + the person)."""
    return [(str(c.response["channel"]), str(c.params["text"])) for c in accepted_posts(slack)]


def dms(slack: FakeSlack) -> list[tuple[str, str]]:
    """(person, text) of every DM Slack accepted."""
    return [(where[1:], said) for where, said in said_to(slack) if where.startswith("D")]


def ephemerals(slack: FakeSlack, user: str) -> list[str]:
    calls: list[Call] = slack.calls_to("chat.postEphemeral")
    return [
        str(c.params["text"])
        for c in calls
        if c.status == 200 and c.response.get("ok") and c.params.get("user") == user
    ]


def tipped_dm(person: str, group: set[str]) -> str:
    """What the tip tells `person` of `group` (the fake names people by their id, lowercased)."""
    *others, last = sorted(p.lower() for p in group - {person})
    return (
        f"#1 “{TITLE}” tipped: 4 of 4 in. You're in, with {', '.join(others)} and {last}. "
        "Your pledge is now a commitment on task #2: I'll remind you before it's due."
    )


def test_last_pledges_at_two_processes_at_once_tip_the_drive_once(
    tmp_path: Path, database: str
) -> None:
    with FakeSlack() as slack:
        # Long leases: neither process dies here, and one must not take the other's
        # pledges over while both wait on the lock.
        env = slack_http_env(slack, database, COOPBOT_DELIVERY__LEASE_SECONDS="60")
        with bot_process(tmp_path, env, "one") as one, bot_process(tmp_path, env, "two") as two:
            one.start()
            two.start()
            ports = slack_port(one), slack_port(two)
            before = [
                (CREATOR, f'pledge "{TITLE}" goal:4 deadline:"tomorrow 5pm"'),
                *((user, "join #1") for user in EARLY),
                (CAREFUL, "join #1 if:3"),
            ]
            for done, (user, said) in enumerate(before, start=1):
                assert asyncio.run(command(ports[0], user, said)) == 200
                # One at a time: a slow-to-read deadline must not let a join go first (an
                # event still being prepared does not hold up others' later ones).
                wait_until_settled(database, done, [one, two])
            assert ephemerals(slack, CAREFUL) == [
                f"You've pledged to #1 “{TITLE}”, on a condition: you asked for at least 3 "
                "others and 2 are in. It counts as soon as that changes (2 of 4 in so far)."
            ]
            first_of_last = scalar(database, "select max(id) from inbox") + 1

            with drive_locked(database, 1) as lock:
                acks = asyncio.run(
                    all_at_once(
                        [(ports[0], user, "join #1") for user in LAST_AT_ONE]
                        + [(ports[1], user, "join #1") for user in LAST_AT_TWO]
                    )
                )
                assert acks == [200] * len(LAST)  # recorded, though none can be applied yet
                held = wait_until_both_wait(lock, len(before) + len(LAST), [one, two])
            wait_until_settled(database, len(before) + len(LAST), [one, two])
            pids = {str(one.pid): "one", str(two.pid): "two"}
        engine = make_engine(database)
        with engine.connect() as conn:
            query = "select owner, state from inbox where id >= :first"
            last = conn.execute(text(query), {"first": first_of_last}).all()
        engine.dispose()
        dump = exported(database, tmp_path)

    actions = {a["id"]: a for a in dump["actions"]}
    drive, tasks = actions[1], [a for a in actions.values() if a["kind"] == "task"]
    assert [t["id"] for t in tasks] == [2] and tasks[0]["title"] == TITLE  # one tip, one task
    assert drive["kind"] == "pledge" and drive["state"] == "tipped" and drive["drive"]["task"] == 2
    group = {c["member"] for c in tasks[0]["commitments"] if c["status"] == "committed"}
    [tipper] = group - {*EARLY, CAREFUL}  # the one last pledge that was applied first
    assert tipper in LAST and len(group) == 4, group
    pledged = {c["member"] for c in drive["commitments"] if c["status"] == "committed"}
    assert pledged == group  # the pledges after the tip were refused, not stored

    in_channel = [said for where, said in said_to(slack) if where == "C1"]
    tipped = [said for said in in_channel if "tipped" in said]
    assert tipped == [
        f"🎉 #1 “{TITLE}” tipped: 4 of 4 in! The pledges are now commitments on task #2."
    ]
    assert len([said for said in in_channel if said.startswith("#2 ")]) == 1  # the task's card
    assert len([said for said in in_channel if said.startswith("#1 ")]) == 1  # the drive's card

    told = dms(slack)
    assert Counter(person for person, _ in told) == Counter(group)  # one DM each, nobody else
    for person, said in told:
        assert said == tipped_dm(person, group)

    assert ephemerals(slack, tipper) == [f"Your pledge tipped #1 “{TITLE}”: 4 of 4 in!"]
    for late in set(LAST) - {tipper}:
        [answer] = ephemerals(slack, late)
        assert TIPPED_LATE in answer, (late, answer)

    # Both processes applied some of the last pledges, and both waited at the lock at once.
    assert {state for _, state in last} == {"applied"} and len(last) == len(LAST)
    appliers = Counter(pids.get(owner.split(":")[1]) for owner, _ in last)
    assert appliers == {"one": 2, "two": 2}, appliers
    assert held >= 2, "the last pledges did not wait on the drive's row lock"
