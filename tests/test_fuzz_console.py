"""Fuzzing the console adapter (issue 11): Hypothesis-generated lines, as `coopbot run` reads
them, against a real core on SQLite with a manual clock.

Each case is one line: a `/coop` command built from the grammar (misspelt, repeated, quoted
every way, with odd ids, huge values and hostile Unicode), a reaction added or removed by one
of several people on a card or message, a button, a plain message, a directive or garbage.
After each, nothing is logged at ERROR, the apology is never printed, the store keeps its
rules (tests.fuzz_support.check_store), and the line's author got at most one private answer;
a command either changed the store or was answered.

COOPBOT_FUZZ_CASES sets how many lines in all (default 2,000, CI's run, the same each time); by
hand, with new ones, COOPBOT_FUZZ_RANDOM=1 as well, e.g.
`COOPBOT_FUZZ_RANDOM=1 COOPBOT_FUZZ_CASES=20000 python -m pytest tests/test_fuzz_console.py`.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.console import ConsoleChat, ConsoleSession
from adapters.console.chat import PLATFORM
from bot.clock import ManualClock
from bot.config import ConsoleSettings, Settings
from bot.pacing import CONSOLE
from bot.refs import CommunityRef
from bot.wiring import build_core
from tests.fuzz_support import (
    SETUP,
    WORDS,
    any_text,
    check_not_sorry,
    check_outcome,
    check_store,
    command_text,
    emoji_name,
    error_log,
    fresh_copy,
    fuzz_settings,
    hostile_text,
    no_newlines,
    quick,
    read_store,
    reader,
    task_text,
    template_database,
    weighted,
)
from tests.harness import START

LINES = 25  # lines per example: one bot, twenty-five cases
PEOPLE = ["alice", "bob", "carol", "dave", "root"]  # root is an admin
NAMES = PEOPLE * 4 + ["a" * 40, "Bob", "x.y-z_1", "a" * 41, "ål", "", "bob ", "b:c"]
BUTTONS = ["join", "leave", "done", "snooze_15m", "snooze_1h", "checkin_done", "checkin_not"]
BUTTONS += ["pledge_did", "pledge_didnt", "frob", "JOIN", "join!"]
BUTTONS += ["maybe", "confirm", "confirm_no", "handoff_yes", "handoff_no"]
# A role picked at a card: one of the fuzzed roles, a name no task has, or a broken pick.
BUTTONS += ["join:driver", "join:cook", 'join:"line cook"', "join:nosuch", "join:", 'join:"']
KINDS = ["command"] * 14 + ["react"] * 5 + ["post"] * 3 + ["button", "drive", "junk"]
KINDS += ["directive"] * 2
# Moves of the clock stay small: each occurrence that falls due meanwhile is fired, one by
# one, as a running bot would (a daily reminder and `:advance 99999w` take hours). The last
# two would take the clock past the year 9999.
DIRECTIVES = ["advance 1h", "advance 2d", "advance 1d12h", "advance 0s", "advance -1h"]
DIRECTIVES += ["advance 99999", "advance", "channel #ops", "channel general", "channel #"]
DIRECTIVES += ["help", "", "frob", "advance " + "99999w" * 5, "advance " + "99999w" * 6]
# Who typed a line, as the console reads it (adapters/console/session.py).
SPEAKER = re.compile(r"^(?P<who>[A-Za-z0-9_.\-]{1,40}):\s?(?P<text>.*)$")
PRIVATE = re.compile(r"^\(only (?P<who>\S+) sees\) (?P<text>.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_database(tmp_path_factory.mktemp("fuzz-console"))


@functools.cache
def message_number(most: int) -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(1, max(1, most)).map(lambda n: f"m{n}"),
        st.sampled_from(["m0", "m" + "9" * 30, "m-1", "M1", "m", "m²", "1"]),
    )


@functools.cache
def console_line(messages: int) -> st.SearchStrategy[str]:
    return _console_line(messages)


SPEAKERS = st.sampled_from(NAMES)
SETTER = st.sampled_from(PEOPLE)
KIND = st.sampled_from(KINDS)
SIGN = st.sampled_from("++++--")
POST = st.one_of(st.sampled_from(WORDS), any_text(80))
BUTTON = st.sampled_from(BUTTONS)
DIRECTIVE = weighted((3, st.sampled_from(DIRECTIVES)), (1, hostile_text()))
JUNK = st.one_of(st.sampled_from(["/coop", "/other thing", "/"]), hostile_text())
NO_SPACE = st.integers(0, 20)


@st.composite
def _console_line(draw: st.DrawFn, messages: int) -> str:
    """One line of console input; `messages` is how many messages exist so far."""
    who, kind = draw(SPEAKERS), draw(KIND)
    if kind == "command":
        text = "/coop " + draw(command_text())
    elif kind == "react":
        text = f"{draw(SIGN)}{draw(emoji_name())} {draw(message_number(messages))}"
    elif kind == "post":
        text = draw(POST)
    elif kind == "button":
        text = f"!{draw(BUTTON)} {draw(message_number(messages))}"
    elif kind == "drive":
        options = draw(command_text()).partition(" ")[2]
        text = f"/coop pledge from:{draw(message_number(messages))} {options}"
    elif kind == "directive":
        return no_newlines(":" + draw(DIRECTIVE))
    else:
        text = draw(JUNK)
    line = f"{who}: {text}" if draw(NO_SPACE) else f"{who}:{text}"
    return no_newlines(line)


def private(output: str) -> list[tuple[str, str]]:
    """(who, first line) of each answer printed as only one person would see it."""
    return [(m["who"], m["text"]) for m in PRIVATE.finditer(output)]


@given(data=st.data())
@fuzz_settings(LINES)
def test_no_console_line_breaks_the_bot_or_the_store(
    template: Path, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """LINES (25) lines per example, each one case: CASES (2,000) lines in all."""
    db = fresh_copy(template, tmp_path_factory.mktemp("example", numbered=True))
    settings = Settings(database_url=f"sqlite:///{db}", console=ConsoleSettings(admins=["root"]))
    core = build_core(settings, clock=ManualClock(START), migrate=False)
    quick(core.engine)
    store = reader(settings.database_url)
    out = io.StringIO()
    chat = ConsoleChat(out, CommunityRef(PLATFORM, "console", "console"), settings.default_timezone)
    core.attach(PLATFORM, chat, CONSOLE)
    session = ConsoleSession(core, chat, settings.console.channel, settings.console.admins)

    async def scenario() -> None:
        before = read_store(store)
        with error_log() as errors:
            for n in range(1, LINES + 1):
                if n <= SETUP:
                    line = f"{data.draw(SETTER, label='who')}: /coop {data.draw(task_text())}"
                else:
                    line = data.draw(console_line(len(chat.messages)), label=f"line {n}")
                printed = len(out.getvalue())
                await session.feed(line)
                what = f"line {n}, {line!r}"
                errors.check(what)
                shown = out.getvalue()[printed:]
                check_not_sorry([shown], what)
                after = read_store(store)
                check_store(after, core.clock.now())
                before, changed = after, after != before
                speaker = SPEAKER.match(line)
                if speaker is None:
                    continue
                who, text = speaker["who"], speaker["text"].strip()
                command = text.startswith("/")
                check_outcome(what, changed, private(shown), who, must_answer=command)

    try:
        asyncio.run(scenario())
    finally:
        core.engine.dispose()
        store.dispose()
