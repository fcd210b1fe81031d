"""Tasks, commitments and the waitlist, driven through the core with a recording chat."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.usecases import Preferences
from tests.harness import TestBot


def test_acceptance_scenario_commits_waitlists_and_promotes(bot: TestBot) -> None:
    msg = bot.post("alice", "Who can help set up the meetup room on Friday?\nDetails inside")
    posted = bot.react("alice", "pushpin", msg)
    assert [s.kind for s in posted] == ["post"]
    assert posted[0].card and posted[0].card.title.startswith("Who can help set up")
    bot.react("bob", "raised_hand", msg)
    bot.say("carol", "/coop join #1")
    bot.say("alice", '/coop task "Buy snacks" need:2 due:"in 3 days"')
    bot.say("dave", "join #2")
    bot.say("erin", "join #2")
    sent = bot.say("frank", "join #2")
    assert "waitlist" in sent[-1].text
    assert bot.statuses(2)["frank"] == "waitlisted"
    sent = bot.say("dave", "leave #2")

    assert bot.statuses(1) == {"bob": "committed", "carol": "committed"}
    assert bot.statuses(2) == {"dave": "withdrawn", "erin": "committed", "frank": "committed"}
    dms = [s for s in sent if s.kind == "dm"]
    assert len(dms) == 1 and dms[0].to == "frank" and "you're in" in dms[0].text
    card = [s for s in sent if s.kind == "update"][-1].card
    assert card is not None
    assert [p.id for p in card.committed] == ["erin", "frank"] and card.progress == "2/2 in"


def test_card_is_updated_in_place_after_each_change(bot: TestBot) -> None:
    bot.say("alice", "task Paint the fence need:3")
    card_at = bot.card_message(1)
    bot.say("bob", "join #1")
    bot.press("carol", "join", 1, card_at)
    updates = bot.chat.of("update", card_at.id)
    assert len(updates) == 2
    last = updates[-1].card
    assert last is not None
    assert (last.progress, last.progress_bar(3)) == ("2/3 in", "▰▰▱")


def test_joining_twice_changes_nothing(bot: TestBot) -> None:
    bot.say("alice", "task Sweep")
    bot.say("bob", "join #1")
    before = bot.snapshot()
    sent = bot.say("bob", "join #1")
    assert bot.snapshot() == before
    assert [s.kind for s in sent] == ["private"] and "already" in sent[0].text
    assert bot.react("bob", "✋", bot.card_message(1))[0].kind == "private"
    assert bot.snapshot() == before


def test_withdrawing_promotes_the_first_on_the_waitlist_in_order(bot: TestBot) -> None:
    bot.say("alice", "task Drive need:1")
    for name in ("bob", "carol", "dave"):
        bot.say(name, "join #1")
    sent = bot.say("bob", "leave #1")
    assert [s.to for s in sent if s.kind == "dm"] == ["carol"]
    assert bot.statuses(1) == {"bob": "withdrawn", "carol": "committed", "dave": "waitlisted"}
    with bot.coop.uow_factory() as uow:
        log = [(e.kind, e.via.value) for e in uow.audit_log(1)]
    assert log[-2:] == [("commitment.withdrawn", "command"), ("commitment.promoted", "system")]


def test_reactions_on_card_and_tracked_message_commit_and_withdraw(bot: TestBot) -> None:
    msg = bot.post("alice", "Need two people for the stall")
    bot.react("alice", "📌", msg)
    bot.react("bob", "raised_hand::skin-tone-3", msg)
    bot.react("carol", "✋🏽", bot.card_message(1))
    assert bot.statuses(1) == {"bob": "committed", "carol": "committed"}
    bot.unreact("carol", "raised_hand", bot.card_message(1))
    assert bot.statuses(1)["carol"] == "withdrawn"
    with bot.coop.uow_factory() as uow:
        audit = [e.via.value for e in uow.audit_log(1)]
    assert audit.count("reaction") == 4


def test_tracking_keeps_full_text_and_a_200_character_first_line(bot: TestBot) -> None:
    long_line = "x" * 300
    msg = bot.post("alice", f"\n{long_line}\nsecond line")
    bot.react("bob", "pushpin", msg)
    bot.react("carol", "pushpin", msg)
    assert "already tracked as #1" in bot.chat.last_private("carol")
    with bot.coop.uow_factory() as uow:
        action = uow.get_action(1, 1)
        assert action is not None
        assert action.title == "x" * 200 and action.body.endswith("second line")
        assert action.creator.external_id == "bob" and action.source_message_id == msg.id


def test_other_emoji_and_untracked_messages_are_ignored(bot: TestBot) -> None:
    msg = bot.post("alice", "hello")
    before = bot.snapshot()
    assert bot.react("bob", "tada", msg) == []
    assert bot.react("bob", "raised_hand", msg) == []
    assert bot.snapshot() == before


def test_done_marks_your_part_and_removing_the_reaction_undoes_it(bot: TestBot) -> None:
    bot.say("alice", "task Cook")
    bot.say("bob", "join #1")
    bot.say("bob", "done #1")
    assert bot.statuses(1) == {"bob": "done"}
    bot.unreact("bob", "white_check_mark", bot.card_message(1))
    assert bot.statuses(1) == {"bob": "committed"}
    bot.react("bob", "✅", bot.card_message(1))
    assert bot.statuses(1) == {"bob": "done"}
    sent = bot.say("carol", "done #1")
    assert "not committed" in sent[0].text and "carol" not in bot.statuses(1)


def test_done_people_keep_their_slot(bot: TestBot) -> None:
    bot.say("alice", "task Lift need:1")
    bot.say("bob", "join #1")
    bot.say("bob", "done #1")
    bot.say("carol", "join #1")
    assert bot.statuses(1)["carol"] == "waitlisted"


def test_only_creator_or_admin_can_close_or_cancel(bot: TestBot) -> None:
    bot.say("alice", "task Fix the sign")
    bot.say("bob", "join #1")
    before = bot.snapshot()
    sent = bot.say("bob", "cancel #1")
    assert "Only Alice" in sent[0].text and bot.snapshot() == before
    sent = bot.say("root", "cancel #1")
    assert [s.to for s in sent if s.kind == "dm"] == ["bob"]
    assert "cancelled" in sent[-1].text
    assert "no longer takes changes" in bot.say("carol", "join #1")[0].text
    bot.say("alice", "task Another")
    bot.say("alice", "close #2")
    card = bot.chat.of("update")[-1].card
    assert card is not None and card.state == "closed" and card.buttons == ()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("task", "needs a title"),
        ("task Clean need:0", "between 1 and 1000"),
        ("task Clean need:lots", "whole number"),
        ('task Clean due:"yesterday"', "has passed"),
        ('task Clean due:"blorp"', "can't read"),
        ("join #999", "no action #999"),
        ("join banana", "isn't an action number"),
        ("frobnicate", "don't know the command"),
        ("task " + "x" * 3_000, "3,000 characters"),
        ("task " + "x" * 10_000, "the limit is 4,000"),
        ("tz Mars/Olympus", "don't know the time zone"),
        ("list extra", "takes no arguments"),
        ("help nothing", "There's no /coop nothing"),
    ],
)
def test_bad_input_gets_a_private_error_and_changes_nothing(
    bot: TestBot, command: str, expected: str
) -> None:
    bot.say("alice", "task Existing need:2")
    before = bot.snapshot()
    sent = bot.say("bob", command)
    assert [(s.kind, s.to) for s in sent] == [("private", "bob")]
    assert expected in sent[0].text
    assert bot.snapshot() == before


def test_due_is_read_in_the_askers_time_zone(bot: TestBot) -> None:
    bot.say("bob", "tz America/New_York")
    assert "America/New_York" in bot.chat.last_private("bob")
    bot.say("bob", 'task Call due:"tomorrow 9am"')
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.due_at == datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    bot.say("alice", 'task Call due:"tomorrow 9am"')
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.due_at == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_list_mine_show_and_help_are_private(bot: TestBot) -> None:
    bot.say("alice", "task One need:2")
    bot.say("alice", "task Two", channel="ops")
    bot.say("bob", "join #1")
    bot.say("bob", "join #2", channel="ops")
    listing = bot.say("carol", "list")[0]
    assert listing.to == "carol" and "#1 One — 1/2 in" in listing.text and "Two" not in listing.text
    mine = bot.say("bob", "mine")[0].text
    assert "#1 One" in mine and "#2 Two" in mine
    assert "You have no open commitments" in bot.say("carol", "mine")[0].text
    show = bot.say("carol", "show #1")[0].text
    assert "in: Bob" in show
    help_all = bot.say("carol", "help")[0].text
    assert all(f"/coop {name}" in help_all for name in ("task", "join", "mine", "tz"))
    assert "need:" in bot.say("carol", "help task")[0].text


def test_a_retried_delivery_is_applied_once(bot: TestBot) -> None:
    bot.say("alice", "task Bake need:1")
    bot.say("bob", "join #1", event_id="Ev1")
    bot.say("bob", "leave #1", event_id="Ev2")
    assert bot.say("bob", "leave #1", event_id="Ev2") == []
    assert bot.say("bob", "join #1", event_id="Ev1") == []
    assert bot.statuses(1) == {"bob": "withdrawn"}


def test_numbers_are_per_community(sqlite_url: str) -> None:
    from bot.events import CommandInvoked
    from bot.refs import ChannelRef, CommunityRef, MemberRef

    bot = TestBot(sqlite_url)
    bot.say("alice", "task Here")
    other = CommunityRef("test", "T2")
    bot.handle(CommandInvoked(MemberRef(other, "zoe"), ChannelRef(other, "c"), "task There"))
    numbers = [s.card.number for s in bot.chat.of("post") if s.card]
    assert numbers == [1, 1]


def test_configured_emoji_work_as_names_and_characters(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url, prefs=Preferences(commit_emoji="👍"))
    bot.say("alice", "task Carry chairs")
    bot.react("bob", "+1", bot.card_message(1))
    bot.react("carol", "thumbsup", bot.card_message(1))
    bot.react("dave", "raised_hand", bot.card_message(1))
    assert bot.statuses(1) == {"bob": "committed", "carol": "committed"}
    assert "👍 to join" in bot.say("erin", "help")[0].text


def test_a_failed_send_does_not_lose_the_change(bot: TestBot) -> None:
    bot.say("alice", "task Hang lights need:1")
    bot.say("bob", "join #1")
    bot.say("carol", "join #1")
    bot.chat.fail_updates = True
    sent = bot.say("bob", "leave #1")
    assert [s.to for s in sent if s.kind == "dm"] == ["carol"]
    assert bot.statuses(1) == {"bob": "withdrawn", "carol": "committed"}


def test_an_unexpected_failure_is_answered_and_changes_nothing(
    bot: TestBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import usecases

    bot.say("alice", "task Anything")
    before = bot.snapshot()

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(usecases, "join", broken)
    sent = bot.say("bob", "join #1")
    assert "went wrong on my side" in sent[0].text and sent[0].to == "bob"
    assert bot.snapshot() == before


def test_platform_time_zone_is_used_until_the_member_sets_one(bot: TestBot) -> None:
    from bot.events import CommandInvoked
    from bot.refs import MemberRef

    tokyo = MemberRef(bot.member("kai").community, "kai", "Kai", tz="Asia/Tokyo")
    bot.handle(CommandInvoked(tokyo, bot.channel(), 'task Call due:"2026-12-01 09:00"'))
    bot.say("kai", "tz Europe/Paris")
    bot.handle(CommandInvoked(tokyo, bot.channel(), 'task Call due:"2026-12-01 09:00"'))
    dues = [s.card.due_at.hour for s in bot.chat.of("post") if s.card and s.card.due_at]
    assert dues == [0, 8]


def test_commitments_of_lists_open_cards(bot: TestBot) -> None:
    import asyncio

    bot.say("alice", "task One")
    bot.say("alice", "task Two")
    bot.say("bob", "join #2")
    cards = asyncio.run(bot.coop.commitments_of(bot.member("bob")))
    assert [c.number for c in cards] == [2]


def test_the_creator_can_rename_a_task_tracked_from_a_message(bot: TestBot) -> None:
    from bot.events import TitleGiven

    msg = bot.post("alice", "https://example.org/m/1")
    bot.react("alice", "pushpin", msg)
    bot.react("bob", "raised_hand", msg)
    before = bot.snapshot()
    refused = bot.handle(TitleGiven(bot.member("bob"), msg, "Bob's idea"))
    assert "Only Alice" in refused[0].text and bot.snapshot() == before
    empty = bot.handle(TitleGiven(bot.member("alice"), msg, "   "))
    assert "needs some text" in empty[0].text and bot.snapshot() == before
    sent = bot.handle(TitleGiven(bot.member("alice"), msg, "  Set up   the room "))
    update = [s for s in sent if s.kind == "update"][0].card
    assert update is not None and update.title == "Set up the room"
    assert [p.id for p in update.committed] == ["bob"]
    assert "Renamed #1" in sent[-1].text
    stray = bot.handle(TitleGiven(bot.member("alice"), bot.post("alice", "x"), "T"))
    assert "isn't tracked" in stray[0].text


def test_open_cards_lists_every_open_action_with_its_channel(bot: TestBot) -> None:
    import asyncio

    bot.say("alice", "task One")
    bot.say("alice", "task Two", channel="ops")
    bot.say("alice", "close #1")
    cards = asyncio.run(bot.coop.open_cards(bot.member("alice").community))
    assert [(c.number, c.channel_id) for c in cards] == [(2, "ops")]


def test_the_scenario_gives_the_same_state_on_sqlite_and_postgresql(database_url: str) -> None:
    bot = TestBot(database_url, admins=("root",))
    msg = bot.post("alice", "Who can help set up the meetup room on Friday?")
    bot.react("alice", "pushpin", msg)
    bot.react("bob", "raised_hand", msg)
    bot.say("carol", "join #1")
    bot.say("alice", 'task "Buy snacks" need:2 due:"in 3 days"')
    for name in ("dave", "erin", "frank"):
        bot.say(name, "join #2")
    sent = bot.say("dave", "leave #2")
    bot.say("root", "cancel #1")
    assert [s.to for s in sent if s.kind == "dm"] == ["frank"]
    assert bot.statuses(1) == {"bob": "committed", "carol": "committed"}
    assert bot.statuses(2) == {"dave": "withdrawn", "erin": "committed", "frank": "committed"}
    assert [s.to for s in bot.chat.of("dm")] == ["frank", "bob", "carol"]


def test_times_are_bounded_ahead_and_a_far_one_renders_in_every_zone(bot: TestBot) -> None:
    before = bot.snapshot()
    bot.say("alice", 'task "Far off" due:"9999-12-31 23:00"')
    assert "more than 10 years away" in bot.chat.last_private("alice")
    bot.say("alice", 'remind me "Far off" when:"2040-01-01 09:00"')
    assert "more than 10 years away" in bot.chat.last_private("alice")
    assert bot.snapshot() == before
    # One stored before times were bounded: every reader sees it, whatever their zone.
    from datetime import UTC, datetime

    from storage.uow import SqlUnitOfWork

    bot.say("alice", "task Ancient")
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(uow.community(bot.member("x").community).id, 1)
        assert action is not None
        action.due_at = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)
        uow.save_action(action)
        uow.commit()
    bot.say("kiri", "tz Pacific/Kiritimati")  # UTC+14: past the calendar's end
    bot.say("kiri", "join #1")
    for typed in ("list", "show #1", "mine"):
        bot.say("kiri", typed)
        assert "31 Dec 9999 23:30 (UTC)" in bot.chat.last_private("kiri"), typed
