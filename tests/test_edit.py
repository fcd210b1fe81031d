"""`/coop edit` and the Edit form: the need refitted to the waitlist, reminders following the
due time, everyone on the task told once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.events import EditRequested
from bot.model import ScheduleKind, ScheduleState
from storage.uow import SqlUnitOfWork
from tests.harness import Sent, TestBot


def dms(sent: list[Sent]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for s in sent:
        if s.kind == "dm":
            found.setdefault(s.to, []).append(s.text)
    return found


def waitlist(bot: TestBot, number: int) -> list[str]:
    """Who is waiting on `number`, in the order they will move up (as stored)."""
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(1, number)
        assert action is not None
        uow.load_people([action])
        return [c.member.external_id for c in action.commitments if c.status.value == "waitlisted"]


def active(bot: TestBot) -> list[tuple[str, datetime | None]]:
    """(kind, next time) of each active schedule."""
    return sorted(
        (r.schedule.kind.value, r.schedule.next_at)
        for r in bot.schedules()
        if r.schedule.state is ScheduleState.ACTIVE
    )


def form(bot: TestBot, who: str, number: int, **fields: str | None) -> list[Sent]:
    return bot.handle(EditRequested(bot.member(who), bot.channel(), number, **fields))


def test_lowering_need_moves_the_newest_joiners_to_the_top_of_the_waitlist(
    database_url: str,
) -> None:
    bot = TestBot(database_url)
    bot.say("alice", "task Paint need:4")
    for who in ("bob", "carol", "dave", "erin", "fay", "gus"):
        bot.say(who, "join #1")
    sent = bot.say("alice", "edit #1 need:2")
    told = dms(sent)
    assert "number 1 on the waitlist" in told["dave"][0]
    assert "number 2 on the waitlist" in told["erin"][0]
    assert all(len(texts) == 1 and "need: 4 → 2" in texts[0] for texts in told.values())
    assert "Moved to the top of the waitlist: Dave, Erin." in sent[-1].text
    assert waitlist(bot, 1) == ["dave", "erin", "fay", "gus"]
    card = [s for s in sent if s.kind == "update"][-1].card
    assert card is not None and card.progress == "2/2 in"
    assert [p.id for p in card.waitlist] == ["dave", "erin", "fay", "gus"]
    # Those moved out move back first, ahead of those who were waiting already.
    assert list(dms(bot.say("bob", "leave #1"))) == ["dave"]
    assert list(dms(bot.say("carol", "leave #1"))) == ["erin"]
    assert list(dms(bot.say("dave", "leave #1"))) == ["fay"]
    with SqlUnitOfWork(bot.engine) as uow:
        edits = [e.detail for e in uow.audit_log(1) if e.kind == "task.edited"]
        action = uow.get_action(1, 1)
        assert action is not None and (action.in_count, action.waiting_count) == (2, 1)
    assert edits == ["need: 4 → 2"]


def test_done_people_keep_their_place_when_need_goes_down(bot: TestBot) -> None:
    bot.say("alice", "task Lift need:3")
    for who in ("bob", "carol", "dave"):
        bot.say(who, "join #1")
    bot.say("dave", "done #1")
    bot.say("alice", "edit #1 need:2")  # Dave's done part still counts
    assert bot.statuses(1) == {"bob": "committed", "carol": "waitlisted", "dave": "done"}
    bot.say("alice", "edit #1 need:1")  # below what is done: nobody left to move
    assert bot.statuses(1) == {"bob": "waitlisted", "carol": "waitlisted", "dave": "done"}
    assert waitlist(bot, 1) == ["bob", "carol"]


def test_raising_need_promotes_from_the_waitlist_in_order(bot: TestBot) -> None:
    bot.say("alice", "task Drive need:1")
    for who in ("bob", "carol", "dave", "erin"):
        bot.say(who, "join #1")
    told = dms(bot.say("alice", "edit #1 need:3"))
    assert bot.statuses(1) == {
        "bob": "committed", "carol": "committed", "dave": "committed", "erin": "waitlisted",
    }  # fmt: skip
    # One message each: the change, and for those moved up, the good news with it.
    assert {who: len(texts) for who, texts in told.items()} == {
        "bob": 1,
        "carol": 1,
        "dave": 1,
        "erin": 1,
    }
    assert "need: 1 → 3" in told["carol"][0] and "you're in now" in told["carol"][0]
    assert "you're in now" not in told["erin"][0]
    told = dms(bot.say("alice", "edit #1 need:none"))
    assert "need: 3 → none" in told["erin"][0] and "you're in now" in told["erin"][0]
    assert bot.statuses(1)["erin"] == "committed"
    assert "#1 Drive — 4 in" in bot.say("bob", "list")[0].text


def test_a_new_due_time_moves_its_reminders(bot: TestBot) -> None:
    bot.say("alice", 'task Tidy need:2 due:"2026-11-30 10:00"')
    bot.say("bob", "join #1")
    bot.say("alice", 'edit #1 due:"2026-12-01 10:00"')  # a day later
    later = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert active(bot) == sorted(
        [
            ("task", later - timedelta(hours=24)),
            ("task", later - timedelta(hours=1)),
            ("due", later),
            ("short", later - timedelta(hours=24)),
            ("checkin", later + timedelta(hours=2)),
            ("maybe", later - timedelta(hours=12)),
        ]
    )
    # Nothing at the old times.
    quiet = bot.advance(timedelta(days=2, minutes=1))  # to Sunday 10:01, then Monday 10:01
    quiet += bot.advance(timedelta(days=1))
    reminders = [s for s in quiet if s.kind == "dm"]
    assert [s.to for s in reminders] == ["bob"] and "due in 24 h, Tue 01 Dec" in reminders[0].text
    assert not any(s.card and s.card.overdue for s in quiet if s.kind == "update")
    assert [s.kind for s in quiet if s.kind == "message"] == ["message"]  # the short nudge
    hour = bot.advance(timedelta(hours=23))  # Tuesday 09:01
    assert [s.to for s in hour if s.kind == "dm"] == ["bob"]
    due = bot.advance(timedelta(hours=1))
    card = [s for s in due if s.kind == "update"][-1].card
    assert card is not None and card.overdue


def test_an_earlier_due_time_drops_what_is_past_and_none_cancels_all(bot: TestBot) -> None:
    bot.say("alice", 'task Tidy due:"2026-11-30 10:00"')
    bot.say("alice", 'edit #1 due:"2026-11-27 12:00"')  # in two hours
    due = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert active(bot) == [
        ("checkin", due + timedelta(hours=2)),
        ("due", due),
        ("task", due - timedelta(hours=1)),
    ]
    cancelled = [r.schedule.kind for r in bot.schedules() if r.schedule.state.value == "cancelled"]
    assert sorted(cancelled) == [ScheduleKind.MAYBE, ScheduleKind.TASK]
    # No due time: nothing left to happen around it; a first one sets the usual ones.
    sent = bot.say("alice", "edit #1 due:none")
    assert active(bot) == []
    assert "due: Fri 27 Nov 2026 12:00 (UTC) → none" in sent[-1].text
    card = [s for s in sent if s.kind == "update"][-1].card
    assert card is not None and card.due_at is None
    bot.say("alice", 'edit #1 due:"2026-12-02 10:00"')
    assert [kind for kind, _ in active(bot)] == ["checkin", "due", "maybe", "task", "task"]
    # Given a need, it gets the nudge a task made with one has.
    bot.say("alice", "edit #1 need:3")
    assert ("short", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)) in active(bot)


def test_an_overdue_task_given_a_later_due_time_is_due_again(bot: TestBot) -> None:
    bot.say("alice", 'task Tidy due:"in 1 hour"')
    bot.say("bob", "join #1")
    bot.advance(timedelta(hours=1, minutes=1))
    assert bot.chat.of("update")[-1].card.overdue  # type: ignore[union-attr]
    sent = bot.say("alice", 'edit #1 due:"tomorrow 5pm"')
    card = [s for s in sent if s.kind == "update"][-1].card
    assert card is not None and not card.overdue
    fired = bot.advance(timedelta(days=1, hours=6))
    card = [s for s in fired if s.kind == "update"][-1].card
    assert card is not None and card.overdue


def test_only_the_creator_or_an_admin_edits_an_open_task(bot: TestBot) -> None:
    bot.say("alice", "task Paint need:2")
    bot.say("alice", 'pledge "Plant trees" goal:3 deadline:"friday 5pm"')
    bot.say("alice", "task Old")
    bot.say("alice", "close #3")
    bot.say("alice", 'task Stall roles:"cook:2"')
    before = bot.snapshot()
    for who, typed, expected in [
        ("bob", "edit #1 need:3", "Only Alice (who created #1 “Paint”) or a community admin"),
        ("alice", "edit #2 title:Trees", "is a pledge drive"),
        ("alice", "edit #3 title:New", "is closed; it no longer takes changes"),
        ("alice", "edit #4 need:3", "has roles: each role's count is how many it needs"),
        ("alice", "edit #1", "Say what to change: title:, need:, due: or closes:"),
        ("alice", "edit #1 need:lots", "need: is a whole number between 1 and 1,000"),
        ("alice", "edit #1 need:0", "need: is a whole number between 1 and 1,000"),
        ("alice", "edit #1 need:²", "need: is a whole number between 1 and 1,000"),
        ("alice", 'edit #1 title:"   "', "title: needs a value"),
        ("alice", 'edit #1 due:"yesterday"', "has passed"),
        ("alice", "edit #1 need:2 title:Paint", "Nothing to change"),
    ]:
        sent = bot.say(who, typed)
        assert [(s.kind, s.to) for s in sent] == [("private", who)], typed
        assert expected in sent[0].text, (typed, sent[0].text)
        assert bot.snapshot() == before, typed
    sent = bot.say("root", 'edit #1 title:"Paint the fence"')
    assert "Updated #1 “Paint the fence”" in sent[-1].text


def test_the_edit_form_is_read_like_the_command(bot: TestBot) -> None:
    bot.say("alice", "tz America/New_York")
    bot.say("alice", "task Paint need:3")
    bot.say("bob", "join #1")
    before = bot.snapshot()
    refused = form(bot, "bob", 1, title="Paint", need="3", due="sunday 11am")
    assert "Only Alice" in refused[0].text and bot.snapshot() == before
    same = form(bot, "alice", 1, title="Paint", need="3", due=None, closes=None)
    assert "Nothing to change" in same[0].text and bot.snapshot() == before
    # Filled in as the form came (title and need as they were): only the due time changes.
    sent = form(bot, "alice", 1, title="Paint", need="3", due="sunday 11am", closes="")
    card = [s for s in sent if s.kind == "update"][-1].card
    assert card is not None and card.due_at == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)
    assert dms(sent) == {
        "bob": ["Alice changed #1 “Paint”:\n• due: none → Sun 29 Nov 2026 16:00 (UTC)"]
    }
    assert "Sun 29 Nov 2026 11:00" in sent[-1].text  # the editor sees her own zone
    assert [k for k, _ in active(bot)] == ["checkin", "due", "maybe", "short", "task", "task"]
    form(bot, "alice", 1, title="Paint", need="", due="none")
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(1, 1)
        assert action is not None and (action.need, action.due_at) == (None, None)
    assert active(bot) == []
    bad = form(bot, "alice", 1, due="blorp")
    assert "can't read" in bad[0].text


def test_everyone_on_the_task_is_told_once(bot: TestBot) -> None:
    bot.say("alice", 'task Stall need:4 due:"2026-11-30 10:00"')
    for who in ("root", "bob", "fay", "carol", "dave"):
        bot.say(who, "join #1")
    bot.say("fay", "done #1")
    bot.say("erin", "maybe #1")
    sent = bot.say("root", 'edit #1 need:3 title:"Market stall" due:"2026-12-01 10:00"')
    told = dms(sent)
    # The editor and who is done hear nothing; the one moved out hears it in the same DM.
    assert sorted(told) == ["bob", "carol", "dave", "erin"]
    assert all(len(texts) == 1 for texts in told.values())
    changes = (
        "Root changed #1 “Market stall”:\n• title: “Stall” → “Market stall”\n"
        "• need: 4 → 3\n• due: Mon 30 Nov 2026 10:00 (UTC) → Tue 01 Dec 2026 10:00 (UTC)"
    )
    assert told["bob"] == [changes]
    assert told["carol"] == [
        changes + "\nThere are fewer places now, so you're number 1 on the waitlist. "
        "I'll message you if a spot opens."
    ]
    assert waitlist(bot, 1) == ["carol", "dave"]
    with SqlUnitOfWork(bot.engine) as uow:
        [entry] = [e for e in uow.audit_log(1) if e.kind == "task.edited"]
    assert entry.actor_id == 2 and "need: 4 → 3" in entry.detail


def test_the_cut_off_is_edited_within_the_due_time(bot: TestBot) -> None:
    bot.say("alice", 'task Stall due:"2026-11-30 10:00"')
    sent = bot.say("alice", 'edit #1 closes:"sunday 5pm"')
    card = [s for s in sent if s.kind == "update"][-1].card
    assert card is not None and card.closes_at == datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
    assert ("closes", datetime(2026, 11, 29, 17, 0, tzinfo=UTC)) in active(bot)
    before = bot.snapshot()
    late = bot.say("alice", 'edit #1 closes:"2026-12-01 10:00"')
    assert "after the due time" in late[0].text and bot.snapshot() == before
    early = bot.say("alice", 'edit #1 due:"2026-11-29 12:00"')  # before the cut-off
    assert "after the due time" in early[0].text and bot.snapshot() == before
    bot.say("alice", "edit #1 closes:none")
    assert [k for k, _ in active(bot) if k == "closes"] == []
