"""Tasks with roles: each role its own count and waitlist, joined by name, by the card's
picker or by the role's emoji; the card, the text card and the export show them."""

from __future__ import annotations

import asyncio
import json
from csv import DictReader
from io import StringIO

from bot.events import ButtonPressed
from bot.export import to_csv, to_json
from bot.refs import CommunityRef
from bot.usecases import Preferences
from storage.uow import SqlUnitOfWork
from tests.harness import COMMUNITY, Sent, TestBot
from tests.test_constant_cost import applied, statements_of

STALL = 'task "Saturday market stall" roles:"driver:1:car, cook:2, setup"'


def roles_of(bot: TestBot, number: int) -> list[tuple[str, int | None, str, int, int]]:
    """(name, need, emoji, in, waiting) of each role, as stored."""
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(uow.community(bot.member("x").community).id, number)
        assert action is not None
        return [(r.name, r.need, r.emoji, r.in_count, r.waiting_count) for r in action.roles]


def choose(bot: TestBot, who: str, number: int, choice: str) -> list[Sent]:
    """Pick a role with the card's Join picker."""
    event = ButtonPressed(bot.member(who), bot.card_message(number), "join", number, choice=choice)
    return bot.handle(event)


def dms(sent: list[Sent]) -> list[tuple[str, str]]:
    return [(s.to, s.text) for s in sent if s.kind == "dm"]


def test_each_role_has_its_own_count_and_waitlist(database_url: str) -> None:
    bot = TestBot(database_url)
    bot.say("alice", STALL)
    bot.say("bob", "join #1 role:driver")
    full = bot.say("carol", "join #1 role:Driver")  # names match in any case
    assert "driver on #1" in full[-1].text and "number 1 on its waitlist" in full[-1].text
    bot.say("dave", "join #1 role:driver")
    for who in ("erin", "fay", "gus"):
        bot.say(who, "join #1 role:cook")
    bot.say("hana", "join #1 role:setup")
    assert bot.statuses(1) == {
        "bob": "committed", "carol": "waitlisted", "dave": "waitlisted",
        "erin": "committed", "fay": "committed", "gus": "waitlisted", "hana": "committed",
    }  # fmt: skip
    assert [r[3:] for r in roles_of(bot, 1)] == [(1, 2), (2, 1), (1, 0)]

    # A cook leaving promotes the cook who waited, not the driver who waited longer.
    sent = bot.say("erin", "leave #1")
    assert [to for to, _ in dms(sent)] == ["gus"]
    sent = bot.say("bob", "leave #1")
    assert [to for to, _ in dms(sent)] == ["carol"]
    assert bot.statuses(1)["dave"] == "waitlisted"
    # The one taking anyone never fills, and leaving it promotes nobody.
    for who in ("ivan", "jo", "kim"):
        bot.say(who, "join #1 role:setup")
    assert dms(bot.say("hana", "leave #1")) == []
    assert [r[3:] for r in roles_of(bot, 1)] == [(1, 1), (2, 0), (3, 0)]
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(1, 1)
        assert action is not None and (action.in_count, action.waiting_count) == (6, 1)


def test_joining_another_role_moves_you_and_frees_your_place(bot: TestBot) -> None:
    bot.say("alice", STALL)
    bot.say("bob", "join #1 role:driver")
    bot.say("carol", "join #1 role:driver")  # waiting
    sent = bot.say("bob", "join #1 role:cook")
    assert dms(sent) == [("carol", "Good news: a spot opened on #1 “Saturday market stall” "
                                   "and you're in now.")]  # fmt: skip
    assert "as cook (you've left driver)" in sent[-1].text
    assert bot.statuses(1) == {"bob": "committed", "carol": "committed"}
    assert [r[3:] for r in roles_of(bot, 1)] == [(1, 0), (1, 0), (0, 0)]
    # One commitment per person and task, whichever role it is in.
    with SqlUnitOfWork(bot.engine) as uow:
        action = uow.get_action(1, 1)
        assert action is not None
        uow.load_people([action], withdrawn=True)
        assert [(c.member.external_id, c.role) for c in action.commitments] == [
            ("carol", "driver"), ("bob", "cook"),
        ]  # fmt: skip
    again = bot.say("bob", "join #1 role:cook")
    assert "already in as cook" in again[-1].text
    # Moving into a full role waitlists you there, and your old place still opens.
    bot.say("dave", "join #1 role:cook")
    bot.say("erin", "join #1 role:setup")
    sent = bot.say("erin", "join #1 role:driver")
    assert "number 1 on its waitlist (you've left setup)" in sent[-1].text
    assert [r[3:] for r in roles_of(bot, 1)] == [(1, 1), (2, 0), (0, 0)]
    bot.say("bob", "done #1")
    refused = bot.say("bob", "join #1 role:setup")
    assert "marked done already" in refused[-1].text and bot.statuses(1)["bob"] == "done"


def test_a_role_is_picked_on_the_card_or_by_its_emoji(bot: TestBot) -> None:
    bot.say("alice", STALL)
    card = bot.card_message(1)
    choose(bot, "bob", 1, "cook")
    assert bot.statuses(1) == {"bob": "committed"} and roles_of(bot, 1)[1][3] == 1
    bot.react("carol", "🚗", card)  # the character, or its short name
    bot.react("dave", "car", card)
    assert bot.statuses(1) == {"bob": "committed", "carol": "committed", "dave": "waitlisted"}
    # Taking a role's emoji off leaves only if that is the role you're in.
    before = bot.snapshot()
    assert bot.unreact("bob", "car", card) == []
    assert bot.snapshot() == before
    sent = bot.unreact("carol", "car", card)
    assert [to for to, _ in dms(sent)] == ["dave"]
    # Default emoji join too; emoji no role has mean nothing.
    default = roles_of(bot, 1)[2][2]
    bot.react("erin", default, card)
    assert bot.statuses(1)["erin"] == "committed" and roles_of(bot, 1)[2][3] == 1
    before = bot.snapshot()
    assert bot.react("fay", "tada", card) == []
    assert bot.snapshot() == before
    # On a tracked message, the role emoji work the same.
    msg = bot.post("alice", "Help at the bake sale")
    bot.react("alice", "pushpin", msg)
    assert bot.react("bob", "car", msg) == []  # no roles there: just a reaction


def test_joining_without_a_role_asks_which(bot: TestBot) -> None:
    bot.say("alice", STALL)
    bot.say("bob", "join #1 role:driver")
    card = bot.card_message(1)
    before = bot.snapshot()
    asked = [
        bot.say("carol", "join #1"),
        bot.press("carol", "join", 1, card),  # Join without a choice
        bot.react("carol", "raised_hand", card),  # the operator's join emoji
    ]
    for sent in asked:
        assert [(s.kind, s.to) for s in sent] == [("private", "carol")]
        text = sent[0].text
        assert "which one" in text and "role:driver" in text
        assert "🚗 driver 1/1 in (full" in text and "cook 0/2 in" in text and "setup 0 in" in text
    assert bot.snapshot() == before
    # Someone already in a role hears where they are.
    assert "already in as driver" in bot.say("bob", "join #1")[0].text


BAD = [
    ("join #1 role:chef", "no role “chef”. Its roles: driver, cook, setup"),
    ("join #2 role:cook", "has no roles: join it with /coop join #2"),
    ("join #3 role:cook", "is a pledge drive: it has no roles to pick"),
    ('task T need:3 roles:"a:1"', "need: and roles: don't go together"),
    ('task T roles:"a, b, c, d, e, f, g, h, i, j, k"', "at most 10 roles"),
    ('task T roles:"cook:2, Cook:1"', "The role Cook is there twice"),
    ('task T roles:"' + "x" * 41 + '"', "at most 40 characters"),
    ('task T roles:"cook:0"', "between 1 and 1,000"),
    ('task T roles:"cook:2:notanemoji"', "don't know the emoji “notanemoji”"),
    ('task T roles:"cook:raised_hand"', "already means track, join or done"),
    ('task T roles:"a:car, b:🚗"', "Two roles can't share 🚗"),
    ('task T roles:":2"', "Each role needs a name"),
    ('task T roles:" , "', "needs at least one role"),
    ('task T roles:"3"', "is a number, not a role's name"),
    ('task T roles:"cook:²"', "don't know the emoji “²”"),
]


def test_bad_roles_get_a_friendly_error_and_change_nothing(bot: TestBot) -> None:
    bot.say("alice", STALL)
    bot.say("alice", "task Plain")
    bot.say("alice", 'pledge "Plant trees" goal:3 deadline:"friday 5pm"')
    before = bot.snapshot()
    for typed, expected in BAD:
        sent = bot.say("bob", typed)
        assert [(s.kind, s.to) for s in sent] == [("private", "bob")], typed
        assert expected in sent[0].text, typed
        if typed.startswith("task"):
            assert "For example" in sent[0].text, typed
        assert bot.snapshot() == before, typed


def test_default_emoji_are_distinct_and_never_the_operators(sqlite_url: str) -> None:
    # The operator's join emoji is the palette's first: roles skip it.
    bot = TestBot(sqlite_url, prefs=Preferences(commit_emoji="🔵"))
    bot.say("alice", 'task Fair roles:"a, b:🟢, c, d"')
    emoji = [r[2] for r in roles_of(bot, 1)]
    assert emoji == ["🟡", "🟢", "🟠", "🟣"]


def test_the_card_shows_each_roles_progress(bot: TestBot) -> None:
    bot.say("alice", STALL)
    post = bot.chat.of("post")[-1].card
    assert post is not None and post.editable and post.need is None  # setup takes anyone
    bot.say("bob", "join #1 role:driver")
    bot.say("carol", "join #1 role:driver")
    bot.say("dave", "join #1 role:cook")
    bot.say("dave", "done #1")
    card = bot.chat.of("update")[-1].card
    assert card is not None
    assert [(r.name, r.need, r.progress) for r in card.roles] == [
        ("driver", 1, "1/1 in"), ("cook", 2, "1/2 in"), ("setup", None, "0 in"),
    ]  # fmt: skip
    assert [p.id for p in card.roles[0].waitlist] == ["carol"]
    assert [p.id for p in card.roles[1].done] == ["dave"]
    # Totals stay for everything else: list, mine, the progress bar.
    assert [p.id for p in card.committed] == ["bob"] and [p.id for p in card.waitlist] == ["carol"]
    shown = bot.say("erin", "show #1")[0].text.splitlines()
    assert "🚗 driver 1/1: Bob · waitlist: Carol" in shown
    assert any(line.endswith("cook 1/2 · done: Dave") for line in shown)
    assert any(line.endswith("setup 0: nobody yet") for line in shown)
    assert "in: Bob" not in shown
    assert "#1 Saturday market stall — 2 in" in bot.say("erin", "list")[0].text
    # Counted roles alone make the task's need.
    bot.say("alice", 'task Kitchen roles:"cook:2, dish:1"')
    bot.say("bob", "join #2 role:dish")
    assert "#2 Kitchen — 1/3 in" in bot.say("erin", "list")[0].text
    bot.say("alice", "close #2")
    closed = bot.chat.of("update")[-1].card
    assert closed is not None and not closed.editable and closed.buttons == ()


def test_export_has_the_roles_and_each_ones_role(bot: TestBot) -> None:
    bot.say("alice", STALL)
    bot.say("bob", "join #1 role:driver")
    bot.say("carol", "join #1 role:driver")
    bot.say("alice", "task Plain")
    with SqlUnitOfWork(bot.engine) as uow:
        document = json.loads(to_json(uow.export()))
        csv = to_csv(uow.export())
    stall, plain = document["actions"]
    assert stall["roles"] == [
        {"name": "driver", "need": 1, "emoji": "🚗", "in": 1, "waiting": 1},
        {"name": "cook", "need": 2, "emoji": stall["roles"][1]["emoji"], "in": 0, "waiting": 0},
        {"name": "setup", "need": None, "emoji": stall["roles"][2]["emoji"], "in": 0,
         "waiting": 0},
    ]  # fmt: skip
    assert [(c["member"], c["role"]) for c in stall["commitments"]] == [
        ("bob", "driver"), ("carol", "driver"),
    ]  # fmt: skip
    assert "roles" not in plain
    rows = list(DictReader(StringIO(csv)))
    assert [(r["member"], r["role"]) for r in rows] == [
        ("bob", "driver"),
        ("carol", "driver"),
        ("", ""),
    ]


def test_a_role_join_costs_the_same_on_a_full_card(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    applied(bot, "alice", 'task "Small" roles:"cook:1, dish"')
    applied(bot, "alice", 'task "Big" roles:"cook:20, dish"')
    for i in range(25):  # full, with a waitlist of 5
        applied(bot, f"p{i}", "join #2 role:cook")
    small = statements_of(bot, "zoe", "join #1 role:cook")
    big = statements_of(bot, "yann", "join #2 role:cook")
    assert len(big) == len(small)
    moved_small = statements_of(bot, "zoe", "join #1 role:dish")
    moved_big = statements_of(bot, "p0", "join #2 role:dish")  # frees a place, promotes
    assert len(moved_big) == len(moved_small) + 4
    assert bot.statuses(2)["p20"] == "committed" and bot.statuses(2)["p21"] == "waitlisted"


def test_coop_reads_one_card_and_the_emoji_of_open_tasks_roles(database_url: str) -> None:
    """Coop.card fills in the Edit forms (one action, whatever its state); Coop.role_emoji
    is what the adapters' reaction filters start with (open tasks' roles, per platform)."""
    bot = TestBot(database_url)
    bot.say("alice", STALL)
    bot.say("alice", 'task "Bake sale" roles:"baker:2:fried_egg, seller"')
    choose(bot, "bob", 1, "cook")

    found = asyncio.run(bot.coop.card(COMMUNITY, 1))
    assert found is not None
    assert (found.number, found.title, found.state) == (1, "Saturday market stall", "open")
    assert [p.name for p in found.committed] == ["Bob"]  # its people are read too
    assert [r.name for r in found.roles] == ["driver", "cook", "setup"]
    assert asyncio.run(bot.coop.card(COMMUNITY, 9)) is None
    assert asyncio.run(bot.coop.card(CommunityRef("test", "T9"), 1)) is None

    used = {role[2] for number in (1, 2) for role in roles_of(bot, number)}
    assert {"🚗", "🍳"} <= used
    assert asyncio.run(bot.coop.role_emoji("test")) == used
    bot.say("alice", "close #1")
    closed = asyncio.run(bot.coop.card(COMMUNITY, 1))
    assert closed is not None and closed.state == "closed"
    assert asyncio.run(bot.coop.role_emoji("test")) == {role[2] for role in roles_of(bot, 2)}
    assert asyncio.run(bot.coop.role_emoji("slack")) == set()
