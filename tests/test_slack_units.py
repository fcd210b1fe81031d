"""The Slack adapter's pieces on their own: Block Kit limits, text safety, errors, modes, and
the pledge drive card and form."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    ACTIONS_LIMIT,
    BUTTON_LABEL_LIMIT,
    MESSAGE_BLOCK_LIMIT,
    PRIVATE_METADATA_LIMIT,
    SECTION_TEXT_LIMIT,
    VIEW_BLOCK_LIMIT,
    card_blocks,
    card_fallback,
    dm_blocks,
    drive_form,
    due_text,
    home_view,
)
from adapters.slack.chat import delivery_error
from adapters.slack.directory import Workspace
from adapters.slack.modes import plan
from adapters.slack.payloads import drive_form_event, reaction_name
from adapters.slack.workspaces import Workspaces
from bot.cards import Button, Card, DriveView, Person
from bot.config import ConfigError, Secrets, SlackSettings
from bot.drives import MAX_UNIT
from bot.events import DriveRequested
from bot.ports import RateLimited, Refused, Unavailable
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef
from tests.fakes.slack import FakeSlack, view_submission_payload
from tests.slack_support import TEAM, add_people, make_core, started


def card(number: int = 1, *, people: int = 0, title: str = "Fix the tap", **kw: Any) -> Card:
    crowd = tuple(Person(f"U{i:08d}", f"person {i}") for i in range(people))
    fields: dict[str, Any] = {
        "number": number,
        "kind": "task",
        "title": title,
        "creator": Person("UA", "alice"),
        "state": "open",
        "need": None,
        "due_at": None,
        "committed": crowd,
        "done": crowd,
        "waitlist": crowd,
        "buttons": (Button("join", "Join", number),),
    }
    return Card(**(fields | kw))


def test_a_crowded_card_stays_within_slacks_limits() -> None:
    blocks = card_blocks(card(people=600, title="T" * 200, need=5))
    assert len(blocks) <= MESSAGE_BLOCK_LIMIT
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert all(len(s) <= SECTION_TEXT_LIMIT for s in sections)
    people = sections[1]
    assert "*In:* <@U00000000>, <@U00000001>" in people and "and 5" in people
    assert people.count("more") == 3  # in, done and waitlist each say how many are left out
    assert people.splitlines()[0] == "▰▰▰▰▰▰▰▰▰▰ 1200/5 in"


def test_a_dm_with_buttons_stays_within_slacks_limits() -> None:
    many = tuple(Button("snooze_1h", "L" * 100, n) for n in range(30))
    section, actions = dm_blocks("x" * 5000, many)
    assert len(section["text"]["text"]) == SECTION_TEXT_LIMIT
    assert len(actions["elements"]) == ACTIONS_LIMIT
    assert {len(e["text"]["text"]) for e in actions["elements"]} == {BUTTON_LABEL_LIMIT}
    assert [e["value"] for e in actions["elements"]] == [str(n) for n in range(ACTIONS_LIMIT)]


def test_due_times_render_in_each_readers_zone() -> None:
    when = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    assert due_text(when) == (
        "<!date^1796403600^{date_short_pretty} at {time}|Fri 04 Dec 2026 17:00 UTC>"
    )
    assert due_text(when) in card_blocks(card(due_at=when))[0]["text"]["text"]


def test_an_overdue_card_says_so_where_it_shows_the_due_time() -> None:
    when = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    late = card(due_at=when, overdue=True, need=3)
    about = card_blocks(late)[0]["text"]["text"].splitlines()[1]
    assert about == f"Created by <@UA> · ⚠️ *Overdue* — was due {due_text(when)}"
    assert card_fallback(late) == "#1 Fix the tap — 0/3 in (overdue)"
    home = home_view([late], "UA")["blocks"][1]["text"]["text"]
    assert f"⚠️ *Overdue* — was due {due_text(when)}" in home
    on_time = card(due_at=when, need=3)
    assert card_blocks(on_time)[0]["text"]["text"].endswith(f" · due {due_text(when)}")
    assert card_fallback(on_time) == "#1 Fix the tap — 0/3 in"
    assert "Overdue" not in str(card_blocks(on_time)) + str(home_view([on_time], "UA"))


def test_the_home_tab_stays_within_the_view_limit() -> None:
    view = home_view([card(n) for n in range(1, 151)], "UA")
    assert len(view["blocks"]) <= VIEW_BLOCK_LIMIT
    assert "…and 52 more" in view["blocks"][-1]["elements"][0]["text"]
    empty = home_view([], "UA")["blocks"]
    assert "no open commitments" in empty[1]["text"]["text"]


@pytest.mark.parametrize(
    ("raw", "name"),
    [("raised_hand::skin-tone-3", "raised_hand"), ("pushpin", "pushpin"), ("+1", "+1")],
)
def test_skin_tones_are_dropped_from_reaction_names(raw: str, name: str) -> None:
    assert reaction_name(raw) == name


class Limited(SlackApiError):
    """A 429 as slack_sdk raises it."""

    def __init__(self, retry_after: str) -> None:
        response = type(
            "R",
            (),
            {"status_code": 429, "headers": {"Retry-After": retry_after}, "get": lambda *_: None},
        )()
        super().__init__("ratelimited", response)


def test_the_client_that_sends_retries_nothing_the_one_that_reads_does() -> None:
    async def clients() -> tuple[Any, Any]:
        async with aiohttp.ClientSession() as session:
            workspaces = Workspaces("http://127.0.0.1:9/api/", session, 2, "xoxb-1")
            team = CommunityRef("slack", "T1")
            return await workspaces.sending(team), (await workspaces.reading(team)).client

    sender, reader = asyncio.run(clients())
    assert sender.retry_handlers == [] and sender.token == "xoxb-1"
    assert {type(h).__name__ for h in reader.retry_handlers} == {
        "AsyncConnectionErrorRetryHandler",
        "AsyncRateLimitErrorRetryHandler",
    }


def test_web_api_failures_tell_the_dispatcher_what_to_do() -> None:
    def answer(status: int, error: str) -> Any:
        response = type("R", (), {"status_code": status, "headers": {}, "get": None})()
        response.get = {"ok": False, "error": error}.get
        return response

    limited = delivery_error(Limited("7"))
    assert isinstance(limited, RateLimited) and limited.retry_after == 7.0
    refused = delivery_error(SlackApiError("no", answer(200, "not_in_channel")))
    assert isinstance(refused, Refused) and str(refused) == "not_in_channel"
    down = delivery_error(SlackApiError("down", answer(503, "service_unavailable")))
    assert isinstance(down, Unavailable) and down.maybe_sent
    unreachable = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None), OSError()
    )
    never_sent = delivery_error(unreachable)
    assert isinstance(never_sent, Unavailable) and not never_sent.maybe_sent
    assert delivery_error(ValueError("a bug")) is None


@pytest.mark.parametrize(
    ("settings", "secrets", "message"),
    [
        (SlackSettings(mode="http"), Secrets("xoxb-1", None, None, None), "SLACK_SIGNING_SECRET"),
        (
            SlackSettings(mode="http", client_id="1.2"),
            Secrets(None, None, "s", None),
            "both slack.client_id and SLACK_CLIENT_SECRET",
        ),
        (SlackSettings(mode="http"), Secrets(None, None, "s", None), "set SLACK_BOT_TOKEN"),
        (SlackSettings(), Secrets("xapp-1", "xapp-2", None, None), "should start with xoxb-"),
    ],
)
def test_modes_name_what_is_missing(
    settings: SlackSettings, secrets: Secrets, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(settings, secrets)


def test_modes() -> None:
    socket = plan(SlackSettings(), Secrets("xoxb-1", "xapp-1", None, None))
    assert (socket.mode, socket.api_base_url, socket.oauth) == (
        "socket",
        "https://slack.com/api/",
        False,
    )
    gov = SlackSettings(mode="http", api_base_url="https://slack-gov.com/api")
    one = plan(gov, Secrets("xoxb-1", None, "s", None))
    assert (one.mode, one.api_base_url, one.bot_token) == (
        "http",
        "https://slack-gov.com/api/",
        "xoxb-1",
    )
    many = plan(
        SlackSettings(mode="http", client_id="1.2"),
        Secrets(None, None, "s", None, slack_client_secret="c"),
    )
    assert many.oauth and many.client_secret == "c"


def test_slack_escapes_are_undone_on_the_way_in_and_redone_for_mrkdwn(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        slack.add_message("C1", "1710000000.000100", "Fish &amp; chips &lt;friday&gt;", "UA")
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                await rig.send.command("UA", "task Q&amp;A &lt;prep&gt; need:2")
                await rig.send.react("UB", "pushpin", "C1", "1710000000.000100")
                await rig.idle()
                titles = {n: a["title"] for n, a in rig.actions().items()}
                assert titles == {1: "Q&A <prep>", 2: "Fish & chips <friday>"}

        asyncio.run(scenario())
        # The two cards are in lanes of their own: either may be posted first.
        posts = [str(c.json_field("blocks")) for c in slack.calls_to("chat.postMessage")]
        first_card = next(p for p in posts if "*#1 " in p)
        assert "Q&amp;A &lt;prep&gt;" in first_card


# --- pledge drives --------------------------------------------------------------------------

DEADLINE = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
BOB, CAROL = Person("UB", "bob"), Person("UC", "carol")


def drive_card(state: str = "open", *, sealed: bool = False, **drive: Any) -> Card:
    """The card of pledge drive #1 "Beach", 1 of 3 in so far, with `drive`'s changes."""
    view = DriveView(
        **(
            {
                "goal": 3,
                "unit": None,
                "reached": 1,
                "group": 1,
                "conditional": 0,
                "deadline_at": DEADLINE,
                "sealed": sealed,
                "time_left": "2 days left" if state == "open" else "",
            }
            | drive
        )
    )
    buttons = (Button("join", "Pledge", 1), Button("leave", "Withdraw", 1))
    return card(
        kind="pledge",
        title="Beach",
        state=state,
        due_at=DEADLINE,
        committed=() if sealed and state != "tipped" else (BOB,),
        done=(),
        waitlist=(),
        buttons=buttons if state == "open" else (),
        drive=view,
    )


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_an_open_drive_shows_its_progress_deadline_and_who_is_in() -> None:
    blocks = card_blocks(drive_card(conditional=1, conditional_people=(CAROL,)))
    head, body = texts(blocks)
    assert head == "*#1 Beach*\nPledge drive by <@UA>"
    assert body.splitlines() == [
        "▰▰▰▱▱▱▱▱▱▱ 1 of 3 in",
        "1 more conditional: <@UC>",
        f"Sign-up closes {due_text(DEADLINE)} · 2 days left",
        "*In:* <@UB>",
    ]
    assert "<!date^1796403600^{date_short_pretty} at {time}|" in body
    assert [(e["action_id"], e["value"], e["text"]["text"]) for e in blocks[-1]["elements"]] == [
        ("coop_join", "1", "Pledge"),
        ("coop_leave", "1", "Withdraw"),
    ]
    assert card_fallback(drive_card()) == "#1 Beach — 1 of 3 in"
    hours = drive_card(unit="hours", reached=14, goal=20)
    assert "14 of 20 hours" in texts(card_blocks(hours))[1]
    assert card_fallback(hours) == "#1 Beach — 14 of 20 hours"


def test_a_sealed_drive_shows_counts_and_names_nobody() -> None:
    sealed = drive_card(sealed=True, reached=2, group=2, conditional=1)
    head, body = texts(card_blocks(sealed))
    assert head.endswith("\nSealed pledge drive by <@UA>")
    assert "2 of 3 in" in body and "1 more conditional" in body
    assert "1 more conditional:" not in body and "*In:*" not in body
    assert "🔒 Sealed: only counts show until it tips" in body
    assert "<@UB>" not in str(card_blocks(sealed)) and "bob" not in str(card_blocks(sealed))
    assert card_fallback(sealed) == "#1 Beach — 2 of 3 in"


def test_a_tipped_drive_names_its_task_and_the_check_ins() -> None:
    tipped = drive_card("tipped", sealed=True, reached=3, group=3, task_number=2, did=2, didnt=1)
    blocks = card_blocks(tipped)
    head, body = texts(blocks)
    assert head.startswith("*#1 Beach*  _(tipped)_")
    assert body.splitlines() == [
        "▰▰▰▰▰▰▰▰▰▰ 3 of 3 in",
        "🎉 Now task #2",
        "Did it: 2 · Didn't: 1",
        "*In:* <@UB>",
    ]
    assert all(b["type"] != "actions" for b in blocks)
    assert card_fallback(tipped) == "#1 Beach — 3 of 3 in (tipped)"
    unanswered = texts(card_blocks(drive_card("tipped", task_number=2)))[1]
    assert "Did it" not in unanswered


def test_a_failed_drive_says_when_it_closed() -> None:
    failed = drive_card("failed", sealed=True)
    head, body = texts(card_blocks(failed))
    assert head.startswith("*#1 Beach*  _(failed)_")
    assert f"Closed {due_text(DEADLINE)} without reaching its goal" in body
    assert "Sign-up closes" not in body and "left" not in body
    assert "🔒 Sealed: who pledged stays private" in body and "until it tips" not in body
    assert card_fallback(failed) == "#1 Beach — 1 of 3 in (failed)"


def test_a_drives_title_and_people_are_escaped() -> None:
    odd = replace(
        drive_card(conditional=1, conditional_people=(Person("UX", "<!here>"),)),
        title="Tea & <b>cake</b> <!channel>",
    )
    shown = str(card_blocks(odd)) + card_fallback(odd)
    assert "Tea &amp; &lt;b&gt;cake&lt;/b&gt; &lt;!channel&gt;" in shown
    assert "<!channel>" not in shown and "<!here>" not in shown and "<b>" not in shown


def test_the_home_tab_shows_a_drive_by_its_progress_and_deadline() -> None:
    (line,) = texts(home_view([drive_card(reached=2, group=2)], "UB")["blocks"][1:])
    assert line.splitlines() == [
        "*#1 Beach*",
        f"2 of 3 in · sign-up closes {due_text(DEADLINE)} · 2 days left",
        "You've pledged",
    ]


def test_the_drive_form_asks_for_the_terms_and_carries_the_message() -> None:
    message = MessageRef(ChannelRef(TEAM, "C1"), "1710000000.000100", "1709999999.000100")
    view = drive_form(message, "Beach clean-up\nBring gloves")
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert {name: b["optional"] for name, b in inputs.items()} == {
        "goal": False,
        "deadline": False,
        "unit": True,
        "sealed": True,
    }
    assert {name: b["element"]["action_id"] for name, b in inputs.items()} == {
        name: name for name in inputs
    }
    assert inputs["goal"]["element"]["type"] == "number_input"
    assert inputs["unit"]["element"]["max_length"] == MAX_UNIT
    assert json.loads(view["private_metadata"]) == {
        "channel": "C1",
        "ts": "1710000000.000100",
        "thread_ts": "1709999999.000100",
        "text": "Beach clean-up\nBring gloves",
    }
    assert "Beach clean-up Bring gloves" in view["blocks"][0]["elements"][0]["text"]


def test_a_long_message_is_cut_to_fit_the_forms_metadata() -> None:
    message = MessageRef(ChannelRef(TEAM, "C1"), "1710000000.000100")
    text = "Große Pläne\n" + '“ü” "q" 🌱 ' * 2000
    metadata = drive_form(message, text)["private_metadata"]
    assert len(metadata) <= PRIVATE_METADATA_LIMIT
    kept = json.loads(metadata)["text"]
    assert text.startswith(kept) and kept.startswith("Große Pläne\n")
    assert len(metadata) > PRIVATE_METADATA_LIMIT - 20  # cut no more than needed


def test_a_submitted_form_is_a_drive_request_for_the_message() -> None:
    message = MessageRef(ChannelRef(TEAM, "C1"), "1710000000.000100", "1709999999.000100")
    opened = {**drive_form(message, "Beach clean-up & picnic"), "id": "V42"}
    actor = MemberRef(TEAM, "UB", "bob")
    ws = Workspace(TEAM, AsyncWebClient(token="xoxb-test"))
    typed = {"goal": "10", "deadline": "friday 5pm", "unit": "hours", "sealed": ["sealed"]}
    event = drive_form_event(view_submission_payload("UB", opened, typed), ws, actor)
    assert event == DriveRequested(
        actor,
        message,
        "Beach clean-up & picnic",
        goal="10",
        deadline="friday 5pm",
        unit="hours",
        sealed=True,
        event_id="V42",
    )
    plain = drive_form_event(view_submission_payload("UB", opened, {"goal": "3"}), ws, actor)
    assert (plain.deadline, plain.unit, plain.sealed) == ("", "", False)
