"""Shaped tasks through the Slack adapter: per-role progress and the "Join as…" select, the
Maybe button, sign-up cut-offs and repeats on the card, the Edit menu and its form, the DM
buttons of hand-offs; first as Block Kit and payloads, then end to end with the real
slack-bolt app against the fake Slack."""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    ACTIONS_LIMIT,
    MESSAGE_BLOCK_LIMIT,
    OPTION_LIMIT,
    SECTION_TEXT_LIMIT,
    card_blocks,
    card_fallback,
    dm_blocks,
    edit_form,
    home_view,
)
from adapters.slack.directory import Workspace
from adapters.slack.payloads import button_event, edit_form_event, menu_item
from adapters.slack.surface import BUTTON_NAMES, CARD_MENU, JOIN_AS
from bot import wiring
from bot.cards import Button, Card, Person, RoleView
from bot.events import ButtonPressed, EditRequested
from bot.refs import ChannelRef, MemberRef, MessageRef
from storage.tables import InboxRow
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import (
    Call,
    FakeSlack,
    block_actions_payload,
    option_picked_payload,
    view_submission_payload,
)
from tests.harness import START
from tests.slack_support import (
    SIGNING_SECRET,
    TEAM,
    HttpDriver,
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
    undeclared_methods,
)
from tests.slack_support import elements as elements_of
from tests.test_slack_drives import blocks_text, card_posts, edits, run

ANA, BO, CY, DEE = (Person(f"U{n}", n.lower()) for n in ("ANA", "BO", "CY", "DEE"))
CLOSES = START + timedelta(days=2)
WS = Workspace(TEAM, AsyncWebClient(token="xoxb-test"))
ACTOR = MemberRef(TEAM, "UBO", "bo")
OPEN_BUTTONS = ("join", "maybe", "leave", "done")


def shaped(number: int = 3, **kw: Any) -> Card:
    """An open task with two roles, a maybe, a cut-off and a repeat rule, editable."""
    fields: dict[str, Any] = {
        "number": number,
        "kind": "task",
        "title": "Saturday market stall",
        "creator": ANA,
        "state": "open",
        "need": 6,
        "due_at": START + timedelta(days=3),
        "committed": (ANA, BO),
        "done": (),
        "waitlist": (DEE,),
        "buttons": tuple(Button(n, n.title(), number) for n in OPEN_BUTTONS),
        "roles": (
            RoleView("driver", 2, "🚗", committed=(ANA, BO), waitlist=(DEE,)),
            RoleView("cook", 4, "cook"),
            RoleView("setup", None),
        ),
        "maybe": (CY,),
        "closes_at": CLOSES,
        "repeats": "every Saturday at 10:00",
        "editable": True,
    }
    return Card(**(fields | kw))


def sections(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    found: list[dict[str, Any]] = actions["elements"]
    return found


def valid(blocks: list[dict[str, Any]]) -> None:
    """Every block passes slack-sdk's checks of Slack's own limits."""
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()


# --- the card -------------------------------------------------------------------------------


def test_a_roles_card_shows_each_roles_progress_maybes_cut_off_and_repeat() -> None:
    blocks = card_blocks(shaped())
    valid(blocks)
    head, people, roles = sections(blocks)
    closes = f"Sign-up closes <!date^{int(CLOSES.timestamp())}^"
    assert closes in head and "🔁 Repeats every Saturday at 10:00" in head
    assert people.splitlines() == ["▰▰▰▱▱▱▱▱▱▱ 2/6 in", "*Maybe:* <@UCY>"]
    assert roles.splitlines() == [
        "🚗 *driver* 2/2: <@UANA>, <@UBO> · waitlist: <@UDEE>",
        ":cook: *cook* 0/4: nobody yet",
        "*setup* 0: nobody yet",
    ]


def test_join_on_a_roles_card_is_a_select_of_its_roles_beside_the_buttons_and_the_edit_menu() -> (
    None
):
    join_as, *buttons, menu = elements(card_blocks(shaped()))
    assert join_as["type"] == "static_select" and join_as["action_id"] == JOIN_AS
    assert join_as["placeholder"]["text"] == "Join as…"
    assert [(o["text"]["text"], o["value"]) for o in join_as["options"]] == [
        ("🚗 driver (2/2, full)", "3:driver"),
        (":cook: cook (0/4)", "3:cook"),
        ("setup (0 in)", "3:setup"),
    ]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("coop_maybe", "3"),
        ("coop_leave", "3"),
        ("coop_done", "3"),
    ]
    assert menu["type"] == "overflow" and menu["action_id"] == CARD_MENU
    assert [(o["text"]["text"], o["value"]) for o in menu["options"]] == [("✏️ Edit", "edit:3")]


def test_a_task_without_roles_keeps_its_join_button_and_lists_people_as_before() -> None:
    plain = shaped(roles=(), editable=False, repeats="", closes_at=None)
    blocks = card_blocks(plain)
    valid(blocks)
    assert [e["action_id"] for e in elements(blocks)] == [f"coop_{n}" for n in OPEN_BUTTONS]
    head, people = sections(blocks)
    assert "Sign-up" not in head and "Repeats" not in head
    assert people.splitlines()[1:] == [
        "*In:* <@UANA>, <@UBO>",
        "*Waitlist:* <@UDEE>",
        "*Maybe:* <@UCY>",
    ]
    assert card_fallback(plain) == "#3 Saturday market stall — 2/6 in"


def test_a_closed_sign_up_says_so_and_an_editable_card_without_buttons_keeps_its_menu() -> None:
    closed = shaped(signup_closed=True, buttons=(Button("leave", "Leave", 3),))
    blocks = card_blocks(closed)
    valid(blocks)
    head = sections(blocks)[0]
    assert "🚫 Sign-up closed" in head and "Sign-up closes" not in head
    assert [e["type"] for e in elements(blocks)] == ["button", "overflow"]
    only_menu = elements(card_blocks(shaped(buttons=())))
    assert [e["action_id"] for e in only_menu] == [CARD_MENU]
    assert not [
        b for b in card_blocks(shaped(buttons=(), editable=False)) if b["type"] == "actions"
    ]


def test_a_crowded_roles_card_stays_within_slacks_limits_and_cuts_no_mention() -> None:
    crowd = tuple(Person(f"U{i:08d}", f"p{i}") for i in range(600))
    roles = tuple(
        RoleView(f"role {i} " + "r" * 40, 5, "🎉", committed=crowd, done=crowd, waitlist=crowd)
        for i in range(10)
    )
    many = shaped(roles=roles, maybe=crowd, committed=crowd, done=crowd, waitlist=crowd)
    blocks = card_blocks(many)
    valid(blocks)
    assert len(blocks) <= MESSAGE_BLOCK_LIMIT
    for text in sections(blocks):
        assert len(text) <= SECTION_TEXT_LIMIT
        assert text.count("<") == text.count(">"), "a mention was cut in half"
    roles_text = sections(blocks)[2]
    assert len(roles_text.splitlines()) == 10 and "more" in roles_text.splitlines()[-1]
    join_as = elements(blocks)[0]
    assert len(join_as["options"]) == 10
    assert all(len(o["text"]["text"]) <= OPTION_LIMIT for o in join_as["options"])
    assert len(elements(blocks)) <= ACTIONS_LIMIT


def test_a_roles_card_whose_role_names_fit_no_option_keeps_the_join_button() -> None:
    long = shaped(roles=(RoleView("r" * 200, 2),))
    join = elements(card_blocks(long))[0]
    assert (join["type"], join["action_id"], join["value"]) == ("button", "coop_join", "3")


def test_the_new_dm_buttons_are_ours_and_come_back_as_presses() -> None:
    names = ("confirm", "confirm_no", "handoff_yes", "handoff_no", "join", "leave", "maybe")
    assert set(names) <= set(BUTTON_NAMES)
    (_, actions) = dm_blocks("Are you still in?", tuple(Button(n, n, 7) for n in names))
    assert [e["action_id"] for e in actions["elements"]] == [f"coop_{n}" for n in names]
    for name in names:
        payload = block_actions_payload("UBO", "DUBO", "1.5", f"coop_{name}", "7")
        pressed = button_event(payload, WS, ACTOR)
        assert pressed is not None and (pressed.button, pressed.number) == (name, 7)
        assert pressed.message.channel.id == "DUBO" and pressed.choice == ""


@pytest.mark.parametrize(
    ("value", "choice"),
    [("3:cook", "cook"), ("3:front: of house", "front: of house"), ("3:", None), ("x:cook", None)],
)
def test_a_role_picked_in_the_select_is_the_join_button_with_that_choice(
    value: str, choice: str | None
) -> None:
    payload = option_picked_payload("UBO", "C1", "1.5", JOIN_AS, value)
    pressed = button_event(payload, WS, ACTOR)
    if choice is None:
        assert pressed is None
        return
    message = MessageRef(ChannelRef(TEAM, "C1"), "1.5")
    assert pressed == ButtonPressed(ACTOR, message, "join", 3, payload["trigger_id"], choice)


def test_the_edit_menu_item_names_the_card() -> None:
    picked = option_picked_payload("UBO", "C1", "1.5", CARD_MENU, "edit:3", "overflow")
    assert menu_item(picked, WS) == ("edit", 3, MessageRef(ChannelRef(TEAM, "C1"), "1.5"))
    for value in ("edit:", "edit:x", ""):
        garbled = option_picked_payload("UBO", "C1", "1.5", CARD_MENU, value, "overflow")
        assert menu_item(garbled, WS) is None
    assert menu_item(block_actions_payload("UBO", "C1", "1.5", "coop_join", "3"), WS) is None


def test_the_home_tab_says_which_role_someone_is_in_and_who_said_maybe() -> None:
    def status(member: str) -> str:
        (line,) = sections(home_view([shaped()], member)["blocks"])
        return line.splitlines()[-1]

    assert status("UBO") == "You're in as driver"
    assert status("UDEE") == "You're on the waitlist as driver"
    assert status("UCY") == "You said maybe"
    assert status("UANA") == "You're in as driver"


# --- the Edit form --------------------------------------------------------------------------


def opened(card: Card) -> dict[str, Any]:
    """The Edit form as views.open answers it."""
    return {**edit_form(card, "C1"), "id": "V9"}


def test_the_edit_form_is_filled_in_with_the_title_and_need_and_says_how_to_clear() -> None:
    view = edit_form(shaped(), "C1")
    View(**view).validate_json()
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["title", "need", "due", "closes"]
    assert inputs["title"]["element"]["initial_value"] == "Saturday market stall"
    assert inputs["title"]["optional"] is False
    assert inputs["need"]["element"]["initial_value"] == "6"
    assert all(inputs[n]["optional"] for n in ("need", "due", "closes"))
    assert "initial_value" not in inputs["due"]["element"]
    assert "leave empty for no limit" in inputs["need"]["hint"]["text"]
    for name in ("due", "closes"):
        hint = inputs[name]["hint"]["text"]
        assert "Leave empty to keep it" in hint and "“none”" in hint
    # What they are now, in each reader's own zone.
    now = view["blocks"][0]["elements"][0]["text"]
    assert now.startswith("*#3 Saturday market stall*: now due <!date^")
    assert f"sign-up closes <!date^{int(CLOSES.timestamp())}^" in now
    assert json.loads(view["private_metadata"]) == {
        "channel": "C1",
        "number": 3,
        "title": "Saturday market stall",
        "need": "6",
    }
    no_need = edit_form(shaped(need=None, due_at=None, closes_at=None), "C1")
    assert "now no due time · no cut-off" in no_need["blocks"][0]["elements"][0]["text"]
    need_input = next(b for b in no_need["blocks"] if b.get("block_id") == "need")["element"]
    assert "initial_value" not in need_input


CHANNEL = ChannelRef(TEAM, "C1")


@pytest.mark.parametrize(
    ("card", "typed", "changes"),
    [
        # Sent as it was filled in: nothing changes.
        (shaped(), {}, {}),
        (shaped(), {"title": "Market stall", "need": "8"}, {"title": "Market stall", "need": "8"}),
        # An emptied need is no limit; "none" too; on a task without one, neither changes it.
        (shaped(), {"need": ""}, {"need": ""}),
        (shaped(), {"need": "none"}, {"need": ""}),
        (shaped(need=None), {"need": ""}, {}),
        (shaped(need=None), {"need": "4"}, {"need": "4"}),
        # Due and cut-off: empty keeps them, "none" clears them, anything else is read.
        (shaped(), {"due": "sunday 11am", "closes": "None"}, {"due": "sunday 11am", "closes": ""}),
        (shaped(), {"due": "  ", "closes": "  "}, {}),
        # Mistakes are the core's to explain.
        (shaped(), {"need": "lots", "due": "soonish"}, {"need": "lots", "due": "soonish"}),
    ],
)
def test_a_submitted_edit_form_sends_only_what_was_changed(
    card: Card, typed: dict[str, str], changes: dict[str, str]
) -> None:
    event = edit_form_event(view_submission_payload("UBO", opened(card), typed), WS, ACTOR)
    assert event == EditRequested(ACTOR, CHANNEL, 3, event_id="V9", **changes)


# --- end to end: the real slack-bolt app against the fake Slack ----------------------------


async def pick(
    rig: Rig, user: str, card: Call, action_id: str, value: str, element: str = "static_select"
) -> list[Call]:
    """`user` picks the option `value` of the select or menu `action_id` on the card."""
    before = len(rig.slack.calls)
    payload = option_picked_payload(
        user,
        str(card.response["channel"]),
        str(card.response["ts"]),
        action_id,
        value,
        element,
        response_url=rig.slack.response_url(),
    )
    ack = await rig.send.send("interactive", payload)
    assert ack.status == 200 and ack.latency < 3.0
    await rig.idle()
    return rig.slack.calls[before:]


def roles_of(call: Call) -> list[str]:
    """The lines of a card's roles section."""
    return sections(call.json_field("blocks"))[2].splitlines()


def test_a_role_picked_in_the_cards_select_joins_it_and_maybe_is_counted_apart(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        made = await say(rig, "UA", 'task "Market stall" roles:"driver:2:car, cook:1"')
        (card,) = card_posts(made, 1)
        join_as = next(e for e in elements_of(card) if e["type"] == "static_select")
        assert [o["value"] for o in join_as["options"]] == ["1:driver", "1:cook"]
        assert roles_of(card) == ["🚗 *driver* 0/2: nobody yet", "🔵 *cook* 0/1: nobody yet"]

        joined = await pick(rig, "UB", card, JOIN_AS, "1:cook")
        (edit,) = edits(joined, card)
        assert roles_of(edit) == ["🚗 *driver* 0/2: nobody yet", "🔵 *cook* 1/1: <@UB>"]
        assert rig.statuses(1) == {"UB": "committed"}
        # Cook is full: the next cook waits, the driver's places are apart.
        await pick(rig, "UC", card, JOIN_AS, "1:cook")
        await pick(rig, "UD", card, JOIN_AS, "1:driver")
        last = edits(rig.slack.calls, card)[-1]
        assert roles_of(last) == [
            "🚗 *driver* 1/2: <@UD>",
            "🔵 *cook* 1/1: <@UB> · waitlist: <@UC>",
        ]
        # A role's emoji on the card joins that role too.
        await rig.send.react("UF", "car", "C1", str(card.response["ts"]))
        await rig.idle()
        assert roles_of(edits(rig.slack.calls, card)[-1])[0] == "🚗 *driver* 2/2: <@UD>, <@UF>"

        maybe = await press(rig, "UE", card, "maybe", 1)
        (edit,) = edits(maybe, card)
        assert "*Maybe:* <@UE>" in blocks_text(edit)
        assert roles_of(edit)[0] == "🚗 *driver* 2/2: <@UD>, <@UF>"  # no place taken
        assert rig.statuses(1)["UE"] == "maybe"
        assert not undeclared_methods(rig.slack)

    run(tmp_path, "socket", scenario)


def test_after_a_restart_a_roles_own_emoji_on_its_card_still_joins_it(tmp_path: Path) -> None:
    """Slack's reaction events do not say whose message it is: until the card is drawn again,
    only the open tasks' role emoji read at start-up let a role's own emoji through."""

    async def scenario() -> None:
        async with started(slack, make_core(tmp_path, slack)) as rig:
            made = await say(rig, "UA", 'task "Market stall" roles:"driver:2:car, cook:1"')
            (card,) = card_posts(made, 1)
        # A fresh process on the same database file.
        async with started(slack, make_core(tmp_path, slack)) as rig:
            before = len(slack.calls)
            ack = await rig.send.react("UB", "car", "C1", str(card.response["ts"]))
            assert ack.status == 200 and ack.latency < 3.0
            await rig.idle()
            (edit,) = edits(slack.calls[before:], card)
            assert roles_of(edit)[0] == "🚗 *driver* 1/2: <@UB>"
            assert rig.statuses(1) == {"UB": "committed"}
            # Emoji no open task's role has are still left out, before any database write.
            with SqlUnitOfWork(rig.core.engine) as uow:
                recorded = uow.count(InboxRow)
            await rig.send.react("UC", "tada", "C1", str(card.response["ts"]))
            await rig.idle()
            with SqlUnitOfWork(rig.core.engine) as uow:
                assert uow.count(InboxRow) == recorded

    with FakeSlack() as slack:
        add_people(slack)
        asyncio.run(scenario())


async def open_edit(rig: Rig, user: str, card: Call, number: int) -> dict[str, Any]:
    """`user` picks Edit in the card's menu; the form as views.open opened it."""
    before = len(rig.slack.calls_to("views.open"))
    await pick(rig, user, card, CARD_MENU, f"edit:{number}", "overflow")
    (opened,) = rig.slack.calls_to("views.open")[before:]
    assert opened.params["trigger_id"]
    view: dict[str, Any] = opened.response["view"]
    return view


async def submit(rig: Rig, user: str, view: dict[str, Any], **typed: str) -> list[Call]:
    before = len(rig.slack.calls)
    ack = await rig.send.submit(user, view, dict(typed))
    assert ack.status == 200 and ack.latency < 3.0
    await rig.idle()
    return rig.slack.calls[before:]


def filled_in(view: dict[str, Any]) -> dict[str, str | None]:
    return {
        b["block_id"]: b["element"].get("initial_value")
        for b in view["blocks"]
        if b["type"] == "input"
    }


def test_the_cards_edit_menu_opens_a_filled_in_form_whose_submission_edits_the_task(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        (card,) = card_posts(await say(rig, "UA", 'task "Fix the tap" need:2 due:"in 3 days"'), 1)
        await press(rig, "UB", card, "join", 1)
        await press(rig, "UC", card, "join", 1)
        assert elements_of(card)[-1]["action_id"] == CARD_MENU

        view = await open_edit(rig, "UA", card, 1)
        assert view["callback_id"] == "coop_edit_form"
        assert filled_in(view) == {"title": "Fix the tap", "need": "2", "due": None, "closes": None}
        # Nothing changes until the form is submitted.
        assert rig.actions()[1]["title"] == "Fix the tap"

        # Lowering the need to one moves the newest joiner to the waitlist.
        edited = await submit(rig, "UA", view, title="Fix the kitchen tap", need="1")
        (edit,) = edits(edited, card)
        assert edit.params["text"] == "#1 Fix the kitchen tap — 1/1 in"
        assert "*Waitlist:* <@UC>" in blocks_text(edit)
        assert rig.statuses(1) == {"UB": "committed", "UC": "waitlisted"}
        told = {c.params["channel"]: c.params["text"] for c in of(edited, "chat.postMessage")}
        assert set(told) == {"DUB", "DUC"} and "Fix the kitchen tap" in told["DUB"]
        (answer,) = answers(edited, "UA")
        assert "Fix the kitchen tap" in answer

        # Someone else's edit, and a mistake, are answered privately in the card's channel.
        refused = await submit(rig, "UD", await open_edit(rig, "UD", card, 1), title="Mine")
        (why,) = of(refused, "chat.postEphemeral")
        assert (why.params["user"], why.params["channel"]) == ("UD", "C1")
        assert "or a community admin can edit it" in why.params["text"]
        mistake = await submit(rig, "UA", await open_edit(rig, "UA", card, 1), due="soonish")
        (unreadable,) = answers(mistake, "UA")
        assert "soonish" in unreadable
        assert (
            not edits(refused + mistake, card)
            and rig.actions()[1]["title"] == "Fix the kitchen tap"
        )

        # Edit picked on the card of a task closed since opens no form: it says why.
        await say(rig, "UA", "close #1")
        before = len(rig.slack.calls_to("views.open"))
        late = await pick(rig, "UA", card, CARD_MENU, "edit:1", "overflow")
        assert len(rig.slack.calls_to("views.open")) == before
        assert answers(late, "UA") == ["#1 isn't open any more, so it can't be edited."]
        assert not undeclared_methods(rig.slack)

    run(tmp_path, "socket", scenario)


def dms_to(calls: list[Call], user: str) -> list[Call]:
    return of(calls, "chat.postMessage", "D" + user)


def test_a_late_promotion_is_confirmed_with_the_buttons_of_its_dm(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        (card,) = card_posts(
            await say(rig, "UA", 'task "Drive to the market" need:1 due:"in 3 hours"'), 1
        )
        await press(rig, "UA", card, "join", 1)
        await press(rig, "UB", card, "join", 1)
        await press(rig, "UC", card, "join", 1)
        assert rig.statuses(1) == {"UA": "committed", "UB": "waitlisted", "UC": "waitlisted"}

        # Ana leaves close to the due time: Bo is promoted, and asked to confirm in his DM.
        left = await press(rig, "UA", card, "leave", 1)
        (ask,) = dms_to(left, "UB")
        assert buttons(ask) == [
            ("coop_confirm", "1", "I'm still in"),
            ("coop_confirm_no", "1", "Can't make it"),
        ]
        confirmed = await press(rig, "UB", ask, "confirm", 1)
        (thanks,) = of(confirmed, "chat.postEphemeral", "DUB")  # answered in the DM
        assert "is yours" in thanks.params["text"]
        assert rig.statuses(1)["UB"] == "committed"

        # Cy is promoted next when Bo can't make it after all.
        await press(rig, "UB", card, "leave", 1)
        (ask,) = dms_to(rig.slack.calls, "UC")[-1:]
        declined = await press(rig, "UC", ask, "confirm_no", 1)
        assert "passed your place" in answers(declined, "UC")[0]
        assert rig.statuses(1)["UC"] == "withdrawn"
        (edit,) = edits(declined, card)
        assert edit.params["text"] == "#1 Drive to the market — 0/1 in"
        assert not undeclared_methods(rig.slack)

    run(tmp_path, "socket", scenario)


def test_a_hand_off_offer_is_taken_with_the_button_of_its_dm(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        (card,) = card_posts(await say(rig, "UA", 'task "Bake bread" need:1 due:"in 2 days"'), 1)
        await press(rig, "UA", card, "join", 1)
        offered = await say(rig, "UA", "handoff #1 <@UB|bob>")
        (offer,) = dms_to(offered, "UB")
        assert buttons(offer) == [
            ("coop_handoff_yes", "1", "Take the place"),
            ("coop_handoff_no", "1", "Decline"),
        ]
        taken = await press(rig, "UB", offer, "handoff_yes", 1)
        assert rig.statuses(1)["UB"] == "committed" and rig.statuses(1)["UA"] != "committed"
        (edit,) = edits(taken, card)
        assert "*In:* <@UB>" in blocks_text(edit)

    run(tmp_path, "socket", scenario)


def test_a_slack_admin_adds_and_removes_someone_named_who_is_told(tmp_path: Path) -> None:
    async def scenario(rig: Rig) -> None:
        rig.slack.set_user("UF", name="frank", real_name="Frank", is_admin=True)
        (card,) = card_posts(await say(rig, "UA", 'task "Kitchen" need:1'), 1)

        added = await say(rig, "UF", "join #1 for:<@UB>")
        assert rig.statuses(1) == {"UB": "committed"}
        (told,) = dms_to(added, "UB")
        assert "frank added you to #1" in told.params["text"]
        assert answers(added, "UF") == ["Added bob to #1 “Kitchen”; I've told them."]
        assert not answers(added, "UB")
        (edit,) = edits(added, card)
        assert "*In:* <@UB>" in blocks_text(edit)

        # Refused privately, and nothing changes: someone not an admin, a person Slack does
        # not know, a Slack Connect guest from another company.
        rig.slack.set_user("UG", name="guest", team_id="T9")
        rig.slack.invent_users = False
        before = rig.actions()
        for who, text, reason in (
            ("UC", "join #1 for:<@UD>", "Only a community admin can join someone else"),
            ("UF", "leave #1 for:<@UNOBODY>", "I can't find UNOBODY here"),
            ("UF", "join #1 for:<@UG>", "I can't find UG here"),
        ):
            refused = await say(rig, who, text)
            (why,) = of(refused, "chat.postEphemeral")
            assert (why.params["user"], why.params["channel"]) == (who, "C1")
            assert reason in why.params["text"]
            assert not of(refused, "chat.postMessage") and not of(refused, "chat.update")
        assert rig.actions() == before

        taken = await say(rig, "UF", "leave #1 for:<@UB>")
        assert rig.statuses(1) == {"UB": "withdrawn"}
        (told,) = dms_to(taken, "UB")
        assert "frank took you off #1" in told.params["text"]
        (edit,) = edits(taken, card)
        assert edit.params["text"] == "#1 Kitchen — 0/1 in"
        assert not undeclared_methods(rig.slack)

    run(tmp_path, "socket", scenario)


def test_coop_calendar_answers_privately_with_a_link_that_opens_the_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In HTTP mode on any free port (http_port 0), the feeds are served beside Slack's
    events, and the link names the port the server bound."""
    monkeypatch.setenv("COOPBOT_OPS__LISTEN", "auto")  # the endpoints on Slack's server
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)

    async def command(send: HttpDriver, user: str, text: str) -> list[Call]:
        before = len(slack.calls)
        ack = await send.command(user, text, response_url=slack.response_url())
        assert ack.status == 200 and ack.latency < 3.0
        await core.idle()
        return slack.calls[before:]

    async def scenario() -> None:
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        core.http_bound.append(bound.set_result)
        stop = asyncio.Event()
        served = asyncio.create_task(
            wiring.serve(core, ["slack"], io.StringIO(), io.StringIO(), stop)
        )
        port = await asyncio.wait_for(bound, 10)
        assert port != 0
        async with aiohttp.ClientSession() as session:
            send = HttpDriver(session, port)
            await command(send, "UA", 'task "Fix the tap" due:"in 3 days"')
            await command(send, "UB", "join #1")
            asked = await command(send, "UB", "calendar")
            (answer,) = answers(asked, "UB")
            assert not of(asked, "chat.postMessage") and not of(asked, "chat.update")
            # The link is shown whole, as a link (inert keeps an address clickable).
            found = re.search(r"<(http://127\.0\.0\.1:(\d+)/calendar/[\w-]+\.ics)>", answer)
            assert found is not None, answer
            assert int(found[2]) == port
            async with session.get(found[1]) as feed:
                assert feed.status == 200
                assert feed.content_type == "text/calendar"
                assert "Fix the tap" in await feed.text()
        stop.set()
        await served

    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, "http")
        asyncio.run(scenario())


def test_the_card_says_when_sign_up_closes_and_a_late_join_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        rig.slack.set_user("UF", name="frank", real_name="Frank", is_admin=True)
        made = await say(rig, "UA", 'task "Bake sale" due:"in 3 days" closes:"in 2 days"')
        (card,) = card_posts(made, 1)
        closes = int((START + timedelta(days=2)).timestamp())
        assert f"Sign-up closes <!date^{closes}^" in blocks_text(card)

        closing = await advance(rig, timedelta(days=2, minutes=1))
        (edit,) = edits(closing, card)
        shown = blocks_text(edit)
        assert "🚫 Sign-up closed" in shown and "Sign-up closes" not in shown
        assert [b[0] for b in buttons(edit)] == ["coop_leave", "coop_done"]

        # Typed, or pressed on a card drawn before it closed: refused privately, saying why.
        for refused in (await say(rig, "UB", "join #1"), await press(rig, "UC", card, "join", 1)):
            (why,) = of(refused, "chat.postEphemeral")
            assert why.params["text"].startswith("Sign-up for #1 “Bake sale” closed ")
            assert "Ask alice (who created it)" in why.params["text"]
            assert not edits(refused, card)
        assert rig.statuses(1) == {}
        # An admin may still add someone: the organiser's call.
        await say(rig, "UF", "join #1 for:<@UB>")
        assert rig.statuses(1) == {"UB": "committed"}

    run(tmp_path, "socket", scenario)


def test_a_recurring_task_opens_the_next_card_when_due_with_its_regulars_until_stopped(
    tmp_path: Path,
) -> None:
    async def scenario(rig: Rig) -> None:
        made = await say(rig, "UA", 'task "Park clean-up" every:"saturday 10am" carry:yes')
        (first,) = card_posts(made, 1)
        (line,) = [x for x in blocks_text(first).splitlines() if "Repeats" in x]
        assert line == "🔁 Repeats every Saturday at 10:00 (Europe/London)"  # the creator's zone
        await press(rig, "UB", first, "join", 1)

        # Saturday 10:00 in London (UTC in winter): #1 is due, and #2 opens with its own card.
        assert not card_posts(await advance(rig, timedelta(days=1) - timedelta(minutes=1)), 2)
        opened = await advance(rig, timedelta(minutes=1))
        (second,) = card_posts(of(opened, "chat.postMessage", "C1"), 2)
        assert second.params["text"].startswith("#2 Park clean-up")
        assert line in blocks_text(second)
        # carry:yes: Bob stays in on #2, and is told so.
        assert "*In:* <@UB>" in blocks_text(second)
        assert rig.statuses(2) == {"UB": "committed"}
        (told,) = [dm for dm in dms_to(opened, "UB") if "#2" in dm.params["text"]]
        assert "you're in, as last time" in told.params["text"]

        stopped = await say(rig, "UA", "stop #2")
        assert any("no more occurrences" in a for a in answers(stopped, "UA"))
        for card in (first, second):
            (edit,) = edits(stopped, card)
            assert "Repeats" not in blocks_text(edit)
        assert not card_posts(await advance(rig, timedelta(days=7)), 3)
        assert not undeclared_methods(rig.slack)

    run(tmp_path, "socket", scenario)
