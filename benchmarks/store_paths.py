"""`/coop list`, `/coop mine` and `/coop join` on a big store, each against a raw-SQL floor.

Run by hand from the repository root:
`python -m benchmarks.store_paths [--quick] [--postgres URL]`. A fresh database (a SQLite file,
and PostgreSQL when given, whose tables are dropped) is filled with one community of 2,000
members, 100,000 tasks over 2,000 channels and 1,000,000 commitments (`--quick`: 2,000 tasks
and 20,000 commitments). The benchmark channel has 50 open tasks and the benchmark member 30
open commitments. Each command is recorded in the inbox beforehand; what is timed is applying
one recorded command: coopbot's `Coop.apply`, and the same work in hand-written SQL on the bare
driver (the floor), alternating, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from benchmarks.common import Result, as_coopbot_run, median, percentile, table, to_json
from bot import codec
from bot.app import Coop
from bot.clock import ManualClock, SystemClock
from bot.events import CommandInvoked, Inbound
from bot.outbox import decode
from bot.queues import InboxEntry
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.usecases import Preferences
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork
from tests.harness import RecordingChat

TEAM = CommunityRef("bench", "T1", "Bench")
CHANNEL = "C0000"
BENCH_MEMBER = 1
OWNER = "store-bench"
START = datetime(2026, 11, 27, 10, tzinfo=UTC)
OPEN_HERE = 50
OPEN_MINE = 30
# Outside the benchmark channel, the share of tasks still open: most are long closed.
OPEN_SHARE = 0.02
NEEDS = (None, 2, 3, 5, 8, 10, 12, 15, 20)
VERBS = ("Bring", "Fix", "Paint", "Sort", "Deliver", "Clean", "Print", "Collect", "Plan")
THINGS = ("chairs", "the fence", "flyers", "the van", "seedlings", "the kitchen", "banners")
CHUNK = 50_000
TARGET = "p50 ≤ 5× floor, p99 < 10 ms"


@dataclass(frozen=True)
class Scale:
    """How much data, and how many timed repetitions of each command after a warm-up."""

    tasks: int
    commitments: int
    members: int
    channels: int
    channel_tasks: int  # of `tasks`, how many are in the benchmark channel (open or not)
    reps: int
    warmup: int


FULL = Scale(100_000, 1_000_000, 2_000, 2_000, 1_000, 300, 30)
QUICK = Scale(2_000, 20_000, 2_000, 40, 100, 100, 10)


@dataclass(frozen=True)
class Person:
    """A generated member, as the platform names them."""

    external_id: str
    name: str


def person(member_id: int) -> Person:
    return Person(f"U{member_id:05d}", f"Member {member_id}")


@dataclass(frozen=True)
class Join:
    """`who` joins task `number`, on which they have no commitment and there is room."""

    who: Person
    number: int
    title: str

    @property
    def reply(self) -> str:
        return f"You're in on #{self.number} “{self.title}”."


@dataclass
class Plan:
    """What the generator made that the measurements need to know."""

    counters: bool
    member: Person = field(default_factory=lambda: person(BENCH_MEMBER))
    # Alternately the floor's and coopbot's: each a new member on a task with room.
    joins: list[Join] = field(default_factory=list)


# --- the data ---------------------------------------------------------------------------------


def reset(engine: Engine) -> None:
    """Nothing left from an earlier run (a SQLite file is new each run anyway)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))


def has_counters(engine: Engine) -> bool:
    """Whether `action` keeps in/waiting/last-seq counters, in the model and in the database
    (a migration may lag the model while the schema is being changed)."""
    action = SQLModel.metadata.tables["action"]
    columns = {c["name"] for c in inspect(engine).get_columns("action")}
    counters = ("in_count", "waiting_count", "last_seq")
    return all(name in action.c and name in columns for name in counters)


@dataclass
class _Task:
    number: int
    channel: str
    state: str
    need: int | None
    size: int = 0
    bench_role: str | None = None  # how the benchmark member is on it, if at all


def _tasks(scale: Scale, rng: random.Random) -> list[_Task]:
    """Every task's channel, state and commitment count; the counts add up exactly."""
    numbers = range(1, scale.tasks + 1)
    here = set(rng.sample(numbers, scale.channel_tasks))
    open_here = set(rng.sample(sorted(here), OPEN_HERE))
    tasks: list[_Task] = []
    for n in numbers:
        if n in here:
            channel, is_open = CHANNEL, n in open_here
        else:
            channel = f"C{rng.randrange(1, scale.channels):04d}"
            is_open = rng.random() < OPEN_SHARE
        state = "open" if is_open else rng.choice(("closed", "closed", "closed", "cancelled"))
        tasks.append(_Task(n, channel, state, rng.choice(NEEDS)))
    open_tasks = [t for t in tasks if t.state == "open"]
    closed_tasks = [t for t in tasks if t.state != "open"]
    # The benchmark member: 30 open commitments, a few that are not open any more on open
    # tasks (the query must skip them) and a typical member's history on closed ones.
    picked = rng.sample(open_tasks, OPEN_MINE + 6)
    for t in picked[:OPEN_MINE]:
        t.bench_role = "open"
    for t in picked[OPEN_MINE : OPEN_MINE + 3]:
        t.bench_role = "withdrawn"
    for t in picked[OPEN_MINE + 3 :]:
        t.bench_role = "done"
    history = max(0, scale.commitments // scale.members - OPEN_MINE - 6)
    for t in rng.sample(closed_tasks, history):
        t.bench_role = "history"
    cap = min(scale.members - 1, 40)
    assert scale.commitments <= cap * scale.tasks, "too many commitments for the tasks"
    for t in tasks:
        t.size = max(rng.randint(0, 20), 1 if t.bench_role else 0)
    left = scale.commitments - sum(t.size for t in tasks)
    while left:
        t = rng.choice(tasks)
        step = 1 if left > 0 else -1
        if (step > 0 and t.size < cap) or (step < 0 and t.size > (1 if t.bench_role else 0)):
            t.size += step
            left -= step
    return tasks


def _commitments(task: _Task, members: int, rng: random.Random) -> Iterator[tuple[int, str, int]]:
    """(member id, status, seq) for `task`, as a sequence of joins would have left them.

    Whoever joined while the task was full is waitlisted, so a waitlist exists only on a full
    task; a withdrawal frees no place here because everyone later joined after it.
    """
    others = rng.sample(range(BENCH_MEMBER + 1, members + 1), task.size - bool(task.bench_role))
    order = [*others, BENCH_MEMBER] if task.bench_role else others
    closed = task.state != "open"
    held = 0
    for seq, member in enumerate(order, 1):
        role = task.bench_role if member == BENCH_MEMBER else None
        room = task.need is None or held < task.need
        if role == "open":
            status = "committed" if room else "waitlisted"
        elif role == "withdrawn" or (role != "done" and rng.random() < 0.1):
            status = "withdrawn"
        elif not room:
            status = "withdrawn" if role == "done" else "waitlisted"
        elif role == "done" or rng.random() < (0.7 if closed else 0.2):
            status = "done"
        else:
            status = "committed"
        held += status in ("committed", "done")
        yield member, status, seq


def generate(engine: Engine, scale: Scale, rng: random.Random) -> Plan:
    """Fill a freshly migrated database; bulk Core inserts, one transaction."""
    tables = SQLModel.metadata.tables
    action, commitment = tables["action"], tables["commitment"]
    plan = Plan(counters=has_counters(engine))
    tasks = _tasks(scale, rng)
    joins_each = math.ceil(2 * (scale.reps + scale.warmup) / OPEN_HERE)
    targets = [t for t in tasks if t.channel == CHANNEL and t.state == "open"]
    for t in targets:
        # Room for every join the benchmark makes: each is a commitment, not a waitlisting.
        t.need = rng.choice((None, t.size + joins_each + rng.randint(1, 10)))
    on_target: dict[int, set[int]] = {t.number: set() for t in targets}
    titles: dict[int, str] = {}
    with engine.begin() as conn:
        conn.execute(
            tables["community"].insert(),
            [
                {
                    "id": 1,
                    "platform": TEAM.platform,
                    "external_id": TEAM.id,
                    "name": TEAM.name,
                    "next_number": scale.tasks + 1,
                }
            ],
        )
        conn.execute(
            tables["member"].insert(),
            [
                {
                    "id": m,
                    "community_id": 1,
                    "external_id": person(m).external_id,
                    "display_name": person(m).name,
                    "tz": None,
                }
                for m in range(1, scale.members + 1)
            ],
        )
        actions: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for t in tasks:
            created = START - timedelta(days=730 * (scale.tasks - t.number) / scale.tasks + 1)
            title = f"{rng.choice(VERBS)} {rng.choice(THINGS)} ({t.number})"
            titles[t.number] = title
            held = waiting = 0
            for member, status, seq in _commitments(t, scale.members, rng):
                held += status in ("committed", "done")
                waiting += status == "waitlisted"
                if t.number in on_target:
                    on_target[t.number].add(member)
                rows.append(
                    {
                        "action_id": t.number,
                        "member_id": member,
                        "status": status,
                        "via": rng.choice(("reaction", "command", "button")),
                        "seq": seq,
                        "at": created + timedelta(minutes=7 * seq),
                    }
                )
            due = None
            if rng.random() < 0.5:
                due = (START if t.state == "open" else created) + timedelta(
                    days=rng.randint(1, 30), hours=7
                )
            row = {
                "id": t.number,
                "community_id": 1,
                "number": t.number,
                "kind": "task",
                "title": title,
                "body": title,
                "channel_id": t.channel,
                "creator_id": rng.randint(1, scale.members),
                "state": t.state,
                "need": t.need,
                "due_at": due,
                "created_at": created,
                "source_message_id": None,
                "card_message_id": f"c{t.number}",
                "thread_id": None,
            }
            if plan.counters:
                row |= {"in_count": held, "waiting_count": waiting, "last_seq": t.size}
            actions.append(row)
            if len(rows) >= CHUNK:
                # Tasks first: the commitments' foreign keys point at them.
                conn.execute(action.insert(), actions)
                conn.execute(commitment.insert(), rows)
                actions, rows = [], []
        if actions:
            conn.execute(action.insert(), actions)
        if rows:
            conn.execute(commitment.insert(), rows)
    plan.joins = _joins(targets, on_target, titles, scale, rng)
    return plan


def _joins(
    targets: list[_Task],
    on_target: dict[int, set[int]],
    titles: dict[int, str],
    scale: Scale,
    rng: random.Random,
) -> list[Join]:
    """Distinct members, each joining an open task of the channel that they are not on."""
    pool = list(range(BENCH_MEMBER + 1, scale.members + 1))
    rng.shuffle(pool)
    joins: list[Join] = []
    for i in range(2 * (scale.reps + scale.warmup)):
        task = targets[i % len(targets)]
        member = next(m for m in pool if m not in on_target[task.number])
        pool.remove(member)
        joins.append(Join(person(member), task.number, titles[task.number]))
    return joins


def verify(engine: Engine, scale: Scale, plan: Plan) -> None:
    """Fail loudly when the data is not what the measurements assume."""
    held = "sum(CASE WHEN c.status IN ('committed', 'done') THEN 1 ELSE 0 END)"
    waiting = "sum(CASE WHEN c.status = 'waitlisted' THEN 1 ELSE 0 END)"
    # Seqs run 1..n; a waitlist only where the task is full; the counters agree.
    wrong = [
        "count(c.id) <> coalesce(max(c.seq), 0)",
        "count(DISTINCT c.seq) <> count(c.id)",
        f"{waiting} > 0 AND (a.need IS NULL OR {held} < a.need)",
    ]
    grouped = ["a.id", "a.need"]
    if plan.counters:
        grouped += ["a.in_count", "a.waiting_count", "a.last_seq"]
        wrong += [
            f"a.in_count <> coalesce({held}, 0)",
            f"a.waiting_count <> coalesce({waiting}, 0)",
            "a.last_seq <> coalesce(max(c.seq), 0)",
        ]
    checks = {
        "commitments": ("SELECT count(*) FROM commitment", scale.commitments),
        "tasks": ("SELECT count(*) FROM action", scale.tasks),
        "open tasks in the channel": (
            f"SELECT count(*) FROM action WHERE channel_id = '{CHANNEL}' AND state = 'open'",
            OPEN_HERE,
        ),
        "open commitments of the member": (
            "SELECT count(*) FROM commitment c JOIN action a ON a.id = c.action_id"
            f" WHERE c.member_id = {BENCH_MEMBER} AND a.state = 'open'"
            " AND c.status IN ('committed', 'waitlisted')",
            OPEN_MINE,
        ),
        "inconsistent tasks": (
            "SELECT count(*) FROM (SELECT a.id FROM action a"
            " LEFT JOIN commitment c ON c.action_id = a.id"
            f" GROUP BY {', '.join(grouped)} HAVING {' OR '.join(wrong)}) AS bad",
            0,
        ),
    }
    with engine.connect() as conn:
        found = {name: conn.execute(text(sql)).scalar_one() for name, (sql, _) in checks.items()}
    bad = {name: n for name, n in found.items() if n != checks[name][1]}
    assert not bad, f"generated data is off: {bad}"


def after_load(engine: Engine, url: str) -> None:
    """Leave the database as a running one would be: statistics known, the WAL written back."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("community", "member", "action"):
                # Rows were given their ids; the sequences must move past them.
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
        return
    db = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


# --- the floor --------------------------------------------------------------------------------


def _summary(
    number: int, title: str, need: int | None, held: int, due: datetime | None, tz: str
) -> str:
    progress = f"{held}/{need} in" if need else f"{held} in"
    shown = ""
    if due is not None:
        local = due.astimezone(ZoneInfo(tz)).strftime("%a %d %b %Y %H:%M")
        shown = f", due {local} ({tz})"
    return f"#{number} {title} — {progress}{shown}"


class Floor:
    """coopbot's work for one command in hand-written SQL, on the bare DBAPI connection."""

    driver = ""
    mark = "?"
    lock = ""

    def __init__(self, conn: Any, counters: bool) -> None:
        self.conn = conn
        self.counters = counters

    # What differs between the drivers.
    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        self.conn.commit()

    def stamp(self, when: datetime) -> Any:
        raise NotImplementedError

    def moment(self, value: Any) -> datetime | None:
        raise NotImplementedError

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql.replace("?", self.mark), params)

    # The work.
    def record(self, keys: list[str]) -> list[int]:
        """Inbox rows held by this process, as an adapter would have recorded them."""
        self.begin()
        held = (TEAM.platform, OWNER, self.stamp(START + timedelta(days=1)), self.stamp(START))
        insert = (
            "INSERT INTO inbox (key, platform, payload, state, owner, attempts, lease_until,"
            " received_at, error) VALUES (?, ?, '{}', 'applying', ?, 1, ?, ?, '') RETURNING id"
        )
        ids = [self.run(insert, (key, *held)).fetchone()[0] for key in keys]
        self.commit()
        return ids

    def _start(self, entry: int, member: str) -> tuple[int, int, str]:
        """Settle the inbox row; the community's and member's ids, and the member's zone."""
        self.begin()
        settled = self.run(
            "UPDATE inbox SET state = 'applied', applied_at = ?, lease_until = NULL, error = ''"
            " WHERE id = ? AND owner = ? AND attempts = 1 AND state = 'applying' RETURNING id",
            (self.stamp(datetime.now(UTC)), entry, OWNER),
        ).fetchone()
        assert settled is not None, f"inbox row {entry} was settled before"
        [community] = self.run(
            "SELECT id FROM community WHERE platform = ? AND external_id = ?",
            (TEAM.platform, TEAM.id),
        ).fetchone()
        found = self.run(
            "SELECT id, display_name, tz FROM member WHERE community_id = ? AND external_id = ?",
            (community, member),
        ).fetchone()
        return community, found[0], found[2] or "UTC"

    def _reply(self, member: str, channel: str, reply: str) -> str:
        """Queue `reply` to `member` and commit."""
        now = self.stamp(datetime.now(UTC))
        payload = json.dumps({"to": member, "channel": channel, "text": reply}, ensure_ascii=False)
        lane = f"to:{TEAM.platform}:{TEAM.id}:{member}"
        self.run(
            "INSERT INTO outbox (platform, community, kind, lane, target, payload, state, claims,"
            " attempts, maybe_sent, not_before, created_at, error)"
            " VALUES (?, ?, 'reply', ?, ?, ?, 'pending', 0, 0, FALSE, ?, ?, '')",
            (TEAM.platform, TEAM.id, lane, member, payload, now, now),
        )
        self.commit()
        return reply

    def _held(self) -> str:
        """How many are in on task `a`: its counter, or counted from its commitments."""
        if self.counters:
            return "a.in_count"
        return (
            "(SELECT count(*) FROM commitment k WHERE k.action_id = a.id"
            " AND k.status IN ('committed', 'done'))"
        )

    def _lines(self, head: str, rows: list[Any], tz: str) -> str:
        lines = [head]
        for number, title, need, held, due, *status in rows:
            waiting = " (waitlisted)" if status == ["waitlisted"] else ""
            lines.append(_summary(number, title, need, held, self.moment(due), tz) + waiting)
        return "\n".join(lines)

    def list_open(self, entry: int, member: str, channel: str) -> str:
        community, _, tz = self._start(entry, member)
        # `+number`: with no statistics SQLite would rather walk the (community, number)
        # index through every task of the community than sort the channel's few open ones.
        rows = self.run(
            f"SELECT a.number, a.title, a.need, {self._held()}, a.due_at FROM action a"
            " WHERE a.community_id = ? AND a.channel_id = ? AND a.state = 'open'"
            " ORDER BY +a.number",
            (community, channel),
        ).fetchall()
        return self._reply(member, channel, self._lines("Open actions here:", rows, tz))

    def mine(self, entry: int, member: str, channel: str) -> str:
        _, member_id, tz = self._start(entry, member)
        rows = self.run(
            f"SELECT a.number, a.title, a.need, {self._held()}, a.due_at, c.status"
            " FROM commitment c JOIN action a ON a.id = c.action_id"
            " WHERE c.member_id = ? AND c.status IN ('committed', 'waitlisted')"
            " AND a.state = 'open' ORDER BY a.number",
            (member_id,),
        ).fetchall()
        return self._reply(member, channel, self._lines("Your open commitments:", rows, tz))

    def _task(self, community: int, number: int) -> tuple[int, str, int | None, int, int, int]:
        """The open task `number`, locked: id, title, need, in, waiting and its last seq."""
        where = " FROM action WHERE community_id = ? AND number = ? AND state = 'open'"
        if self.counters:
            columns = "SELECT id, title, need, in_count, waiting_count, last_seq"
            task_id, title, need, held, waiting, last_seq = self.run(
                columns + where + self.lock, (community, number)
            ).fetchone()
            return task_id, title, need, held, waiting, last_seq
        task_id, title, need = self.run(
            "SELECT id, title, need" + where + self.lock, (community, number)
        ).fetchone()
        held, waiting, last_seq = self.run(
            "SELECT coalesce(sum(CASE WHEN status IN ('committed', 'done') THEN 1 END), 0),"
            " coalesce(sum(CASE WHEN status = 'waitlisted' THEN 1 END), 0), coalesce(max(seq), 0)"
            " FROM commitment WHERE action_id = ?",
            (task_id,),
        ).fetchone()
        return task_id, title, need, held, waiting, last_seq

    def join(self, entry: int, member: str, channel: str, number: int) -> str:
        community, member_id, _ = self._start(entry, member)
        task_id, title, need, held, waiting, last_seq = self._task(community, number)
        label = f"#{number} “{title}”"
        current = self.run(
            "SELECT id, status FROM commitment WHERE action_id = ? AND member_id = ?",
            (task_id, member_id),
        ).fetchone()
        if current is not None and current[1] != "withdrawn":
            return self._reply(member, channel, f"You're already in on {label}.")
        status = "committed" if need is None or held < need else "waitlisted"
        at, seq = self.stamp(START), last_seq + 1
        if current is None:
            self.run(
                "INSERT INTO commitment (action_id, member_id, status, via, seq, at)"
                " VALUES (?, ?, ?, 'command', ?, ?)",
                (task_id, member_id, status, seq, at),
            )
        else:
            self.run(
                "UPDATE commitment SET status = ?, via = 'command', seq = ?, at = ? WHERE id = ?",
                (status, seq, at, current[0]),
            )
        if self.counters:
            counter = "in_count" if status == "committed" else "waiting_count"
            self.run(
                f"UPDATE action SET {counter} = {counter} + 1, last_seq = ? WHERE id = ?",
                (seq, task_id),
            )
        self.run(
            "INSERT INTO audit_log (community_id, action_id, actor_id, kind, via, detail, at)"
            " VALUES (?, ?, ?, ?, 'command', '', ?)",
            (community, task_id, member_id, f"commitment.{status}", at),
        )
        reply = f"You're in on {label}."
        if status == "waitlisted":
            reply = (
                f"{label} is full, so you're number {waiting + 1} on the waitlist. "
                "I'll message you if a spot opens."
            )
        return self._reply(member, channel, reply)

    def close(self) -> None:
        self.conn.close()


class SqliteFloor(Floor):
    """sqlite3 set up as storage.db sets up coopbot's connections, BEGIN IMMEDIATE to write."""

    driver = "sqlite3"

    def __init__(self, path: str, counters: bool, synchronous: int) -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=15)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=15000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA synchronous={int(synchronous)}")
        super().__init__(conn, counters)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def stamp(self, when: datetime) -> str:
        # The text SQLAlchemy's SQLite DateTime writes, so both read each other's rows.
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def moment(self, value: Any) -> datetime | None:
        return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None


class PostgresFloor(Floor):
    """psycopg on its defaults, as SQLAlchemy's engine uses it; row locks for writes."""

    driver = "psycopg"
    mark = "%s"
    lock = " FOR UPDATE"

    def __init__(self, url: str, counters: bool) -> None:
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        super().__init__(psycopg.connect(conninfo), counters)

    def begin(self) -> None:
        """psycopg opens the transaction with the first statement."""

    def stamp(self, when: datetime) -> datetime:
        return when.astimezone(UTC).replace(tzinfo=None)

    def moment(self, value: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value else None


def sqlite_synchronous(engine: Engine) -> int:
    """The `synchronous` level coopbot's own SQLite connections run with."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


# --- coopbot ----------------------------------------------------------------------------------


class CoopRig:
    """The core's apply path on `url`, as bench_core builds it, with a recording chat."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.read = make_engine(url, read_only=True)
        self.clock = ManualClock(START)
        self.coop = Coop(
            lambda: SqlUnitOfWork(self.engine),
            self.clock,
            Preferences(),
            lambda: SqlUnitOfWork(self.read),
            SystemClock(),
        )
        self.coop.attach(TEAM.platform, RecordingChat())
        as_coopbot_run()

    def record(self, events: list[CommandInvoked]) -> list[InboxEntry]:
        """Record `events` the way the inbox does, in batches; the entries to apply."""
        inbounds = [Inbound(e) for e in events]
        entries: list[InboxEntry] = []
        for start in range(0, len(inbounds), 200):
            batch = inbounds[start : start + 200]
            rows = [
                (i.key or "", i.event.actor.community.platform, codec.dumps(i), START)
                for i in batch
            ]
            with SqlUnitOfWork(self.engine) as uow:
                ids = uow.inbox.record(rows, OWNER, START + timedelta(days=1))
                uow.commit()
            for inbound, entry_id in zip(batch, ids, strict=True):
                assert entry_id is not None, "inbox key recorded twice"
                entries.append(InboxEntry(entry_id, inbound.key or "", inbound, START, 1))
        return entries

    async def apply(self, entry: InboxEntry) -> None:
        if not await self.coop.apply(entry, OWNER):
            raise RuntimeError(f"inbox entry {entry.id} was not applied")

    def last_reply(self) -> str:
        outbox = SQLModel.metadata.tables["outbox"]
        query = select(outbox.c.payload).where(outbox.c.kind == "reply")
        with self.engine.connect() as conn:
            payload = conn.execute(query.order_by(outbox.c.id.desc()).limit(1)).scalar_one()
        return str(getattr(decode(payload).effect, "text", ""))

    def failed(self, prefix: str) -> int:
        """Entries under `prefix` that ended other than applied (an apology was sent)."""
        inbox = SQLModel.metadata.tables["inbox"]
        query = select(inbox.c.id).where(inbox.c.key.like(f"{prefix}%"), inbox.c.state != "applied")
        with self.engine.connect() as conn:
            return len(conn.execute(query).all())

    def close(self) -> None:
        self.engine.dispose()
        self.read.dispose()


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Case:
    """One command: coopbot's events, step by step, and the floor's way of doing each step."""

    command: str
    events: list[CommandInvoked]
    floor: Callable[[int, int], str]  # (step, inbox row id) -> the reply
    first_reply: str | None = None  # the first step's reply, when known beforehand


def cases(plan: Plan, floor: Floor, n: int) -> list[Case]:
    me = plan.member
    actor = MemberRef(TEAM, me.external_id, me.name)
    channel = ChannelRef(TEAM, CHANNEL)

    def asked(command: str) -> list[CommandInvoked]:
        return [CommandInvoked(actor, channel, command, f"coop-{command}-{i}") for i in range(n)]

    floor_joins, coop_joins = plan.joins[0::2], plan.joins[1::2]

    def join(i: int, entry: int) -> str:
        j = floor_joins[i]
        return floor.join(entry, j.who.external_id, CHANNEL, j.number)

    joined = [
        CommandInvoked(
            MemberRef(TEAM, j.who.external_id, j.who.name),
            channel,
            f"join #{j.number}",
            f"coop-join-{i}",
        )
        for i, j in enumerate(coop_joins[:n])
    ]
    return [
        Case(
            "list", asked("list"), lambda _, entry: floor.list_open(entry, me.external_id, CHANNEL)
        ),
        Case("mine", asked("mine"), lambda _, entry: floor.mine(entry, me.external_id, CHANNEL)),
        Case("join", joined, join, coop_joins[0].reply),
    ]


def check(case: Case, coopbot: str, floor: str) -> list[str]:
    """What is wrong with the first replies, if anything."""
    wanted = {"list": OPEN_HERE, "mine": OPEN_MINE}.get(case.command)
    problems = []
    for who, reply in (("coopbot", coopbot), ("floor", floor)):
        lines = reply.count("\n")
        if wanted is not None and lines != wanted:
            problems.append(f"{who}'s reply lists {lines}, not {wanted}")
    if case.first_reply is not None:
        if coopbot != case.first_reply:
            problems.append(f"coopbot replied {coopbot[:60]!r}")
    elif coopbot != floor:
        problems.append("coopbot's reply differs from the floor's")
    return problems


@dataclass
class Series:
    """Milliseconds per step after the warm-up, and anything that went wrong."""

    floor: list[float] = field(default_factory=list)
    coopbot: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def measure(case: Case, floor: Floor, rig: CoopRig | str, scale: Scale) -> Series:
    """Time floor and coopbot step by step, alternating which goes first; after a warm-up.

    `rig` is why coopbot could not be started, when it could not.
    """
    series = Series()
    n = scale.warmup + scale.reps
    floor_ids = floor.record(
        [f"{TEAM.platform}:{TEAM.id}:floor-{case.command}-{i}" for i in range(n)]
    )
    entries: list[InboxEntry] = []
    if isinstance(rig, str):
        series.problems.append(f"coopbot could not start: {rig}")
    else:
        try:
            entries = rig.record(case.events)
        except Exception as err:  # the core may be mid-change: the floor is still measured
            series.problems.append(f"coopbot could not record: {type(err).__name__}: {err}"[:200])

    def floor_step(i: int) -> tuple[float, str]:
        start = time.perf_counter()
        reply = case.floor(i, floor_ids[i])
        return (time.perf_counter() - start) * 1000, reply

    coop_reply = ""
    gc.collect()
    for i in range(n):
        floor_ms, reply = floor_step(i) if i % 2 else (0.0, "")
        coop_ms = None
        if entries:
            assert isinstance(rig, CoopRig)
            try:
                start = time.perf_counter()
                await rig.apply(entries[i])
                coop_ms = (time.perf_counter() - start) * 1000
            except Exception as err:
                series.problems.append(f"coopbot raised {type(err).__name__}: {err}"[:200])
                entries = []
            if i == 0 and coop_ms is not None:
                # Read now: the floor's reply is the newest row once it has run.
                coop_reply = rig.last_reply()
        if not i % 2:
            floor_ms, reply = floor_step(i)
        if i == 0 and coop_ms is not None:
            series.problems += check(case, coop_reply, reply)
        if i >= scale.warmup:
            series.floor.append(floor_ms)
            if coop_ms is not None:
                series.coopbot.append(coop_ms)
    if isinstance(rig, CoopRig) and series.coopbot:
        failed = rig.failed(f"{TEAM.platform}:{TEAM.id}:coop-{case.command}-")
        if failed:
            series.problems.append(f"{failed} commands not applied cleanly")
    return series


def result(case: Case, db: str, scale: Scale, floor: Floor, series: Series) -> Result:
    floor50, floor99 = median(series.floor), percentile(series.floor, 0.99)
    if len(series.coopbot) == len(series.floor):
        coop50, coop99 = median(series.coopbot), percentile(series.coopbot, 0.99)
        met = coop50 <= 5 * floor50 and coop99 < 10 and not series.problems
        timing = f"p99 coopbot {coop99:.2f} ms, floor {floor99:.2f} ms"
    else:
        coop50, met = math.nan, False
        timing = f"p99 floor {floor99:.2f} ms; coopbot not measured"
    counted = "counter columns" if floor.counters else "no counter columns: the floor counts"
    return Result(
        path=f"/coop {case.command} ({db}, {scale.tasks // 1000}k tasks)",
        floor_label=f"raw SQL on {floor.driver}",
        floor=floor50,
        coopbot=coop50,
        unit="ms",
        higher_is_better=False,
        target=TARGET,
        met=met,
        note="; ".join([timing, f"{len(series.floor)} reps", counted, *series.problems]),
    )


async def bench_commands(
    db: str, scale: Scale, plan: Plan, floor: Floor, rig: CoopRig | str
) -> list[Result]:
    """Measure the three commands one after the other, floor and coopbot side by side."""
    results = []
    for case in cases(plan, floor, scale.warmup + scale.reps):
        series = await measure(case, floor, rig, scale)
        results.append(result(case, db, scale, floor, series))
    return results


def bench_database(url: str, scale: Scale) -> list[Result]:
    """Fill the database at `url` afresh, then measure the three commands on it."""
    db = make_url(url).get_backend_name()
    engine = make_engine(url)
    try:
        reset(engine)
        upgrade(engine)
        started = time.perf_counter()
        plan = generate(engine, scale, random.Random(2026))
        verify(engine, scale, plan)
        after_load(engine, url)
        print(
            f"{db}: {scale.tasks} tasks, {scale.commitments} commitments in "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        floor: Floor
        if db == "postgresql":
            floor = PostgresFloor(url, plan.counters)
        else:
            floor = SqliteFloor(
                make_url(url).database or "", plan.counters, sqlite_synchronous(engine)
            )
    finally:
        engine.dispose()
    rig: CoopRig | str
    try:
        rig = CoopRig(url)
    except Exception as err:  # the core may be mid-change: the floor is still measured
        rig = f"{type(err).__name__}: {err}"[:200]
    try:
        return asyncio.run(bench_commands(db, scale, plan, floor, rig))
    finally:
        floor.close()
        if isinstance(rig, CoopRig):
            rig.close()


def run(quick: bool = False, postgres: str | None = None) -> list[Result]:
    """Every row: the three commands on a SQLite file, and on PostgreSQL when given."""
    scale = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as tmp:
        results = bench_database(f"sqlite:///{Path(tmp) / 'store.db'}", scale)
    if postgres:
        results += bench_database(postgres, scale)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="2,000 tasks, in seconds")
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be emptied")
    args = parser.parse_args()
    results = run(args.quick, args.postgres)
    if args.json:
        print(to_json(results))
        return
    print(f"target: {TARGET}; floor = p50 of the same work in raw SQL")
    print(table(results))


if __name__ == "__main__":
    main()
