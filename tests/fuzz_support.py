"""The fuzz suite's shared parts (issue 11, "Hostile input and secrets"): Hypothesis strategies
for what people type, the store snapshot and invariants every generated case is checked
against, and the error log each case must leave empty.

How many cases each adapter's fuzz test generates: COOPBOT_FUZZ_CASES (default 2,000, what CI
runs, the same ones every run). A larger run by hand, with new cases each time, e.g.

    COOPBOT_FUZZ_RANDOM=1 COOPBOT_FUZZ_CASES=20000 python -m pytest tests/test_fuzz_console.py \
        tests/test_fuzz_slack.py tests/test_fuzz_discord.py --durations=0

A failure is reported as found, with every input drawn (Hypothesis' `Draw n` lines) and the
case itself in the assertion message; COOPBOT_FUZZ_SHRINK=1 also shrinks it to a minimal
example (slow: each try is a bot run). Hypothesis keeps failures in .hypothesis/ and tries
them first next time.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from bot.app import SORRY
from bot.drives import MAX_UNIT
from bot.grammar import GRAMMAR, MAX_AMOUNT, MAX_NEED, MAX_TITLE, SUBCOMMANDS, Param, ParamKind
from bot.timeparse import HORIZON
from storage.db import make_engine
from storage.migrate import upgrade

T = TypeVar("T")
CASES = int(os.environ.get("COOPBOT_FUZZ_CASES", "2000"))
# Shrinking a failure replays hundreds of examples against a real bot (minutes): by hand only.
SHRINK = os.environ.get("COOPBOT_FUZZ_SHRINK", "") not in ("", "0")
# CI replays the same cases every run, so a failure there is this change's, never chance's;
# COOPBOT_FUZZ_RANDOM=1 (with a larger COOPBOT_FUZZ_CASES, by hand) explores new ones.
RANDOM = os.environ.get("COOPBOT_FUZZ_RANDOM", "") not in ("", "0")


def fuzz_settings(per_example: int) -> settings:
    """Enough examples of `per_example` cases each for CASES cases in all."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if SHRINK else [])
    return settings(
        max_examples=max(1, math.ceil(CASES / per_example)),
        phases=phases,
        derandomize=not RANDOM,
        deadline=None,
        # Each example drives a real bot: slow by Hypothesis' measure, and meant to be.
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=True,
    )


def template_database(directory: Path) -> Path:
    """A migrated SQLite file to copy for each example (migrating each time is slow)."""
    path = directory / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def fresh_copy(template: Path, directory: Path) -> Path:
    """A copy of `template` in `directory` (made if need be): an empty, migrated store."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "coop.db"
    for stale in directory.glob("coop.db*"):
        stale.unlink()
    shutil.copyfile(template, path)
    return path


# --- what people type ----------------------------------------------------------------------

CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x85)]
# Zero-width and format characters, and letters that render as nothing (Hangul fillers, the
# blank braille pattern).
BLANK = ["\u3164", "\u2800", "\u115f", "\u1160", "\uffa0", "\u034f"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", *BLANK]
BIDI = ["\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2069"]
SPACES = ["\u00a0", "\u2003", "\u3000", "\u2028", "\u2029", "\t", "\r"]
EMOJI = ["😀", "👍🏽", "🏳️‍🌈", "👨‍👩‍👧", "✋", "📌", "✅", "🙋", "🇺🇳"]
COMBINING = ["e\u0301", "\u0301", "a\u0308\u0323\u0338", "\u20dd", "Z̷̢̛̭͙̈́͌a̵̺̓l̸̡̒g̶͇̈́o̵̞͠"]
DIGITS = ["²", "①", "٣", "３", "߃", "Ⅻ", "½", "𝟗", "¹²"]
MARKUP = [
    "<!here>",
    "<!channel>",
    "<!everyone>",
    "<@U123|ana>",
    "<@UB>",
    "<#C1|general>",
    "<https://x.example|y>",
    "<mailto:a@b.c|mail>",
    "[a](http://x.example)",
    "@everyone",
    "@here",
    "<@&123>",
    "<@!1400000000000000011>",
    "<t:99999999999:F>",
    "**bold** _it_ ~s~ `c`",
    "```\ncode\n```",
    "&lt;&gt;&amp;",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "'; DROP TABLE action; --",
    "%s%n%x",
    "{0}{1}",
    "\\",
    ":raised_hand:",
]
QUOTES = ['"', "\u201c", "\u201d", "\u201e", "'", "`"]
SPECIAL = CONTROL + INVISIBLE + BIDI + SPACES + EMOJI + COMBINING + DIGITS + QUOTES + ["#", ":"]


def _same(value: T) -> T:
    return value


def weighted(*branches: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each `weight` times as likely (st.one_of drops a strategy given
    twice, so each extra copy is a distinct one drawing the same)."""
    copies: list[st.SearchStrategy[T]] = []
    for weight, strategy in branches:
        copies += [strategy] + [strategy.map(_same) for _ in range(weight - 1)]
    return st.one_of(copies)


# Any code point but lone surrogates (no platform can carry them), and often a hostile one.
_CHAR = st.one_of(
    st.characters(exclude_categories=["Cs"]),
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.sampled_from([c for c in SPECIAL if len(c) == 1]),
)
# Emoji sequences, combining marks and the like: several code points each.
_CLUSTER = st.sampled_from([c for c in SPECIAL if len(c) > 1])


@functools.cache
def unicode_text(max_size: int = 40, min_size: int = 0) -> st.SearchStrategy[str]:
    text = st.text(_CHAR, min_size=min_size, max_size=max_size)
    return weighted((2, text), (1, st.builds(lambda a, c, b: a + c + b, text, _CLUSTER, text)))


@functools.cache
def huge_text() -> st.SearchStrategy[str]:
    """Hundreds to thousands of characters: one character, cluster or word, repeated."""
    unit = st.sampled_from(["x", "ab ", "😀", "\u200b", "e\u0301", "#", '"', "\x00", "<!here> "])
    return st.builds(lambda u, n: (u * n)[: max(n, 1)], unit, st.integers(201, 5000))


WORDS = ["Tidy up", "Buy snacks", "Paint the fence", "Let's meet", "x", "Q&A", "Café ☕"]


@functools.cache
def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text as people (and pranksters) type it."""
    return st.one_of(
        st.sampled_from(WORDS),
        st.sampled_from(MARKUP),
        st.sampled_from(SPECIAL),
        unicode_text(max_size),
        st.builds("".join, st.lists(st.sampled_from(INVISIBLE + BIDI + CONTROL), max_size=4)),
        st.builds(lambda a, b: a + " " + b, st.sampled_from(WORDS), st.sampled_from(SPECIAL)),
    )


@functools.cache
def any_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """`hostile_text`, or now and then thousands of characters."""
    return weighted((2, hostile_text(max_size)), (1, huge_text()))


def no_newlines(text: str) -> str:
    """A line as a terminal reads it (other line breaks, like U+2028, stay)."""
    return text.replace("\n", " ")


def mostly(
    plausible: st.SearchStrategy[str], hostile: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """Plausible input twice as often as hostile input, so that examples get far enough
    (tasks filling up, waitlists, drives) for hostile input to meet interesting states."""
    return weighted((2, plausible), (1, hostile))


# Action ids as people get them wrong.
WEIRD_IDS = [
    "#0",
    "#-1",
    "-3",
    "#²",
    "#①",
    "#٣",
    "#３",
    "＃1",
    "# 1",
    "#1.5",
    "#1e3",
    "#",
    "##1",
    "#99999999999",
    "#999999999",
    "#1000000000",
    "#" + "9" * 40,
    "#0x1",
    "#1,2",
    "#\u200b1",
    "#1\u200b",
    "1",
    "#01",
]


INTEGERS = ["0", "-1", "1000", "1001", "1000000", "1000001", "9" * 30, "-" + "9" * 30]
INTEGERS += ["3.5", "1e3", "0x10", "", " 3", "3 ", "+3", "1_000", "abc", "²", "①", "٣", "３"]
FUTURE = ["friday 5pm", "in 2 hours", "tomorrow 9am", "in 3 days", "next friday", "9am"]
WHENS = [
    "2026-12-24 18:00",
    "yesterday",
    "now",
    "in 0 minutes",
    "in -5 minutes",
    "in 11 years",
    "in 9999 years",
    "9999-12-31 23:59",
    "10000-01-01",
    "0001-01-01",
    "1970-01-01",
    "25:99",
    "2027-03-28 02:30",
    "31 february",
    "in 99999999999 days",
    "midnight",
    "blorp",
]
ZONES = ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+14", "Asia/Kolkata"]
BAD_ZONES = [
    "Europe",
    "Mars/Base",
    "../../etc/passwd",
    "/etc/localtime",
    " Europe/Berlin",
    "Europe/Berlin ",
    "europe/berlin",
    "EST5EDT",
    "",
    "\x00",
    "Europe/Berlin\x00",
    "posix/Europe/Berlin",
    "right/UTC",
    "localtime",
    "Factory",
]
TEXT_OPTIONS = {
    "remind": ["2h,15m", "none", "1d", "15m"],
    "every": ["day", "weekday", "week", "month"],
    "on": ["mon,thu", "mon", "sun,sat"],
    "unit": ["hours", "EUR", "€", "trees"],
    "sealed": ["yes", "no"],
    "if": ["3", "@bob", "1"],
    # Shaped tasks (issue 13).
    "roles": ["driver:1, cook:2", "driver:1:car, setup", "a:1,b:1", "cook"],
    "role": ["driver", "cook", "Setup", "a"],
    "for": ["@bob", "@alice", "<@UB>"],
    "carry": ["yes", "no"],
    "need": ["1", "2", "none"],
    "title": ["Tidy", "Bring chairs"],
}
TEXT_OPTIONS["every"] = [*TEXT_OPTIONS["every"], "saturday 10am", "mon,thu 18:00"]
BAD_TEXT_OPTIONS = {
    "remind": ["0m", "61d", "99999w", "1m,2m,3m,4m,5m,6m", "2h,", ",", "-1h"],
    "every": ["0 9 * * *", "* * * * *", "61 25 * * *", "yearly", "every day"],
    "on": ["funday", "mon,mon", ",", "1", "monday" * 50],
    "unit": ["x" * 41, "", " "],
    "sealed": ["maybe", "YES", "1", "0", "true", "ja"],
    "if": ["0", "-1", "999999999999", "@", "@nobody", "<@>", "me", "<@UB|bob>", "3 people"],
    "roles": ["a:0", "a:1,a:2", ":", "a:b:c:d", ",,,", "x" * 41 + ":1", "9:1", "a:1:nosuch"],
    "role": ["nosuch", "", "x" * 41],
    "for": ["@", "@nobody", "me", "<@>"],
    "carry": ["maybe", "YES", "1"],
    "need": ["0", "-1", "1001", "lots"],
    "title": [" ", "\u200b"],
}
REMIND_WHAT = ['me "Water the plants"', "@bob Call", "#general Standup", "#1 Bring keys"]
REMIND_WHAT += ["<@UB> hi", "<#C1|general> hi", "me tomorrow", "me"]
BAD_REMIND_WHAT = ["@", "#", "everyone hi", "R1", "@nobody hi", "#99999999999 hi", "<@> x"]
DIGEST_HOW = ["daily", "weekday", "weekly", "off"]


def _plausible(spec_name: str, param: Param, positional: bool) -> st.SearchStrategy[str]:
    """A value someone means: a card's number, a time ahead, a zone, words."""
    if param.kind is ParamKind.ACTION_ID:
        return st.integers(1, 3).map(lambda n: f"#{n}")
    if param.kind is ParamKind.INTEGER:  # small: a task fills up, a drive tips
        return st.integers(1, 2).map(str)
    if param.kind is ParamKind.WHEN:
        return st.sampled_from(FUTURE)
    if param.kind is ParamKind.TIMEZONE:
        return st.sampled_from(ZONES)
    if param.kind is ParamKind.COMMAND:
        return st.sampled_from([s.name for s in GRAMMAR])
    if not positional:
        return st.sampled_from(TEXT_OPTIONS.get(param.name, WORDS))
    return st.sampled_from(
        {
            "remind": REMIND_WHAT,
            "digest": DIGEST_HOW,
            "reminders": ["cancel R1", "R1"],
            "handoff": ["#1 @bob", "#2 @alice", "#1 accept", "#1 decline", "#1 <@UB>"],
            "calendar": ["channel", "reset", "channel reset"],
        }.get(spec_name, WORDS)
    )


def _hostile(spec_name: str, param: Param, positional: bool) -> st.SearchStrategy[str]:
    """A value as it goes wrong: odd numbers and ids, times past or absurd, bad zones, and
    hostile or huge text."""
    if param.kind is ParamKind.ACTION_ID:
        return st.one_of(
            st.sampled_from(WEIRD_IDS),
            st.integers(-(10**30), 10**30).map(lambda n: f"#{n}"),
            hostile_text(12),
        )
    if param.kind is ParamKind.INTEGER:
        return st.one_of(st.sampled_from(INTEGERS), st.integers().map(str))
    if param.kind is ParamKind.WHEN:
        # Short: dateparser has taken seconds over some long texts, and the suite is to stay
        # quick; long texts go where no time is read.
        return st.one_of(st.sampled_from(WHENS), hostile_text(30))
    if param.kind is ParamKind.TIMEZONE:
        return st.one_of(st.sampled_from(BAD_ZONES), hostile_text(20))
    if param.kind is ParamKind.COMMAND:
        return hostile_text(20)
    if not positional:
        return st.one_of(st.sampled_from(BAD_TEXT_OPTIONS.get(param.name, MARKUP)), any_text(20))
    if spec_name == "remind":
        return st.one_of(st.sampled_from(BAD_REMIND_WHAT), any_text())
    if spec_name == "reminders":
        return st.one_of(st.just("cancel R" + "9" * 30), any_text())
    return any_text()


@functools.cache
def plausible_value(spec_name: str, param: Param, positional: bool) -> st.SearchStrategy[str]:
    return _plausible(spec_name, param, positional)


@functools.cache
def option_value(param: Param) -> st.SearchStrategy[str]:
    """An option's value: plausible twice as often as hostile."""
    return mostly(_plausible("", param, False), _hostile("", param, False))


@functools.cache
def positional_value(spec_name: str, param: Param) -> st.SearchStrategy[str]:
    """A subcommand's argument: plausible twice as often as hostile."""
    return mostly(_plausible(spec_name, param, True), _hostile(spec_name, param, True))


def misspellings(name: str) -> list[str]:
    return [
        name.upper(),
        name.title(),
        name[:-1],
        name + name[-1],
        name[1:],
        f" {name}",
        f"{name}s",
    ]


OPTION_NAMES = sorted({o.name for s in GRAMMAR for o in s.options})


def _quoted(value: str, style: int) -> str:
    """`value` as typed: bare, in straight or curly quotes, or with a quote left open."""
    return [
        value,
        f'"{value}"',
        f"\u201c{value}\u201d",
        f"\u201e{value}\u201c",
        f'"{value}',
        f"\u201c{value}",
        f'{value}"',
        f'\u201c{value}"',
    ][style]


@functools.cache
def _below(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, n - 1)


def _pick(draw: st.DrawFn, items: Sequence[T]) -> T:
    """One of `items`, drawn as an index: strategies are made once, not per draw (a new
    strategy object makes Hypothesis size it up each time, which costs more than the draw)."""
    return items[draw(_below(len(items)))]


STYLES = [1, 1, 1, 2, 3, 0, 4, 5, 6, 7]


def _style(draw: st.DrawFn, value: str) -> str:
    """Quoted when it has to be, mostly properly; a quote left open now and then."""
    if " " not in value and draw(_below(4)):
        return value
    return _quoted(value, _pick(draw, STYLES))


_OTHER = Param("other", ParamKind.TEXT, "")
_OTHER_NAME = st.one_of(st.sampled_from(OPTION_NAMES), hostile_text(8))
_SPELLINGS = {o.name: [o.name] * 8 + misspellings(o.name) for s in GRAMMAR for o in s.options}


@functools.cache
def option_token(spec_name: str) -> st.SearchStrategy[str]:
    return _option_token(spec_name)


@st.composite
def _option_token(draw: st.DrawFn, spec_name: str) -> str:
    spec = SUBCOMMANDS.get(spec_name)
    own = list(spec.options) if spec else []
    if own and draw(_below(5)):
        param = _pick(draw, own)
        name = _pick(draw, _SPELLINGS[param.name])
    else:  # an option of another subcommand, or no option at all
        name, param = draw(_OTHER_NAME), _OTHER
    return f"{name}:{_style(draw, draw(option_value(param)))}"


@functools.cache
def _options(spec_name: str) -> st.SearchStrategy[list[str]]:
    return st.lists(option_token(spec_name), max_size=3)


SEPARATORS = [" "] * 12 + ["  ", "\t", "\u00a0", "\u3000", "\u2003"]
# Subcommands that build up state come up more often.
WEIGHTS = {"task": 5, "join": 12, "leave": 2, "done": 2, "pledge": 2, "maybe": 2, "edit": 2}
WEIGHTED = [s for s in GRAMMAR for _ in range(WEIGHTS.get(s.name, 1))]
_MISSPELT = {s.name: misspellings(s.name) for s in GRAMMAR}
_JUNK_COMMAND = any_text(60)
_INSERTED = hostile_text(15)


@functools.cache
def _clean_command() -> st.SearchStrategy[str]:
    return _clean()


@st.composite
def _clean(draw: st.DrawFn) -> str:
    """A command as the grammar means it: what builds up state for hostile input to meet."""
    spec = _pick(draw, WEIGHTED)
    parts = [spec.name]
    if spec.positional is not None:
        value = draw(plausible_value(spec.name, spec.positional, True))
        # `remind me "Water the plants"`: who, then what, as words of their own.
        words = spec.positional.name == "what" or '"' in value
        parts.append(value if words or " " not in value else f'"{value}"')
    # Each option now and then (a join's amount: and if: are for drives only: seldom).
    for option in spec.options:
        if not draw(_below(6 if spec.name == "join" else 3)):
            value = draw(plausible_value(spec.name, option, False))
            parts.append(f"{option.name}:" + (f'"{value}"' if " " in value else value))
    return " ".join(parts)


SETUP = 3  # the first cases of an example: tasks for the rest to join, leave and break


@functools.cache
def task_text() -> st.SearchStrategy[str]:
    """A task as people mean one, with a small need mostly: for the cases that follow."""
    need = weighted((2, st.integers(1, 2).map(lambda n: f" need:{n}")), (1, st.just("")))
    title = st.sampled_from(WORDS).map(lambda t: f'"{t}"' if " " in t else t)
    return st.builds(lambda t, n: f"task {t}{n}", title, need)


@functools.cache
def command_text() -> st.SearchStrategy[str]:
    """What follows `/coop`: built from the grammar (its subcommands, their arguments and
    options, repeated, misspelt or missing, quoted every way), or anything at all."""
    return _command_text()


@st.composite
def _command_text(draw: st.DrawFn) -> str:
    if draw(_below(3)):  # two in three
        return draw(_clean_command())
    if not draw(_below(12)):
        return draw(_JUNK_COMMAND)
    spec = _pick(draw, WEIGHTED)
    name = spec.name if draw(_below(8)) else _pick(draw, _MISSPELT[spec.name])
    parts = [name]
    if spec.positional is not None and draw(_below(10)):
        parts.append(_style(draw, draw(positional_value(spec.name, spec.positional))))
    parts += draw(_options(spec.name))
    if not draw(_below(8)):
        parts.insert(1 + draw(_below(len(parts))), draw(_INSERTED))
    text = "".join(p + _pick(draw, SEPARATORS) for p in parts).rstrip(" ")
    return text if draw(_below(12)) else _pick(draw, SPACES) + text


OUR_EMOJI = ["pushpin", "raised_hand", "white_check_mark", "📌", "✋", "✅", ":raised_hand:"]
OUR_EMOJI += [
    "raised_hand::skin-tone-3",
    "✋🏽",
    "✋\ufe0f",
    "RAISED_HAND",
    "hand",
    "heavy_check_mark",
]
OTHER_EMOJI = ["thumbsup", "+1", "😀", "tada", "x", "", " ", "::", "skin-tone-2", "pushpin2"]


@functools.cache
def emoji_name() -> st.SearchStrategy[str]:
    """The bot's own reaction emoji (spelt every way) far more often than others."""
    return st.one_of(
        st.sampled_from(OUR_EMOJI),
        st.sampled_from(OUR_EMOJI),
        st.sampled_from(OUR_EMOJI),
        st.sampled_from(OTHER_EMOJI),
        hostile_text(10).map(lambda s: "".join(s.split()) or "x"),
    )


# --- the store -----------------------------------------------------------------------------


Row = dict[str, Any]


@dataclass(frozen=True)
class Store:
    """One read of what a change would change: actions, commitments, schedules and their
    occurrences, the audit log, time zones people set and the numbers handed out. Not the
    inbox and outbox (every event and answer is a row there), nor the names platforms report.
    Rows are dicts of their columns; two reads are equal when nothing changed."""

    actions: list[Row]
    commitments: list[Row]
    roles: list[Row]
    schedules: list[Row]
    occurrences: list[Row]
    zones: list[tuple[Any, ...]]
    numbers: list[tuple[Any, ...]]
    audit: list[Row]


def _rows(cursor: Any, table: str, where: str = "", args: tuple[Any, ...] = ()) -> list[Row]:
    cursor.execute(f"SELECT * FROM {table} {where} ORDER BY id", args)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _within(column: str, ids: list[Any]) -> tuple[str, tuple[Any, ...]]:
    return f"WHERE {column} IN ({','.join('?' * len(ids))})", tuple(ids)


def reader(url: str) -> Engine:
    """An engine that reads the store without taking the write lock, as the bot's reads do."""
    return make_engine(url, read_only=True)


def quick(engine: Engine) -> Engine:
    """The bot's engine, committing without waiting for the disk (PRAGMA synchronous=OFF):
    each case makes several commits, the database is thrown away, and the suite tests input,
    not durability. Call before the first connection."""

    @event.listens_for(engine, "connect")
    def _unsynced(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA synchronous=OFF")

    return engine


def read_store(engine: Engine, community: str | None = None) -> Store:
    """The store, or only `community` (by its external id: a guild's, say), as SQLite holds
    it (times as text), in one transaction; `engine` from `reader`. Plain SQL: it runs after
    every case, and the ORM would double what the checks cost."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        if community is None:
            ids = [row["id"] for row in _rows(cursor, "community")]
        else:
            ids = [
                r["id"] for r in _rows(cursor, "community", "WHERE external_id = ?", (community,))
            ]
        scoped = _within("community_id", ids)
        actions, schedules = _rows(cursor, "action", *scoped), _rows(cursor, "schedule", *scoped)
        members, audit = _rows(cursor, "member", *scoped), _rows(cursor, "audit_log", *scoped)
        action_ids = [a["id"] for a in actions]
        commitments = _rows(cursor, "commitment", *_within("action_id", action_ids))
        roles = _rows(cursor, "action_role", *_within("action_id", action_ids))
        occurrences = _rows(
            cursor, "occurrence", *_within("schedule_id", [s["id"] for s in schedules])
        )
        communities = _rows(cursor, "community", *_within("id", ids))
        cursor.execute("COMMIT")
    finally:
        raw.close()
    return Store(
        actions,
        commitments,
        roles,
        schedules,
        occurrences,
        [(m["community_id"], m["external_id"], m["tz"]) for m in members],
        [(c["id"], c["next_number"], c["next_reminder"]) for c in communities],
        audit,
    )


def _time(value: str | None) -> datetime | None:
    """A time as SQLite holds it (naive UTC text)."""
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def visible(text: str) -> bool:
    """Whether `text` shows anything: a letter, digit, punctuation mark or symbol that is not
    blank, or a private-use or unassigned code point (drawn as a box)."""
    return any(
        ch not in BLANK
        and (unicodedata.category(ch)[0] in "LNPS" or unicodedata.category(ch) in ("Co", "Cn"))
        for ch in text
    )


def check_store(store: Store, now: datetime, horizon: timedelta = HORIZON) -> None:
    """The rules every state of the store keeps, whatever came in: capacity never exceeded,
    counts that match the commitments, and titles, needs, goals and times within limits."""
    by_action: dict[int, list[str]] = {}
    by_role: dict[tuple[int, str], list[str]] = {}
    for c in store.commitments:
        by_action.setdefault(c["action_id"], []).append(c["status"])
        if c["role"] is not None:
            by_role.setdefault((c["action_id"], c["role"]), []).append(c["status"])
    roled = {r["action_id"] for r in store.roles}
    for r in store.roles:
        statuses = by_role.pop((r["action_id"], r["name"]), [])
        taken = sum(s in ("committed", "done") for s in statuses)
        waiting = statuses.count("waitlisted")
        label = f"role {r['name']!r} of action {r['action_id']}"
        assert (r["in_count"], r["waiting_count"]) == (taken, waiting), f"{label}: counts"
        assert r["need"] is None or taken <= r["need"], f"{label}: {taken} in, need {r['need']}"
        if waiting:
            assert r["need"] is not None and taken == r["need"], f"{label}: waitlist, not full"
    # Only a task with roles has commitments with a role (a maybe may have one or not).
    assert not {k for k, v in by_role.items() if set(v) - {"withdrawn", "maybe"}}, by_role
    latest = now + horizon + timedelta(days=32)
    for a in store.actions:
        title = a["title"]
        label = f"#{a['number']} {title!r} ({a['kind']}, {a['state']})"
        statuses = by_action.get(a["id"], [])
        taken = sum(s in ("committed", "done") for s in statuses)
        waiting = statuses.count("waitlisted")
        counts = (a["in_count"], a["waiting_count"])
        assert counts == (taken, waiting), f"{label}: counts {counts}, not {(taken, waiting)}"
        maybes = statuses.count("maybe")
        assert a["maybe_count"] == maybes, f"{label}: {a['maybe_count']} maybes, not {maybes}"
        need, due = a["need"], _time(a["due_at"])
        if a["kind"] == "task":
            assert need is None or 1 <= need <= MAX_NEED, f"{label}: need {need}"
            assert need is None or taken <= need, f"{label}: {taken} in, need {need}"
            if a["state"] == "open" and waiting and a["id"] not in roled:
                assert need is not None and taken == need, f"{label}: a waitlist, yet not full"
            created = _time(a["created_at"])
            assert due is None or created and created < due <= latest, f"{label}: due {due}"
        else:
            goal, unit = a["goal"], a["unit"]
            assert goal is None or 1 <= goal <= MAX_AMOUNT, f"{label}: goal {goal}"
            assert unit is None or len(unit) <= MAX_UNIT, f"{label}: unit {unit!r}"
            assert due is None or due <= latest, f"{label}: deadline {due}"
        assert 0 < len(title) <= MAX_TITLE, f"{label}: a title of {len(title)} characters"
        assert title == title.strip(), f"{label}: the title is not trimmed"
        assert visible(title), f"{label}: the title shows nothing"
        controls = [ch for ch in title if unicodedata.category(ch) == "Cc"]
        assert not controls, f"{label}: control characters {controls!r} in the title"
    for s in store.schedules:
        when = _time(s["next_at"])
        assert when is None or when <= latest, f"schedule {s['id']} ({s['kind']}): next {when}"


# --- the error log -------------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Every record logged at ERROR or above while it is installed (an unhandled exception
    anywhere, in the bot, bolt, discord.py or asyncio, ends up here)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if _modal_timer(record):
            return
        self.records.append(record)

    def check(self, what: str) -> None:
        if self.records:
            logged = "\n".join(self.format(r) for r in self.records)
            self.records.clear()
            raise AssertionError(f"logged at ERROR after {what}:\n{logged}")


def _modal_timer(record: logging.LogRecord) -> bool:
    """asyncio reporting, when it collects garbage, the timer of a Discord form a test opened
    and never sent, left in an event loop that test has closed: a test's leftovers (a running
    bot's forms time out), reported whenever and in whichever later test the collector runs."""
    return (
        record.name == "asyncio"
        and record.getMessage().startswith("Task was destroyed but it is pending")
        and "BaseView.__timeout_task_impl" in record.getMessage()
    )


@contextmanager
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def check_not_sorry(texts: list[str], what: str) -> None:
    """The apology for an unhandled error is never sent."""
    assert not any(SORRY in t for t in texts), f"{what} was answered with the apology: {texts}"


def check_outcome(
    what: str,
    changed: bool,
    answers: list[tuple[str, str]],
    actor: str | None,
    must_answer: bool = False,
) -> None:
    """Either a valid change or a private answer with nothing changed (or, when it is not the
    bot's business, neither): never the apology, never more than one answer, never one to
    anybody but `actor` (None: whoever it was). `answers` are (recipient, text)."""
    check_not_sorry([text for _, text in answers], what)
    assert len(answers) <= 1, f"{what} got {len(answers)} answers: {answers}"
    if actor is not None:
        assert all(to == actor for to, _ in answers), f"{what}: answered someone else {answers}"
    if must_answer:
        assert changed or answers, f"{what} changed nothing and got no answer"


class Answers:
    """Every private answer the core hands a chat port, as (member id, text), in order."""

    def __init__(self, port: Any) -> None:
        self.sent: list[tuple[str, str]] = []
        original = port.reply_private

        async def reply_private(
            d: Any, to: Any, channel: Any, text: str, reply: Any, first: bool, card: Any = None
        ) -> None:
            self.sent.append((to.id, text))
            await original(d, to, channel, text, reply, first, card=card)

        port.reply_private = reply_private

    def since(self, start: int) -> list[tuple[str, str]]:
        """The answers after the first `start`."""
        return self.sent[start:]


# --- drawing in a running example ----------------------------------------------------------
#
# Strategies are made once (a new strategy object per draw makes Hypothesis size it up each
# time, which costs more than the draw), and choices among things of the moment (the cards
# posted so far) are drawn as indexes.


def one_in(data: st.DataObject, n: int) -> bool:
    """True once in `n` draws, or so."""
    return data.draw(_below(n)) == 0


def choose(data: st.DataObject, items: Sequence[T]) -> T:
    """One of `items` (a list known only while the example runs, or a constant one)."""
    return items[data.draw(_below(len(items)))]
