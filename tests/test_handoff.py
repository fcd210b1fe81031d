"""Places changing hands, through the core with the manual clock on a real database: a
promotion close to the due time must be confirmed in time or the place passes on, and
`/coop handoff #3 @ana` offers a place to a named person. The timers are rows: a new bot
process on the same database fires them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.model import Commitment, ScheduleKind
from bot.refs import MessageRef
from storage.uow import SqlUnitOfWork
from tests.harness import COMMUNITY, START, Sent, TestBot

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SOON = '"2026-11-27 20:00"'  # ten hours after START: inside the 24 h window


def dms(sent: list[Sent], to: str | None = None) -> list[Sent]:
    return [s for s in sent if s.kind == "dm" and (to is None or s.to == to)]


def commitment(bot: TestBot, number: int, who: str) -> Commitment:
    with SqlUnitOfWork(bot.engine) as uow:
        community = uow.community(COMMUNITY)
        action = uow.get_action(community.id, number)
        member = uow.find_member(community, who)
        assert action is not None and member is not None
        found = uow.commitment(action, member)
        assert found is not None
        return found


def rows(bot: TestBot, kind: ScheduleKind) -> list[tuple[str, str | None]]:
    """(state, to whom) of each schedule of `kind`."""
    return [
        (r.schedule.state.value, r.schedule.to_member.external_id if r.schedule.to_member else None)
        for r in bot.schedules()
        if r.schedule.kind is kind
    ]


def dm_message(bot: TestBot) -> MessageRef:
    return MessageRef(bot.channel("dm"), "dm1")


def full_task(bot: TestBot, due: str = SOON, waiting: tuple[str, ...] = ("cy",)) -> None:
    bot.say("alice", f'/coop task "Drive the van" need:1 due:{due} remind:none')
    bot.say("bo", "join #1")
    for who in waiting:
        bot.say(who, "join #1")


# --- a promotion close to the due time -----------------------------------------------------


def test_a_promotion_inside_the_window_must_be_confirmed_and_confirming_keeps_it(
    database_url: str,
) -> None:
    bot = TestBot(database_url)
    full_task(bot)
    sent = bot.say("bo", "leave #1")
    [asked] = dms(sent, "cy")
    assert "please confirm by Fri 27 Nov 2026 12:00 (UTC)" in asked.text
    assert [(b.name, b.label, b.number) for b in asked.buttons] == [
        ("confirm", "I'm still in", 1),
        ("confirm_no", "Can't make it", 1),
    ]
    assert commitment(bot, 1, "cy").confirm_by == START + 2 * HOUR
    assert rows(bot, ScheduleKind.CONFIRM) == [("active", "cy")]
    assert "in: Cy (confirming)" in bot.say("bo", "show #1")[-1].text

    thanks = bot.press("cy", "confirm", 1, dm_message(bot))
    assert "The place on #1 “Drive the van” is yours" in thanks[-1].text
    assert commitment(bot, 1, "cy").confirm_by is None
    assert rows(bot, ScheduleKind.CONFIRM) == [("cancelled", "cy")]
    assert "in: Cy\n" in bot.say("bo", "show #1")[-1].text
    bot.advance(3 * HOUR)
    assert bot.statuses(1) == {"bo": "withdrawn", "cy": "committed"}
    # Pressed again later: nothing to confirm, nothing changes.
    before = bot.snapshot()
    assert "nothing to confirm" in bot.press("cy", "confirm", 1, dm_message(bot))[-1].text
    assert bot.snapshot() == before


def test_unconfirmed_the_place_passes_to_the_next_who_is_asked_in_turn(bot: TestBot) -> None:
    full_task(bot, waiting=("cy", "dee"))
    bot.say("bo", "leave #1")
    assert not dms(bot.advance(2 * HOUR - MINUTE))
    sent = bot.advance(MINUTE)
    assert "in time, so it went to the next person waiting." in dms(sent, "cy")[0].text
    [asked] = dms(sent, "dee")
    assert "please confirm by Fri 27 Nov 2026 14:00 (UTC)" in asked.text
    assert bot.statuses(1) == {"bo": "withdrawn", "cy": "withdrawn", "dee": "committed"}
    assert commitment(bot, 1, "dee").confirm_by == START + 4 * HOUR
    card = [s.card for s in sent if s.kind == "update"][-1]
    assert card is not None and [p.id for p in card.committed] == ["dee"]

    # Too late for cy: a friendly answer, and nothing changes.
    before = bot.snapshot()
    late = bot.press("cy", "confirm", 1, dm_message(bot))
    assert [s.kind for s in late] == ["private"] and "no longer hold a place" in late[0].text
    assert bot.snapshot() == before

    sent = bot.press("dee", "confirm_no", 1, dm_message(bot))
    assert "passed your place" in sent[-1].text
    assert bot.statuses(1)["dee"] == "withdrawn"
    assert not dms(bot.advance(3 * HOUR))  # dee's timer was ended with the answer


def test_outside_the_window_there_is_no_confirm(bot: TestBot) -> None:
    full_task(bot, due='"2026-11-30 10:00"')
    [told] = dms(bot.say("bo", "leave #1"), "cy")
    assert told.text.startswith("Good news") and not told.buttons
    assert commitment(bot, 1, "cy").confirm_by is None
    assert rows(bot, ScheduleKind.CONFIRM) == []


def test_the_time_to_confirm_never_runs_past_the_due_time(bot: TestBot) -> None:
    full_task(bot, due='"2026-11-27 11:00"')
    bot.say("bo", "leave #1")
    assert commitment(bot, 1, "cy").confirm_by == START + HOUR


def test_unconfirmed_with_nobody_waiting_the_place_is_open_again(bot: TestBot) -> None:
    full_task(bot)
    bot.say("bo", "leave #1")
    [told] = dms(bot.advance(2 * HOUR), "cy")
    assert "in time, so it's open again. /coop join #1 to sign up again." in told.text
    assert bot.statuses(1) == {"bo": "withdrawn", "cy": "withdrawn"}


# --- /coop handoff -------------------------------------------------------------------------


def test_a_named_hand_off_accepted_takes_the_place_ahead_of_the_waitlist(
    database_url: str,
) -> None:
    bot = TestBot(database_url)
    full_task(bot, due='"2026-11-30 10:00"')
    sent = bot.say("bo", "/coop handoff #1 @ana")
    [offer] = dms(sent, "ana")
    assert "Bo offers you their place on #1" in offer.text
    assert [b.name for b in offer.buttons] == ["handoff_yes", "handoff_no"]
    assert "stays yours unless they take it by Fri 27 Nov 2026 12:00" in sent[-1].text
    assert rows(bot, ScheduleKind.HANDOFF) == [("active", "ana")]

    sent = bot.press("ana", "handoff_yes", 1, dm_message(bot))
    assert bot.statuses(1) == {"ana": "committed", "bo": "withdrawn", "cy": "waitlisted"}
    assert "Ana took your place" in dms(sent, "bo")[0].text
    assert "is yours" in sent[-1].text
    card = [s.card for s in sent if s.kind == "update"][-1]
    assert card is not None and [p.id for p in card.committed] == ["ana"]
    assert rows(bot, ScheduleKind.HANDOFF) == [("cancelled", "ana")]

    before = bot.snapshot()  # a stale button: friendly, and nothing changes
    stale = bot.press("ana", "handoff_yes", 1, dm_message(bot))
    assert [s.kind for s in stale] == ["private"] and "no open offer" in stale[0].text
    assert bot.snapshot() == before

    # Someone waiting may be offered the place too: they leave the waitlist for it.
    bot.say("ana", "/coop handoff #1 @cy")
    bot.say("cy", "/coop handoff #1 yes")
    assert bot.statuses(1) == {"ana": "withdrawn", "bo": "withdrawn", "cy": "committed"}
    with SqlUnitOfWork(bot.engine) as uow:
        found = uow.get_action(uow.community(COMMUNITY).id, 1)
        assert found is not None and (found.in_count, found.waiting_count) == (1, 0)


def test_a_hand_off_declined_or_lapsed_leaves_the_place_with_the_offerer(bot: TestBot) -> None:
    full_task(bot, due='"2026-11-30 10:00"')
    bot.say("bo", "/coop handoff #1 @ana")
    sent = bot.say("ana", "/coop handoff #1 decline")
    assert "Ana declined" in dms(sent, "bo")[0].text and "Bo keeps" in sent[-1].text
    assert bot.statuses(1) == {"bo": "committed", "cy": "waitlisted"}

    bot.say("bo", "/coop handoff #1 @dee")
    assert not dms(bot.advance(2 * HOUR - MINUTE))
    lapsed = bot.advance(MINUTE)
    assert "has lapsed" in dms(lapsed, "dee")[0].text
    assert "didn't answer in time" in dms(lapsed, "bo")[0].text
    assert bot.statuses(1) == {"bo": "committed", "cy": "waitlisted"}
    before = bot.snapshot()
    assert "no open offer" in bot.say("dee", "/coop handoff #1 accept")[-1].text
    assert "no open offer" in bot.press("dee", "handoff_no", 1, dm_message(bot))[-1].text
    assert bot.snapshot() == before


def test_hand_offs_that_cannot_be_are_refused_and_change_nothing(bot: TestBot) -> None:
    full_task(bot, due='"2026-11-30 10:00"')
    bot.chat.strangers.add("ghost")
    bot.say("bo", "/coop handoff #1 @ana")
    before = bot.snapshot()
    for who, text, said in (
        ("cy", "handoff #1 @dee", "you're on its waitlist"),
        ("eve", "handoff #1 @dee", "you're not in on it"),
        ("bo", "handoff #1 @dee", "offered your place on #1 “Drive the van” to Ana already"),
        ("bo", "handoff #1", "Use /coop handoff #3 @ana"),
        ("bo", "handoff #1 @ghost", "can't find @ghost"),
        ("bo", "handoff #1 @bo", "That's you"),
        ("bo", "handoff #9 @dee", "no action #9"),
    ):
        sent = bot.say(who, text)
        assert [s.kind for s in sent] == ["private"] and said in sent[0].text, (text, sent)
    assert bot.snapshot() == before


# --- restarts ------------------------------------------------------------------------------


def test_a_new_process_fires_the_confirm_and_hand_off_timers(
    sqlite_url: str, tmp_path: Path
) -> None:
    first = TestBot(sqlite_url)
    first.say("alice", f'/coop task "Van" need:1 due:{SOON} remind:none')
    first.say("bo", "join #1")
    first.say("cy", "join #1")
    first.say("dee", "join #1")
    first.say("bo", "leave #1")  # cy must confirm by START + 2 h
    first.say("alice", f'/coop task "Stall" need:1 due:{SOON} remind:none')
    first.say("erin", "join #2")
    first.say("erin", "/coop handoff #2 @fay")  # lapses at START + 2 h
    first.advance(HOUR)
    first.engine.dispose()

    # A fresh process: its own objects, only the database in common, its clock where the
    # first one's was.
    second = TestBot(sqlite_url)
    second.clock.advance(first.clock.now() - START)
    sent = second.advance(HOUR)
    assert "didn't confirm" in dms(sent, "cy")[0].text
    assert "please confirm" in dms(sent, "dee")[0].text
    assert "has lapsed" in dms(sent, "fay")[0].text
    assert "didn't answer in time" in dms(sent, "erin")[0].text
    assert second.statuses(1) == {"bo": "withdrawn", "cy": "withdrawn", "dee": "committed"}
    assert second.statuses(2) == {"erin": "committed"}


def test_the_export_shows_maybes_the_cut_off_and_who_must_confirm(bot: TestBot) -> None:
    from bot.export import action_record

    bot.say("alice", f'/coop task "Van" need:1 due:{SOON} closes:"2026-11-27 18:00" remind:none')
    for who, text in (
        ("bo", "join #1"),
        ("cy", "join #1"),
        ("dee", "maybe #1"),
        ("bo", "leave #1"),
    ):
        bot.say(who, text)
    with SqlUnitOfWork(bot.engine) as uow:
        [record] = [action_record(row) for row in uow.export()]
    assert record["closes"] == "2026-11-27T18:00:00Z" and record["maybes"] == 1
    people = {c["member"]: c for c in record["commitments"]}
    assert people["dee"]["status"] == "maybe"
    assert people["cy"]["confirm_by"] == "2026-11-27T12:00:00Z"
    assert "confirm_by" not in people["bo"]


def test_with_roles_a_hand_off_keeps_the_role_and_a_role_with_room_asks_the_maybes(
    bot: TestBot,
) -> None:
    bot.say("alice", '/coop task "Stall" roles:"driver:1, cook:2" due:"2026-11-28 10:00"')
    bot.say("bo", "join #1 role:driver")
    bot.say("cy", "join #1 role:driver")  # waits for the driver's place
    bot.say("ed", "maybe #1")
    bot.say("bo", "/coop handoff #1 @dee")
    bot.say("dee", "/coop handoff #1 accept")
    assert bot.statuses(1) == {
        "bo": "withdrawn",
        "cy": "waitlisted",
        "dee": "committed",
        "ed": "maybe",
    }
    assert commitment(bot, 1, "dee").role == "driver"
    # The driver's place is full, the cooks' is not: the maybe is asked at due - 12 h.
    assert not [s for s in dms(bot.advance(12 * HOUR - MINUTE)) if "You said maybe" in s.text]
    asked = [s for s in dms(bot.advance(MINUTE)) if "You said maybe" in s.text]
    assert [s.to for s in asked] == ["ed"] and "still has places open" in asked[0].text


def test_after_downtime_longer_than_the_grace_a_lapsed_confirm_still_passes_the_place(
    bot: TestBot,
) -> None:
    full_task(bot, due='"2026-11-28 09:00"', waiting=("cy", "dee"))
    bot.say("bo", "leave #1")  # cy must confirm by START + 2 h
    bot.clock.advance(30 * HOUR)  # the bot was down well past the 24 h grace
    sent = bot.tick()
    assert "didn't confirm" in dms(sent, "cy")[0].text
    assert bot.statuses(1) == {"bo": "withdrawn", "cy": "withdrawn", "dee": "committed"}


def test_joining_again_is_the_confirm_when_the_button_is_gone(bot: TestBot) -> None:
    full_task(bot, waiting=("cy", "dee"))
    [asked] = dms(bot.say("bo", "leave #1"), "cy")
    assert "/coop join #1" in asked.text  # the fallback, said where the buttons are
    thanks = bot.say("cy", "join #1")
    assert "The place on #1 “Drive the van” is yours" in thanks[-1].text
    assert commitment(bot, 1, "cy").confirm_by is None
    assert rows(bot, ScheduleKind.CONFIRM) == [("cancelled", "cy")]
    assert not dms(bot.advance(3 * HOUR), "cy")  # no "didn't confirm" later
    assert bot.statuses(1) == {"bo": "withdrawn", "cy": "committed", "dee": "waitlisted"}


def test_on_a_task_with_roles_the_card_marks_who_has_yet_to_confirm(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Stall" roles:"driver:1, cook:2" due:"2026-11-27 20:00"')
    bot.say("bo", "join #1 role:driver")
    bot.say("cy", "join #1 role:driver")
    bot.say("bo", "leave #1")
    shown = bot.say("alice", "show #1")[-1].text
    assert "driver 1/1: Cy (confirming)" in shown
    bot.say("cy", "join #1 role:driver")
    assert "driver 1/1: Cy\n" in bot.say("alice", "show #1")[-1].text
