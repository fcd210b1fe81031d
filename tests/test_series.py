"""Recurring tasks through the core with the manual clock and a real database: each
occurrence opens as its own task when the one before is due, at the same wall-clock time
across daylight-saving changes, and `/coop stop` ends the series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.export import action_record
from bot.usecases import Preferences
from storage.uow import SqlUnitOfWork
from tests.harness import COMMUNITY, START, Sent, TestBot
from tests.test_reminders import move_to

# The first Saturday 10:00 in Berlin after START (Fri 27 Nov 2026, 10:00 UTC), and the next.
FIRST = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SECOND = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
WEEKLY = '/coop task "Park clean-up" need:2 every:"saturday 10am"'
# Only the due times (and what series open): fewer rows to fire where only those matter.
LEAN = Preferences(task_offsets=(), short_before=None, checkin_after=None, maybe_ask_before=None)


def posts(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.kind == "post"]


def berlin_bot(url: str, **kwargs: object) -> TestBot:
    bot = TestBot(url, admins=("root",), **kwargs)  # type: ignore[arg-type]
    bot.say("alice", "/coop tz Europe/Berlin")
    return bot


def kinds_of(bot: TestBot, number: int) -> list[str]:
    """The kinds of the active schedules of action `number`."""
    action_id = _action_id(bot, number)
    return sorted(
        r.schedule.kind.value
        for r in bot.schedules()
        if r.schedule.action_id == action_id and r.schedule.next_at is not None
    )


def _action_id(bot: TestBot, number: int) -> int:
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(uow.community(COMMUNITY).id, number)
        assert action is not None and action.id is not None
        return action.id


def test_the_next_occurrence_opens_at_the_due_time_as_its_own_task(sqlite_url: str) -> None:
    bot = berlin_bot(sqlite_url)
    first = posts(bot.say("alice", WEEKLY))
    assert first[0].card is not None and first[0].card.due_at == FIRST
    assert first[0].card.repeats == "every Saturday at 10:00 (Europe/Berlin)"
    assert "repeats every Saturday at 10:00 (Europe/Berlin)" in bot.say("bob", "show #1")[0].text
    bot.say("bob", "/coop join #1")

    assert not posts(move_to(bot, FIRST - timedelta(minutes=1)))
    opened = posts(move_to(bot, FIRST))
    assert [(p.card.number, p.card.due_at) for p in opened if p.card] == [(2, SECOND)]
    assert opened[0].to == "general" and opened[0].card is not None
    assert opened[0].card.title == "Park clean-up" and opened[0].card.need == 2
    assert opened[0].card.committed == ()  # its own sign-ups, from nobody
    bot.say("carol", "/coop join #2")
    assert bot.statuses(1) == {"bob": "committed"}
    assert bot.statuses(2) == {"carol": "committed"}
    # Its own schedule: reminders, due, nudge, check-in, and the row opening #3.
    assert kinds_of(bot, 2) == ["checkin", "due", "maybe", "series", "short", "task", "task"]
    assert "series" not in kinds_of(bot, 1)
    assert [p.card.number for p in posts(move_to(bot, SECOND)) if p.card] == [3]
    with SqlUnitOfWork(bot.engine) as uow:
        exported = [action_record(row) for row in uow.export()]
    assert [r["series"]["rule"] for r in exported] == ["week sat 10:00"] * 3
    assert {r["series"]["tz"] for r in exported} == {"Europe/Berlin"}


def test_due_is_the_first_occurrence_and_the_rule_sets_the_rest(sqlite_url: str) -> None:
    bot = berlin_bot(sqlite_url)
    sent = bot.say("alice", '/coop task "Stock-take" every:week due:"2026-12-02 18:00"')
    assert sent[0].card is not None and sent[0].card.due_at == datetime(2026, 12, 2, 17, tzinfo=UTC)
    assert sent[0].card.repeats == "every Wednesday at 18:00 (Europe/Berlin)"
    bot.say("alice", '/coop task "Quiz" every:"mon,thu 19:30" remind:"1h"')
    opened = posts(move_to(bot, datetime(2026, 11, 30, 18, 30, tzinfo=UTC)))  # Mon 19:30 CET
    assert [(p.card.title, p.card.due_at) for p in opened if p.card] == [
        ("Quiz", datetime(2026, 12, 3, 18, 30, tzinfo=UTC))  # then Thursday's
    ]
    # remind: carries over: one reminder an hour before, none of the defaults.
    assert sorted(kinds_of(bot, 3)) == ["checkin", "due", "maybe", "series", "task"]


def test_carry_keeps_the_regulars_in_join_order_and_tells_them_once(sqlite_url: str) -> None:
    bot = berlin_bot(sqlite_url, prefs=LEAN)
    bot.say("alice", WEEKLY + " carry:yes")
    for who in ("bob", "carol", "dan"):
        bot.say(who, "/coop join #1")
    bot.say("bob", "/coop done #1")
    bot.say("erin", "/coop maybe #1")
    assert bot.statuses(1)["dan"] == "waitlisted"

    sent = move_to(bot, FIRST)
    assert bot.statuses(2) == {"bob": "committed", "carol": "committed"}
    told = [s for s in sent if s.kind == "dm" and "#2" in s.text]
    assert sorted(s.to for s in told) == ["bob", "carol"]
    assert "/coop leave #2" in told[0].text and "Sat 05 Dec 2026 09:00 (UTC)" in told[0].text
    card = posts(sent)[0].card
    assert card is not None and [p.id for p in card.committed] == ["bob", "carol"]
    with_carry = [e for e in bot.snapshot().split("AuditEntry(")[1:] if "'carried'" in e]
    assert len(with_carry) == 2
    # The next one carries whoever is in on #2 by then.
    bot.say("carol", "/coop leave #2")
    bot.say("dan", "/coop join #2")
    move_to(bot, SECOND)
    assert bot.statuses(3) == {"bob": "committed", "dan": "committed"}


def test_stop_ends_the_series_from_any_occurrence_and_the_card_says_so(sqlite_url: str) -> None:
    bot = berlin_bot(sqlite_url, prefs=LEAN)
    bot.say("alice", WEEKLY)
    bot.say("alice", '/coop task "One-off" due:"tomorrow 5pm"')
    move_to(bot, FIRST)  # opens #3
    before = bot.snapshot()
    refused = bot.say("bob", "/coop stop #1")[-1].text
    assert "Only Alice" in refused
    assert "isn't a recurring task" in bot.say("alice", "/coop stop #2")[-1].text
    assert bot.snapshot() == before

    sent = bot.say("alice", "/coop stop #1")  # the past occurrence stops the series
    assert "no more occurrences" in sent[-1].text
    updated = [s.card for s in sent if s.kind == "update" and s.card]
    assert [(c.number, c.repeats) for c in updated] == [(1, ""), (3, "")]
    assert "repeats" not in bot.say("bob", "/coop show #3")[-1].text
    assert "stopped already" in bot.say("root", "/coop stop #3")[-1].text
    assert not posts(move_to(bot, SECOND + timedelta(minutes=1)))
    assert bot.statuses(3) == {} and "series" not in kinds_of(bot, 3)


def test_an_admin_may_stop_it_and_a_cancelled_occurrence_keeps_the_series(sqlite_url: str) -> None:
    bot = berlin_bot(sqlite_url, prefs=LEAN)
    bot.say("alice", WEEKLY)
    bot.say("alice", "/coop cancel #1")  # rained off: the series goes on
    assert [p.card.number for p in posts(move_to(bot, FIRST)) if p.card] == [2]
    assert "Stopped" in bot.say("root", "/coop stop #2")[-1].text
    assert not posts(move_to(bot, SECOND))


BAD = (
    '/coop task "A" every:fortnightly',
    '/coop task "A" every:"saturday 10am" carry:maybe',
    '/coop task "A" carry:yes',
    '/coop task "A" every:week',
    '/coop task "A" every:"*/5 * * * *"',
    '/coop task "A" every:"saturday sometime"',
    '/coop task "A" every:"saturday 10am" closes:"sunday 9am"',
)


def test_bad_series_are_refused_privately_and_change_nothing(sqlite_url: str) -> None:
    bot = berlin_bot(sqlite_url)
    before = bot.snapshot()
    for text in BAD:
        sent = bot.say("alice", text)
        assert [s.kind for s in sent] == ["private"], sent
        assert any(word in sent[0].text for word in ("every:", "carry:", "closes:")), sent
        assert bot.snapshot() == before, text


def test_roles_and_the_cut_off_carry_over(sqlite_url: str) -> None:
    bot = berlin_bot(sqlite_url, prefs=LEAN)
    bot.say(
        "alice",
        '/coop task "Market" roles:"driver:1, cook:2" every:"saturday 10am" '
        'closes:"saturday 8am" carry:yes',
    )
    bot.say("bob", "/coop join #1 role:cook")
    sent = move_to(bot, FIRST)
    card = posts(sent)[0].card
    assert card is not None
    assert [(r.name, r.need) for r in card.roles] == [("driver", 1), ("cook", 2)]
    assert [p.id for p in card.roles[1].committed] == ["bob"]
    assert card.closes_at == SECOND - timedelta(hours=2)


# Saturdays at 10:00 around each change (a Sunday): the week before, the day before, and the
# Saturday after, in UTC. Berlin is UTC+1 in winter, +2 in summer; New York -5 and -4.
CHANGES = {
    "Europe/Berlin": [
        (datetime(2026, 3, 21), (9, 9, 8)),  # 29 March 2026: clocks go forward
        (datetime(2026, 10, 17), (8, 8, 9)),  # 25 October 2026: back
        (datetime(2027, 3, 20), (9, 9, 8)),  # 28 March 2027
        (datetime(2027, 10, 23), (8, 8, 9)),  # 31 October 2027
    ],
    "America/New_York": [
        (datetime(2026, 2, 28), (15, 15, 14)),  # 8 March 2026
        (datetime(2026, 10, 24), (14, 14, 15)),  # 1 November 2026
        (datetime(2027, 3, 6), (15, 15, 14)),  # 14 March 2027
        (datetime(2027, 10, 30), (14, 14, 15)),  # 7 November 2027
    ],
}


@pytest.mark.parametrize("zone", list(CHANGES))
def test_a_weekly_series_stays_at_ten_local_across_each_change(sqlite_url: str, zone: str) -> None:
    bot = TestBot(sqlite_url, prefs=LEAN)
    tz = ZoneInfo(zone)
    number = 0
    for saturday, hours in CHANGES[zone]:
        expected = [
            (saturday + timedelta(days=7 * week)).replace(hour=hour, tzinfo=UTC)
            for week, hour in enumerate(hours)
        ]
        move_to(bot, (saturday - timedelta(days=1)).replace(hour=12, tzinfo=tz))
        bot.say("alice", f"/coop tz {zone}")
        sent = bot.say("alice", '/coop task "Clean-up" every:"saturday 10am" remind:none')
        number += 1
        dues = [posts(sent)[0].card.due_at]  # type: ignore[union-attr]
        for at in expected[:-1]:
            opened = posts(move_to(bot, at))
            assert len(opened) == 1, f"{zone}: nothing opened at {at}"
            dues.append(opened[0].card.due_at)  # type: ignore[union-attr]
            number += 1
        assert dues == expected, zone
        assert {d.astimezone(tz).strftime("%a %H:%M") for d in dues} == {"Sat 10:00"}
        bot.say("alice", f"/coop stop #{number}")


def test_a_restart_keeps_the_next_occurrences_timer(sqlite_url: str) -> None:
    first = berlin_bot(sqlite_url, prefs=LEAN)
    first.say("alice", WEEKLY + " carry:yes")
    first.say("bob", "/coop join #1")
    first.engine.dispose()

    again = TestBot(sqlite_url)  # a new process on the same file
    again.clock.advance(first.clock.now() - START)
    opened = posts(move_to(again, FIRST))
    assert [(p.card.number, p.card.due_at) for p in opened if p.card] == [(2, SECOND)]
    assert again.statuses(2) == {"bob": "committed"}


def test_series_are_stored_alike_on_postgresql(postgres_url: str) -> None:
    bot = berlin_bot(postgres_url)
    bot.say("alice", WEEKLY + ' carry:yes remind:"2h"')
    bot.say("bob", "/coop join #1")
    opened = posts(move_to(bot, FIRST))
    assert opened[0].card is not None and opened[0].card.repeats.startswith("every Saturday")
    assert bot.statuses(2) == {"bob": "committed"}
    assert kinds_of(bot, 2) == ["checkin", "due", "maybe", "series", "short", "task"]
    bot.say("alice", "/coop stop #2")
    assert not posts(move_to(bot, SECOND))
    bot.engine.dispose()
