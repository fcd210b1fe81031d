"""Maybes, the sign-up cut-off and admins acting for others, through the core with the manual
clock on a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.cards import Card
from bot.model import Action
from bot.refs import MessageRef
from bot.render import card_text
from bot.timeparse import format_local
from storage.uow import SqlUnitOfWork
from tests.harness import COMMUNITY, Sent, TestBot

MINUTE = timedelta(minutes=1)
DUE = datetime(2026, 11, 30, 10, tzinfo=UTC)  # Monday, three days after START


def dms(sent: list[Sent], to: str | None = None) -> list[Sent]:
    return [s for s in sent if s.kind == "dm" and (to is None or s.to == to)]


def action(bot: TestBot, number: int) -> Action:
    with SqlUnitOfWork(bot.engine) as uow:
        found = uow.get_action(uow.community(COMMUNITY).id, number)
        assert found is not None
        return found


def last_card(bot: TestBot, number: int) -> Card:
    cards = [s.card for s in bot.chat.sent if s.card is not None and s.card.number == number]
    assert cards, f"no card for #{number}"
    return cards[-1]


def buttons(card: Card) -> list[str]:
    return [b.name for b in card.buttons]


def dm_message(bot: TestBot) -> MessageRef:
    """Where a DM button is pressed (the core goes by the button's number)."""
    return MessageRef(bot.channel("dm"), "dm1")


# --- maybe ---------------------------------------------------------------------------------


def test_a_maybe_never_fills_a_place_and_is_counted_apart(database_url: str) -> None:
    bot = TestBot(database_url)
    bot.say("alice", '/coop task "Move boxes" need:1')
    said = bot.say("bob", "/coop maybe #1")
    assert "maybe" in said[-1].text
    bot.say("cy", "/coop maybe #1")
    assert (action(bot, 1).in_count, action(bot, 1).maybe_count) == (0, 2)
    card = last_card(bot, 1)
    assert [p.name for p in card.maybe] == ["Bob", "Cy"] and card.progress == "0/1 in"
    assert buttons(card) == ["join", "maybe", "leave", "done"]
    assert "maybe: Bob, Cy" in card_text(card)

    bot.say("dave", "/coop join #1")  # the one place is still free: maybes hold none
    assert bot.statuses(1)["dave"] == "committed"
    bot.say("bob", "/coop join #1")  # a maybe who joins a full task waits like anyone
    assert bot.statuses(1) == {"bob": "waitlisted", "cy": "maybe", "dave": "committed"}
    found = action(bot, 1)
    assert (found.in_count, found.waiting_count, found.maybe_count) == (1, 1, 1)

    # Going from a place to maybe frees it: the waitlist moves up as when leaving.
    sent = bot.press("dave", "maybe", 1, bot.card_message(1))
    assert bot.statuses(1) == {"bob": "committed", "cy": "maybe", "dave": "maybe"}
    assert [s.to for s in dms(sent)] == ["bob"] and "you're in" in dms(sent)[0].text
    found = action(bot, 1)
    assert (found.in_count, found.waiting_count, found.maybe_count) == (1, 0, 2)

    bot.say("cy", "/coop leave #1")  # leaving removes a maybe
    assert bot.statuses(1)["cy"] == "withdrawn" and action(bot, 1).maybe_count == 1
    again = bot.say("dave", "/coop maybe #1")
    assert "already" in again[-1].text and action(bot, 1).maybe_count == 1


def test_a_waitlisted_person_may_turn_maybe_and_a_drive_refuses_maybes(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Tiny" need:1')
    bot.say("bob", "join #1")
    bot.say("cy", "join #1")
    bot.say("cy", "maybe #1")
    found = action(bot, 1)
    assert bot.statuses(1) == {"bob": "committed", "cy": "maybe"}
    assert (found.in_count, found.waiting_count, found.maybe_count) == (1, 0, 1)

    bot.say("alice", '/coop pledge "Beach clean-up" goal:3 deadline:"in 4 days"')
    before = bot.snapshot()
    refused = bot.say("bob", "/coop maybe #2")
    assert [s.kind for s in refused] == ["private"] and "pledge drive" in refused[0].text
    assert bot.snapshot() == before


def test_maybes_are_asked_once_shortly_before_due_only_while_places_are_open(
    bot: TestBot,
) -> None:
    bot.say("alice", '/coop task "Paint" need:3 due:"2026-11-30 10:00" remind:none')
    bot.say("alice", '/coop task "Full" need:1 due:"2026-11-30 10:00" remind:none')
    bot.say("bob", "maybe #1")
    bot.say("cy", "maybe #1")
    bot.say("dave", "join #1")
    bot.say("dave", "join #2")
    bot.say("erin", "maybe #2")  # #2 is full: erin is not asked
    ask_at = DUE - timedelta(hours=12)
    assert not dms(bot.advance(ask_at - MINUTE - bot.clock.now()))
    asked = dms(bot.advance(MINUTE))
    assert sorted(s.to for s in asked) == ["bob", "cy"]
    assert "still has places open (1/3 in)" in asked[0].text and "#1" in asked[0].text
    assert [(b.name, b.label, b.number) for b in asked[0].buttons] == [
        ("join", "I'm in", 1),
        ("leave", "Not this time", 1),
    ]
    # The answers are the card's join and leave.
    bot.press("bob", "join", 1, dm_message(bot))
    bot.press("cy", "leave", 1, dm_message(bot))
    assert bot.statuses(1) == {"bob": "committed", "cy": "withdrawn", "dave": "committed"}
    bot.say("cy", "maybe #1")  # a maybe again: not asked a second time
    later = bot.advance(DUE - MINUTE - bot.clock.now())
    assert not [s for s in dms(later) if "You said maybe" in s.text]


# --- the cut-off ---------------------------------------------------------------------------


def test_after_the_cut_off_joining_is_refused_and_the_card_says_so(database_url: str) -> None:
    bot = TestBot(database_url)
    closes = datetime(2026, 11, 28, 18, tzinfo=UTC)
    bot.say(
        "alice", '/coop task "Market stall" need:4 due:"2026-11-30 10:00" closes:"saturday 6pm"'
    )
    card = last_card(bot, 1)
    assert card.closes_at == closes and not card.signup_closed
    assert f"sign-up closes {format_local(closes, 'UTC')}" in card_text(card)
    bot.say("bob", "join #1")
    bot.say("cy", "maybe #1")

    before = bot.advance(closes - MINUTE - bot.clock.now())
    assert not [s for s in before if s.kind == "update"]
    at_cut_off = [s for s in bot.advance(MINUTE) if s.kind == "update"]
    assert len(at_cut_off) == 1 and at_cut_off[0].card is not None
    card = at_cut_off[0].card
    assert card.signup_closed and buttons(card) == ["leave", "done"]
    assert "sign-up closed" in card_text(card)

    bot.chat.zones["dave"] = "Europe/Berlin"
    before_refusals = bot.snapshot()
    for who, text in (("dave", "join #1"), ("dave", "maybe #1"), ("cy", "join #1")):
        refused = bot.say(who, text)
        assert [s.kind for s in refused] == ["private"], text
        assert "closed" in refused[0].text
    # The time is shown in the zone of the one refused.
    assert format_local(closes, "Europe/Berlin") in bot.chat.last_private("dave")
    assert "closed" in bot.press("dave", "join", 1, bot.card_message(1))[-1].text
    assert bot.snapshot() == before_refusals
    bot.say("bob", "leave #1")  # leaving is still allowed
    assert bot.statuses(1) == {"bob": "withdrawn", "cy": "maybe"}


def test_a_cut_off_in_the_past_or_after_the_due_time_is_refused(bot: TestBot) -> None:
    before = bot.snapshot()
    for text, said in (
        ('task "X" closes:"2026-11-26 10:00"', "has passed"),
        ('task "X" due:"saturday 10am" closes:"sunday 10am"', "after the due time"),
    ):
        sent = bot.say("alice", text)
        assert [s.kind for s in sent] == ["private"] and said in sent[0].text, text
    assert bot.snapshot() == before
    ok = bot.say("alice", 'task "Y" closes:"saturday 10am"')  # no due time: any future cut-off
    assert [s.kind for s in ok] == ["post"]


def test_closes_moved_reschedules_the_cut_off(bot: TestBot) -> None:
    from bot import signup
    from bot.model import ScheduleKind, Via
    from bot.turn import Turn

    bot.say("alice", '/coop task "Stall" closes:"saturday 6pm"')
    later = datetime(2026, 11, 29, 18, tzinfo=UTC)
    with SqlUnitOfWork(bot.engine) as uow:
        community = uow.community(COMMUNITY)
        found = uow.get_action(community.id, 1)
        assert found is not None and found.id is not None
        alice = uow.member(community, bot.member("alice"))
        turn = Turn(
            uow, bot.coop.prefs, bot.clock.now(), bot.member("alice"), bot.channel(),
            community, alice, Via.COMMAND,
        )  # fmt: skip
        found.closes_at = later
        signup.closes_moved(turn, found)
        rows = uow.schedules.of_action(found.id, ScheduleKind.CLOSES)
        uow.commit()
    assert [r.next_at for r in rows] == [later]
    # The old time passes quietly; the card changes at the new one.
    assert not [s for s in bot.advance(later - MINUTE - bot.clock.now()) if s.kind == "update"]
    assert "You're in" in bot.say("bob", "join #1")[-1].text
    updated = [s.card for s in bot.advance(MINUTE) if s.kind == "update"]
    assert len(updated) == 1 and updated[0] is not None and updated[0].signup_closed
    assert "closed" in bot.say("cy", "join #1")[-1].text


# --- admins acting for others --------------------------------------------------------------


def test_an_admin_adds_and_removes_someone_who_is_told(database_url: str) -> None:
    bot = TestBot(database_url, admins=("root",))
    bot.say("alice", '/coop task "Kitchen" need:1')
    sent = bot.say("root", "/coop join #1 for:@ana")
    assert bot.statuses(1) == {"ana": "committed"}
    assert [s.to for s in dms(sent)] == ["ana"] and "Root added you to #1" in dms(sent)[0].text
    assert bot.chat.last_private("root") == "Added Ana to #1 “Kitchen”; I've told them."
    assert "ana" not in [s.to for s in sent if s.kind == "private"]

    sent = bot.say("root", "/coop join #1 for:@bo")  # full: bo waits, as if bo had joined
    assert bot.statuses(1)["bo"] == "waitlisted"
    assert "waitlist" in dms(sent, "bo")[0].text and "waitlist" in bot.chat.last_private("root")
    again = bot.say("root", "/coop join #1 for:@ana")
    assert bot.chat.last_private("root") == "Ana is already in on #1 “Kitchen”." and not dms(again)

    sent = bot.say("root", "/coop leave #1 for:@ana")  # bo moves up, told as always
    assert bot.statuses(1) == {"ana": "withdrawn", "bo": "committed"}
    assert "Root took you off #1" in dms(sent, "ana")[0].text
    assert "you're in" in dms(sent, "bo")[0].text

    with SqlUnitOfWork(bot.engine) as uow:
        community = uow.community(COMMUNITY)
        root = uow.find_member(community, "root")
        log = [(e.kind, e.actor_id, e.detail) for e in uow.audit_log(community.id)]
    assert root is not None
    assert ("commitment.committed", root.id, "for ana") in log
    assert ("commitment.withdrawn", root.id, "for ana") in log


def test_only_admins_act_for_others_and_an_unknown_person_is_said(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Kitchen" need:2 closes:"saturday 6pm"')
    bot.chat.strangers.add("ghost")
    before = bot.snapshot()
    refused = bot.say("bob", "/coop join #1 for:@ana")
    assert [s.kind for s in refused] == ["private"] and "Only a community admin" in refused[0].text
    unknown = bot.say("root", "/coop leave #1 for:@ghost")
    assert [s.kind for s in unknown] == ["private"] and "can't find @ghost" in unknown[0].text
    assert bot.snapshot() == before

    # An admin may still add someone after the cut-off (the organiser's call).
    bot.advance(datetime(2026, 11, 28, 18, tzinfo=UTC) - bot.clock.now())
    assert "closed" in bot.say("ana", "join #1")[-1].text
    bot.say("root", "/coop join #1 for:@ana")
    assert bot.statuses(1) == {"ana": "committed"}


def test_a_task_due_sooner_than_the_maybe_question_asks_half_way(bot: TestBot) -> None:
    bot.say("alice", '/coop task "Paint" need:3 due:"2026-11-27 14:00" remind:none')  # in 4 h
    bot.say("bob", "maybe #1")
    assert not dms(bot.advance(2 * timedelta(hours=1) - MINUTE))
    asked = dms(bot.advance(MINUTE))
    assert [s.to for s in asked] == ["bob"] and "You said maybe" in asked[0].text
