"""The shared /coop grammar: tokenising, parsing and help."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.emoji_names import canonical
from bot.errors import CoopError
from bot.grammar import GRAMMAR, ParsedCommand, help_text, parse, tokenize
from bot.timeparse import parse_when


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            'task "Buy snacks" need:2 due:"in 3 days"',
            ["task", "Buy snacks", "need:2", "due:in 3 days"],
        ),
        ("task Let's meet at 10:30", ["task", "Let's", "meet", "at", "10:30"]),
        ("task “Curly” due:“friday 5pm”", ["task", "Curly", "due:friday 5pm"]),
        ('task "open ended', ["task", "open ended"]),
        ("  ", []),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_parse_task_with_options() -> None:
    assert parse('task "Buy snacks" need:2 due:"in 3 days"') == ParsedCommand(
        "task", "Buy snacks", {"need": 2, "due": "in 3 days"}
    )
    assert parse("task Meet at 10:30 NEED:3").options == {"need": 3}
    assert parse("JOIN #12") == ParsedCommand("join", 12)
    assert parse("") == ParsedCommand("help")


@pytest.mark.parametrize("text", ["task need:", "join", "join #", "join #1234567890", "tz"])
def test_parse_errors_explain_usage(text: str) -> None:
    with pytest.raises(CoopError):
        parse(text)


def test_help_lists_every_subcommand_with_usage() -> None:
    text = help_text()
    for spec in GRAMMAR:
        assert spec.usage in text
    assert help_text("task").startswith("/coop task <title> [need:<integer>] [due:<when>]")


def test_emoji_spellings() -> None:
    assert canonical("raised_hand") == canonical("✋") == canonical("raised_hand::skin-tone-2")
    assert canonical("✋🏿") == canonical(":raised_hand:") == "✋"
    assert canonical("heart") == canonical("❤️")
    assert canonical("custom_party") == "custom_party"


NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_times_are_read_in_zone_and_respect_daylight_saving() -> None:
    assert parse_when("in 2 hours", "UTC", NOW) == datetime(2026, 11, 27, 12, tzinfo=UTC)
    # London is on GMT in March before the change and BST after it.
    assert parse_when("2027-03-27 09:00", "Europe/London", NOW).hour == 9
    assert parse_when("2027-03-29 09:00", "Europe/London", NOW).hour == 8
    assert parse_when("2026-12-24 18:00", "Asia/Tokyo", NOW) == datetime(
        2026, 12, 24, 9, tzinfo=UTC
    )


@pytest.mark.parametrize(("text", "error"), [("yesterday", "has passed"), ("blorp", "can't read")])
def test_past_and_unreadable_times_are_refused_with_an_example(text: str, error: str) -> None:
    with pytest.raises(CoopError, match=error) as info:
        parse_when(text, "UTC", NOW)
    assert "friday 5pm" in info.value.message


def test_the_readme_commands_table_covers_every_command_and_option() -> None:
    """Every subcommand and every option of the grammar appears in the README's table, so a
    new command cannot ship undocumented."""
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `/coop ")]
    missing = []
    for spec in GRAMMAR:
        mine = [r for r in rows if f"`/coop {spec.name}" in r or f"/ `/coop {spec.name}" in r]
        if not mine:
            missing.append(f"/coop {spec.name}")
            continue
        missing += [
            f"/coop {spec.name} {o.name}:"
            for o in spec.options
            if not any(f"{o.name}:" in r.rsplit(" | ", 1)[0] for r in mine)
        ]
    assert missing == []


def test_help_explains_the_shaping_commands() -> None:
    general = help_text()
    for name in ("edit", "maybe", "handoff", "stop", "calendar"):
        assert f"/coop {name}" in general
    assert "role:" in help_text("join") and "for:" in help_text("join")
    task = help_text("task")
    assert all(f"{o}:" in task for o in ("roles", "closes", "every", "carry"))
