"""/coop generated from the grammar, the grammar text rebuilt from options, autocomplete, the
invite URL, embeds within Discord's limits, and the Discord settings."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import discord
import pytest

from adapters.discord.chat import untitled_text
from adapters.discord.commands import MAX_ACTION_ID, command_text, quote
from adapters.discord.embeds import (
    DESCRIPTION_LIMIT,
    EMBED_LIMIT,
    FIELD_VALUE_LIMIT,
    card_embed,
)
from adapters.discord.invite import invite_url
from adapters.discord.reactions import Position, ReactionGate
from adapters.discord.refs import community_ref, message_ref
from adapters.discord.text import chunks
from bot import cli
from bot.cards import Button, Card, DriveView, Person
from bot.config import ConfigError, load_settings
from bot.grammar import GRAMMAR, MAX_TITLE, SUBCOMMANDS, Param, ParamKind, parse, tokenize
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    OTHER_CHANNEL_ID,
    Handled,
    interact,
    new_core,
    new_fake,
    run,
    running_bot,
    slash,
)

# The registered option each grammar parameter must become (Discord option types: 3 string,
# 4 integer).
OPTION_TYPES: dict[ParamKind, dict[str, Any]] = {
    ParamKind.TEXT: {"type": 3, "min_length": 1, "max_length": MAX_TITLE},
    ParamKind.ACTION_ID: {
        "type": 4,
        "min_value": 1,
        "max_value": MAX_ACTION_ID,
        "autocomplete": True,
    },
    ParamKind.INTEGER: {"type": 4},
    ParamKind.WHEN: {"type": 3},
    ParamKind.TIMEZONE: {"type": 3, "autocomplete": True},
    ParamKind.COMMAND: {"type": 3, "choices": [{"name": s.name, "value": s.name} for s in GRAMMAR]},
}


def expected_option(param: Param) -> dict[str, Any]:
    option: dict[str, Any] = {
        "name": param.name,
        "description": param.description,
        "required": param.required,
    }
    option |= OPTION_TYPES[param.kind]
    if param.kind is ParamKind.INTEGER:
        option |= {"min_value": param.min_value, "max_value": param.max_value}
    return option


def test_registered_coop_options_match_the_grammar_exactly(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'c.db'}", fake)

        async def scenario() -> None:
            async with running_bot(core):
                pass

        run(scenario)
        [put] = fake.calls_to("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands")
        assert fake.calls_to("PUT", r"/applications/\d+/commands") == []  # not global
        registered = {(c["name"], c["type"]): c for c in fake.commands(GUILD_ID)}

    assert set(registered) == {("coop", 1), ("Track as task", 3), ("Start a pledge drive", 3)}
    for name in ("Track as task", "Start a pledge drive"):
        assert registered[name, 3]["dm_permission"] is False
    coop = registered["coop", 1]
    assert coop["dm_permission"] is False
    assert [s["name"] for s in coop["options"]] == [s.name for s in GRAMMAR]
    for registered_sub, spec in zip(coop["options"], GRAMMAR, strict=True):
        assert registered_sub["type"] == 1  # a subcommand
        assert registered_sub["description"] == spec.summary
        params = ([spec.positional] if spec.positional else []) + list(spec.options)
        assert registered_sub["options"] == [expected_option(p) for p in params], spec.name


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("task", {"title": "Buy snacks", "need": 2, "due": "in 3 days"}),
        ("task", {"title": 'Say "hi" to the new folks', "due": 'friday "5pm"'}),
        ("task", {"title": '“Curly” and "straight" and „low“ quotes'}),
        ("task", {"title": "due: the report, need: chairs"}),
        ("task", {"title": "Need:3 chairs"}),
        ("task", {"title": "Colour:red, size:L, https://x.example/a_b"}),
        ("task", {"title": "Let's meet   at #3"}),
        ("task", {"title": "x" * MAX_TITLE, "need": 1000}),
        ("join", {"id": 7}),
        ("tz", {"zone": "America/Argentina/Buenos_Aires"}),
        ("help", {"command": "task"}),
        ("help", {}),
        ("list", {}),
    ],
)
def test_command_text_reads_back_to_the_typed_values(spec: str, values: dict[str, Any]) -> None:
    subcommand = SUBCOMMANDS[spec]
    parsed = parse(command_text(subcommand, values))
    assert parsed.name == spec
    if subcommand.positional is not None:
        assert parsed.positional == readable(values.get(subcommand.positional.name))
    assert parsed.options == {k: readable(v) for k, v in values.items() if k in ("need", "due")}


@pytest.mark.parametrize(
    ("spec", "values", "typed"),
    [
        (
            "remind",
            {"what": 'me "Water the plants"', "when": "9am", "every": "weekday"},
            'remind me "Water the plants" when:9am every:weekday',
        ),
        ("remind", {"what": "#3 “Bring the keys”"}, 'remind #3 "Bring the keys"'),
        (
            "remind",
            {"what": '<@1400000000000000011> "Send the invoice"', "every": "week", "on": "mon"},
            'remind <@1400000000000000011> "Send the invoice" every:week on:mon',
        ),
        (
            "remind",
            {"what": "#general Standup in five", "when": "in 2 hours"},
            'remind #general Standup in five when:"in 2 hours"',
        ),
        # A quote left open closes at the end of the value: `when` is still an option.
        (
            "remind",
            {"what": 'me "Water the plants', "when": "9am"},
            'remind me "Water the plants" when:9am',
        ),
        ("reminders", {"cancel": "cancel R7"}, "reminders cancel R7"),
        ("reminders", {}, "reminders"),
        ("digest", {"how": "weekly", "at": "9am", "on": "mon"}, "digest weekly at:9am on:mon"),
        ("digest", {"how": "off"}, "digest off"),
        (
            "task",
            {"title": "Clean the park", "due": "saturday 10am", "remind": "2h,15m"},
            'task "Clean the park" due:"saturday 10am" remind:2h,15m',
        ),
    ],
)
def test_new_subcommands_read_back_as_if_typed(
    spec: str, values: dict[str, Any], typed: str
) -> None:
    text = command_text(SUBCOMMANDS[spec], values)
    assert parse(text) == parse(typed)
    if "what" in values:
        # Who and what stay separate words, as the core reads them from a typed command.
        words = tokenize(values["what"])
        assert tokenize(text)[1 : 1 + len(words)] == words


def test_words_in_what_that_look_like_options_stay_words() -> None:
    what = 'me "When: tomorrow, call Bob" every:day'
    parsed = parse(command_text(SUBCOMMANDS["remind"], {"what": what, "when": "9am"}))
    assert parsed.options == {"when": "9am"}
    # Each keeps a leading space (how the grammar tells a word from an option) and no more.
    assert " ".join(str(parsed.positional).split()) == "me When: tomorrow, call Bob every:day"


def readable(value: Any) -> Any:
    """What survives the grammar: everything but a straight quote in a value that also has
    both curly closing quotes (the tokenizer has no escape), which becomes an apostrophe."""
    if isinstance(value, str) and all(q in value for q in ('"', "\u201d", "\u201c")):
        return value.replace('"', "'")
    return value


@pytest.mark.parametrize("value", ["plain", "two  words", 'a "b" c', 'x ” y " z', 'a “b” c " d'])
def test_quote_makes_one_token(value: str) -> None:
    assert tokenize(quote(value)) == [readable(value)]


def test_invite_url_has_both_scopes_and_exactly_the_permissions_used() -> None:
    url = urlparse(invite_url(1234))
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("discord.com", "/oauth2/authorize")
    assert query["client_id"] == ["1234"]
    assert query["scope"] == ["bot applications.commands"]
    permissions = discord.Permissions(int(query["permissions"][0]))
    assert permissions.value == 274877992000
    assert permissions == discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        read_message_history=True,
        add_reactions=True,
    )


def test_cli_prints_the_invite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["discord", "invite-url", "--client-id", "42"]) == 0
    assert out.getvalue() == invite_url(42) + "\n"
    monkeypatch.setenv("COOPBOT_DISCORD__APPLICATION_ID", "43")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["discord", "invite-url"]) == 0
    assert "client_id=43&" in out.getvalue()


def test_autocomplete_suggests_open_actions_and_time_zones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'c.db'}", fake)
        handled = Handled(core)

        def focused(
            who: str, sub: str, name: str, value: str, where: int = CHANNEL_ID
        ) -> dict[str, Any]:
            payload = slash(who, sub, where=where, **{name: (3, value)})
            payload["type"] = 4  # APPLICATION_COMMAND_AUTOCOMPLETE
            payload["data"]["options"][0]["options"][0]["focused"] = True
            return payload

        async def choices(payload: dict[str, Any]) -> list[dict[str, Any]]:
            await interact(fake, payload)
            [call] = fake.calls_to("POST", rf"/interactions/{payload['id']}/[^/]+/callback")
            assert call.json["type"] == 8
            return call.json["data"]["choices"]

        async def scenario() -> None:
            async with running_bot(core):
                for title in ("Buy snacks", "Book the room", "Bring chairs"):
                    await interact(fake, slash("alice", "task", title=title))
                elsewhere = slash("carol", "task", title="Bake bread", where=OTHER_CHANNEL_ID)
                await interact(fake, elsewhere)
                await interact(fake, slash("bob", "join", id=2))
                await handled.wait(5)
                # Suggestions come from the core's queries, never straight from storage.
                monkeypatch.setattr(core, "uow", refuse_storage)
                # This channel's actions first, newest first.
                assert await choices(focused("bob", "join", "id", "b")) == [
                    {"name": "#3 Bring chairs", "value": 3},
                    {"name": "#2 Book the room", "value": 2},
                    {"name": "#1 Buy snacks", "value": 1},
                    {"name": "#4 Bake bread", "value": 4},
                ]
                in_random = await choices(focused("bob", "join", "id", "b", where=OTHER_CHANNEL_ID))
                assert [c["value"] for c in in_random] == [4, 3, 2, 1]
                assert await choices(focused("bob", "join", "id", "#1")) == [
                    {"name": "#1 Buy snacks", "value": 1}
                ]
                assert await choices(focused("bob", "leave", "id", "")) == [
                    {"name": "#2 Book the room", "value": 2}
                ]
                zones = await choices(focused("bob", "tz", "zone", "berl"))
                assert zones == [{"name": "Europe/Berlin", "value": "Europe/Berlin"}]

        run(scenario)
        assert fake.errors == []


def refuse_storage() -> Any:
    raise AssertionError("the adapter opened a unit of work itself")


def big_card(people: int) -> Card:
    crowd = tuple(Person(str(10**18 + i), f"person {i}") for i in range(people))
    return Card(
        number=123456,
        kind="task",
        title="T" * MAX_TITLE,
        creator=Person("1400000000000000010", "alice"),
        state="open",
        need=people,
        due_at=datetime(2026, 12, 24, 18, 0, tzinfo=UTC),
        committed=crowd,
        done=crowd,
        waitlist=crowd,
        buttons=(Button("join", "Join", 123456),),
    )


def test_card_embed_stays_within_discord_limits() -> None:
    embed = card_embed(big_card(1000))
    assert len(embed) <= EMBED_LIMIT
    assert len(embed.title or "") <= 256
    for field in embed.fields:
        assert len(field.value or "") <= FIELD_VALUE_LIMIT
        assert field.value and field.value.endswith(" more")
    unix = int(datetime(2026, 12, 24, 18, 0, tzinfo=UTC).timestamp())
    assert f"due <t:{unix}:F> (<t:{unix}:R>)" in (embed.description or "")
    small = card_embed(big_card(2))
    assert small.fields[0].value == f"<@{10**18}>, <@{10**18 + 1}>"


def test_an_overdue_card_says_so_where_it_shows_the_due_time() -> None:
    unix = int(datetime(2026, 12, 24, 18, 0, tzinfo=UTC).timestamp())
    overdue = card_embed(replace(big_card(2), overdue=True))
    assert (overdue.description or "").split("\n")[1] == (
        f"⚠️ **Overdue**: was due <t:{unix}:F> (<t:{unix}:R>)"
    )
    assert overdue.colour == discord.Colour.orange()
    on_time = card_embed(big_card(2))
    assert "Overdue" not in (on_time.description or "")
    assert on_time.colour == discord.Colour.blurple()


def drive_card(state: str = "open", people: int = 2, **drive: Any) -> Card:
    crowd = tuple(Person(str(10**18 + i), f"person {i}") for i in range(people))
    view = DriveView(
        goal=10,
        unit=None,
        reached=people,
        group=people,
        conditional=people,
        deadline_at=datetime(2026, 12, 24, 18, 0, tzinfo=UTC),
        sealed=False,
        conditional_people=crowd,
    )
    return replace(
        big_card(0),
        kind="pledge",
        state=state,
        need=None,
        due_at=view.deadline_at,
        committed=crowd,
        done=(),
        waitlist=(),
        buttons=(Button("join", "Pledge", 123456), Button("leave", "Withdraw", 123456)),
        drive=replace(view, **drive),
    )


def test_a_drive_embed_shows_progress_the_conditional_and_the_deadline_within_limits() -> None:
    unix = int(datetime(2026, 12, 24, 18, 0, tzinfo=UTC).timestamp())
    small = card_embed(drive_card(people=2))
    assert (small.description or "").split("\n") == [
        "Pledge drive by <@1400000000000000010>",
        "▰▰▱▱▱▱▱▱▱▱ **2 of 10 in**",
        f"2 more conditional: <@{10**18}>, <@{10**18 + 1}>",
        f"Sign-up closes <t:{unix}:f> (<t:{unix}:R>)",
    ]
    assert [(f.name, f.value) for f in small.fields] == [("In", f"<@{10**18}>, <@{10**18 + 1}>")]
    assert small.footer.text == "Open"

    crowded = card_embed(drive_card(people=1000, conditional=1000, unit="*hours*"))
    assert len(crowded) <= EMBED_LIMIT and len(crowded.title or "") <= 256
    assert len(crowded.description or "") <= DESCRIPTION_LIMIT
    lines = (crowded.description or "").split("\n")
    assert lines[1] == "▰▰▰▰▰▰▰▰▰▰ **1,000 \\*hours\\* (goal 10)**"  # typed markup stays text
    assert lines[2].startswith("1,000 more conditional: <@") and lines[2].endswith(" more")
    assert all(len(f.value or "") <= FIELD_VALUE_LIMIT for f in crowded.fields)


def test_a_sealed_drive_embed_has_counts_and_no_people_until_it_tips() -> None:
    sealed = drive_card(people=0, reached=3, conditional=2, sealed=True, conditional_people=())
    embed = card_embed(sealed)
    lines = (embed.description or "").split("\n")
    assert lines[0].startswith("Sealed pledge drive by ")
    assert lines[1:3] == ["▰▰▰▱▱▱▱▱▱▱ **3 of 10 in**", "2 more conditional"]
    assert "🔒 Sealed: only counts show until it tips" in lines
    assert embed.fields == []
    failed = card_embed(replace(sealed, state="failed", buttons=()))
    assert failed.footer.text == "Failed" and failed.fields == []
    assert not any(
        line.startswith("Sign-up closes") for line in (failed.description or "").split("\n")
    )

    tipped = drive_card(
        "tipped",
        3,
        conditional=0,
        sealed=True,
        conditional_people=(),
        task_number=7,
        did=2,
        didnt=1,
    )
    embed = card_embed(replace(tipped, buttons=()))
    lines = (embed.description or "").split("\n")
    assert lines[-2:] == ["🎉 Tipped! Now task #7", "Did it: 2 · Didn't: 1"]
    assert "🔒 Sealed: only counts show until it tips" not in lines
    assert [f.name for f in embed.fields] == ["In"] and embed.footer.text == "Tipped"
    assert embed.colour == discord.Colour.green()


def test_long_private_text_is_split_below_the_message_limit() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    parts = chunks(text)
    assert all(len(p) <= 2000 for p in parts)
    assert "\n".join(parts) == text
    assert chunks("y" * 4500) == ["y" * 2000, "y" * 2000, "y" * 500]


def test_an_unreadable_message_is_tracked_as_a_readable_title_and_its_link() -> None:
    message = message_ref(community_ref(GUILD_ID), CHANNEL_ID, 42)
    link = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/42"
    assert untitled_text(message, "general") == f"Task from a message in #general\n{link}"
    assert untitled_text(message, "") == f"Task from a message\n{link}"  # not in the cache
    title, rest = untitled_text(message, "x" * 300).split("\n")
    assert len(title) == MAX_TITLE and rest == link


def test_discord_settings_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COOPBOT_DISCORD__API_BASE_URL", "http://127.0.0.1:9/api/v10")
    monkeypatch.setenv("COOPBOT_DISCORD__GATEWAY_URL", "ws://127.0.0.1:9/gateway")
    monkeypatch.setenv("COOPBOT_DISCORD__SHARD_COUNT", "4")
    monkeypatch.setenv("COOPBOT_DISCORD__SHARD_IDS", "[2, 3]")
    settings = load_settings().discord
    assert settings.api_base_url == "http://127.0.0.1:9/api/v10"
    assert settings.gateway_url == "ws://127.0.0.1:9/gateway"
    assert (settings.shard_count, settings.shard_ids) == (4, [2, 3])
    assert settings.message_content_intent is False
    monkeypatch.setenv("COOPBOT_DISCORD__SHARD_IDS", "[4]")
    with pytest.raises(ConfigError, match="setting discord.shard_ids: must be distinct shard"):
        load_settings()
    monkeypatch.setenv("COOPBOT_DISCORD__SHARD_COUNT", "0")
    with pytest.raises(ConfigError, match="setting discord.shard_count: must be 1 or more"):
        load_settings()


def raw_reaction(user: int, emoji: str, added: bool) -> discord.RawReactionActionEvent:
    data: Any = {"message_id": "7", "channel_id": "8", "user_id": str(user), "guild_id": "9"}
    data["type"] = 0
    kind = "REACTION_ADD" if added else "REACTION_REMOVE"
    return discord.RawReactionActionEvent(data, discord.PartialEmoji(name=emoji), kind)


def test_the_reaction_gate_drops_repeats_and_replays_but_not_new_changes() -> None:
    gate = ReactionGate(("📌", "✋", "✅"))

    def admitted(user: int, emoji: str, added: bool, session: str, seq: int) -> str | None:
        reaction = gate.admit(raw_reaction(user, emoji, added), 1, Position(session, seq))
        return reaction.event_id if reaction else None

    assert admitted(5, "✋", True, "a", 10) == "gw:a:10"
    assert admitted(5, "✋", True, "a", 11) is None  # the same add again
    assert admitted(5, "✋🏽", False, "a", 12) == "gw:a:12"  # skin tones are the same emoji
    assert admitted(5, "✋", True, "a", 10) is None  # the first add replayed after the remove
    assert admitted(5, "✋", True, "b", 3) == "gw:b:3"  # a new add in a new session
    assert admitted(6, "✋", True, "b", 4) == "gw:b:4"  # someone else
    assert admitted(1, "✋", True, "b", 5) is None  # the bot itself
    assert admitted(6, "👍", True, "b", 6) is None  # not one of ours
