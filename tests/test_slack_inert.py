"""What people type stays text on Slack: `text.inert` from the classes of input, and a title
full of hostile markup walked through every message, edit, private answer, Home tab and form
the bot sends, checked in what the fake Slack received."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from adapters.slack.blocks import card_blocks, card_fallback, drive_form, home_view
from adapters.slack.payloads import unescape
from adapters.slack.text import ZWSP, inert
from bot.cards import Button, Card, Person
from bot.ports import Delivery
from bot.refs import ChannelRef, MemberRef, MessageRef
from tests.fakes.slack import Call, FakeSlack, message_shortcut_payload
from tests.harness import START
from tests.slack_support import (
    TEAM,
    Rig,
    add_people,
    advance,
    advance_to,
    chat_on,
    make_core,
    of,
    press,
    say,
    started,
)

MARKS = "*_~`"
# What may stay markup: people, channels, links that show their own address, and the dates
# the bot writes itself.
ALLOWED = re.compile(
    r"<@[A-Z0-9]+>|<#[A-Z0-9]+>|<(?:https?://|mailto:)[^\s<>|]+>"
    r"|<!date\^\d+\^[^<>|]*\|[^<>|]*>"
)


def decoded(shown: str) -> str:
    """What Slack shows for mrkdwn `shown`: links as their address, escapes undone, the
    invisible U+200B gone."""
    text = re.sub(r"<((?:https?://|mailto:)[^\s<>|]+)>", r"\1", shown).replace(ZWSP, "")
    return re.sub(r"&(lt|gt|amp);", lambda m: {"lt": "<", "gt": ">", "amp": "&"}[m[1]], text)


def unsafe(shown: str) -> list[str]:
    """How mrkdwn `shown` could do more than show text: markup beyond the allowed, a masked
    link, a broadcast, a loose `&`, a formatting mark or quote people could have typed."""
    found = []
    rest = ALLOWED.sub("", shown)
    if "<" in rest or ">" in rest:
        found.append("markup")
    if re.search(r"<(?:https?:|mailto:)[^<>]*\|", shown):
        found.append("masked link")
    if re.search(r"<!(?!date\^)|@(?:here|channel|everyone)\b", shown):
        found.append("broadcast")
    if re.search(r"&(?!(?:amp|lt|gt);)", rest):
        found.append("loose &")
    for mark in MARKS:
        if mark in rest.replace(f"{ZWSP}{mark}{ZWSP}", ""):
            found.append(f"formatting {mark}")
    if re.search(r"(?m)^[ \t]*&gt;", shown):
        found.append("quote")
    return found


# --- inert, from the classes of input -------------------------------------------------------


def test_plain_words_are_kept_as_they_are() -> None:
    for text in ("Fix the tap", "Grüße, 東京 🎉 #3 R7 — 50% (maybe)", "", "a\nb"):
        assert inert(text) == text


def test_slacks_three_characters_are_escaped_and_entities_typed_stay_visible() -> None:
    assert inert("Q&A <prep> a>b") == "Q&amp;A &lt;prep&gt; a&gt;b"
    assert inert("&amp; &lt;") == "&amp;amp; &amp;lt;"


def test_people_and_channels_stay_mentions_without_their_spoofable_names() -> None:
    assert inert("<@U1> <@U2|bob> <@W3|The Boss>") == "<@U1> <@U2> <@W3>"
    assert inert("<#C2|general> <#G3>") == "<#C2> <#G3>"
    # Not how Slack writes an id: text.
    assert inert("<@u1> <@> <#c-2|x>") == "&lt;@u1&gt; &lt;@&gt; &lt;#c-2|x&gt;"


@pytest.mark.parametrize(
    "broadcast", ["<!here>", "<!channel>", "<!everyone>", "<!subteam^S1|@team>", "<!here|here>"]
)
def test_broadcasts_are_text_that_notifies_nobody(broadcast: str) -> None:
    shown = inert(f"hey {broadcast}")
    assert shown == "hey " + broadcast.replace("<", "&lt;").replace(">", "&gt;")
    assert unsafe(shown) == []


def test_broadcast_words_cannot_be_linked_either() -> None:
    assert inert("@here @channel @everyone") == f"@{ZWSP}here @{ZWSP}channel @{ZWSP}everyone"
    assert inert("@hereford bob@everyone.org") == f"@hereford bob@{ZWSP}everyone.org"


def test_a_link_shows_its_address_and_never_hides_it_behind_a_label() -> None:
    assert inert("<https://x.org/a_b>") == "<https://x.org/a_b>"
    assert inert("See <https://evil.example/login|Confirm_payroll>") == (
        f"See <https://evil.example/login> (Confirm{ZWSP}_{ZWSP}payroll)"
    )
    assert inert("<mailto:x@evil.example|HR>") == "<mailto:x@evil.example> (HR)"
    # Slack writes addresses it linked itself with the address as the label: no label to show.
    assert inert("<mailto:a@b.org|a@b.org> <http://b.org|b.org>") == (
        "<mailto:a@b.org> <http://b.org>"
    )
    # A label that looks like another address shows beside the real one.
    assert inert("<https://evil.example|https://bank.example>") == (
        "<https://evil.example> (<https://bank.example>)"
    )
    assert inert("<https://x.org/?a=1&b=2|x>") == "<https://x.org/?a=1&amp;b=2> (x)"


def test_other_schemes_are_text() -> None:
    assert inert("<javascript:alert(1)|click> <slack://open|x>") == (
        "&lt;javascript:alert(1)|click&gt; &lt;slack://open|x&gt;"
    )


def test_a_bare_address_is_linked_whole_and_its_marks_left_alone() -> None:
    assert inert("read https://x.org/a_b*c~d.") == "read <https://x.org/a_b*c~d>."
    assert inert("(https://x.org/)") == "(<https://x.org/>)"
    assert inert("*https://x.org*") == f"{ZWSP}*{ZWSP}<https://x.org>{ZWSP}*{ZWSP}"


@pytest.mark.parametrize("mark", list(MARKS))
def test_formatting_marks_cannot_open_or_close_formatting(mark: str) -> None:
    assert inert(f"{mark}x{mark} a{mark}b") == (
        f"{ZWSP}{mark}{ZWSP}x{ZWSP}{mark}{ZWSP} a{ZWSP}{mark}{ZWSP}b"
    )


def test_a_quote_mark_only_matters_at_the_start_of_a_line() -> None:
    assert inert("> one\n  > two\n3 > 2") == f"{ZWSP}&gt; one\n  {ZWSP}&gt; two\n3 &gt; 2"


def test_dates_and_other_slack_commands_typed_by_people_are_text() -> None:
    assert inert("<!date^1^{date}|x>") == "&lt;!date^1^{date}|x&gt;"


def test_text_is_cut_to_its_limit_between_escapes() -> None:
    assert len(inert("x" * 5000, 100)) == 100
    assert inert("ab&&&", 8) == "ab&amp;…"
    assert inert("a <https://x.org/long> b", 10) == "a …"
    assert inert("short", 10) == "short"


# Text made of the pieces that matter to Slack, and of anything at all.
PIECES = st.sampled_from(
    [
        *"ab 1\n\t*_~`<>&|@#!:/.()",
        "\u200b",
        "https://",
        "mailto:",
        "here",
        "channel",
        "<@U1>",
        "<@U2|x>",
        "<#C3|y>",
        "<!here>",
        "&amp;",
        "<!date^1^{t}|z>",
    ]
)
SLACKY = st.lists(PIECES, max_size=40).map("".join)
ANY_TEXT = st.one_of(SLACKY, st.text(max_size=80))


@hypothesis_settings(max_examples=300, deadline=None)
@given(ANY_TEXT, st.one_of(st.none(), st.integers(1, 60)))
def test_any_text_comes_out_inert_and_within_its_limit(text: str, limit: int | None) -> None:
    shown = inert(text, limit)
    assert unsafe(shown) == []
    if limit is not None:
        assert len(shown) <= limit


@hypothesis_settings(max_examples=300, deadline=None)
@given(ANY_TEXT.filter(lambda t: "<" not in t and ZWSP not in t))
def test_text_without_slack_markup_shows_exactly_as_written(text: str) -> None:
    assert decoded(inert(text)) == text


# --- the bot's own formatting around it ----------------------------------------------------


def card(title: str, state: str = "open", **kw: Any) -> Card:
    fields: dict[str, Any] = {
        "number": 3,
        "kind": "task",
        "title": title,
        "creator": Person("UA", "alice"),
        "state": state,
        "need": 2,
        "due_at": None,
        "committed": (Person("UB", "bob"),),
        "done": (),
        "waitlist": (),
        "buttons": (Button("join", "Join *now*", 3),),
    }
    return Card(**(fields | kw))


TITLE_LINE = re.compile(
    r"\*#(?P<number>\d+) (?P<strike>~?)(?P<title>.*?)(?P=strike)\*"
    r"(?:  _\((?:completed|cancelled|tipped|failed)\)_)?"
)


def title_of(line: str) -> str:
    """The title in a card's bold title line, checked to be well formed: the bot's marks
    open and close it, and none inside can (each is between two U+200B)."""
    match = TITLE_LINE.fullmatch(line)
    assert match is not None, line
    title = match["title"]
    assert title == title.strip() and not re.match(rf"[{MARKS}]", title[:1])
    assert unsafe(title) == [], title
    return title


@pytest.mark.parametrize("state", ["open", "closed", "cancelled"])
@pytest.mark.parametrize("title", ["*x*", "_(a)_ ~b~", "`c` * _", "a* b_ ~c"])
def test_marks_at_either_end_of_a_title_leave_its_bold_line_whole(title: str, state: str) -> None:
    line = card_blocks(card(title, state))[0]["text"]["text"].splitlines()[0]
    assert decoded(title_of(line)) == title


# Formatting the bot adds itself, besides a card's bold title line.
BOTS_OWN = re.compile(r"\*(?:In|Done|Waitlist):\*|⚠️ \*Overdue\*")


def people_text(shown: str) -> str:
    """mrkdwn the bot sent without the formatting it adds itself (a card's title line is
    checked to be well formed on the way), leaving what came from people and the core."""
    first, *rest = shown.split("\n")
    if first.startswith("*#"):
        first = title_of(first)
    return BOTS_OWN.sub("", "\n".join([first, *rest]))


def plain_texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get("type") == "plain_text":
            yield str(value["text"])
        for inner in value.values():
            yield from plain_texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from plain_texts(inner)


def test_plain_text_objects_show_their_text_as_it_is() -> None:
    blocks = card_blocks(card("*x*"))
    assert list(plain_texts(blocks)) == ["Join *now*"]
    form = drive_form(MessageRef(ChannelRef(TEAM, "C1"), "1.2"), "*x* <!here>")
    assert all(ZWSP not in t and "&" not in t for t in plain_texts(form))
    assert all(ZWSP not in t for t in plain_texts(home_view([card("*x*")], "UB")))
    long = replace(card("t"), buttons=(Button("join", "L" * 100, 3),))
    assert [len(t) for t in plain_texts(card_blocks(long))] == [75]


def test_the_fallback_text_of_a_card_is_inert_too() -> None:
    assert card_fallback(card("<!here> *x*")) == (
        f"#3 &lt;!here&gt; {ZWSP}*{ZWSP}x{ZWSP}*{ZWSP} — 1/2 in"
    )


# --- a hostile title through every path out -------------------------------------------------

# What someone types, as Slack sends a slash command: what they typed literally with <, > and
# & escaped; a broadcast, a person and a link they picked as Slack's markup.
TYPED = (
    "See &lt;https://evil.example/login|Confirm_payroll&gt; &lt;mailto:x@evil.example|HR&gt; "
    "*bold* _it_ ~s~ `code` &gt; q &lt;!here&gt; <!channel> &lt;!subteam^S1|@team&gt; "
    "@everyone <@UB|Fake Name> &amp;amp; <https://d.example/a_b>"
)
# How Slack shows it when the bot sends it back: the link's address beside its label, the
# person mentioned without the name they were given, nothing else but text.
SHOWN = (
    "See https://evil.example/login (Confirm_payroll) mailto:x@evil.example (HR) "
    "*bold* _it_ ~s~ `code` > q <!here> <!channel> <!subteam^S1|@team> "
    "@everyone <@UB> &amp; https://d.example/a_b"
)
# A deadline typed in a form, which Slack sends as it was typed.
FORM_TYPED = "*soon* <!here> <https://evil.example|x>"
FORM_SHOWN = "*soon* <!here> https://evil.example (x)"
# A drive's unit, as a slash command sends it.
UNIT = "&lt;!here&gt; *h*"
# A name Slack gives one of the people.
NAME = "*Erin* _the_ @channel"
SHOWN_METHODS = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "response_url",
    "views.publish",
    "views.open",
)


def mrkdwn_texts(value: Any) -> Iterator[str]:
    """Every mrkdwn text object in blocks or a view, however deep."""
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield str(value["text"])
        for inner in value.values():
            yield from mrkdwn_texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from mrkdwn_texts(inner)


def shown_texts(call: Call) -> list[str]:
    """Everything a call shows people as mrkdwn: its text, and its blocks' or view's."""
    texts = [str(call.params["text"])] if call.params.get("text") else []
    for field in ("blocks", "view"):
        texts += mrkdwn_texts(call.json_field(field))
    return texts


MESSAGE_TS = "1710000000.000100"
FORM_TS = "1710000000.000200"
# Every path out the walk takes; those marked with a card draw the title as a bold line.
PATHS = {
    "card": "card",
    "card, joined by command": "card",
    "card, joined by button": "card",
    "card, left by button": "card",
    "card, done": "card",
    "show": "",
    "list": "",
    "mine": "",
    "App Home": "card",
    "reminder made": "",
    "reminder DM": "",
    "task reminder DM": "",
    "short-staffed nudge": "",
    "digest": "",
    "card, overdue": "card",
    "check-in DM": "",
    "card, done from the check-in": "card",
    "check-in answered": "",
    "card, completed": "card",
    "an error quoting it": "",
    "card, cancelled": "card",
    "cancelled DM": "",
    "cancelled by": "",
    "reminder from someone": "",
    "answer by response_url": "",
    "drive card": "card",
    "drive card's unit": "",
    "drive card, pledged": "card",
    "drive card, tipped": "card",
    "tip announcement": "",
    "tip DM": "",
    "task card from the tip": "card",
    "tipping pledge answered": "",
    "drive check-in DM": "",
    "drive card, did it": "card",
    "card of a tracked message": "card",
    "drive form": "",
    "an error quoting the form": "",
    "drive card from the form": "card",
}


class Walk:
    """The paths out a scenario went through: the calls each made, and what they show."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.paths: dict[str, tuple[list[Call], str]] = {}

    def saw(
        self,
        path: str,
        calls: list[Call],
        method: str,
        channel: str | None = None,
        shown: str = SHOWN,
    ) -> Call:
        """The calls to `method` (in `channel`) among `calls`, as path `path`; the first."""
        found = [c for c in of(calls, method, channel) if c.status == 200]
        assert found, path
        self.paths[path] = (found, shown)
        return found[0]

    def answer(self, path: str, calls: list[Call], user: str, shown: str = SHOWN) -> Call:
        """The private answer `user` was given among `calls`, as path `path`."""
        found = [c for c in of(calls, "chat.postEphemeral") if c.params["user"] == user]
        assert len(found) == 1, (path, [c.params.get("text") for c in found])
        self.paths[path] = (found, shown)
        return found[0]

    async def since(self, before: int) -> list[Call]:
        """The calls made since there were `before`, once what was sent is applied."""
        await self.rig.idle()
        return self.rig.slack.calls[before:]


async def walk_a_task(w: Walk) -> None:
    """A task's card and its edits, the answers about it, the Home tab, a reminder, the
    task's reminder, nudge and check-in, the digest, and an error quoting it once closed."""
    rig = w.rig
    said = await say(rig, "UA", f'task "{TYPED}" need:3 due:"in 26 hours"')
    card = w.saw("card", said, "chat.postMessage")
    w.saw("card, joined by command", await say(rig, "UB", "join #1"), "chat.update")
    w.saw("card, joined by button", await press(rig, "UC", card, "join", 1), "chat.update")
    w.saw("card, left by button", await press(rig, "UC", card, "leave", 1), "chat.update")
    await say(rig, "UD", "join #1")
    w.saw("card, done", await say(rig, "UD", "done #1"), "chat.update")
    for ask in ("show #1", "list", "mine"):
        w.answer(ask.split()[0], await say(rig, "UB", ask), "UB")
    before = len(rig.slack.calls)
    await rig.send.home_opened("UB")
    w.saw("App Home", await w.since(before), "views.publish")

    w.answer("reminder made", await say(rig, "UA", f'remind me "{TYPED}" when:"in 1 hour"'), "UA")
    w.saw("reminder DM", await advance(rig, timedelta(hours=1)), "chat.postMessage", "DUA")
    day_before = await advance(rig, timedelta(hours=1))
    w.saw("task reminder DM", day_before, "chat.postMessage", "DUB")
    w.saw("short-staffed nudge", day_before, "chat.postMessage", "C1")
    await say(rig, "UA", 'digest daily at:"9am"')
    nine = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    w.saw("digest", await advance_to(rig, nine), "chat.postMessage", "C1")
    due = START + timedelta(hours=26)
    w.saw("card, overdue", await advance_to(rig, due), "chat.update")
    later = await advance_to(rig, due + timedelta(hours=2))
    asked = w.saw("check-in DM", later, "chat.postMessage", "DUB")
    pressed = await press(rig, "UB", asked, "checkin_done", 1)
    w.saw("card, done from the check-in", pressed, "chat.update")
    w.answer("check-in answered", pressed, "UB")
    w.saw("card, completed", await say(rig, "UA", "close #1"), "chat.update")
    w.answer("an error quoting it", await say(rig, "UE", "join #1"), "UE")


async def walk_a_hostile_name(w: Walk) -> None:
    """Someone whose Slack name is hostile cancels a task (its card struck out, a DM says who
    cancelled it) and reminds someone else; a private answer through the response_url."""
    rig = w.rig
    await say(rig, "UE", f'task "{TYPED}"')
    number = max(rig.actions())
    await say(rig, "UB", f"join #{number}")
    cancelled = await say(rig, "UE", f"cancel #{number}")
    struck = w.saw("card, cancelled", cancelled, "chat.update")
    assert struck.json_field("blocks")[0]["text"]["text"].startswith(f"*#{number} ~See ")
    w.saw("cancelled DM", cancelled, "chat.postMessage", "DUB")
    w.saw("cancelled by", cancelled, "chat.postMessage", "DUB", shown=f"cancelled by {NAME}.")
    await say(rig, "UE", 'remind <@UB|bob> "Stretch *now*" when:"in 1 hour"')
    reminded = await advance(rig, timedelta(hours=1))
    from_erin = f"Reminder (from {NAME}): Stretch *now*"
    w.saw("reminder from someone", reminded, "chat.postMessage", "DUB", from_erin)
    rig.slack.fail_next("chat.postEphemeral", "not_in_channel")
    w.saw("answer by response_url", await say(rig, "UB", f"show #{number}"), "response_url")


async def walk_a_drive(w: Walk) -> None:
    """A pledge drive with a hostile unit: its card, a pledge, the tip's announcement, DMs
    and task card, and the check-in after it."""
    rig = w.rig
    said = await say(rig, "UA", f'pledge "{TYPED}" goal:2 deadline:"in 2 days" unit:"{UNIT}"')
    number = max(rig.actions())
    card = w.saw("drive card", said, "chat.postMessage", "C1")
    w.saw("drive card's unit", said, "chat.postMessage", "C1", "0 of 2 <!here> *h*")
    w.saw("drive card, pledged", await press(rig, "UB", card, "join", number), "chat.update")
    tipping = await say(rig, "UC", f"join #{number}")
    w.saw("drive card, tipped", tipping, "chat.update")
    posts = [c for c in tipping if not c.params.get("blocks")]
    w.saw("tip announcement", posts, "chat.postMessage", "C1")
    w.saw("tip DM", tipping, "chat.postMessage", "DUB")
    cards = [c for c in tipping if c.params.get("blocks")]
    w.saw("task card from the tip", cards, "chat.postMessage", "C1")
    w.answer("tipping pledge answered", tipping, "UC")
    after = rig.core.coop.prefs.drive_checkin_after
    assert after is not None
    asked = w.saw("drive check-in DM", await advance(rig, after), "chat.postMessage", "DUB")
    did = await press(rig, "UB", asked, "pledge_did", number)
    w.saw("drive card, did it", did, "chat.update")


async def walk_a_message(w: Walk) -> None:
    """Messages with the hostile text: one tracked with a reaction, one made a pledge drive
    with the shortcut's form (its preview, an error quoting what was typed, the drive)."""
    rig = w.rig
    rig.slack.add_message("C1", MESSAGE_TS, TYPED, "UC")
    before = len(rig.slack.calls)
    await rig.send.react("UD", "pushpin", "C1", MESSAGE_TS)
    w.saw("card of a tracked message", await w.since(before), "chat.postMessage", "C1")

    rig.slack.add_message("C1", FORM_TS, TYPED, "UC")

    async def submitted(deadline: str) -> list[Call]:
        before = len(rig.slack.calls)
        shortcut = message_shortcut_payload("coop_pledge_drive", "UB", "C1", FORM_TS, TYPED, "UC")
        await rig.send.send("interactive", shortcut)
        opened = w.saw("drive form", await w.since(before), "views.open")
        before = len(rig.slack.calls)
        await rig.send.submit("UB", opened.response["view"], {"goal": "2", "deadline": deadline})
        return await w.since(before)

    w.answer("an error quoting the form", await submitted(FORM_TYPED), "UB", FORM_SHOWN)
    posted = await submitted("in 3 days")
    w.saw("drive card from the form", posted, "chat.postMessage", "C1")


def test_a_hostile_title_is_only_text_in_everything_the_bot_sends(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        slack.set_user("UE", name=NAME, real_name="Erin")
        core = make_core(tmp_path, slack)
        walked: dict[str, tuple[list[Call], str]] = {}

        async def scenario() -> None:
            async with started(slack, core) as rig:
                w = Walk(rig)
                for walk in (walk_a_task, walk_a_hostile_name, walk_a_drive, walk_a_message):
                    await walk(w)
                walked.update(w.paths)

        asyncio.run(scenario())
        sent = [c for c in slack.calls if c.method in SHOWN_METHODS and c.status == 200]

    assert set(walked) == set(PATHS)
    assert {c.method for c in sent} == set(SHOWN_METHODS)
    # Nothing anything sent can link behind a label, broadcast, or format what people typed.
    for call in sent:
        for text in shown_texts(call):
            assert unsafe(people_text(text)) == [], (call.method, text)
        plain = list(plain_texts([call.json_field("blocks"), call.json_field("view")]))
        assert all(ZWSP not in t and "&" not in t for t in plain), plain
    # And each path shows all of it, as text; cards in their bold title line.
    for path, (calls, expected) in walked.items():
        shown = [text for call in calls for text in shown_texts(call)]
        assert any(expected in decoded(text) for text in shown), (path, shown)
        if PATHS[path] == "card":
            titles = [title_of(t.split("\n")[0]) for t in shown if t.startswith("*#")]
            assert titles and all(decoded(t) == SHOWN for t in titles), (path, shown)


def first_try(key: str) -> Delivery:
    return Delivery(key, recheck=False, first_attempt_at=datetime.now(UTC))


def test_the_ports_other_ways_out_are_inert_too() -> None:
    """Asking for a title by DM, and a private answer that falls back to a DM."""
    title = unescape(TYPED)  # as the core has it
    alice, general = MemberRef(TEAM, "UA", "alice"), ChannelRef(TEAM, "C1")
    with FakeSlack() as slack:
        add_people(slack)
        slack.fail_next("chat.postEphemeral", "not_in_channel")

        async def scenario() -> None:
            async with chat_on(slack) as chat:
                message = MessageRef(general, MESSAGE_TS)
                await chat.ask_for_title(first_try("ask"), alice, message, 2, title)
                await chat.reply_private(first_try("reply"), alice, general, title, None, True)

        asyncio.run(scenario())
        asked, answered = slack.calls_to("chat.postMessage")
    for call in (asked, answered):
        assert call.params["channel"] == "DUA"
        (text,) = shown_texts(call)
        assert unsafe(text) == [] and SHOWN in decoded(text)
