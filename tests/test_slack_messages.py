"""What reminders, check-ins and digests need from Slack, against the fake: DMs with the core's
buttons (pressed, they come back as events from the DM), plain channel posts that arrive once,
and looking up who belongs to the workspace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.directory import Workspace
from adapters.slack.payloads import button_event
from adapters.slack.surface import BUTTON_ACTION
from bot.cards import Button
from bot.drives import checkin_buttons
from bot.events import ButtonPressed, Inbound
from bot.ports import Delivery, Refused
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef
from tests.fakes.slack import Call, FakeSlack, block_actions_payload
from tests.slack_support import (
    TEAM,
    add_people,
    chat_on,
    make_core,
    started,
    undeclared_methods,
)

GENERAL = ChannelRef(TEAM, "C1")
ALICE = MemberRef(TEAM, "UA", "alice")
SNOOZES = (
    Button("snooze_15m", "In 15 minutes", 42),
    Button("snooze_1h", "In an hour", 42),
    Button("snooze_tomorrow", "Tomorrow", 42),
)
CHECK_IN = (Button("checkin_done", "It happened", 7), Button("checkin_not", "It didn't", 7))
DM_BUTTONS = SNOOZES + CHECK_IN + checkin_buttons(7)  # the last: after a tipped pledge drive


def first_try(key: str) -> Delivery:
    return Delivery(key, recheck=False, first_attempt_at=datetime.now(UTC))


def retry(key: str) -> Delivery:
    """Another attempt at `key`, after one that may have arrived (a crash cut it off)."""
    return Delivery(key, recheck=True, first_attempt_at=datetime.now(UTC) - timedelta(minutes=1))


def key_of(call: Call) -> str:
    return str(call.json_field("metadata")["event_payload"]["key"])


def buttons_of(call: Call) -> list[tuple[str, str, str]]:
    """(action_id, value, label) of each button the message was posted with."""
    return [
        (e["action_id"], e["value"], e["text"]["text"])
        for block in call.json_field("blocks")
        if block["type"] == "actions"
        for e in block["elements"]
    ]


def test_a_dm_with_buttons_carries_them_its_text_and_its_key() -> None:
    with FakeSlack() as slack:
        add_people(slack)

        async def scenario() -> tuple[str | None, str | None, str | None]:
            async with chat_on(slack) as chat:
                reminder = await chat.send_dm(
                    first_try("dm-1"), ALICE, "#3 *Tidy up* & lock is due soon", SNOOZES
                )
                check_in = await chat.send_dm(first_try("dm-2"), ALICE, "Did #7 happen?", CHECK_IN)
                # A retry of the first, after a crash, finds it instead of sending it again.
                again = await chat.send_dm(retry("dm-1"), ALICE, "#3 *Tidy up*…", SNOOZES)
                return reminder, check_in, again

        reminder, check_in, again = asyncio.run(scenario())
        first, second = slack.calls_to("chat.postMessage")
        assert first.params["channel"] == "DUA" and key_of(first) == "dm-1"
        # The core's words are text: the stars it was given show as stars, not bold.
        shown = "#3 \u200b*\u200bTidy up\u200b*\u200b &amp; lock is due soon"
        assert first.params["text"] == shown  # the fallback
        section = first.json_field("blocks")[0]
        assert section == {"type": "section", "text": {"type": "mrkdwn", "text": shown}}
        assert buttons_of(first) == [
            ("coop_snooze_15m", "42", "In 15 minutes"),
            ("coop_snooze_1h", "42", "In an hour"),
            ("coop_snooze_tomorrow", "42", "Tomorrow"),
        ]
        assert buttons_of(second) == [
            ("coop_checkin_done", "7", "It happened"),
            ("coop_checkin_not", "7", "It didn't"),
        ]
        assert key_of(second) == "dm-2"
        # What the bot sends is what its listener takes back.
        assert all(BUTTON_ACTION.match(b[0]) for b in buttons_of(first) + buttons_of(second))
        assert reminder == first.response["ts"] and check_in == second.response["ts"]
        assert again == reminder
        (looked,) = slack.calls_to("conversations.history")
        assert looked.params["channel"] == "DUA" and looked.params["include_all_metadata"]
        assert undeclared_methods(slack) == set()


def test_dms_without_buttons_stay_plain_text() -> None:
    with FakeSlack() as slack:
        add_people(slack)
        message = MessageRef(GENERAL, "1710000000.000100")

        async def scenario() -> None:
            async with chat_on(slack) as chat:
                await chat.send_dm(first_try("dm-1"), ALICE, "You're in on #1.")
                await chat.ask_for_title(first_try("ask-1"), ALICE, message, 2, "a link")

        asyncio.run(scenario())
        plain, ask = slack.calls_to("chat.postMessage")
        assert "blocks" not in plain.params and "blocks" not in ask.params
        assert (plain.params["channel"], key_of(plain)) == ("DUA", "dm-1")
        assert (ask.params["channel"], key_of(ask)) == ("DUA", "ask-1")
        assert ask.params["text"].startswith("I'm tracking a message as #2")


def test_a_channel_message_is_posted_once_even_when_tried_again() -> None:
    with FakeSlack() as slack:
        add_people(slack)

        async def scenario() -> tuple[str | None, str | None, str | None]:
            async with chat_on(slack) as chat:
                posted = await chat.post_message(
                    first_try("post-1"), GENERAL, "Due today: #3 Tidy up <!channel> & co"
                )
                again = await chat.post_message(retry("post-1"), GENERAL, "Due today: #3")
                # Looked for and not found: that one is posted.
                other = await chat.post_message(retry("post-2"), GENERAL, "Due tomorrow: #4")
                return posted, again, other

        posted, again, other = asyncio.run(scenario())
        first, second = slack.calls_to("chat.postMessage")
        assert first.params["channel"] == "C1" and "blocks" not in first.params
        # Escaped for mrkdwn, and the broadcast pings nobody.
        assert first.params["text"] == "Due today: #3 Tidy up &lt;!channel&gt; &amp; co"
        assert [key_of(first), key_of(second)] == ["post-1", "post-2"]
        assert posted == first.response["ts"] and again == posted
        assert other == second.response["ts"] != posted
        assert [m["text"] for m in slack.messages("C1")] == [
            first.params["text"],
            "Due tomorrow: #4",
        ]
        history = slack.calls_to("conversations.history")
        assert [h.params["channel"] for h in history] == ["C1", "C1"]
        assert undeclared_methods(slack) == set()


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found", "is_archived"])
def test_a_channel_message_where_the_bot_cannot_post_is_refused_with_the_reason(
    error: str,
) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        slack.fail_next("chat.postMessage", error)
        elsewhere = ChannelRef(TEAM, "C9")

        async def scenario() -> Refused:
            async with chat_on(slack) as chat:
                with pytest.raises(Refused) as refused:
                    await chat.post_message(first_try("post-1"), elsewhere, "Due today: #3")
                return refused.value

        refused = asyncio.run(scenario())
        assert str(refused).startswith(f"{error}: coopbot cannot post in channel C9")
        assert "/invite" in str(refused)
        assert refused.notice is not None and "<#C9>" in refused.notice
        assert not refused.unreachable
        assert slack.messages("C9") == []


def test_a_channel_message_retried_where_the_bot_was_removed_is_refused() -> None:
    with FakeSlack() as slack:
        add_people(slack)
        # Slack refuses to show the bot the history of a channel it is not in.
        slack.fail_next("conversations.history", "not_in_channel")

        async def scenario() -> Refused:
            async with chat_on(slack) as chat:
                with pytest.raises(Refused) as refused:
                    await chat.post_message(retry("post-1"), GENERAL, "Due today: #3")
                return refused.value

        refused = asyncio.run(scenario())
        assert str(refused).startswith("not_in_channel: coopbot cannot post in channel C1")
        assert slack.calls_to("chat.postMessage") == []


def test_find_member_knows_who_belongs_to_the_workspace() -> None:
    with FakeSlack(invent_users=False) as slack:
        slack.set_user("UA", name="alice", tz="America/New_York")
        slack.set_user("UG", name="gone", deleted=True)
        slack.set_user("UX", name="guest", team_id="T2")  # Slack Connect: another company
        # Enterprise Grid: one person, in several workspaces of one organisation.
        slack.set_user(
            "W1", name="wen", team_id="T9", enterprise_id="E1", enterprise_teams=["T9", "T1"]
        )
        slack.set_user("W2", name="wu", team_id="T9", enterprise_id="E1", enterprise_teams=["T9"])

        async def scenario() -> dict[str, Any]:
            async with chat_on(slack) as chat:
                found: dict[str, Any] = {
                    who: await chat.find_member(TEAM, who)
                    for who in ("UA", "UNOBODY", "UG", "UX", "W1", "W2")
                }
                # Installed for the whole organisation, the bot serves all its people.
                found["W2 in E1"] = await chat.find_member(CommunityRef("slack", "E1"), "W2")
                # Found, they are known: no second users.info for the same person.
                found["member UA"] = await chat.member(MemberRef(TEAM, "UA"))
                return found

        found = asyncio.run(scenario())
        alice = found["UA"]
        assert (alice.community, alice.id, alice.name, alice.tz) == (
            TEAM,
            "UA",
            "alice",
            "America/New_York",
        )
        member = found["member UA"]
        assert (member.name, member.tz, member.is_admin) == (alice.name, alice.tz, alice.is_admin)
        assert {who for who, ref in found.items() if ref is None} == {"UNOBODY", "UG", "UX", "W2"}
        assert (found["W1"].id, found["W1"].name) == ("W1", "wen")
        assert found["W2 in E1"].name == "wu"
        looked_up = [c.params["user"] for c in slack.calls_to("users.info")]
        assert looked_up == ["UA", "UNOBODY", "UG", "UX", "W1", "W2", "W2"]
        assert undeclared_methods(slack) == set()


def test_find_member_gives_the_benefit_of_the_doubt_when_slack_cannot_say() -> None:
    with FakeSlack(invent_users=False) as slack:
        slack.set_user("UA", name="alice")
        slack.fail_next("users.info", "internal_error")

        async def scenario() -> tuple[MemberRef | None, MemberRef | None]:
            async with chat_on(slack) as chat:
                return await chat.find_member(TEAM, "UA"), await chat.find_member(TEAM, "UA")

        doubt, known = asyncio.run(scenario())
        assert doubt is not None and (doubt.id, doubt.name) == ("UA", "")
        # A failure is not remembered: the next look-up asks again.
        assert known is not None and known.name == "alice"
        assert len(slack.calls_to("users.info")) == 2


def _ws() -> Workspace:
    return Workspace(TEAM, AsyncWebClient(token="xoxb-test"))


@pytest.mark.parametrize("button", DM_BUTTONS, ids=lambda b: b.name)
def test_a_press_on_a_dm_button_is_an_event_from_that_dm(button: Button) -> None:
    body = block_actions_payload("UA", "DUA", "1710000000.000200", f"coop_{button.name}", "42")
    actor = MemberRef(TEAM, "UA", "ua")
    event = button_event(body, _ws(), actor)
    dm = MessageRef(ChannelRef(TEAM, "DUA"), "1710000000.000200")
    assert event == ButtonPressed(actor, dm, button.name, 42, body["trigger_id"])


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("coop_snooze_2h", "42"),
        ("coop_snooze_15m_x", "42"),
        ("xcoop_checkin_done", "7"),
        ("coop_checkin_done", "seven"),
    ],
)
def test_presses_that_are_not_ours_are_no_events(action_id: str, value: str) -> None:
    body = block_actions_payload("UA", "DUA", "1710000000.000200", action_id, value)
    assert button_event(body, _ws(), MemberRef(TEAM, "UA")) is None


def test_dm_buttons_pressed_in_slack_reach_the_core_as_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[Inbound] = []

    async def receive(inbound: Inbound) -> None:
        received.append(inbound)

    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)
        # Only what the listener hands over is looked at here, not what the core makes of it.
        monkeypatch.setattr(core.inbox, "receive", receive)

        async def scenario() -> list[int]:
            async with started(slack, core) as rig:
                acks = [
                    await rig.send.click("UA", "DUA", "1710000000.000300", b.name, b.number)
                    for b in DM_BUTTONS
                ]
                await rig.idle()
                return [a.status for a in acks]

        assert asyncio.run(scenario()) == [200] * len(DM_BUTTONS)
    dm = MessageRef(ChannelRef(TEAM, "DUA"), "1710000000.000300")
    events = [inbound.event for inbound in received]
    assert [(e.button, e.number) for e in events if isinstance(e, ButtonPressed)] == [
        (b.name, b.number) for b in DM_BUTTONS
    ]
    assert {(e.actor, e.message) for e in events} == {(MemberRef(TEAM, "UA"), dm)}
    assert all(inbound.reply is not None for inbound in received)  # answered by response_url
