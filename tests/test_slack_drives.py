"""Pledge drives end to end through the real Slack adapter: `/coop pledge`, the card's Pledge
button, `/coop join ... if:`, tipping, the "Start a pledge drive" shortcut and its form,
sealed drives and the check-in DMs, checked in the calls the fake Slack received."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.slack import Call, FakeSlack, message_shortcut_payload
from tests.harness import START
from tests.slack_support import (
    PEOPLE,
    Mode,
    Rig,
    add_people,
    advance,
    answers,
    buttons,
    make_core,
    of,
    press,
    say,
    started,
)

MESSAGE = "Beach clean-up on Saturday\nBring gloves & bags"
MESSAGE_TS = "1710000000.000100"
PARENT_TS = "1709999000.000100"
PLEDGE_BUTTONS = [("coop_join", "1", "Pledge"), ("coop_leave", "1", "Withdraw")]


def run(tmp_path: Path, mode: Mode, scenario: Callable[[Rig], Awaitable[None]]) -> FakeSlack:
    """`scenario` against a started adapter in `mode`; the fake, stopped, with its calls."""
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, mode)

        async def main() -> None:
            async with started(slack, core, mode) as rig:
                await scenario(rig)

        asyncio.run(main())
    return slack


def blocks_text(call: Call) -> str:
    """The mrkdwn of a message's sections, one line each."""
    return "\n".join(
        b["text"]["text"] for b in call.json_field("blocks") or () if b["type"] == "section"
    )


def card_posts(calls: list[Call], number: int) -> list[Call]:
    return [c for c in of(calls, "chat.postMessage") if c.params["text"].startswith(f"#{number} ")]


def edits(calls: list[Call], card: Call) -> list[Call]:
    """The edits of the card `card` posted."""
    return [c for c in of(calls, "chat.update") if c.params["ts"] == card.response["ts"]]


def plain_posts(calls: list[Call], channel: str) -> list[Call]:
    """Messages without blocks (not cards) posted in `channel`."""
    return [c for c in of(calls, "chat.postMessage", channel) if not c.params.get("blocks")]


def deadline_date(days: int) -> str:
    """How a card writes a deadline `days` after START, for Slack to show in each zone."""
    unix = int((START + timedelta(days=days)).timestamp())
    return f"<!date^{unix}^{{date_short_pretty}} at {{time}}|"


# --- a drive started with /coop pledge ------------------------------------------------------


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_pledges_by_button_and_by_command_tip_the_drive_once(tmp_path: Path, mode: Mode) -> None:
    async def scenario(rig: Rig) -> None:
        started_ = await say(rig, "UA", 'pledge "Beach clean-up" goal:3 deadline:"in 2 days"')
        (card,) = card_posts(started_, 1)
        assert card.params["channel"] == "C1" and card.params.get("thread_ts") is None
        assert card.params["text"] == "#1 Beach clean-up — 0 of 3 in"
        shown = blocks_text(card)
        assert "▱▱▱▱▱▱▱▱▱▱ 0 of 3 in" in shown and "Pledge drive by <@UA>" in shown
        assert f"Sign-up closes {deadline_date(2)}" in shown
        assert buttons(card) == PLEDGE_BUTTONS
        assert any("Started the pledge drive #1" in a for a in answers(started_, "UA"))

        # Bob presses Pledge on the card.
        pressed = await press(rig, "UB", card, "join", 1)
        (edit,) = edits(pressed, card)
        assert "1 of 3 in" in blocks_text(edit) and "*In:* <@UB>" in blocks_text(edit)
        assert edit.params["text"] == "#1 Beach clean-up — 1 of 3 in"
        assert rig.actions()[1]["commitments"][0]["via"] == "button"

        # Carol only if two others are in: one is, so she counts as conditional.
        carol = await say(rig, "UC", "join #1 if:2")
        (edit,) = edits(carol, card)
        assert "1 of 3 in" in blocks_text(edit)
        assert "1 more conditional: <@UC>" in blocks_text(edit)
        assert "<@UC>" not in blocks_text(edit).split("*In:*")[1]
        assert not plain_posts(carol, "C1") and rig.actions()[1]["state"] == "open"

        # Dave's pledge makes Carol's condition hold: three in, the goal. It tips.
        dave = await say(rig, "UD", "join #1")
        (announcement,) = plain_posts(dave, "C1")
        assert "#1 “Beach clean-up” tipped: 3 of 3 in" in announcement.params["text"]
        assert "task #2" in announcement.params["text"]
        dms = [c for c in of(dave, "chat.postMessage") if c.params["channel"].startswith("D")]
        assert sorted(c.params["channel"] for c in dms) == ["DUB", "DUC", "DUD"]
        assert all("tipped: 3 of 3 in. You're in" in dm.params["text"] for dm in dms)
        (task_card,) = card_posts(dave, 2)
        assert task_card.params["channel"] == "C1"
        assert task_card.params["text"] == "#2 Beach clean-up — 3 in"
        assert [b[0] for b in buttons(task_card)] == [
            "coop_join",
            "coop_maybe",
            "coop_leave",
            "coop_done",
        ]
        tipped = edits(dave, card)[-1]
        assert tipped.params["text"] == "#1 Beach clean-up — 3 of 3 in (tipped)"
        shown = blocks_text(tipped)
        assert "_(tipped)_" in shown and "🎉 Now task #2" in shown
        assert "Sign-up closes" not in shown and buttons(tipped) == []
        (people,) = [line for line in shown.splitlines() if line.startswith("*In:*")]
        assert sorted(re.findall(r"<@(U\w+)>", people)) == ["UB", "UC", "UD"]
        assert rig.actions()[1]["state"] == "tipped"
        assert rig.statuses(2) == {"UB": "committed", "UC": "committed", "UD": "committed"}

        # A pledge after the tip tips nothing again: Erin is told to join the task instead.
        late = await say(rig, "UE", "join #1")
        assert not plain_posts(late, "C1") and not card_posts(late, 3)
        assert not of(late, "chat.update") and not of(late, "conversations.open")
        (refusal,) = answers(late, "UE")
        assert "has tipped" in refusal and "/coop join #2" in refusal
        assert "UE" not in rig.statuses(2)

    run(tmp_path, mode, scenario)


def test_the_check_in_after_a_tipped_drive_is_answered_from_its_dm(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        (card,) = card_posts(
            await say(rig, "UA", 'pledge "Plant trees" goal:1 deadline:"in 2 days"'), 1
        )
        tipping = await say(rig, "UB", "join #1")
        assert edits(tipping, card)[-1].params["text"].endswith("(tipped)")

        after = rig.core.coop.prefs.drive_checkin_after
        assert after is not None
        later = await advance(rig, after)
        (ask,) = [
            c for c in of(later, "chat.postMessage", "DUB") if "Did you do it?" in c.params["text"]
        ]
        assert buttons(ask) == [
            ("coop_pledge_did", "1", "I did it"),
            ("coop_pledge_didnt", "1", "I didn't"),
        ]

        did = await press(rig, "UB", ask, "pledge_did", 1)
        assert any("Thank you for doing it" in a for a in answers(did, "UB"))
        (edit,) = edits(did, card)
        assert "Did it: 1 · Didn't: 0" in blocks_text(edit)
        assert rig.statuses(2) == {"UB": "done"}

    run(tmp_path, "socket", scenario)


def test_a_drive_that_misses_its_deadline_fails_and_releases_its_pledgers(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        said = await say(rig, "UA", 'pledge "Beach clean-up" goal:3 deadline:"in 2 days"')
        (card,) = card_posts(said, 1)
        await press(rig, "UB", card, "join", 1)

        assert not edits(await advance(rig, timedelta(days=2) - timedelta(minutes=1)), card)
        closing = await advance(rig, timedelta(minutes=1))
        (failed,) = edits(closing, card)
        assert failed.params["text"] == "#1 Beach clean-up — 1 of 3 in (failed)"
        shown = blocks_text(failed)
        assert "_(failed)_" in shown and buttons(failed) == []
        assert f"Closed {deadline_date(2)}" in shown and "without reaching its goal" in shown
        (released,) = of(closing, "chat.postMessage", "DUB")
        assert "closed without reaching its goal" in released.params["text"]
        assert not plain_posts(closing, "C1") and rig.actions()[1]["state"] == "failed"

    run(tmp_path, "socket", scenario)


def test_the_time_left_on_a_drive_card_follows_the_bots_clock(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        said = await say(rig, "UA", 'pledge "Beach clean-up" goal:3 deadline:"in 2 days"')
        (card,) = card_posts(said, 1)
        shown = blocks_text(card)
        assert f"Sign-up closes {deadline_date(2)}" in shown and shown.endswith("· 2 days left")

    run(tmp_path, "socket", scenario)


# --- the "Start a pledge drive" shortcut ----------------------------------------------------


async def open_form(rig: Rig, user: str, thread_ts: str | None = None) -> dict[str, Any]:
    """`user` picks "Start a pledge drive" on MESSAGE; the form as views.open opened it."""
    before = len(rig.slack.calls_to("views.open"))
    payload = message_shortcut_payload(
        "coop_pledge_drive", user, "C1", MESSAGE_TS, MESSAGE, "UC", thread_ts=thread_ts
    )
    ack = await rig.send.send("interactive", payload)
    assert ack.status == 200 and ack.latency < 3.0
    await rig.idle()
    opened = rig.slack.calls_to("views.open")[before:]
    assert len(opened) == 1 and opened[0].params["trigger_id"] == payload["trigger_id"]
    view: dict[str, Any] = opened[0].response["view"]
    return view


async def submit(rig: Rig, user: str, view: dict[str, Any], **typed: Any) -> list[Call]:
    before = len(rig.slack.calls)
    ack = await rig.send.submit(user, view, typed)
    assert ack.status == 200 and ack.latency < 3.0
    await rig.idle()
    return rig.slack.calls[before:]


@pytest.mark.parametrize(
    ("mode", "thread_ts"),
    [("socket", None), ("http", PARENT_TS)],
    ids=["socket-top-level", "http-reply-in-a-thread"],
)
def test_the_shortcut_opens_a_form_whose_submission_starts_a_drive_in_the_thread(
    tmp_path: Path, mode: Mode, thread_ts: str | None
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.slack.add_message("C1", MESSAGE_TS, MESSAGE, "UC", thread_ts)
        view = await open_form(rig, "UB", thread_ts)
        assert view["callback_id"] == "coop_pledge_drive_form"
        # Only a form so far: nothing is started until it is submitted.
        assert rig.actions() == {} and not rig.slack.calls_to("chat.postMessage")

        submitted = await submit(rig, "UB", view, goal="2", deadline="in 3 days")
        (card,) = card_posts(submitted, 1)
        assert card.params["channel"] == "C1"
        assert card.params["thread_ts"] == (thread_ts or MESSAGE_TS)
        assert card.params["text"] == "#1 Beach clean-up on Saturday — 0 of 2 in"
        shown = blocks_text(card)
        assert "0 of 2 in" in shown and f"Sign-up closes {deadline_date(3)}" in shown
        assert "Pledge drive by <@UB>" in shown and buttons(card) == PLEDGE_BUTTONS
        (answer,) = answers(submitted, "UB")
        assert answer.startswith("Started the pledge drive #1")
        drive = rig.actions()[1]
        assert (drive["title"], drive["creator"]) == ("Beach clean-up on Saturday", "UB")

        # The card's button works on a drive made from a message too.
        await press(rig, "UD", card, "join", 1)
        assert rig.statuses(1) == {"UD": "committed"}

    run(tmp_path, mode, scenario)


def test_the_forms_unit_and_seal_reach_the_drive_and_its_mistakes_come_back_privately(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.slack.add_message("C1", MESSAGE_TS, MESSAGE, "UC")
        unreadable = await submit(
            rig, "UB", await open_form(rig, "UB"), goal="3", deadline="soonish"
        )
        assert not of(unreadable, "chat.postMessage") and rig.actions() == {}
        (mistake,) = of(unreadable, "chat.postEphemeral")
        assert (mistake.params["user"], mistake.params["channel"]) == ("UB", "C1")
        assert "soonish" in mistake.params["text"]

        view = await open_form(rig, "UB")
        sealed = await submit(
            rig, "UB", view, goal="10", deadline="in 2 days", unit="hours", sealed=["sealed"]
        )
        (card,) = card_posts(sealed, 1)
        assert card.params["text"] == "#1 Beach clean-up on Saturday — 0 of 10 hours"
        shown = blocks_text(card)
        assert "Sealed pledge drive by <@UB>" in shown
        assert "🔒 Sealed: only counts show until it tips" in shown

        # The same form submitted again (a redelivery) starts nothing more.
        again = await submit(rig, "UB", view, goal="10", deadline="in 2 days")
        assert not card_posts(again, 2) and set(rig.actions()) == {1}

    run(tmp_path, "socket", scenario)


# --- sealed drives --------------------------------------------------------------------------

SHOWN = ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url", "views.publish")


def naming(calls: list[Call], users: list[str]) -> list[str]:
    """What in `calls` names one of `users` (by id or by name) where people can read it:
    any text or blocks of messages, edits, private answers, response_url posts and Home tabs."""
    names = {name for name, user_id in PEOPLE.items() if user_id in users}
    pattern = re.compile(
        "|".join(
            [*(rf"(?<![A-Z0-9]){u}(?![A-Z0-9])" for u in users), *(rf"\b{n}\b" for n in names)]
        ),
        re.IGNORECASE,
    )
    found = []
    for call in calls:
        if call.method not in SHOWN:
            continue
        for field in ("text", "blocks", "attachments", "view"):
            shown = str(call.json_field(field) or "")
            if pattern.search(shown):
                found.append(f"{call.method} {field}: {shown[:200]}")
    return found


def test_a_sealed_drive_names_no_pledger_until_it_tips(tmp_path: Path) -> None:
    pledgers = ["UB", "UC", "UE"]

    async def scenario(rig: Rig) -> None:
        started_ = await say(
            rig, "UA", 'pledge "Secret Santa" goal:3 deadline:"in 2 days" sealed:yes'
        )
        (card,) = card_posts(started_, 1)

        # A button press on a sealed drive's card pledges.
        await press(rig, "UB", card, "join", 1)
        pledges = rig.actions()[1]["commitments"]  # unnamed in the export too
        assert [(c["status"], c["via"]) for c in pledges] == [("committed", "button")]
        await say(rig, "UC", "join #1")
        await say(rig, "UE", "join #1 if:5")  # conditional, and it will not hold
        last = edits(rig.slack.calls, card)[-1]
        shown = blocks_text(last)
        assert "2 of 3 in" in shown and "1 more conditional" in shown
        assert "🔒 Sealed: only counts show until it tips" in shown and "*In:*" not in shown
        assert last.params["text"] == "#1 Secret Santa — 2 of 3 in"

        # Asking about it, or looking at one's Home tab, names nobody either.
        for user, text in (("UA", "show #1"), ("UA", "list"), ("UB", "mine"), ("UE", "show #1")):
            assert answers(await say(rig, user, text), user)
        await rig.send.home_opened("UB")
        await rig.idle()
        assert "Secret Santa" in str(rig.slack.calls_to("views.publish")[-1].params["view"])

        before_tip = rig.slack.calls
        assert naming(before_tip, pledgers) == []
        # Nothing went anywhere but the channel (no DMs), and no reaction was put on the card
        # (a reaction would show who pledged).
        posted = [c for c in before_tip if c.method in ("chat.postMessage", "chat.update")]
        assert {c.params["channel"] for c in posted} == {"C1"}
        assert not [c for c in before_tip if c.method.startswith("reactions.")]

        # Dave tips it: now the card names the group (and so `naming` would have seen them).
        await say(rig, "UD", "join #1")
        tipped = edits(rig.slack.calls, card)[-1]
        assert tipped.params["text"] == "#1 Secret Santa — 3 of 3 in (tipped)"
        assert all(naming([tipped], [user]) for user in ("UB", "UC", "UD"))
        assert naming([tipped], ["UE"]) == []  # outside the group: still unnamed
        assert "1 more conditional" in blocks_text(tipped)

    run(tmp_path, "socket", scenario)
