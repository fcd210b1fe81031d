"""A join costs the same on a full card as on an empty one, and every read takes a fixed
number of statements whatever the number of actions."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from bot.events import CommandInvoked, Inbound
from tests.harness import TestBot


@contextmanager
def counting(bot: TestBot) -> Iterator[list[str]]:
    """Every query the bot's engine runs inside the block (not BEGIN, SAVEPOINT...)."""
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        if not sql.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")):
            statements.append(sql)

    event.listen(bot.engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(bot.engine, "before_cursor_execute", seen)


def applied(bot: TestBot, who: str, line: str) -> None:
    """Record and apply one command, without delivering what it says."""
    event_ = CommandInvoked(bot.member(who), bot.channel(), line)
    asyncio.run(bot.inbox.handle(Inbound(event_)))


def statements_of(bot: TestBot, who: str, line: str) -> list[str]:
    with counting(bot) as statements:
        applied(bot, who, line)
    return statements


def fill(bot: TestBot, number: int, people: int) -> None:
    for i in range(people):
        applied(bot, f"p{number}-{i}", f"join #{number}")


def test_a_join_takes_the_same_statements_on_a_full_card(database_url: str) -> None:
    bot = TestBot(database_url)
    applied(bot, "alice", 'task "Small" need:1')
    applied(bot, "alice", 'task "Big" need:100')
    fill(bot, 2, 120)  # full, with a waitlist of 20
    small = statements_of(bot, "zoe", "join #1")
    big = statements_of(bot, "yann", "join #2")  # a newcomer too
    assert len(big) == len(small) <= 15  # recording it and applying it
    # Leaving a full card promotes the first on its waitlist without reading the rest.
    leave_small = statements_of(bot, "zoe", "leave #1")
    leave_big = statements_of(bot, "p2-0", "leave #2")
    # Plus: find who waited longest, promote them, audit it and queue their DM.
    assert len(leave_big) == len(leave_small) + 4
    assert bot.statuses(2)["p2-100"] == "committed"
    assert bot.statuses(2)["p2-101"] == "waitlisted"


def sqlite_steps(bot: TestBot) -> Callable[[], int]:
    """A counter of SQLite virtual-machine steps on every connection (rows scanned show)."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    def hook(conn: sqlite3.Connection, _record: Any) -> None:
        conn.set_progress_handler(step, 1)

    event.listen(bot.engine, "connect", hook)
    bot.engine.dispose()  # connections made from now on count
    return lambda: steps[0]


def test_a_join_reads_no_more_rows_on_a_full_card(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    applied(bot, "alice", 'task "Small"')
    applied(bot, "alice", 'task "Big"')
    fill(bot, 2, 300)
    steps = sqlite_steps(bot)
    before = steps()
    applied(bot, "zoe", "join #1")
    small = steps() - before
    before = steps()
    applied(bot, "yann", "join #2")
    big = steps() - before
    # Reading 300 commitments would take thousands of steps more; an index lookup a few.
    assert big < small * 1.2, (small, big)


def test_reads_take_a_fixed_number_of_statements(database_url: str) -> None:
    bot = TestBot(database_url)
    applied(bot, "alice", 'task "First" due:"in 3 days"')
    applied(bot, "bob", "join #1")
    one = {line: statements_of(bot, "bob", line) for line in ("list", "mine", "show #1")}
    for n in range(2, 41):
        applied(bot, "alice", f'task "Task {n}" need:3 due:"in {n} days"')
        for who in ("bob", "carol", "dave"):
            applied(bot, who, f"join #{n}")
    forty = {line: statements_of(bot, "bob", line) for line in ("list", "mine", "show #1")}
    assert {k: len(v) for k, v in forty.items()} == {k: len(v) for k, v in one.items()}
    bot.deliver()
    answers = [s.text for s in bot.chat.of("private", "bob")]
    [*_, listed] = [a for a in answers if a.startswith("Open actions here")]
    [*_, mine] = [a for a in answers if a.startswith("Your open commitments")]
    assert listed.count("\n") == mine.count("\n") == 40  # a heading and 40 lines
    assert "#40 Task 40 — 3/3 in, due" in listed and "#40 Task 40 — 3/3 in" in mine

    home = asyncio.run(bot.coop.commitments_of(bot.member("bob")))
    with counting(bot) as statements:
        home = asyncio.run(bot.coop.commitments_of(bot.member("bob")))
    assert len(home) == 40 and [p.name for p in home[1].committed] == ["Bob", "Carol", "Dave"]
    assert len(statements) <= 3
    with counting(bot) as statements:
        cards = asyncio.run(bot.coop.open_cards(bot.member("bob").community))
    assert len(cards) == 40 and len(statements) <= 3
