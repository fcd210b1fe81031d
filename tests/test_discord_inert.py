"""What people type is shown as text on Discord, never as markup (issue 11): a title full of
hostile markdown goes through every path the bot speaks by, against the fake Discord, and
comes out with no masked link, no broadcast mention and no formatting of its own; `inert`,
the one function that makes plain text safe markdown, is checked by a small reader of
Discord markdown written for these tests."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adapters.discord.embeds import card_embed
from adapters.discord.text import chunks, fit, inert
from bot.cards import Card, Person
from bot.grammar import MAX_TITLE
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    ID,
    TOKEN,
    USERS,
    Handled,
    as_admin,
    interact,
    menu,
    modal_submit,
    new_core,
    new_fake,
    press,
    react,
    run,
    running_bot,
    slash,
)
from tests.fakes.discord import FakeDiscord, RecordedCall, component_interaction, make_user
from tests.harness import START
from tests.test_discord_drives import open_form, posted
from tests.test_discord_reliability import fill_in
from tests.test_discord_reminders import dm_posts, fire_at, press_in_dm

# --- a reader of Discord markdown ----------------------------------------------------------

_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_PERSON_CHANNEL_EMOJI = re.compile(r"<@!?\d{1,20}>|<#\d{1,20}>|<a?:[A-Za-z0-9_]{2,32}:\d{1,20}>")
_TIMESTAMP = re.compile(r"<t:-?\d+(?::[tTdDfFR])?>")
_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>", re.IGNORECASE)
# How simple-markdown finds a bare link.
_BARE_LINK = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]", re.IGNORECASE)
_SHOWN_MENTION = re.compile(r"@\u200b(?=everyone|here|&)", re.IGNORECASE)
_BROADCAST = re.compile(r"@(everyone|here)", re.IGNORECASE)
# What makes a line a heading, subtext, list item or quote when it starts it.
_BLOCK = re.compile(r"#{1,3}\s|-#\s|[-*+]\s|\d+[.)]\s|>\s|>>>\s")
_INLINE = set("*_~`|[]")


@dataclass
class Reading:
    """What Discord would show for some markdown, and whatever in it would not show as
    typed: formatting, a link whose end is guessed, a broadcast mention."""

    shown: str = ""
    stray: list[str] = field(default_factory=list)
    bold: int = 0  # spans of the bot's own bold, when allowed


def _blank(c: str) -> bool:
    return c not in _BREAKS and (c.isspace() or unicodedata.category(c) in ("Cf", "Zs"))


def read(markdown: str, links: bool = True, ours: bool = False) -> Reading:
    """Read `markdown` as Discord would, where links are drawn (`links`) or not (embed
    titles). With `ours`, the bot's own formatting is allowed: `**bold**` and `<t:...>`."""
    reading = Reading()
    shown: list[str] = []
    i, line_start, in_bold = 0, True, False
    while i < len(markdown):
        c = markdown[i]
        if c in _BREAKS:
            shown.append(c)
            i, line_start = i + 1, True
            continue
        if line_start and _blank(c):
            shown.append(c)
            i += 1
            continue
        if line_start and _BLOCK.match(markdown + " ", i):
            reading.stray.append(f"a line starting {markdown[i : i + 4]!r}")
        line_start = False
        after = markdown[i + 1 : i + 2]
        # Discord (simple-markdown) takes a backslash before anything but a letter, a digit
        # or a space as an escape.
        if c == "\\" and after and not after.isalnum() and not after.isspace():
            shown.append(after)
            i += 2
            continue
        if kept := _PERSON_CHANNEL_EMOJI.match(markdown, i):
            shown.append(kept[0])
            i = kept.end()
            continue
        if ours and (when := _TIMESTAMP.match(markdown, i)):
            shown.append(when[0])
            i = when.end()
            continue
        if links and (link := _AUTOLINK.match(markdown, i)):
            shown.append(_SHOWN_MENTION.sub("@", link[1]))
            i = link.end()
            continue
        if links and (bare := _BARE_LINK.match(markdown, i)):
            reading.stray.append(f"a bare link {bare[0]!r}")
        if _SHOWN_MENTION.match(markdown, i):
            shown.append("@")
            i += 2
            continue
        if broadcast := _BROADCAST.match(markdown, i):
            reading.stray.append(f"a broadcast {broadcast[0]!r}")
        if c == "<" and after and not after.isspace():
            reading.stray.append(f"an angle bracket {markdown[i : i + 6]!r}")
        if ours and markdown.startswith("**", i):
            in_bold = not in_bold
            reading.bold += in_bold
            i += 2
            continue
        if c in _INLINE:
            reading.stray.append(f"markup {c!r} at {i}")
        shown.append(c)
        i += 1
    if in_bold:
        reading.stray.append("bold left open")
    reading.shown = "".join(shown)
    return reading


def unescaped(markdown: str) -> str:
    """`markdown` without its escaped characters: what is left is live markup."""
    return re.sub(r"\\[^0-9A-Za-z\s]", "", markdown)


MASKED_LINK = re.compile(r"\[[^\]]*\]\(\s*<?https?:", re.IGNORECASE)


def assert_inert(markdown: str, links: bool = True, ours: bool = True) -> Reading:
    """No masked link, no broadcast, nothing formatted but the bot's own: what it shows."""
    live = unescaped(markdown)
    assert not MASKED_LINK.search(live), markdown
    assert not re.search(r"@(everyone|here)|<@&", live, re.IGNORECASE), markdown
    reading = read(markdown, links, ours)
    assert reading.stray == [], markdown
    return reading


# --- inert, by the classes of its input ----------------------------------------------------


def test_inline_markup_is_escaped_and_shows_as_typed() -> None:
    for typed in ("**bold**", "*it*", "_it_", "__init__", "~~s~~", "`code`", "```py```", "||s||"):
        assert inert(typed) == "".join("\\" + c if c in "*_~`|" else c for c in typed)
        assert read(inert(typed)).shown == typed
    assert inert(r"a \ b \* c") == r"a \\ b \\\* c"  # a backslash typed shows as one


def test_a_masked_link_shows_its_url_and_is_no_label_over_it() -> None:
    typed = "See [Confirm payroll](https://evil.example/login)"
    assert inert(typed) == r"See \[Confirm payroll\](<https://evil.example/login>)"
    assert inert("[a](<https://e.x>)") == r"\[a\](\<<https://e.x>>)"
    assert read(inert(typed)).shown == typed
    # Where Discord draws no links (embed titles) the URL is text too.
    assert inert(typed, links=False) == r"See \[Confirm payroll\](https\://evil.example/login)"


def test_links_stay_whole_in_angle_brackets_without_the_punctuation_after_them() -> None:
    assert inert("https://ok.example/a_b_c") == "<https://ok.example/a_b_c>"
    assert inert("go to https://ok.example/x.") == "go to <https://ok.example/x>."
    assert inert("“https://ok.example/x”") == "“<https://ok.example/x>”"
    assert inert("(see https://ok.example/x)") == "(see <https://ok.example/x>)"
    wiki = "https://en.wikipedia.org/wiki/Heat_(1995_film)"
    assert inert(wiki) == f"<{wiki}>"
    assert inert("HTTPS://OK.EXAMPLE/A_B") == "<HTTPS://OK.EXAMPLE/A_B>"
    assert inert("https://ok.example/?q=*x*||y||") == "<https://ok.example/?q=*x*||y||>"
    assert inert("<https://ok.example>") == r"\<<https://ok.example>>"
    # A scheme with nothing after it is no link, and is kept from becoming one.
    assert inert("https://!!") == r"https\://!!"
    assert inert("https://ok.example/a_b", links=False) == r"https\://ok.example/a\_b"


def test_line_start_markers_are_escaped_only_at_the_start_of_a_line() -> None:
    assert inert("# h\n## h\n### h\n-# small") == "\\# h\n\\## h\n\\### h\n\\-# small"
    assert inert("> q\n>>> q\n>q") == "\\> q\n\\>>> q\n\\>q"
    assert inert("- a\n+ b\n* c\n1. d\n12) e") == "\\- a\n\\+ b\n\\* c\n1\\. d\n12\\) e"
    assert (
        inert("  - nested\n\t# tab\n\u200b> hidden") == "  \\- nested\n\t\\# tab\n\u200b\\> hidden"
    )
    assert inert("x\r# after a carriage return") == "x\r\\# after a carriage return"
    # Elsewhere they are text already.
    for typed in ("#1 Buy snacks", "a # b", "a - b", "x > y", "2.5 m", "-1", "#hashtag"):
        assert inert(typed) == typed


def test_people_channels_and_emoji_stay_mentions_but_nothing_broadcasts() -> None:
    kept = "<@456> <@!456> <#789> <:party_time:123> <a:wave:124>"
    assert inert(kept) == kept
    assert inert("@everyone @here @Everyone") == "@\u200beveryone @\u200bhere @\u200bEveryone"
    assert inert("<@&123>") == "\\<@\u200b&123>"
    assert inert("https://e.x/@everyone") == "<https://e.x/@\u200beveryone>"
    # Timestamps and command mentions typed by someone show as typed.
    assert inert("<t:0:R> </coop task:1>") == "\\<t:0:R> \\</coop task:1>"
    assert inert("a < b, 1 <2") == "a < b, 1 \\<2"
    assert inert("mail me: bob@example.org") == "mail me: bob@example.org"


def test_fit_cuts_between_whole_escapes_and_links() -> None:
    assert fit("*" * 10, 10) == "\\*\\*\\*\\*…"
    assert fit("*" * 10, 9) == "\\*\\*\\*\\*…"
    assert fit("ab https://ok.example/long", 12) == "ab …"
    assert fit("short", 10) == "short"
    for limit in range(1, 40):
        cut = fit("x_" * 30 + " <@&1> @here", limit)
        assert len(cut) <= limit and not re.search(r"(?<!\\)(\\\\)*\\…", cut)
        assert_inert(cut)


def test_chunks_are_each_inert_and_within_the_limit() -> None:
    text = "Summary:\n" + "\n".join(
        f"  #{i} **task** {i} — see [x](https://e.x/{i})" for i in range(60)
    )
    parts = chunks(text)
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert "\n".join(read(p).shown for p in parts) == text
    # A line cut in two: the second part starts a message, so its marker is escaped there.
    line = "a" * 19 + " - b"
    first, second = chunks(line, 20)
    assert (first, second) == ("a" * 19 + " ", "\\- b")
    assert read(first).shown + read(second).shown == line
    # A link longer than a message is shown as text, cut anywhere.
    url = "https://ok.example/" + "a_b" * 10
    parts = chunks(url, 20)
    assert all(len(p) <= 20 for p in parts)
    assert "".join(read(p).shown for p in parts) == url
    assert [read(p).stray for p in parts] == [[] for _ in parts]


TRICKY = (
    list("\\*_~`|[]()<>#-+.)1: \n\t\r@&/!?hH\u00a0\u2028\ufeff")
    + ["https://", "http://", "everyone", "here", "<@12>", "<@!12>", "<#3>", "<:ab:7>"]
    + ["<t:5:R>", "<@&9>", "||", "**", "```", "-# ", ">>> ", "1. ", "[a](", "https://e.x/a_b"]
)
texts = st.one_of(
    st.lists(st.one_of(st.sampled_from(TRICKY), st.characters()), max_size=40).map("".join),
    st.text(),
)


@given(texts, st.booleans())
def test_inert_text_reads_back_as_typed_with_no_formatting(text: str, links: bool) -> None:
    assume("@\u200b" not in text)
    reading = read(inert(text, links), links)
    assert reading.stray == []
    assert reading.shown == text


@given(texts, st.integers(min_value=8, max_value=60))
def test_fitted_and_chunked_text_stays_inert(text: str, limit: int) -> None:
    assume("@\u200b" not in text)
    cut = fit(text, limit)
    assert len(cut) <= limit and read(cut).stray == []
    for part in chunks(text, limit):
        assert len(part) <= limit and read(part).stray == []
    if not any(c in text for c in _BREAKS):
        shown = "".join(read(p).shown for p in chunks(text, limit))
        assert shown == text or (text == "" and shown == "\u200b")


def test_a_card_with_hostile_text_everywhere_stays_inert_and_within_discord_limits() -> None:
    # Ids that are no Discord ids (as from the console): the names themselves are shown.
    crowd = tuple(Person(f"u{i}", f"**p{i}** @here [x](https://e.x)") for i in range(300))
    card = Card(
        number=7,
        kind="task",
        title="*" * 200,
        creator=Person("alice", "__alice__ @everyone"),
        state="open",
        need=400,
        due_at=datetime(2026, 12, 24, 18, 0, tzinfo=UTC),
        committed=crowd,
        done=crowd,
        waitlist=crowd,
        buttons=(),
    )
    embed = card_embed(card)
    assert len(embed) <= 6000 and len(embed.title or "") <= 256
    title = assert_inert(embed.title or "", links=False)
    assert title.shown.startswith("#7 ***") and title.shown.endswith("…")
    assert_inert(embed.description or "")
    for f in embed.fields:
        assert len(f.value or "") <= 1024
        shown = assert_inert(f.value or "").shown
        assert shown.startswith("**p0** @here [x](https://e.x), **p1** @here") and "more" in shown


# --- every path the bot speaks by, end to end ------------------------------------------------

HOSTILE = (
    "See [Confirm payroll](https://evil.example/login) **bold** *it* __init__ ~~s~~ `code` "
    "||spoiler|| # heading > quote @everyone @here <@&123> <@456> https://ok.example/a_b_c"
)
UNIT = "**h** _x_ @here <@&1> [u](https://e.x)"
NAME = "*e*_r_ @here [n](https://e.x)"  # erin's display name: Discord allows 32 characters
WHEN = "[Confirm](https://evil.example) **b** @everyone <@&1>"
SEALED = "**x** @everyone [a](https://e.x)"
ERIN = make_user(ID["erin"], "erin", global_name=NAME)
CHANNEL_NAME = "__init__"  # Discord lets channel names have underscores

MESSAGE_PATHS = re.compile(
    r"/channels/\d+/messages(/\d+)?|/webhooks/\d+/[^/]+(/messages/[^/]+)?"
    r"|/interactions/\d+/[^/]+/callback"
)


@dataclass(frozen=True)
class Said:
    where: str
    text: str
    kind: str  # "links", "no links" or "raw" (see _drawn)


def hostile_fake() -> FakeDiscord:
    """The test guild, with erin's display name full of markup and a channel named in it."""
    users = {**USERS, "erin": ERIN}
    guild = {
        "guild_id": GUILD_ID,
        "name": "Meetup Crew",
        "channels": [{"id": CHANNEL_ID, "name": CHANNEL_NAME}],
        "members": list(users.values()),
        "owner_id": ID["alice"],
    }
    return FakeDiscord(guilds=[guild], token=TOKEN)


def by_erin(payload: dict[str, Any]) -> dict[str, Any]:
    payload["member"]["user"] = ERIN
    return payload


def _walk(value: Any, where: str) -> Iterator[Said]:
    """Each string in a request's body, and how Discord shows it."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{where}[{i}]")
    elif isinstance(value, str):
        yield Said(where, value, _drawn(where))


def _drawn(where: str) -> str:
    """Where Discord draws markdown, with links or without; elsewhere (labels, footers,
    modal titles, choices, ids) it shows text as it is."""
    key = where.rsplit(".", 1)[-1]
    in_embed, in_field = ".embeds[" in where, ".fields[" in where
    if key == "content" or (in_embed and key == "description") or (in_field and key == "value"):
        return "links"
    if in_embed and (key == "title" or (in_field and key == "name")):
        return "no links"
    return "raw"


def messages_sent(fake: FakeDiscord) -> list[RecordedCall]:
    """Every request that creates or edits a message, or answers an interaction."""
    return [
        c
        for c in fake.calls
        if c.method in ("POST", "PATCH")
        and MESSAGE_PATHS.fullmatch(c.path)
        and isinstance(c.json, dict)
    ]


def everything_said(fake: FakeDiscord) -> list[Said]:
    said: list[Said] = []
    for call in messages_sent(fake):
        said.extend(_walk(call.json, f"{call.method} {call.path}"))
    return said


def test_a_hostile_title_name_and_unit_stay_text_on_every_path(tmp_path: Path) -> None:
    due = START + timedelta(days=2)
    with hostile_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'coopbot.db'}", fake)
        handled = Handled(core)
        applied = 0
        asked: dict[str, dict[str, Any]] = {}

        async def take(name: str, payload: dict[str, Any]) -> None:
            nonlocal applied
            asked[name] = payload
            await interact(fake, payload)
            applied += 1
            await handled.wait(applied)

        async def scenario() -> None:
            nonlocal applied
            async with running_bot(core):
                # erin's task: its card, then joins, a leave, a reaction and a done edit it.
                await take(
                    "task", by_erin(slash("erin", "task", title=HOSTILE, need=5, due="in 2 days"))
                )
                card = await posted(fake, 1)
                await take("join", press("bob", "join", 1, card))
                await take("slash join", slash("carol", "join", id=1))
                await fake.dispatch_async(
                    "MESSAGE_REACTION_ADD", react("dave", int(card["id"]), "✋")
                )
                applied += 1
                await handled.wait(applied)
                await take("leave", press("bob", "leave", 1, card))
                await take("rejoin", press("bob", "join", 1, card))
                await take("done", slash("carol", "done", id=1))
                # What people can ask for, and errors that echo what was typed.
                await take("show", slash("frank", "show", id=1))
                await take("list", slash("frank", "list"))
                await take("mine", slash("bob", "mine"))
                await take("bad time", slash("alice", "task", title="Fix", due=WHEN))
                await take(
                    "remind", slash("alice", "remind", what=f'me "{HOSTILE}"', when="in 1 hour")
                )
                await take("digest", slash("carol", "digest", how="daily", at="9am"))
                suggest = slash("bob", "join", id=(3, "see"))
                suggest["type"] = 4  # autocomplete
                suggest["data"]["options"][0]["options"][0]["focused"] = True
                asked["suggest"] = suggest
                await interact(fake, suggest)

                # A message tracked as a task, then made a pledge drive in the hostile unit.
                message = fake.get_message(
                    CHANNEL_ID, fake.add_message(CHANNEL_ID, HOSTILE, ID["bob"])
                )
                assert message is not None
                await take("track", menu("frank", message))
                # The drive comes from another message with the same text.
                message = fake.get_message(
                    CHANNEL_ID, fake.add_message(CHANNEL_ID, HOSTILE, ID["bob"])
                )
                assert message is not None
                form = await open_form(fake, "alice", message)
                typo = {"Goal": "2", "Sign-up closes": "in 2 days", "Sealed? (yes or no)": SEALED}
                refused = modal_submit("alice", GUILD_ID, CHANNEL_ID, form, typo)
                asked["sealed"] = refused
                await interact(fake, refused)
                await fake.await_for(
                    "PATCH", rf"/webhooks/\d+/{refused['token']}/messages/@original"
                )
                form = await open_form(fake, "alice", message)
                terms = {
                    "Goal": "2",
                    "Sign-up closes": "in 2 days",
                    "Unit (leave empty to count people)": UNIT,
                }
                await take("drive", modal_submit("alice", GUILD_ID, CHANNEL_ID, form, terms))
                drive = await posted(fake, 3)
                await take("pledge", slash("bob", "join", id=3, amount=1))
                await take("tip", press("carol", "join", 3, drive))
                await posted(fake, 4)

                # A message the bot cannot read, pinned: tracked under the channel's name, and
                # the DM that asks for a title, whose form gives it the hostile one.
                unread = fake.add_message(CHANNEL_ID, "unreadable", ID["bob"])
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("alice", unread, "📌"))
                applied += 1
                await handled.wait(applied)
                await posted(fake, 5)
                [prompt] = fake.messages(fake.dm_channel_id(ID["alice"]) or 0)
                [button] = prompt["components"][0]["components"]
                opener = component_interaction(
                    None, int(prompt["channel_id"]), USERS["alice"], button["custom_id"], prompt
                )
                asked["rename"] = await fill_in(fake, opener, "alice", None, HOSTILE)
                applied += 1
                await handled.wait(applied)

                # What falls due: the reminder, the digests, the nudge, the task's reminder,
                # its due time and the check-in, answered from the DM; the drive's check-in.
                for when in (
                    START + timedelta(hours=1),
                    datetime(2026, 11, 28, 9, tzinfo=UTC),
                    START + timedelta(days=1),
                    due - timedelta(hours=1),
                    due,
                    due + timedelta(hours=2),
                ):
                    await fire_at(core, when)
                checkin = dm_posts(fake, "bob")[-1]
                assert "happen?" in checkin.json["content"]
                await take(
                    "checkin",
                    press_in_dm(
                        fake, "bob", f"coop:checkin_done:{GUILD_ID}:1", checkin.response["id"]
                    ),
                )
                await fire_at(core, START + timedelta(days=3))
                # erin cancels her task: everyone in hears it, by name.
                await take("cancel", as_admin(by_erin(slash("erin", "cancel", id=1))))
                await core.idle()

        run(scenario, timeout=90)

        said = everything_said(fake)
        shown: list[tuple[Said, str]] = []
        for s in said:
            if s.kind == "raw":
                assert "\\" not in s.text, s  # Discord would show the backslashes
                continue
            reading = assert_inert(s.text, links=s.kind == "links")
            shown.append((s, reading.shown))
        showing = [s for s, text in shown if HOSTILE in text]

        # Every request that says something forbids every ping.
        for call in messages_sent(fake):
            if "/interactions/" in call.path:
                continue  # acknowledgements and modals: nothing that could mention anyone
            mentions = call.json.get("allowed_mentions")
            assert mentions is not None and mentions["parse"] == [], call
            assert not mentions.get("roles") and not mentions.get("users"), call

        # The titles of the task, the tracked message's task, the drive and its task.
        titles = [text for s, text in shown if s.where.endswith(".title")]
        for number in (1, 2, 3, 4, 5):
            assert f"#{number} {HOSTILE}" in titles
        assert f"#5 Task from a message in #{CHANNEL_NAME}" in titles
        # The hostile title reached each path that speaks of it, whole.
        missing = [
            name
            for name in ("slash join", "done", "show", "list", "mine", "remind", "tip", "rename")
            if not any(asked[name]["token"] in s.where for s in showing)
        ]
        assert missing == []
        contents = [text for s, text in shown if s.where.endswith(".content")]
        assert any(t.startswith("Reminder: ") and HOSTILE in t for t in contents)  # remind me
        assert any(t.startswith("Summary: ") and HOSTILE in t for t in contents)  # the digest
        assert any("still needs" in t and HOSTILE in t for t in contents)  # the nudge
        assert any("is due in 1 h" in t and HOSTILE in t for t in contents)  # the task's reminder
        assert any("happen?" in t and HOSTILE in t for t in contents)  # the check-in
        assert any("tipped" in t and HOSTILE in t for t in contents)  # announcement and DMs
        assert any("Did you do it?" in t and HOSTILE in t for t in contents)  # the drive's
        assert any("cancelled by " + NAME in t for t in contents)  # erin, by her name
        assert any(f"I'm tracking https://discord.com/channels/{GUILD_ID}/" in t for t in contents)
        assert any(f"called “Task from a message in #{CHANNEL_NAME}”" in t for t in contents)
        # The unit on the drive's card, inside the bot's bold; the errors that echo input.
        descriptions = [t for s, t in shown if s.where.endswith(".description")]
        assert any(f"1 of 2 {UNIT}" in t or f"2 of 2 {UNIT}" in t for t in descriptions)
        assert any(WHEN in t for s, t in shown if asked["bad time"]["token"] in s.where)
        assert any(SEALED[:20] in t for s, t in shown if asked["sealed"]["token"] in s.where)
        # Autocomplete shows the title as it is (choices draw no markdown), cut to 100.
        suggest = asked["suggest"]
        [suggested] = fake.calls_to("POST", rf"/interactions/{suggest['id']}/[^/]+/callback")
        names = [c["name"] for c in suggested.json["data"]["choices"]]
        assert f"#1 {HOSTILE}"[:99] + "…" in names
        assert all(c.status < 400 for c in messages_sent(fake))
        assert fake.errors == []


def test_a_title_that_escaping_doubles_is_cut_to_fit_the_embed(tmp_path: Path) -> None:
    stars = "*" * MAX_TITLE
    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'coopbot.db'}", fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core) as bot:
                await interact(fake, slash("alice", "task", title=stars))
                await handled.wait(1)
                # The fake refuses what Discord refuses.
                channel = bot.get_partial_messageable(CHANNEL_ID)
                with pytest.raises(discord.HTTPException) as refused:
                    await channel.send(embed=discord.Embed(title="x" * 257))
                assert refused.value.status == 400

        run(scenario)
        [card] = [
            c for c in fake.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages") if c.status == 200
        ]
        title = card.json["embeds"][0]["title"]
        assert len(title) <= 256
        assert title == "#1 " + "\\*" * 126 + "…"
        assert read(title, links=False).shown == "#1 " + "*" * 126 + "…"
