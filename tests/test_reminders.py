"""Reminders, nudges, digests and due times, driven by the manual clock through the core:
each fires at its moment and not before, in the recipient's zone, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.usecases import Preferences
from tests.harness import START, Sent, TestBot

MINUTE = timedelta(minutes=1)


def dms(sent: list[Sent], to: str | None = None) -> list[Sent]:
    return [s for s in sent if s.kind == "dm" and (to is None or s.to == to)]


def move_to(bot: TestBot, when: datetime) -> list[Sent]:
    """Move the clock to `when` (aware) and fire what is due."""
    return bot.advance(when.astimezone(UTC) - bot.clock.now())


# --- task reminders, due and overdue --------------------------------------------------------


def test_the_waitlisted_and_those_done_are_not_reminded(bot: TestBot) -> None:
    due = START + timedelta(days=3)
    bot.say("alice", '/coop task "Clean the park" need:2 due:"2026-11-30 10:00"')
    bot.say("bob", "join #1")
    bot.say("dave", "join #1")
    bot.say("carol", "join #1")  # waitlisted
    bot.say("bob", "done #1")
    assert bot.statuses(1) == {"bob": "done", "carol": "waitlisted", "dave": "committed"}
    assert [s.to for s in dms(move_to(bot, due - timedelta(hours=24)))] == ["dave"]


def test_task_reminders_go_to_who_is_in_at_the_time_once_each(bot: TestBot) -> None:
    due = datetime(2026, 11, 30, 10, tzinfo=UTC)
    bot.say("alice", '/coop task "Clean the park" due:"2026-11-30 10:00"')
    bot.say("bob", "join #1")
    bot.say("carol", "join #1")
    assert not dms(move_to(bot, due - timedelta(hours=24) - MINUTE))
    day = dms(move_to(bot, due - timedelta(hours=24)))
    assert sorted(s.to for s in day) == ["bob", "carol"]
    assert all("is due in 24 h" in s.text and "Clean the park" in s.text for s in day)
    assert [b.name for b in day[0].buttons] == ["snooze_15m", "snooze_1h", "snooze_tomorrow"]
    bot.say("carol", "leave #1")
    assert not dms(move_to(bot, due - timedelta(hours=1) - MINUTE))
    hour = dms(move_to(bot, due - timedelta(hours=1)))
    assert [s.to for s in hour] == ["bob"] and "due in 1 h" in hour[0].text
    assert not dms(bot.tick())  # ticking again sends nothing twice


def test_remind_option_sets_the_times_and_none_turns_them_off(bot: TestBot) -> None:
    due = datetime(2026, 11, 28, 10, tzinfo=UTC)
    bot.say("alice", '/coop task "Bake" due:"2026-11-28 10:00" remind:"2h,15m"')
    bot.say("alice", '/coop task "Quiet" due:"2026-11-28 10:00" remind:none')
    bot.say("bob", "join #1")
    bot.say("bob", "join #2")
    sent: list[Sent] = []
    for _ in range(24 * 4):  # every 15 minutes up to the due time
        sent += dms(bot.advance(timedelta(minutes=15)))
        if bot.clock.now() >= due:
            break
    assert [(s.to, s.text.split(" is due in ")[1].split(",")[0]) for s in sent] == [
        ("bob", "2 h"),
        ("bob", "15 min"),
    ]
    assert all("Bake" in s.text for s in sent)


def test_a_bad_remind_option_is_refused_and_changes_nothing(bot: TestBot) -> None:
    before = bot.snapshot()
    for text in (
        'task "X" due:"tomorrow 9am" remind:"soon"',
        'task "X" due:"tomorrow 9am" remind:"1h,2h,3h,4h,5h,6h"',
        'task "X" due:"tomorrow 9am" remind:"90d"',
        'task "X" remind:"1h"',
    ):
        sent = bot.say("alice", text)
        assert [s.kind for s in sent] == ["private"] and "remind:" in sent[0].text, text
    assert bot.snapshot() == before


def test_the_card_turns_overdue_at_the_due_time_and_list_sorts_by_due(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Late one" due:"2026-12-05 10:00"')
    bot.say("alice", '/coop task "No date"')
    bot.say("alice", '/coop task "Soon" due:"2026-11-28 09:00"')
    listed = bot.say("alice", "/coop list")[-1].text.splitlines()[1:]
    assert [line.split(" ")[0] for line in listed] == ["#3", "#1", "#2"]

    card = bot.card_message(3)
    before = move_to(bot, datetime(2026, 11, 28, 9, tzinfo=UTC) - MINUTE)
    assert not [s for s in before if s.kind == "update"]
    at_due = [s for s in move_to(bot, datetime(2026, 11, 28, 9, tzinfo=UTC)) if s.kind == "update"]
    assert [s.to for s in at_due] == [card.id]
    assert at_due[0].card is not None and at_due[0].card.overdue
    assert "overdue" not in repr(bot.chat.of("update", bot.card_message(1).id))
    shown = bot.say("bob", "/coop show #3")[-1].text
    assert "OVERDUE" in shown


def test_a_closed_task_reminds_nobody(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Cancelled" need:3 due:"2026-11-30 10:00"')
    bot.say("bob", "join #1")
    bot.say("alice", "cancel #1")
    sent = move_to(bot, datetime(2026, 12, 2, tzinfo=UTC))
    assert not dms(sent) and not [s for s in sent if s.kind in ("message", "update")]


# --- nudges -------------------------------------------------------------------------------


def test_a_task_short_of_people_gets_one_channel_nudge(bot: TestBot) -> None:
    due = datetime(2026, 11, 30, 10, tzinfo=UTC)
    bot.say("alice", '/coop task "Move boxes" need:3 due:"2026-11-30 10:00"')
    bot.say("alice", '/coop task "Full" need:1 due:"2026-11-30 10:00"')
    bot.say("bob", "join #1")
    bot.say("bob", "join #2")
    assert not [s for s in move_to(bot, due - timedelta(hours=24) - MINUTE) if s.kind == "message"]
    nudges = [s for s in move_to(bot, due - timedelta(hours=24)) if s.kind == "message"]
    assert len(nudges) == 1 and nudges[0].to == "general"
    assert "#1" in nudges[0].text and "needs 2 more people" in nudges[0].text
    assert "<@" not in nudges[0].text and "@" not in nudges[0].text  # pings nobody
    later = move_to(bot, due - MINUTE)
    assert not [s for s in later if s.kind == "message"]


def test_after_the_due_time_who_is_in_and_not_done_is_asked_once(bot: TestBot) -> None:
    due = datetime(2026, 11, 30, 10, tzinfo=UTC)
    bot.say("alice", '/coop task "Paint" due:"2026-11-30 10:00" remind:none')
    bot.say("bob", "join #1")
    bot.say("carol", "join #1")
    bot.say("carol", "done #1")
    assert not dms(move_to(bot, due + timedelta(hours=2) - MINUTE))
    asked = dms(move_to(bot, due + timedelta(hours=2)))
    assert [s.to for s in asked] == ["bob"] and "Did #1 “Paint” happen?" in asked[0].text
    assert [(b.name, b.number) for b in asked[0].buttons] == [
        ("checkin_done", 1),
        ("checkin_not", 1),
    ]
    dm = bot.channel("dm-bob")
    from bot.refs import MessageRef

    answer = bot.press("bob", "checkin_done", 1, MessageRef(dm, "m99"))
    assert bot.statuses(1)["bob"] == "done"
    assert "Marked your part of #1 “Paint” done" in answer[-1].text
    assert not dms(bot.advance(timedelta(days=3)))


def test_not_done_is_noted_and_changes_no_commitment(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Paint" due:"2026-11-27 12:00" remind:none')
    bot.say("bob", "join #1")
    move_to(bot, datetime(2026, 11, 27, 14, tzinfo=UTC))
    from bot.refs import MessageRef

    answer = bot.press("bob", "checkin_not", 1, MessageRef(bot.channel("dm-bob"), "m9"))
    assert "stays open" in answer[-1].text
    assert bot.statuses(1) == {"bob": "committed"}


# --- ad-hoc reminders ----------------------------------------------------------------------


def test_remind_me_fires_at_the_moment_and_not_before(bot: TestBot) -> None:
    answer = bot.say("alice", '/coop remind me "Water the plants" when:"in 2 hours"')[-1].text
    assert "R1" in answer and "Water the plants" in answer
    assert not dms(bot.advance(timedelta(hours=2) - MINUTE))
    fired = dms(bot.advance(MINUTE))
    assert [(s.to, s.text) for s in fired] == [("alice", "Reminder: Water the plants")]
    assert not dms(bot.advance(timedelta(days=2)))


def test_snooze_buttons_bring_a_reminder_back_once(bot: TestBot) -> None:
    from bot.refs import MessageRef

    bot.say("alice", '/coop remind me "Stretch" when:"in 1 hour"')
    fired = dms(bot.advance(timedelta(hours=1)))
    occurrence = fired[0].buttons[0].number
    where = MessageRef(bot.channel("dm-alice"), "m50")
    said = bot.press("alice", "snooze_15m", occurrence, where)[-1].text
    assert said.startswith("Snoozed until")
    again = bot.press("alice", "snooze_15m", occurrence, where)[-1].text
    assert again.startswith("Already snoozed until")
    assert "isn't yours" in bot.press("bob", "snooze_1h", occurrence, where)[-1].text
    assert not dms(bot.advance(timedelta(minutes=14)))
    back = dms(bot.advance(MINUTE))
    assert [(s.to, s.text) for s in back] == [("alice", "Reminder: Stretch")]


def test_snooze_until_tomorrow_keeps_the_wall_clock_time_across_a_change(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    berlin = ZoneInfo("Europe/Berlin")
    move_to(bot, datetime(2027, 3, 27, 8, 0, tzinfo=berlin))
    bot.say("alice", "/coop tz Europe/Berlin")
    bot.say("alice", '/coop remind me "Call home" when:"in 1 hour"')
    fired = dms(bot.advance(timedelta(hours=1)))
    from bot.refs import MessageRef

    where = MessageRef(bot.channel("dm-alice"), "m50")
    bot.press("alice", "snooze_tomorrow", fired[0].buttons[2].number, where)
    # 09:00 on the 28th, 23 hours later: the clocks went forward in the night.
    assert not dms(move_to(bot, datetime(2027, 3, 28, 8, 59, tzinfo=berlin)))
    assert dms(move_to(bot, datetime(2027, 3, 28, 9, 0, tzinfo=berlin)))


def test_remind_someone_a_channel_or_everyone_on_an_action(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Harvest"')
    bot.say("bob", "join #1")
    bot.say("carol", "join #1")
    bot.say("alice", '/coop remind <@dave|dave> "Bring the ladder" when:"in 1 hour"')
    bot.say("alice", '/coop remind #ops "Stand-up in 5" when:"in 1 hour"')
    bot.say("alice", '/coop remind #1 "Gloves!" when:"in 1 hour"')
    sent = bot.advance(timedelta(hours=1))
    assert sorted((s.to, s.text) for s in dms(sent)) == [
        ("bob", "Reminder for everyone on #1 “Harvest”: Gloves!"),
        ("carol", "Reminder for everyone on #1 “Harvest”: Gloves!"),
        ("dave", "Reminder (from Alice): Bring the ladder"),
    ]
    assert [(s.to, s.text) for s in sent if s.kind == "message"] == [
        ("ops", "Reminder: Stand-up in 5")
    ]


def test_recurring_reminders_follow_their_rule(bot: TestBot) -> None:
    # START is Friday 27 Nov 2026, 10:00 UTC.
    bot.say("alice", '/coop remind me "Timesheet" when:"monday 9am" every:weekday')
    bot.say("alice", '/coop remind me "Plants" when:"9am" every:week on:tue,thu')
    bot.say("alice", '/coop remind me "Rent" when:"2026-12-01 09:00" every:month')
    fired: list[tuple[str, str]] = []
    for _ in range(24 * 30):
        for s in dms(bot.advance(timedelta(hours=1))):
            fired.append((bot.clock.now().strftime("%a %d %b %H:%M"), s.text.split(": ")[1]))
    timesheets = [when for when, text in fired if text == "Timesheet"]
    assert timesheets[:6] == [
        "Mon 30 Nov 09:00",
        "Tue 01 Dec 09:00",
        "Wed 02 Dec 09:00",
        "Thu 03 Dec 09:00",
        "Fri 04 Dec 09:00",
        "Mon 07 Dec 09:00",
    ]
    plants = [when for when, text in fired if text == "Plants"]
    assert plants[:4] == ["Tue 01 Dec 09:00", "Thu 03 Dec 09:00", "Tue 08 Dec 09:00",
                          "Thu 10 Dec 09:00"]  # fmt: skip
    assert [when for when, text in fired if text == "Rent"] == ["Tue 01 Dec 09:00"]
    listed = bot.say("alice", "/coop reminders")[-1].text
    assert "R1 “Timesheet” for you — next" in listed and "every weekday at 09:00" in listed
    assert "next Fri 01 Jan 2027 09:00 (UTC), every month on the 1st at 09:00" in listed


def test_a_cron_rule_uses_crontab_days(bot: TestBot) -> None:
    bot.say("alice", '/coop remind me "Weekly review" every:"30 16 * * 5"')
    fired = []
    for _ in range(24 * 8):
        if dms(bot.advance(timedelta(hours=1) / 2)):
            fired.append(bot.clock.now().strftime("%a %H:%M"))
    assert fired == ["Fri 16:30"]  # crontab's 5 is Friday (APScheduler alone says Saturday)


# --- daylight saving ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Berlin", datetime(2027, 3, 28), datetime(2027, 10, 31)),
        ("America/New_York", datetime(2027, 3, 14), datetime(2027, 11, 7)),
    ],
)
def test_a_daily_reminder_stays_at_nine_local_across_both_changes(
    sqlite_url: str, zone: str, spring: datetime, autumn: datetime
) -> None:
    bot = TestBot(sqlite_url)
    tz = ZoneInfo(zone)
    move_to(bot, (spring - timedelta(days=2)).replace(hour=12, tzinfo=tz))
    bot.say("alice", f"/coop tz {zone}")
    bot.say("alice", '/coop remind me "Stand-up" when:"9am" every:day')
    for change in (spring, autumn):
        for offset in (-1, 0, 1):
            day = (change + timedelta(days=offset)).replace(hour=9, tzinfo=tz)
            assert not dms(move_to(bot, day - MINUTE)), f"early on {day}"
            fired = dms(move_to(bot, day))
            assert len(fired) == 1, f"not at 09:00 on {day.date()} ({zone})"
            assert bot.clock.now().astimezone(tz).strftime("%H:%M") == "09:00"
        if change is spring:
            move_to(bot, (autumn - timedelta(days=2)).replace(hour=12, tzinfo=tz))
    # Two occurrences a day apart around each change are 23 and 25 hours apart in UTC.
    times = [o.at for o in bot.schedules()[0].occurrences]
    gaps = {(b - a) for a, b in zip(times, times[1:], strict=False)}
    assert timedelta(hours=23) in gaps and timedelta(hours=25) in gaps


def test_a_time_the_change_skips_fires_once_an_hour_later_on_the_clock(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    berlin = ZoneInfo("Europe/Berlin")
    move_to(bot, datetime(2027, 3, 27, 12, tzinfo=berlin))
    bot.say("alice", "/coop tz Europe/Berlin")
    answer = bot.say("alice", '/coop remind me "Skipped" when:"2027-03-28 02:30"')[-1].text
    assert "R1" in answer
    # 02:30 does not exist that night; it happens at the moment the clocks say 03:30.
    assert not dms(move_to(bot, datetime(2027, 3, 28, 1, 29, tzinfo=UTC)))
    fired = dms(move_to(bot, datetime(2027, 3, 28, 1, 30, tzinfo=UTC)))
    assert len(fired) == 1
    assert bot.clock.now().astimezone(berlin).strftime("%H:%M") == "03:30"
    assert not dms(bot.advance(timedelta(days=1)))


def test_a_time_the_change_repeats_fires_once_the_first_time(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    berlin = ZoneInfo("Europe/Berlin")
    move_to(bot, datetime(2027, 10, 30, 12, tzinfo=berlin))
    bot.say("alice", "/coop tz Europe/Berlin")
    bot.say("alice", '/coop remind me "Repeated" when:"2027-10-31 02:30"')
    bot.say("alice", '/coop remind me "Nightly" when:"2027-10-31 02:30" every:day')
    assert not dms(move_to(bot, datetime(2027, 10, 31, 0, 29, tzinfo=UTC)))
    first = dms(move_to(bot, datetime(2027, 10, 31, 0, 30, tzinfo=UTC)))  # 02:30 CEST
    assert sorted(s.text for s in first) == ["Reminder: Nightly", "Reminder: Repeated"]
    # 02:30 comes round again an hour later (CET): nothing fires twice.
    assert not dms(move_to(bot, datetime(2027, 10, 31, 1, 30, tzinfo=UTC)))
    next_night = dms(move_to(bot, datetime(2027, 11, 1, 1, 30, tzinfo=UTC)))  # 02:30 CET
    assert [s.text for s in next_night] == ["Reminder: Nightly"]


def test_a_reminder_for_someone_else_is_read_in_their_zone(bot: TestBot) -> None:
    bot.chat.zones["tokyo"] = "Asia/Tokyo"
    bot.say("alice", '/coop remind <@tokyo> "Ship it" when:"tomorrow 9am"')
    # Tomorrow 09:00 in Tokyo is 00:00 UTC on Saturday 28 Nov.
    assert not dms(move_to(bot, datetime(2026, 11, 28, 0, 0, tzinfo=UTC) - MINUTE))
    assert [s.to for s in dms(move_to(bot, datetime(2026, 11, 28, 0, 0, tzinfo=UTC)))] == ["tokyo"]


# --- listing, cancelling, bad input --------------------------------------------------------


def test_only_the_creator_or_an_admin_cancels_a_reminder(bot: TestBot) -> None:
    bot.say("alice", '/coop remind me "One" when:"in 1 hour"')
    bot.say("alice", '/coop remind me "Two" when:"in 1 hour"')
    before = bot.snapshot()
    refused = bot.say("bob", "/coop reminders cancel R1")[-1].text
    assert "Only Alice" in refused and bot.snapshot() == before
    assert "no reminder R9" in bot.say("bob", "/coop reminders cancel R9")[-1].text
    assert bot.say("alice", "/coop reminders cancel R1")[-1].text == "Cancelled R1 “One”."
    assert bot.say("root", "/coop reminders cancel r2")[-1].text == "Cancelled R2 “Two”."
    assert "cancelled already" in bot.say("alice", "/coop reminders cancel R1")[-1].text
    assert not dms(bot.advance(timedelta(hours=2)))
    assert "no reminders" in bot.say("alice", "/coop reminders")[-1].text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('remind me "Late" when:"yesterday"', "has passed"),
        ('remind me "Odd" when:"in 1 hour" every:"sometimes"', "isn't a rule I know"),
        ('remind me "Spam" when:"in 1 hour" every:"* * * * *"', "every 5 minutes"),
        ('remind me "Days" when:"in 1 hour" every:week on:funday', "isn't a day"),
        ('remind me "Days" when:"in 1 hour" every:day on:mon', "goes with every:week"),
        ('remind me "No time"', "When should I remind"),
        ("remind me", "What should the reminder say"),
        ('remind everyone "Hi" when:"in 1 hour"', "isn't someone I can remind"),
        ('remind <@stranger> "Hi" when:"in 1 hour"', "can't find stranger here"),
        ('remind #nowhere "Hi" when:"in 1 hour"', "can't find the channel nowhere"),
        ('remind #99 "Hi" when:"in 1 hour"', "no action #99"),
        ("reminders delete R1", "reminders cancel R7"),
        ("digest hourly", "daily, weekday or weekly"),
        ("digest daily on:mon", "goes with weekly"),
    ],
)
def test_bad_reminders_are_refused_privately_and_change_nothing(
    bot: TestBot, text: str, says: str
) -> None:
    bot.chat.strangers.update({"stranger", "nowhere"})
    before = bot.snapshot()
    sent = bot.say("alice", text)
    assert [s.kind for s in sent] == ["private"], sent
    assert says in sent[0].text
    assert bot.snapshot() == before


def test_one_person_may_have_only_so_many_active_reminders(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url, prefs=Preferences(max_reminders=2))
    bot.say("alice", '/coop remind me "1" when:"in 1 hour"')
    bot.say("alice", '/coop remind me "2" when:"in 2 hours"')
    before = bot.snapshot()
    refused = bot.say("alice", '/coop remind me "3" when:"in 3 hours"')[-1].text
    assert "2 active reminders" in refused and bot.snapshot() == before
    bot.advance(timedelta(hours=1))  # R1 fired and is over: room for one more
    assert "R3" in bot.say("alice", '/coop remind me "3" when:"in 3 hours"')[-1].text


# --- digests -------------------------------------------------------------------------------


def test_a_weekday_digest_summarises_the_channel_until_turned_off(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Needs hands" need:3')
    bot.say("alice", '/coop task "Due soon" due:"2026-11-30 12:00"')
    bot.say("alice", '/coop task "Elsewhere"', channel="ops")
    said = bot.say("alice", '/coop digest weekday at:"9am"')[-1].text
    assert "every weekday at 09:00" in said and "Mon 30 Nov 2026 09:00" in said
    # Saturday and Sunday pass without a digest; Monday 09:00 gets one.
    assert not [s for s in move_to(bot, datetime(2026, 11, 30, 8, 59, tzinfo=UTC))
                if s.kind == "message"]  # fmt: skip
    posted = [s for s in move_to(bot, datetime(2026, 11, 30, 9, tzinfo=UTC)) if s.kind == "message"]
    assert [s.to for s in posted] == ["general"]
    text = posted[0].text
    assert "2 open actions" in text and "Elsewhere" not in text
    assert text.index("Needs people:") < text.index("#1 Needs hands")
    assert text.index("Due soon:") < text.index("#2 Due soon")
    assert bot.say("alice", "/coop digest off")[-1].text == "Okay, no more digests here."
    assert not [s for s in bot.advance(timedelta(days=3)) if s.kind == "message"]


# --- downtime ------------------------------------------------------------------------------


def test_after_downtime_a_reminder_goes_once_marked_late(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    bot.say("alice", '/coop remind me "Soon" when:"in 1 hour"')
    bot.say("alice", '/coop remind me "Long ago" when:"in 2 hours"')
    bot.say("alice", '/coop remind me "Daily" when:"in 3 hours" every:day')
    # The bot is down: a new one starts on the same database three days later.
    restarted = TestBot(sqlite_url)
    restarted.clock.advance(timedelta(days=3, hours=1))
    sent = dms(restarted.tick())
    assert [s.text.splitlines()[0] for s in sent] == ["Reminder: Daily"]
    assert "(Late by 22 h: I was offline at Sun 29 Nov 2026 13:00 (UTC).)" in sent[0].text
    assert not dms(restarted.tick())
    listed = restarted.say("alice", "/coop reminders")[-1].text
    assert "Missed while I was offline" in listed
    assert "R1 “Soon” was due" in listed and "R2 “Long ago” was due" in listed
    # The daily one recurs as before: next at 13:00 today, on time.
    assert not dms(restarted.advance(timedelta(hours=2) - MINUTE))
    assert [s.text for s in dms(restarted.advance(MINUTE))] == ["Reminder: Daily"]


def test_a_short_downtime_sends_what_was_due_once_with_the_delay(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    bot.say("alice", '/coop remind me "Soon" when:"in 1 hour"')
    restarted = TestBot(sqlite_url)
    restarted.clock.advance(timedelta(hours=3))
    sent = dms(restarted.tick())
    assert len(sent) == 1 and "Late by 2 h" in sent[0].text
    again = TestBot(sqlite_url)
    again.clock.advance(timedelta(hours=4))
    assert not dms(again.tick())


# --- export --------------------------------------------------------------------------------


def test_export_lists_reminders_their_occurrences_and_each_delivery(sqlite_url: str) -> None:
    import json

    from bot import export
    from storage.uow import SqlUnitOfWork

    bot = TestBot(sqlite_url)
    bot.say("alice", '/coop remind me "On time" when:"in 1 hour"')
    bot.say("alice", '/coop remind #ops "Late one" when:"in 2 hours"')
    bot.advance(timedelta(hours=1))
    bot.clock.advance(timedelta(hours=3))  # down meanwhile: the second fires 2 h late
    bot.tick()
    with SqlUnitOfWork(bot.engine) as uow:
        document = json.loads(
            export.to_json(uow.export(), uow.outbox.records(), uow.schedules.records())
        )
        csv_text = export.occurrences_csv(uow.schedules.records())
    reminders = {r["reminder"]: r for r in document["reminders"]}
    assert reminders["R1"]["to"] == "alice" and reminders["R2"]["to"] == "ops"
    assert [o["state"] for o in reminders["R1"]["occurrences"]] == ["sent"]
    late = reminders["R2"]["occurrences"][0]
    assert late["state"] == "late" and late["late_seconds"] == 2 * 3600
    assert late["due"] == "2026-11-27T12:00:00Z" and late["fired"] == "2026-11-27T14:00:00Z"
    sent = [d for d in document["deliveries"] if d["occurrence"] is not None]
    assert [(d["kind"], d["recipient"], d["late"], d["state"]) for d in sent] == [
        ("dm", "alice", False, "sent"),
        ("post", "ops", True, "sent"),
    ]
    assert all(d["message_id"] and d["sent"] and d["occurrence_at"] for d in sent)
    assert "R2" in csv_text and ",late,7200" in csv_text


def test_whoever_set_a_channel_reminder_is_told_when_the_channel_refuses_it(
    bot: TestBot,
) -> None:
    bot.chat.closed.add("secret")
    bot.say("alice", '/coop remind #secret "Hello" when:"in 1 hour"')
    sent = bot.advance(timedelta(hours=1))
    assert not [s for s in sent if s.kind == "message"]
    told = [s for s in sent if s.kind == "private"]
    assert [(s.to, s.text) for s in told] == [("alice", "I can't post in #secret.")]


def test_a_snoozed_task_reminder_is_said_afresh_and_goes_with_the_task(bot: TestBot) -> None:
    from bot.refs import MessageRef

    bot.say("alice", '/coop task "Paint" due:"2026-11-27 13:00" remind:"1h"')
    bot.say("alice", '/coop task "Sweep" due:"2026-11-27 13:00" remind:"1h"')
    bot.say("bob", "join #1")
    bot.say("bob", "join #2")
    first = dms(move_to(bot, datetime(2026, 11, 27, 12, tzinfo=UTC)))
    assert len(first) == 2
    where = MessageRef(bot.channel("dm-bob"), "m90")
    for dm in first:
        answer = bot.press("bob", "snooze_15m", dm.buttons[0].number, where)[-1].text
        assert answer == "Snoozed until Fri 27 Nov 2026 12:15 (UTC)."
    bot.say("alice", "cancel #2")
    back = dms(bot.advance(timedelta(minutes=15)))
    # Only the task still open comes back, to bob alone, with the time left now.
    assert [(s.to, s.text.split(",")[0]) for s in back] == [
        ("bob", "Reminder: #1 “Paint” is due in 45 min")
    ]
