"""Pledge drives through the core, with the manual clock: tipping once at the pledge that meets
the goal, failing at the deadline, amounts, conditions, the creator's projection nudge, the
check-in afterwards, sealed drives and bad input."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.events import DriveRequested, TitleGiven
from bot.export import action_record
from bot.pledges import Pledge, resolve
from bot.render import card_text
from storage.uow import SqlUnitOfWork
from tests.harness import START, Sent, TestBot
from tests.test_console import coopbot

DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def drive_bot(tmp_path_factory: pytest.TempPathFactory) -> TestBot:
    """One bot for every example of a property: each example starts a drive of its own."""
    path = tmp_path_factory.mktemp("drives") / "drives.db"
    return TestBot(f"sqlite:///{path}")


def kinds(sent: list[Sent], kind: str, to: str | None = None) -> list[Sent]:
    return [s for s in sent if s.kind == kind and (to is None or s.to == to)]


def drive_state(bot: TestBot, number: int) -> str:
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(uow.community(bot.member("x").community).id, number)
        assert action is not None
        return action.state.value


def last_card(bot: TestBot, number: int) -> str:
    cards = [s.card for s in bot.chat.sent if s.card is not None and s.card.number == number]
    assert cards, f"no card for #{number}"
    return card_text(cards[-1])


def start(bot: TestBot, options: str = 'goal:3 deadline:"in 4 days"') -> None:
    bot.say("alice", f'/coop pledge "Beach clean-up" {options}')


# --- tipping -------------------------------------------------------------------------------


def test_a_drive_tips_exactly_once_at_the_pledge_that_meets_the_goal(bot: TestBot) -> None:
    start(bot)
    assert kinds(bot.chat.sent, "post")[0].card is not None
    assert "0 of 3 in" in last_card(bot, 1) and "4 days left" in last_card(bot, 1)
    bot.say("bob", "join #1")
    sent = bot.say("carol", "join #1")
    assert not kinds(sent, "message") and not kinds(sent, "dm")
    assert drive_state(bot, 1) == "open" and "2 of 3 in" in last_card(bot, 1)
    sent = bot.say("dave", "join #1")
    [announcement] = kinds(sent, "message")
    assert announcement.to == "general" and "tipped: 3 of 3 in" in announcement.text
    assert "task #2" in announcement.text
    assert sorted(s.to for s in kinds(sent, "dm")) == ["bob", "carol", "dave"]
    carols = kinds(sent, "dm", "carol")[0].text
    assert "You're in, with Bob and Dave" in carols and "task #2" in carols
    assert drive_state(bot, 1) == "tipped"
    assert bot.statuses(2) == {"bob": "committed", "carol": "committed", "dave": "committed"}
    [task_card] = [s for s in kinds(sent, "post") if s.card and s.card.number == 2]
    assert task_card.card is not None and task_card.card.title == "Beach clean-up"
    assert "tipped: now task #2" in last_card(bot, 1)
    # Later pledges change nothing and say where to go instead; nothing tips twice.
    sent = bot.say("erin", "join #1")
    assert "has tipped" in bot.chat.last_private("erin") and "#2" in bot.chat.last_private("erin")
    assert not kinds(sent, "message") and not kinds(sent, "dm")
    assert not kinds(bot.advance(10 * DAY), "message")
    assert "erin" not in bot.statuses(1)


def test_readme_scenario_conditions_tip_with_the_right_group_at_the_last_pledge(
    bot: TestBot,
) -> None:
    start(bot)
    bot.say("bob", "join #1")
    bot.say("dave", "join #1 if:@carol")
    sent = bot.say("erin", "join #1 if:2")
    assert "you asked for at least 2 others and 1 is in" in bot.chat.last_private("erin")
    assert not kinds(sent, "message")
    card = last_card(bot, 1)
    assert "1 of 3 in" in card and "2 more conditional: Dave, Erin" in card
    assert drive_state(bot, 1) == "open"
    sent = bot.say("carol", "join #1")
    [announcement] = kinds(sent, "message")
    assert "tipped: 4 in (goal 3)" in announcement.text
    assert sorted(s.to for s in kinds(sent, "dm")) == ["bob", "carol", "dave", "erin"]
    assert bot.statuses(2) == dict.fromkeys(["bob", "dave", "erin", "carol"], "committed")


def test_pledgers_outside_the_group_are_told_why_when_it_tips(bot: TestBot) -> None:
    start(bot, 'goal:2 deadline:"in 4 days"')
    bot.say("frank", "join #1 if:5")
    bot.say("bob", "join #1")
    sent = bot.say("carol", "join #1")
    [told] = kinds(sent, "dm", "frank")
    assert "tipped without your pledge" in told.text
    assert "you asked for at least 5 others and 2 are in" in told.text
    assert "/coop join #2" in told.text
    assert set(bot.statuses(2)) == {"bob", "carol"}


def test_changing_a_pledge_keeps_one_pledge_and_withdrawing_works_until_it_tips(
    bot: TestBot,
) -> None:
    start(bot, 'goal:2 deadline:"in 4 days"')
    bot.say("bob", "join #1 if:3")
    bot.say("bob", "join #1 if:1")  # changed, not a second pledge
    assert "Changed your pledge" in bot.chat.last_private("bob")
    bot.say("bob", "leave #1")
    assert bot.statuses(1) == {"bob": "withdrawn"}
    bot.say("bob", "join #1")
    sent = bot.say("carol", "join #1")
    assert kinds(sent, "message")
    bot.say("carol", "leave #1")
    assert "has tipped" in bot.chat.last_private("carol")
    assert bot.statuses(1)["carol"] == "committed"


def test_an_amount_drive_tips_on_the_sum(bot: TestBot) -> None:
    start(bot, 'goal:10 unit:hours deadline:"in 4 days"')
    bot.say("bob", "join #1 amount:4")
    bot.say("carol", "join #1 amount:5")
    assert "9 of 10 hours" in last_card(bot, 1) and drive_state(bot, 1) == "open"
    sent = bot.press("dave", "join", 1, bot.card_message(1))  # the button pledges 1
    [announcement] = kinds(sent, "message")
    assert "10 of 10 hours" in announcement.text
    assert set(bot.statuses(2)) == {"bob", "carol", "dave"}


def test_reaction_pledges_and_unreacting_withdraws(bot: TestBot) -> None:
    start(bot)
    card = bot.card_message(1)
    bot.react("bob", "raised_hand", card)
    assert bot.statuses(1) == {"bob": "committed"}
    bot.unreact("bob", "raised_hand", card)
    assert bot.statuses(1) == {"bob": "withdrawn"}


# --- the deadline --------------------------------------------------------------------------


def test_a_drive_that_misses_its_deadline_fails_and_tells_everyone(bot: TestBot) -> None:
    start(bot, 'goal:5 deadline:"in 4 days"')
    bot.say("bob", "join #1")
    bot.say("carol", "join #1 if:9")
    assert not [s for s in kinds(bot.advance(4 * DAY - MINUTE), "dm") if s.to != "alice"]
    sent = bot.advance(MINUTE)
    told = kinds(sent, "dm")
    assert sorted(s.to for s in told) == ["bob", "carol"]
    assert all("closed without reaching its goal: 1 of 5 in" in s.text for s in told)
    assert drive_state(bot, 1) == "failed"
    assert "[pledge drive, failed]" in last_card(bot, 1)
    bot.say("dave", "join #1")
    assert "without reaching its goal" in bot.chat.last_private("dave")
    assert not kinds(bot.advance(5 * DAY), "dm")


def test_the_creator_may_extend_once_before_the_deadline(bot: TestBot) -> None:
    start(bot, 'goal:5 deadline:"in 4 days"')
    bot.say("bob", "join #1")
    bot.say("bob", 'extend #1 deadline:"in 6 days"')
    assert bot.chat.last_private("bob").startswith("Only Alice")
    bot.say("alice", 'extend #1 deadline:"in 2 days"')
    assert "later than the current one" in bot.chat.last_private("alice")
    sent = bot.say("alice", 'extend #1 deadline:"in 6 days"')
    assert "Extended #1" in bot.chat.last_private("alice")
    [told] = kinds(sent, "dm", "bob")
    assert "The deadline of #1 “Beach clean-up” moved to" in told.text
    bot.say("alice", 'extend #1 deadline:"in 7 days"')
    assert "already extended once" in bot.chat.last_private("alice")
    assert not kinds(bot.advance(5 * DAY), "dm", "bob")  # the old deadline passed: still open
    assert drive_state(bot, 1) == "open"
    assert kinds(bot.advance(DAY), "dm", "bob")
    assert drive_state(bot, 1) == "failed"


# --- the creator's nudge and the check-in --------------------------------------------------


def test_the_creator_is_nudged_once_half_way_when_the_rate_projects_a_miss(bot: TestBot) -> None:
    start(bot, 'goal:10 deadline:"in 4 days"')
    bot.advance(DAY)
    bot.say("bob", "join #1")
    assert not kinds(bot.advance(DAY - MINUTE), "dm", "alice")
    [nudge] = kinds(bot.advance(MINUTE), "dm", "alice")
    assert "Half-way through #1" in nudge.text and "about 2 by the deadline" in nudge.text
    assert "/coop extend #1" in nudge.text
    assert not kinds(bot.advance(DAY), "dm", "alice")


def test_no_nudge_when_the_rate_projects_the_goal(bot: TestBot) -> None:
    start(bot, 'goal:4 deadline:"in 4 days"')
    bot.say("bob", "join #1")
    bot.say("carol", "join #1")
    assert not kinds(bot.advance(3 * DAY), "dm", "alice")
    [record] = [r for r in bot.schedules() if r.schedule.kind.value == "projection"]
    assert [o.state.value for o in record.occurrences] == ["skipped"]


def test_members_are_asked_did_you_do_it_and_the_answers_show_on_the_card(bot: TestBot) -> None:
    start(bot, 'goal:2 deadline:"in 2 days" due:"in 3 days"')
    bot.say("bob", "join #1")
    bot.say("carol", "join #1")
    sent = bot.advance(3 * DAY + 3 * DAY - MINUTE)
    assert not [s for s in kinds(sent, "dm") if "Did you do it?" in s.text]
    asked = [s for s in kinds(bot.advance(MINUTE), "dm") if "Did you do it?" in s.text]
    assert sorted(s.to for s in asked) == ["bob", "carol"]
    assert [b.name for b in asked[0].buttons] == ["pledge_did", "pledge_didnt"]
    bot.press("bob", "pledge_did", 1, bot.card_message(1))
    bot.press("carol", "pledge_didnt", 1, bot.card_message(1))
    assert "did it: 1 · didn't: 1" in last_card(bot, 1)
    assert bot.statuses(2) == {"bob": "done", "carol": "committed"}


# --- sealed drives -------------------------------------------------------------------------

PLEDGERS = {"zeno": "Zeno", "yusra": "Yusra", "xiomara": "Xiomara"}


def leaks(bot: TestBot, sent: list[Sent], pledger: str) -> list[Sent]:
    """What names `pledger` that someone other than `pledger` sees."""
    words = (pledger, PLEDGERS[pledger])
    found = []
    for s in sent:
        if s.kind in ("dm", "private") and s.to == pledger:
            continue
        seen = s.text + (card_text(s.card) if s.card else "")
        if s.card is not None:
            seen += repr(s.card)
        if any(w in seen for w in words):
            found.append(s)
    return found


def test_a_sealed_drive_names_no_pledger_before_it_tips_or_after_it_fails(bot: TestBot) -> None:
    start(bot, 'goal:5 deadline:"in 4 days" sealed:yes')
    bot.say("zeno", "join #1")
    bot.say("yusra", "join #1 if:@zeno")
    bot.say("xiomara", "join #1 if:@yusra")
    bot.say("xiomara", "join #1 if:9")  # changed: depends on nobody now, yet too many
    bot.press("zeno", "join", 1, bot.card_message(1))
    bot.say("bob", "show #1")
    bot.say("alice", "list")
    bot.say("bob", "list")
    assert "2 of 5 in" in bot.chat.last_private("bob")  # counts are shown
    bot.react("bob", "raised_hand", bot.card_message(1))  # refused: a reaction is public
    assert "is sealed, so a reaction doesn't pledge" in bot.chat.last_private("bob")
    assert "bob" not in bot.statuses(1)
    bot.advance(4 * DAY)
    assert drive_state(bot, 1) == "failed"
    bot.say("bob", "show #1")
    for pledger in PLEDGERS:
        assert leaks(bot, bot.chat.sent, pledger) == [], pledger
    # Nor in the export: the drive's pledges, and whom its messages went to.
    with SqlUnitOfWork(bot.engine) as uow:
        exported = repr([action_record(row) for row in uow.export()])
        exported += repr(list(uow.outbox.records()))
    for pledger in PLEDGERS:
        assert pledger not in exported and PLEDGERS[pledger] not in exported
    assert "(sealed)" in exported
    # The pledgers themselves were told, privately.
    assert all(kinds(bot.chat.sent, "dm", p) for p in PLEDGERS)


def test_a_sealed_drive_reveals_the_group_to_the_group_when_it_tips(bot: TestBot) -> None:
    start(bot, 'goal:2 deadline:"in 4 days" sealed:yes')
    bot.say("zeno", "join #1")
    bot.say("xiomara", "join #1 if:7")
    before = len(bot.chat.sent)
    sent = bot.say("yusra", "join #1")
    assert leaks(bot, bot.chat.sent[:before], "zeno") == []
    [announcement] = kinds(sent, "message")
    assert "Zeno" not in announcement.text and "Yusra" not in announcement.text
    assert "with Yusra" in kinds(sent, "dm", "zeno")[0].text
    # Who stayed outside the group is never named, even now.
    assert leaks(bot, bot.chat.sent, "xiomara") == []


# --- a message as a drive, and locked wording ----------------------------------------------


def test_a_message_becomes_a_drive_and_its_wording_locks_once_someone_pledged(
    bot: TestBot,
) -> None:
    message = bot.post("alice", "Plant 50 trees on Saturday\nBring gloves")
    sent = bot.handle(
        DriveRequested(bot.member("alice"), message, "Plant 50 trees on Saturday\nBring gloves",
                       goal="5", deadline="in 3 days")
    )  # fmt: skip
    [post] = kinds(sent, "post")
    assert post.card is not None and post.card.title == "Plant 50 trees on Saturday"
    assert post.card.drive is not None and post.card.drive.goal == 5
    bot.handle(TitleGiven(bot.member("alice"), message, "Plant 60 trees"))
    assert "Renamed #1" in bot.chat.last_private("alice")  # nobody has pledged yet
    bot.say("bob", "join #1")
    before = bot.snapshot()
    bot.handle(TitleGiven(bot.member("alice"), message, "Plant 5 trees"))
    assert "is locked: people have pledged to it" in bot.chat.last_private("alice")
    assert bot.snapshot() == before
    bot.handle(DriveRequested(bot.member("alice"), message, "again", goal="5", deadline="friday"))
    assert "already tracked as #1" in bot.chat.last_private("alice")


BAD = [
    ('pledge "Trees" deadline:"in 2 days"', "needs a goal:"),
    ('pledge "Trees" goal:5', "needs a deadline:"),
    ('pledge "Trees" goal:5 deadline:"2020-01-01 10:00"', "which has passed"),
    ('pledge "Trees" goal:0 deadline:"in 2 days"', "goal: must be between"),
    ('pledge "Trees" goal:5000 deadline:"in 2 days"', "between 1 and 1,000 people"),
    (
        'pledge "Trees" goal:5 deadline:"in 2 days" unit:' + "x" * 41,
        "unit: is 41 characters long; the limit is 40",
    ),
    ('pledge "Trees" goal:5 deadline:"in 2 days" sealed:maybe', "sealed: is yes or no"),
    ('pledge "Trees" goal:5 deadline:"in 800 days"', "at most a year away"),
    ('pledge "Trees" goal:5 deadline:"in 3 days" due:"in 2 days"', "can't be before the deadline"),
    ("join #1 if:abc", "can't read “abc” as a condition"),
    ("join #1 if:@ghost", "can't find @ghost here"),
    ("join #1 if:@bob", "can't depend on yourself"),
    ('join #1 if:"@carol @dave"', "can name one person"),
    ("join #1 amount:3", "counts people, so a pledge has no amount"),
    ("join #2 if:2", "are for pledge drives; #2 “Sweep” is a task"),
    ('extend #2 deadline:"in 9 days"', "isn't a pledge drive"),
    ("extend #1", "Say the new deadline"),
    ("close #1", "it closes by tipping or at its deadline"),
    ("done #1", "there's nothing to mark done on it"),
    ("join #9", "There's no action #9"),
]


@pytest.mark.parametrize(("typed", "said"), BAD)
def test_bad_input_is_answered_privately_and_changes_nothing(
    bot: TestBot, typed: str, said: str
) -> None:
    bot.chat.strangers.add("ghost")
    start(bot)
    bot.say("alice", "task Sweep")
    before = bot.snapshot()
    sent = bot.say("bob", typed)
    assert said in bot.chat.last_private("bob")
    assert bot.snapshot() == before
    assert [s.kind for s in sent] == ["private"]


def test_cancelling_a_drive_ends_its_schedules(bot: TestBot) -> None:
    start(bot)
    bot.say("bob", "join #1")
    bot.say("alice", "cancel #1")
    assert drive_state(bot, 1) == "cancelled"
    assert not kinds(bot.advance(10 * DAY), "dm", "alice")
    assert not kinds(bot.chat.sent, "message")


def test_export_lists_the_drive_its_pledges_and_conditions(bot: TestBot) -> None:
    start(bot, 'goal:10 unit:EUR deadline:"in 4 days"')
    bot.say("bob", "join #1 amount:4 if:2")
    with SqlUnitOfWork(bot.engine) as uow:
        [record] = [action_record(row) for row in uow.export()]
    assert record["kind"] == "pledge"
    assert record["drive"]["goal"] == 10 and record["drive"]["unit"] == "EUR"
    assert record["drive"]["deadline"] == (START + 4 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    [pledge] = record["commitments"]
    assert (pledge["member"], pledge["amount"], pledge["if_others"]) == ("bob", 4, 2)


# --- the console, as the README shows it ---------------------------------------------------

README_SCENARIO = """\
alice: /coop pledge "Beach clean-up" goal:3 deadline:"in 3 days"
bob: /coop join #1
dave: /coop join #1 if:@carol
erin: /coop join #1 if:2
carol: /coop join #1
"""


def test_console_readme_scenario_tips_at_carols_pledge(tmp_path: Path) -> None:
    run = coopbot(["run"], tmp_path / "coop.db", README_SCENARIO)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    tipped = out.index("tipped: 4 in (goal 3)")
    assert out.index("(only erin sees)") < tipped  # nothing tipped before carol pledged
    assert out.count("🎉 #1 “Beach clean-up” tipped") == 1
    for who in ("bob", "carol", "dave", "erin"):
        assert out.count(f"(DM to {who}) #1 “Beach clean-up” tipped") == 1, out
    assert "in: bob, dave, erin, carol" in out


def test_console_from_turns_a_message_into_a_drive(tmp_path: Path) -> None:
    script = (
        "alice: Who will plant trees with me?\n"
        "alice: /coop pledge from:m1 goal:2 deadline:friday\n"
        "bob: /coop pledge from:m9 goal:2 deadline:friday\n"
    )
    run = coopbot(["run"], tmp_path / "coop.db", script)
    assert run.returncode == 0, run.stderr
    assert "#1 Who will plant trees with me?  [pledge drive, open]" in run.stdout
    assert "(only bob sees) There's no message m9 to use." in run.stdout


def test_two_pledges_applied_at_once_tip_once(sqlite_url: str) -> None:
    """Several pledges in one batch of events (applied together) still tip the drive once."""
    bot = TestBot(sqlite_url, concurrency=4)
    start(bot, 'goal:2 deadline:"in 4 days"')

    async def together() -> None:
        from bot.events import CommandInvoked, Inbound

        events = [
            CommandInvoked(bot.member(who), bot.channel(), "join #1")
            for who in ("bob", "carol", "dave", "erin")
        ]
        await asyncio.gather(*(bot.inbox.handle(Inbound(e)) for e in events))
        await bot.dispatcher.drain()

    asyncio.run(together())
    assert len(kinds(bot.chat.sent, "message")) == 1
    assert len(bot.statuses(2)) == 2
    # The two in the group got one DM each; the two after it were told it had tipped.
    group = set(bot.statuses(2))
    assert sorted(s.to for s in kinds(bot.chat.sent, "dm")) == sorted(group)
    late = {"bob", "carol", "dave", "erin"} - group
    assert all("has tipped" in bot.chat.last_private(who) for who in late)


def test_a_pledge_after_the_deadline_is_refused_even_before_the_drive_has_failed(
    bot: TestBot,
) -> None:
    start(bot, 'goal:2 deadline:"in 4 days"')
    bot.say("bob", "join #1")
    bot.clock.advance(4 * DAY + MINUTE)  # the bot was down: the deadline has not fired yet
    before = bot.snapshot()
    bot.say("carol", "join #1")
    assert "Sign-up for #1 “Beach clean-up” has closed" in bot.chat.last_private("carol")
    assert bot.snapshot() == before
    bot.tick()
    assert drive_state(bot, 1) == "failed"


def test_a_digest_shows_a_drive_with_its_progress(bot: TestBot) -> None:
    start(bot)
    bot.say("bob", "join #1")
    bot.say("carol", "join #1 if:5")
    bot.say("alice", 'digest daily at:"9am"')
    [digest] = kinds(bot.advance(DAY), "message")
    assert "#1 Beach clean-up — pledge drive, 1 of 3 in, 1 more conditional, closes" in digest.text


def test_the_check_in_after_a_drive_can_be_turned_off(sqlite_url: str) -> None:
    from bot.usecases import Preferences

    bot = TestBot(sqlite_url, Preferences(drive_checkin_after=None))
    start(bot, 'goal:1 deadline:"in 2 days"')
    bot.say("bob", "join #1")
    assert drive_state(bot, 1) == "tipped"
    assert not [s for s in kinds(bot.advance(30 * DAY), "dm") if "Did you do it?" in s.text]


# --- a property: the drive tips at the first pledge whose group meets the goal -------------

NAMES = ["ana", "ben", "cat", "dan", "eve", "fay"]


@st.composite
def sequences(draw: st.DrawFn) -> tuple[int, list[tuple[str, int, str | None]]]:
    """A goal, and pledges in order: who, "at least N others", and whom they need."""
    people = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1))
    pledges_ = [
        (
            who,
            draw(st.integers(0, 4)),
            draw(st.none() | st.sampled_from([n for n in NAMES if n != who])),
        )
        for who in people
    ]
    return draw(st.integers(1, len(NAMES))), pledges_


@hypothesis_settings(max_examples=30, deadline=None)
@given(sequences())
def test_a_drive_tips_once_at_the_first_pledge_whose_group_meets_the_goal(
    drive_bot: TestBot, sequence: tuple[int, list[tuple[str, int, str | None]]]
) -> None:
    goal, pledged = sequence
    bot = drive_bot
    bot.say("lead", f'pledge "Trees" goal:{goal} deadline:"in 4 days"')
    started = re.search(r"pledge drive #(\d+)", bot.chat.last_private("lead"))
    assert started is not None
    number = int(started[1])
    so_far: list[Pledge] = []
    expected_at = None
    for i, (who, others, needs) in enumerate(pledged):
        so_far.append(Pledge(who, others=others, needs=frozenset({needs} if needs else ())))
        if expected_at is None and len(resolve(so_far)) >= goal:
            expected_at, expected_group = i, resolve(so_far)
        condition = " ".join(([str(others)] if others else []) + ([f"@{needs}"] if needs else []))
        typed = f'join #{number} if:"{condition}"' if condition else f"join #{number}"
        sent = bot.say(who, typed)
        tipped = [s for s in sent if s.kind == "message" and "tipped" in s.text]
        assert len(tipped) == (1 if i == expected_at else 0), (i, expected_at, pledged)
    if expected_at is None:
        assert drive_state(bot, number) == "open"
        return
    assert drive_state(bot, number) == "tipped"
    assert set(bot.statuses(number + 1)) == set(expected_group)
