"""Tasks people can shape, through the console as a person types them: roles, maybe, edit,
cut-offs, admins acting for others, hand-offs with a timed confirm, recurring tasks and the
calendar link; then a real `coopbot run` killed mid-way, whose timers the next run fires."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
from pathlib import Path

from adapters.console import ConsoleChat, ConsoleSession
from adapters.console.chat import PLATFORM
from bot.clock import ManualClock
from bot.config import Settings
from bot.pacing import CONSOLE
from bot.refs import CommunityRef
from bot.wiring import build_core
from tests.harness import START
from tests.process_support import bot_process


class Console:
    """The console in this process, its clock at START (a Friday, 10:00 UTC), typed at one
    line at a time: each line answers with what the console printed for it."""

    def __init__(self, database_url: str, admins: list[str]) -> None:
        self.core = build_core(Settings(database_url=database_url), clock=ManualClock(START))
        self.out = io.StringIO()
        chat = ConsoleChat(self.out, CommunityRef(PLATFORM, "console", "console"), "UTC")
        self.core.attach(PLATFORM, chat, CONSOLE)
        self.session = ConsoleSession(self.core, chat, "general", admins)
        self.loop = asyncio.new_event_loop()

    def type(self, line: str) -> str:
        start = self.out.tell()
        self.loop.run_until_complete(self.session.feed(line))
        return self.out.getvalue()[start:]

    def close(self) -> None:
        self.loop.close()
        self.core.engine.dispose()


def dm_to(printed: str, who: str) -> str:
    """The message number (`m7`) of the one DM to `who` in `printed`."""
    [number] = re.findall(rf"^\[(m\d+)\] \(DM to {who}\) ", printed, re.MULTILINE)
    return number


def card_posted(printed: str) -> str:
    """The message number of the one card posted in `printed`."""
    [number] = re.findall(r"^\[(m\d+)\] coopbot:$", printed, re.MULTILINE)
    return number


def test_every_shaped_feature_typed_at_the_console(database_url: str) -> None:
    console = Console(database_url, admins=["root"])
    try:
        typed = console.type

        # Roles: picked on the card (`!join:cook`) or named; a full role has its own waitlist.
        card = typed(
            'alice: /coop task "Market stall" roles:"driver:2, cook:1, setup" '
            'due:"in 10 hours" remind:none'
        )
        stall = card_posted(card)
        assert "    🔵 driver 0/2: nobody yet\n    🟢 cook 0/1: nobody yet\n" in card
        assert "    join as: !join:driver !join:cook !join:setup" in card
        assert "    🟢 cook 1/1: bo\n" in typed(f"bo: !join:cook {stall}")
        joined = typed("cy: /coop join #1 role:driver")
        assert "(only cy sees) You're in on #1 “Market stall” as driver." in joined
        waiting = typed(f"dee: !join:cook {stall}")
        assert "    🔵 driver 1/2: cy\n    🟢 cook 1/1: bo · waitlist: dee\n" in waiting
        full = "(only dee sees) cook on #1 “Market stall” is full (1/1 in), so you're number 1"
        assert f"{full} on its waitlist" in waiting
        assert "which one are you joining?" in typed("gus: /coop join #1")

        # Maybe: shown apart, never a place.
        maybe = typed(f"eve: !maybe {stall}")
        assert "    2 in\n" in maybe and "    maybe: eve\n" in maybe

        # A promotion close to the due time asks to confirm, in a DM with buttons.
        left = typed("bo: /coop leave #1")
        assert "    🟢 cook 1/1: dee (confirming)\n" in left
        assert "please confirm by Fri 27 Nov 2026 12:00 (UTC)" in left
        assert "    buttons: [I'm still in] !confirm [Can't make it] !confirm_no" in left
        confirmed = typed(f"dee: !confirm {dm_to(left, 'dee')}")
        assert "(only dee sees) Thanks! The place on #1 “Market stall” is yours." in confirmed

        # A hand-off to a named person, accepted with the DM's button: the role goes along.
        offered = typed("cy: /coop handoff #1 @fay")
        assert "(DM to fay) cy offers you their place on #1 “Market stall”" in offered
        assert "    buttons: [Take the place] !handoff_yes [Decline] !handoff_no" in offered
        taken = typed(f"fay: !handoff_yes {dm_to(offered, 'fay')}")
        assert "    🔵 driver 1/2: fay\n" in taken
        assert "(DM to cy) fay took your place on #1 “Market stall”, so you're off it now." in taken
        assert "(only fay sees) The place on #1 “Market stall” is yours: you're in." in taken

        # Edit: everyone on it is told once; need: belongs to the roles on a task with roles.
        edited = typed('alice: /coop edit #1 title:"Saturday market stall"')
        assert "    #1 Saturday market stall  [open]" in edited
        told = re.findall(r"\(DM to (\w+)\) alice changed #1 “Saturday market stall”:", edited)
        assert sorted(told) == ["dee", "eve", "fay"]
        assert "need: can't be changed on it" in typed("alice: /coop edit #1 need:3")
        typed('alice: /coop task "Fold leaflets" need:2 due:"in 10 hours" remind:none')
        typed("bo: /coop join #2")
        typed("cy: /coop join #2")
        fewer = typed('alice: /coop edit #2 title:"Fold flyers" need:1')
        assert "    #2 Fold flyers  [open]" in fewer and "    in: bo\n    waitlist: cy\n" in fewer
        assert "    • need: 2 → 1\n    There are fewer places now, so you're number 1 on" in fewer
        assert "Moved to the top of the waitlist: cy." in fewer
        refused = typed('bo: /coop edit #2 title:"Nope"')
        assert refused == (
            "(only bo sees) Only alice (who created #2 “Fold flyers”) or a community admin "
            "can edit it.\n"
        )

        # The cut-off: the card says when, then that it closed; joining is refused after.
        card = typed(
            'alice: /coop task "Bake bread" closes:"in 1 hour" due:"in 5 hours" remind:none'
        )
        bread = card_posted(card)
        assert "    sign-up closes Fri 27 Nov 2026 11:00 (UTC)\n" in card
        moved = typed(":advance 2h")
        assert "    sign-up closed\n    buttons: [Leave] [Done]\n" in moved
        # The confirm and the offer were answered: their timers do nothing.
        assert "didn't confirm" not in moved and "lapsed" not in moved
        closed = "Sign-up for #3 “Bake bread” closed Fri 27 Nov 2026 11:00 (UTC), so I can't"
        assert f"(only gus sees) {closed}" in typed("gus: /coop join #3")
        assert f"(only gus sees) {closed}" in typed(f"gus: !join {bread}")

        # An admin adds someone else (even past the cut-off); anyone else may not.
        added = typed("root: /coop join #3 for:@bo")
        assert "    in: bo\n" in added
        assert "(DM to bo) root added you to #3 “Bake bread”." in added
        assert "(only root sees) Added bo to #3 “Bake bread”; I've told them." in added
        assert "(only bo sees) Only a community admin can join someone else (for:)." in typed(
            "bo: /coop join #3 for:@cy"
        )

        # A recurring task opens the next occurrence when one is due; stop ends the series.
        card = typed(
            'alice: /coop task "Park clean-up" every:"saturday 10am" carry:yes remind:none'
        )
        assert "    due Sat 28 Nov 2026 10:00 (UTC)\n" in card
        assert "    repeats every Saturday at 10:00 (UTC)\n" in card
        typed(f"gus: !join {card_posted(card)}")
        moved = typed(":advance 1d")
        # The next one, with the regular who was in carried over (carry:yes) and told.
        following = (
            "    #5 Park clean-up  [open]\n    by alice\n    due Sat 05 Dec 2026 10:00 (UTC)\n"
        )
        assert moved.count(f"{following}    1 in\n    in: gus\n") == 1
        again = "(DM to gus) #5 “Park clean-up” is on again, due Sat 05 Dec 2026 10:00 (UTC)"
        assert f"{again}: you're in, as last time." in moved
        stopped = typed("alice: /coop stop #5")
        assert "(only alice sees) Stopped the series of #5 “Park clean-up”" in stopped
        assert "repeats" not in stopped
        assert "#6" not in typed(":advance 7d")

        # The calendar link, with no HTTP listener to serve it: how to turn it on.
        link = typed("alice: /coop calendar")
        assert link.startswith("(only alice sees) Calendar links are served by coopbot's HTTP")
        assert "listener, which is off here" in link and "COOPBOT_OPS__LISTEN=" in link

        helped = typed("alice: /coop help")
        for usage in (
            "/coop task <title> [need:<integer>] [due:<when>] [remind:<text>] [roles:<text>] "
            "[closes:<when>] [every:<text>] [carry:<text>]",
            "/coop join <id> [amount:<integer>] [if:<text>] [role:<text>] [for:<text>]",
            "/coop maybe <id>",
            "/coop edit <id> [title:<text>] [need:<text>] [due:<when>] [closes:<when>]",
            "/coop handoff <offer>",
            "/coop stop <id>",
            "/coop calendar [which]",
        ):
            assert f"    {usage} — " in helped
        assert "alice: !join:cook m2" in typed(":help")
    finally:
        console.close()


def test_someone_named_in_quotes_is_shown_by_that_name_before_they_ever_type(
    sqlite_url: str,
) -> None:
    console = Console(sqlite_url, admins=["root"])
    try:
        console.type('alice: /coop task "Stall" need:2')
        added = console.type('root: /coop join #1 for:@"Cy Ng"')
        assert "    in: Cy Ng\n" in added and "(DM to Cy Ng) root added you to #1" in added
        assert "(only root sees) Added Cy Ng to #1 “Stall”" in added
        offered = console.type('"Cy Ng": /coop handoff #1 @"Bo Li"')
        assert "(DM to Bo Li) Cy Ng offers you their place on #1" in offered
        assert "I've offered your place on #1 “Stall” to Bo Li." in offered
    finally:
        console.close()


# --- a real restart ----------------------------------------------------------------------------

# One of each timer left pending, due at the real time of the set-up plus: a promotion's
# confirm (bo leaving promotes cy, who has 2 h), an offer of a place (2 h), a cut-off (3 h), the
# next occurrence of a series (4 h) and the maybe question (8 h: 12 h before the due time; each
# task due sooner asks half-way, with nobody to ask).
SET_UP = [
    'alice: /coop task "Drive the van" need:1 due:"in 10 hours" remind:none',
    "bo: /coop join #1",
    "cy: /coop join #1",
    "gus: /coop join #1",
    "bo: /coop leave #1",
    'alice: /coop task "Carry chairs" need:2 due:"in 10 hours" remind:none',
    "dee: /coop join #2",
    "dee: /coop handoff #2 @eve",
    'alice: /coop task "Bake bread" need:3 due:"in 20 hours" remind:none',
    "fay: /coop maybe #3",
    'alice: /coop task "Sort donations" closes:"in 3 hours" due:"in 20 hours" remind:none',
    'alice: /coop task "Park clean-up" every:day due:"in 4 hours" remind:none',
    "alice: /coop calendar",
]
TIMERS = {"confirm", "handoff", "maybe", "closes", "series"}

PASSED_ON = "(DM to cy) You didn't confirm your place on #1 “Drive the van” in time"
PROMOTED = "(DM to gus) A spot opened on #1 “Drive the van”"
LAPSED = "(DM to eve) The offer of dee's place on #2 “Carry chairs” has lapsed."
KEPT = "(DM to dee) eve didn't answer in time, so your place on #2 “Carry chairs” stays yours."
CLOSED = "    #4 Sort donations  [open]\n    by alice\n"
NEXT = "    #6 Park clean-up  [open]\n"
ASKED = "(DM to fay) #3 “Bake bread” still has places open (0/3 in)"


def active_timers(db: Path) -> dict[str, int]:
    """How many schedule rows of each of TIMERS wait to fire."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select kind, count(*) from schedule where state = 'active' group by kind"
        ).fetchall()
    return {kind: n for kind, n in rows if kind in TIMERS}


def test_a_killed_console_leaves_every_timer_to_the_next_run_which_fires_each_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "coop.db"
    # The console alone, as `coopbot run` starts it by default: no HTTP listener.
    env = {"COOPBOT_DATABASE_URL": f"sqlite:///{db}", "COOPBOT_OPS__LISTEN": "auto"}
    with bot_process(tmp_path, env, "first", typed=True) as first:
        first.start()
        first.type(*SET_UP)
        # Each line's answer is printed once it is committed: the last one means all are.
        first.wait_for_log(r"Calendar links are served by coopbot's HTTP listener, which is off")
        assert "(DM to cy) A spot opened on #1" in first.log()
        first.kill()
    assert active_timers(db) == {"confirm": 1, "handoff": 1, "maybe": 5, "closes": 1, "series": 1}

    with bot_process(tmp_path, env, "again", typed=True) as again:
        again.start()
        again.type(":advance 150m")
        [promoted] = again.wait_for_log(rf"\[(m\d+)\] {re.escape(PROMOTED)}")
        again.type(f"gus: !confirm {promoted}", *(f":advance {h}h" for h in (1, 1, 4, 1)))
        again.end_input()
        assert again.wait() == 0, again.log()
        out = again.log()

    # Before the first :advance nothing fired; then each timer once, in the step it fell in.
    before, *steps = out.split("(console) the clock moved on ")
    assert [step.split("\n", 1)[0] for step in steps] == ["150m", "1h", "1h", "4h", "1h"]
    fired = {PASSED_ON: 0, PROMOTED: 0, LAPSED: 0, KEPT: 0, CLOSED: 1, NEXT: 2, ASKED: 3}
    for text, step in fired.items():
        assert out.count(text) == 1, (text, out)
        assert text in steps[step], (text, out)
    assert "    sign-up closed\n" in steps[1].split(CLOSED)[1]
    assert "(only gus sees) Thanks! The place on #1 “Drive the van” is yours." in steps[0]
    # gus confirmed, and none of the rest repeats: the last hour is quiet.
    assert "(DM to" not in steps[4] and "coopbot:" not in steps[4], steps[4]
    assert "(DM to" not in before, before
    # What fired is done; only the new occurrence's own rows wait (its next one, its maybes).
    assert active_timers(db) == {"series": 1, "maybe": 1}
