"""Hostile and careless input, by class: every kind is answered privately and changes
nothing, or means what the person meant; none reaches a parser unbounded or crashes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import grammar, inputs, timeparse
from bot.events import CommandInvoked, DriveRequested, Inbound
from bot.grammar import GRAMMAR, ParamKind
from tests.harness import COMMUNITY, TestBot

# A valid line for each subcommand that takes text, with where hostile text can go.
VALID = {
    "task": 'task "Clean the park" need:3 due:"in 2 days" remind:"2h"',
    "pledge": 'pledge "Plant trees" goal:5 deadline:"in 2 days" unit:hours',
    "remind": 'remind me "Water the plants" when:"in 2 hours"',
    "digest": 'digest weekly at:"9am" on:mon',
    "tz": "tz Europe/Berlin",
}
CONTROL = [chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x85, 0x9B]]
REORDERING = ["\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u3164", "\u2800"]


def refused(bot: TestBot, line: str, who: str = "bob") -> str:
    """Say `line`; assert it got one private answer and changed nothing; the answer."""
    before = bot.snapshot()
    sent = bot.say(who, line)
    assert [(s.kind, s.to) for s in sent] == [("private", who)], sent
    assert "something went wrong" not in sent[0].text
    assert bot.snapshot() == before
    return sent[0].text


def fresh(tmp_path: Path, name: str) -> TestBot:
    bot = TestBot(f"sqlite:///{tmp_path / name}.db", admins=("root",))
    bot.say("alice", "task Existing need:2")
    return bot


# --- control characters, reordering, invisible text --------------------------------------


def test_control_and_reordering_characters_anywhere_are_refused(tmp_path: Path) -> None:
    bot = fresh(tmp_path, "coop")

    @given(
        ch=st.sampled_from(CONTROL + REORDERING),
        line=st.sampled_from(sorted(VALID.values())),
        at=st.floats(0, 1),
    )
    @settings(max_examples=120, deadline=None)
    def check(ch: str, line: str, at: float) -> None:
        where = 1 + round(at * (len(line) - 2))  # inside: the ends are trimmed as spaces
        answer = refused(bot, line[:where] + ch + line[where:])
        assert "hidden control character" in answer and f"U+{ord(ch):04X}" in answer

    check()
    for ch in CONTROL + REORDERING:  # each at least once
        refused(bot, f"task Tidy{ch} up")


def test_line_breaks_and_tabs_are_only_spaces(bot: TestBot) -> None:
    bot.say("alice", "task\tClean\nthe park\r\nneed:2")
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.title == "Clean the park" and card.need == 2


def test_invisible_only_text_is_refused_wherever_text_is_asked_for(tmp_path: Path) -> None:
    bot = fresh(tmp_path, "coop")

    @given(junk=st.lists(st.sampled_from([*INVISIBLE, " ", "\u0301", "\u200e"]), min_size=1))
    @settings(max_examples=40, deadline=None)
    def check(junk: list[str]) -> None:
        text = "".join(junk)
        for line in (
            f'task "{text}" need:2',
            f'pledge "{text}" goal:3 deadline:"in 2 days"',
            f'remind me "{text}" when:"in 1 hour"',
            f'pledge "Trees" goal:3 deadline:"in 2 days" unit:"{text}"',
            f'task "Tidy" due:"{text}"',
        ):
            refused(bot, line)

    check()


def test_a_title_is_stored_in_one_unicode_form(bot: TestBot) -> None:
    decomposed = "Cafe\u0301 cleanup"  # e + combining acute, as some keyboards send it
    bot.say("alice", f'task "{decomposed}"')
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.title == unicodedata.normalize("NFC", decomposed)
    # Both spellings are one title: the export and the card agree.
    assert card.title == "Caf\u00e9 cleanup"


def test_a_nul_typed_is_refused_and_a_nul_in_a_message_is_dropped(database_url: str) -> None:
    bot = TestBot(database_url)
    refused(bot, 'task "Tidy\x00 up"')
    message = bot.post("alice", "Bring\x00 chairs\x1b[31m\nfor the hall")
    bot.react("bob", "pushpin", message)
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.title == "Bring chairs[31m"


def test_a_display_name_with_control_characters_is_kept_printable(database_url: str) -> None:
    bot = TestBot(database_url)
    bot.handle(
        CommandInvoked(
            bot.member("alice").__class__(COMMUNITY, "alice", "Ali\x00ce\u202e"),
            bot.channel(),
            "task Tidy",
        )
    )
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.creator.name == "Alice"


# --- lengths: refused before any parser sees them ----------------------------------------


def _option_lines() -> list[tuple[str, str, int]]:
    """(subcommand, option, its limit) for every option of every subcommand."""
    return [(s.name, o.name, o.limit) for s in GRAMMAR for o in s.options]


@pytest.mark.parametrize(("name", "option", "limit"), _option_lines())
def test_every_option_is_bounded_before_it_is_parsed(
    bot: TestBot, monkeypatch: pytest.MonkeyPatch, name: str, option: str, limit: int
) -> None:
    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a time parser saw a value over the limit")

    monkeypatch.setattr(timeparse.dateparser, "parse", no_parsing)
    spec = grammar.SUBCOMMANDS[name]
    head = {"task": "task Tidy", "pledge": "pledge Trees", "remind": "remind me Water"}.get(
        name,
        f"{name} #1"
        if spec.positional and spec.positional.kind is ParamKind.ACTION_ID
        else f"{name} weekly",
    )
    answer = refused(bot, f'{head} {option}:"{"9" * (limit + 1)}"')
    assert f"the limit is {limit}" in answer


def test_a_due_of_two_hundred_characters_never_reaches_the_time_parser(
    bot: TestBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = timeparse.dateparser.parse
    monkeypatch.setattr(
        timeparse.dateparser, "parse", lambda t, **k: seen.append(t) or real(t, **k)
    )
    answer = refused(bot, 'task Tidy due:"' + "next friday " * 17 + '"')
    assert "the limit is 100" in answer and seen == []
    bot.say("alice", 'task Tidy due:"next friday 5pm"')
    assert seen  # an ordinary time is read


def test_a_form_field_is_bounded_too(bot: TestBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeparse.dateparser, "parse", lambda *a, **k: pytest.fail("parsed"))
    message = bot.post("alice", "Plant trees")
    before = bot.snapshot()
    sent = bot.handle(DriveRequested(bot.member("alice"), message, "Plant trees", "5", "x" * 500))
    assert [s.kind for s in sent] == ["private"] and "the limit is 100" in sent[0].text
    assert bot.snapshot() == before


def test_a_slow_time_parse_holds_up_nobody_else(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Times are read before an event's turn: a parse that takes long (it cannot, bounded as
    it is, but a slow machine might) keeps only its sender's later events waiting."""
    bot = TestBot(sqlite_url)
    bot.coop.prepare_hold = 0.05
    bot.say("alice", "task Chairs")
    gate, started = threading.Event(), threading.Event()
    real = timeparse.parse_when

    def slow(text: str, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        started.set()
        assert gate.wait(30)
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("bot.usecases.parse_when", slow)

    def command(who: str, text: str) -> Inbound:
        return Inbound(CommandInvoked(bot.member(who), bot.channel(), text))

    async def scenario() -> None:
        slow_one = asyncio.ensure_future(
            bot.inbox.handle(command("bob", 'task Tables due:"in 2 days"'))
        )
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 30)
        await bot.inbox.handle(command("carol", "join #1"))
        await bot.dispatcher.drain()
        assert not slow_one.done()
        assert "You're in on #1" in bot.chat.last_private("carol")
        gate.set()
        await slow_one

    asyncio.run(scenario())
    assert bot.statuses(1) == {"carol": "committed"}


# --- strict grammar ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "closer"),
    [
        ('task "Clean the park need:3', '"'),
        ("task \u201cClean the park need:3", "\u201d"),
        ("task \u201eClean the park need:3", "\u201c"),
        ('task Clean need:3 due:"friday 5pm', '"'),
        ('remind me "Water when:"9am"', None),
    ],
)
def test_an_unclosed_quote_is_an_error_not_a_longer_title(
    bot: TestBot, line: str, closer: str | None
) -> None:
    answer = refused(bot, line)
    if closer is not None:
        assert "never closed" in answer and f"Close it with {closer}" in answer


@pytest.mark.parametrize(("name", "option"), [(s.name, o.name) for s in GRAMMAR for o in s.options])
def test_any_option_given_twice_is_an_error(bot: TestBot, name: str, option: str) -> None:
    spec = grammar.SUBCOMMANDS[name]
    kind = spec.option(option).kind
    value = "3" if kind is ParamKind.INTEGER else "x"
    with pytest.raises(grammar.CoopError, match=f"{option}: is given twice"):
        grammar.parse(f"{name} a {option}:{value} {option}:{value}")


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("task Clean neeed:3", "Did you mean need:?"),
        ("task Clean Due:friday dew:monday", "Did you mean due:?"),
        ("task Clean goal:3", "goal: is an option of /coop pledge"),
        ("pledge Trees goal:3 deadlin:friday", "Did you mean deadline:?"),
        ("remind me Water wen:9am", "Did you mean when:?"),
        ("task Clean colour:red", "/coop task takes need:, due:, remind:"),
        ("list foo:bar", "/coop list takes no options"),
    ],
)
def test_an_unknown_option_shows_what_was_understood_and_what_was_meant(
    bot: TestBot, line: str, hint: str
) -> None:
    answer = refused(bot, line)
    assert hint in answer and "So far I read: /coop" in answer and "For example:" in answer


def test_words_with_colons_that_are_not_options_stay_in_the_title(bot: TestBot) -> None:
    bot.say("alice", "task Agenda: read https://example.org/a_b at 10:30 need:2")
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.need == 2
    assert card.title == "Agenda: read https://example.org/a_b at 10:30"
    bot.say("alice", 'task "need:3 chairs"')  # quoted: a title, not an option
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.title == "need:3 chairs" and card.need is None


def test_a_misspelt_command_gets_a_suggestion(bot: TestBot) -> None:
    assert "Did you mean /coop remind?" in refused(bot, "remnd me x when:9am")


# --- time zones ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("Europe", "is a region"),
        ("America", "America/New_York"),
        ("Berlin", "Did you mean Europe/Berlin?"),
        ("Europe/Berln", "Europe/Berlin"),
        ("Mars/Olympus", "Use an IANA name"),
        ("../../etc/passwd", "Use an IANA name"),
        ("/etc/localtime", "Use an IANA name"),
        ("Europe/" + "x" * 40, "Use an IANA name"),
    ],
)
def test_a_zone_that_is_not_one_is_answered_with_the_likely_one(
    bot: TestBot, typed: str, hint: str
) -> None:
    answer = refused(bot, f"tz {typed}")
    assert "don't know the time zone" in answer and hint in answer


def test_a_zone_in_any_case_is_saved_as_iana_spells_it(bot: TestBot) -> None:
    bot.say("bob", "tz europe/berlin")
    assert "Your time zone is now Europe/Berlin" in bot.chat.last_private("bob")


def test_a_zone_the_platform_reports_but_nobody_knows_falls_back(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    odd = bot.member("alice").__class__(COMMUNITY, "alice", "Alice", tz="Mars/Olympus")
    sent = bot.handle(CommandInvoked(odd, bot.channel(), 'task Tidy due:"tomorrow 9am"'))
    assert [s.kind for s in sent] == ["post"]
    assert timeparse.known("Mars/Olympus") is None and timeparse.known("Asia/Tokyo")


# --- numbers in any script -------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["#\u2460", "#\u00b9", "#\uff11", "#\u0661", "# 1"])
def test_an_id_in_other_digits_means_that_number(bot: TestBot, typed: str) -> None:
    bot.say("alice", "task Chairs")
    bot.say("bob", f"join {typed}")
    assert bot.statuses(1) == {"bob": "committed"}


@given(st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None)
def test_any_digits_read_as_a_number_or_are_refused_kindly(digits: str) -> None:
    for read in (
        lambda: grammar.parse_action_id("#" + digits),
        lambda: grammar.parse("task a need:" + digits),
    ):
        with contextlib.suppress(grammar.CoopError):
            read()


def test_need_in_full_width_digits(bot: TestBot) -> None:
    bot.say("alice", "task Chairs need:\uff13")
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.need == 3


def test_the_helpers_agree_with_the_grammar() -> None:
    assert inputs.visible("a\u200b") and not inputs.visible("\u200b\u0301 \u3164")
    assert inputs.number("\u2460\u2461") == "12" and inputs.number("x1") == "x1"
    assert inputs.first_line("\u200b\n  \nsecond line\nthird") == "second line"
    assert grammar.tokenize('task "unclosed') == ["task", "unclosed"]  # lenient for adapters


def test_a_zone_name_too_long_to_be_one_is_refused_unread(bot: TestBot) -> None:
    assert "the limit is 64" in refused(bot, "tz Europe/" + "x" * 60)


def test_a_reminder_text_of_the_limit_fits_beside_whom_it_is_for(bot: TestBot) -> None:
    text = "x" * grammar.MAX_TITLE
    bot.say("alice", f'remind @bob "{text}" when:"in 2 hours"')
    assert "Okay, I'll remind" in bot.chat.last_private("alice")
    answer = refused(bot, f'remind me "{text}y" when:"in 2 hours"', who="alice")
    assert f"That reminder is 201 characters long; the limit is {grammar.MAX_TITLE}" in answer


def test_times_are_read_in_the_configured_languages_only(sqlite_url: str) -> None:
    from bot.usecases import Preferences

    english = TestBot(sqlite_url)
    assert "can't read" in refused(english, 'task Tidy due:"freitag 17:00"')
    german = TestBot(sqlite_url, prefs=Preferences(languages=("en", "de")))
    german.say("alice", 'task Tidy due:"freitag 17:00"')
    card = german.chat.of("post")[-1].card
    assert card is not None and card.due_at is not None and card.due_at.hour == 17


def test_an_unknown_language_is_a_bad_setting() -> None:
    from bot.config import Settings

    with pytest.raises(ValueError, match="xx: use language codes"):
        Settings(time_languages=["en", "xx"])


def test_a_quoted_title_over_several_lines_is_one_line(bot: TestBot) -> None:
    bot.say("alice", 'task "```\ncode\n```\u2028more" need:2')
    card = bot.chat.of("post")[-1].card
    assert card is not None and card.title == "``` code ``` more" and card.need == 2


def test_a_long_message_tracked_is_cut_to_a_title_without_a_trailing_space(bot: TestBot) -> None:
    message = bot.post("alice", "<!here> " * 40)
    bot.react("bob", "pushpin", message)
    card = bot.chat.of("post")[-1].card
    assert card is not None and len(card.title) <= grammar.MAX_TITLE
    assert card.title == card.title.strip() and card.title.endswith("<!here>")


@pytest.mark.parametrize("number", [0, -1, 10**30, 2**63])
def test_a_button_with_a_number_no_button_carries_is_refused(bot: TestBot, number: int) -> None:
    bot.say("alice", "task Chairs")
    before = bot.snapshot()
    sent = bot.press("bob", "join", number, bot.card_message(1))
    assert [s.kind for s in sent] == ["private"] and "isn't one I know" in sent[0].text
    assert bot.snapshot() == before
