"""Shaped tasks on Discord: the role select and per-role progress, Maybe, the sign-up cut-off
and the repeat rule on the card, the Edit button and its form, the hand-off buttons in DMs and
/coop calendar, admins joining others (for:), a series' next card and the cut-off firing. First
the rendering and the form alone, then end to end through the fake gateway to the real
discord.py client, checked in the requests Discord got."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import discord
import pytest

from adapters.discord.chat import REACTIONS_LIMIT
from adapters.discord.commands import build_group, command_text
from adapters.discord.embeds import EMBED_LIMIT, FIELD_VALUE_LIMIT, FIELDS_LIMIT, card_embed
from adapters.discord.reactions import ReactionGate
from adapters.discord.views import OPTION_LIMIT, OPTIONS_LIMIT, EditForm, EditModal, card_view
from bot.cards import Button, Card, Person, RoleView
from bot.events import EditRequested
from bot.grammar import GRAMMAR, MAX_ROLE_NAME, MAX_ROLES, MAX_TITLE, SUBCOMMANDS, parse
from bot.shaping import PALETTE
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    ID,
    USERS,
    Handled,
    action_of,
    as_admin,
    card_messages,
    card_number,
    interact,
    modal_submit,
    new_core,
    new_fake,
    press,
    run,
    running_bot,
    slash,
    statuses,
    unreact,
)
from tests.fakes.discord import (
    APPLICATION_ID,
    FakeDiscord,
    RecordedCall,
    component_interaction,
    member_payload,
    reaction_add,
)
from tests.harness import START
from tests.test_discord_drives import card, posted
from tests.test_discord_reminders import (
    STRANGER,
    answers_to_press,
    buttons,
    dm_posts,
    fire_at,
    press_in_dm,
    private_answer,
    unix,
)

BIGGEST_GUILD = 2**64 - 1  # a snowflake's most: custom_ids must still fit
CLOSES = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
ANA, BO, CY, DI = (
    Person(str(1400000000000000010 + i), n) for i, n in enumerate(["ana", "bo", "cy", "di"])
)


def open_buttons(number: int) -> tuple[Button, ...]:
    return tuple(Button(name, name.title(), number) for name in ("join", "maybe", "leave", "done"))


def shaped_card(**changes: Any) -> Card:
    """An open market-stall task: one driver (and one waiting), cooks, setup for anyone."""
    card = Card(
        number=7,
        kind="task",
        title="Saturday market stall",
        creator=ANA,
        state="open",
        need=None,
        due_at=None,
        committed=(ANA, BO, DI),
        done=(),
        waitlist=(CY,),
        buttons=open_buttons(7),
        roles=(
            RoleView("driver", 1, "🚗", committed=(ANA,), waitlist=(CY,)),
            RoleView("cook", 4, "wok_master", committed=(BO,)),
            RoleView("setup", None),
        ),
        maybe=(CY,),
        closes_at=CLOSES,
        repeats="every Saturday at 10:00",
        editable=True,
    )
    return replace(card, **changes)


def components(card: Card, guild_id: int = GUILD_ID) -> list[dict[str, Any]]:
    view = card_view(card, guild_id)
    assert view is not None
    return view.to_components()


def field_map(embed: discord.Embed) -> dict[str, str]:
    return {str(f.name): str(f.value) for f in embed.fields}


# --- the card ------------------------------------------------------------------------------


def test_a_roles_card_shows_each_roles_progress_people_waitlist_and_the_maybes() -> None:
    embed = card_embed(shaped_card())
    unix = int(CLOSES.timestamp())
    assert (embed.description or "").split("\n") == [
        f"by <@{ANA.id}>",
        f"Sign-up closes <t:{unix}:f> (<t:{unix}:R>)",
        "🔁 Repeats every Saturday at 10:00",
        "**3 in**",
    ]
    assert field_map(embed) == {
        "🚗 driver · 1/1 in": f"<@{ANA.id}>\nWaitlist: <@{CY.id}>",
        # "wok_master" is no emoji Discord draws (an unknown name): the name alone.
        "cook · 1/4 in": f"<@{BO.id}>",
        "setup · 0 in": "nobody yet",
        # di joined before the task had roles: still shown as in.
        "In (no role)": f"<@{DI.id}>",
        "Maybe (1)": f"<@{CY.id}>",
    }


def test_a_closed_sign_up_says_so_and_a_card_without_roles_keeps_its_fields() -> None:
    closed = shaped_card(signup_closed=True, roles=(), repeats="", committed=(ANA,))
    embed = card_embed(closed)
    unix = int(CLOSES.timestamp())
    assert (embed.description or "").split("\n")[1] == (
        f"🔒 Sign-up closed <t:{unix}:f> (<t:{unix}:R>)"
    )
    assert field_map(embed) == {
        "In": f"<@{ANA.id}>",
        "Waitlist": f"<@{CY.id}>",
        "Maybe (1)": f"<@{CY.id}>",
    }


def test_a_card_with_many_crowded_roles_stays_within_discord_limits() -> None:
    # What the core allows fits whole: a select option (and a reaction) per role, a field each.
    assert min(OPTIONS_LIMIT, REACTIONS_LIMIT, FIELDS_LIMIT - 2) >= MAX_ROLES
    assert MAX_ROLE_NAME <= OPTION_LIMIT
    # Past that, what does not fit is cut or counted, never refused by Discord.
    crowd = tuple(Person(str(10**18 + i), f"p{i}") for i in range(300))
    roles = tuple(
        RoleView("r" * 90 + str(i), 300, "🍳", committed=crowd, done=crowd, waitlist=crowd)
        for i in range(40)
    )
    card = shaped_card(title="T" * MAX_TITLE, roles=roles, committed=crowd, done=crowd, maybe=crowd)
    embed = card_embed(card)
    assert len(embed) <= EMBED_LIMIT
    assert len(embed.fields) <= FIELDS_LIMIT
    assert all(len(f.value or "") <= FIELD_VALUE_LIMIT for f in embed.fields)
    assert all(len(f.name or "") <= 256 for f in embed.fields)
    # The roles beyond what fits are named, with their progress, in the last role field.
    assert embed.fields[-2].name == "18 more roles"
    assert embed.fields[-1].name == "Maybe (300)"

    rows = components(card, BIGGEST_GUILD)
    assert len(rows) <= 5
    [select] = rows[0]["components"]
    assert len(select["options"]) == 25
    assert all(len(o["label"]) <= 100 and len(o["value"]) <= 100 for o in select["options"])
    ids = [c["custom_id"] for row in rows for c in row["components"]]
    assert all(len(i) <= 100 for i in ids)


# --- the card's components -----------------------------------------------------------------


def test_join_on_a_roles_card_is_a_select_of_roles_above_the_buttons_and_edit() -> None:
    select_row, button_row = components(shaped_card())
    [select] = select_row["components"]
    assert select["type"] == 3
    assert select["custom_id"] == f"coop:pick:join:{GUILD_ID}:7"
    assert select["placeholder"] == "Join as…"
    assert (select["min_values"], select["max_values"]) == (1, 1)
    assert [
        (o["label"], o["value"], o["description"], o.get("emoji")) for o in select["options"]
    ] == [
        ("driver", "driver", "1/1 in · full: you'd be on the waitlist", {"id": None, "name": "🚗"}),
        ("cook", "cook", "1/4 in", None),
        ("setup", "setup", "0 in", None),
    ]
    assert [(b["custom_id"], b["label"]) for b in button_row["components"]] == [
        (f"coop:maybe:{GUILD_ID}:7", "Maybe"),
        (f"coop:leave:{GUILD_ID}:7", "Leave"),
        (f"coop:done:{GUILD_ID}:7", "Done"),
        (f"coop:form:edit:{GUILD_ID}:7", "Edit"),
    ]


def test_an_emoji_newer_than_discords_is_left_off_the_select_but_named_on_the_card() -> None:
    splatter = "\U0001fadf"  # Emoji 16.0 (2024)
    card = shaped_card(roles=(RoleView("paint", 2, splatter), RoleView("cook", 2, "cook")))
    [select] = components(card)[0]["components"]
    assert [o.get("emoji") for o in select["options"]] == [
        None,
        {"id": None, "name": "🧑\u200d🍳"},
    ]
    assert list(field_map(card_embed(card)))[:2] == [
        f"{splatter} paint · 0/2 in",
        "🧑\u200d🍳 cook · 0/2 in",
    ]


def test_without_roles_join_stays_a_button_and_edit_shows_only_when_editable() -> None:
    [row] = components(shaped_card(roles=(), editable=False))
    assert [b["custom_id"] for b in row["components"]] == [
        f"coop:{name}:{GUILD_ID}:7" for name in ("join", "maybe", "leave", "done")
    ]
    # Closed sign-up: the core gives no Join, so no select either.
    closed = shaped_card(buttons=open_buttons(7)[2:], signup_closed=True)
    [row] = components(closed)
    assert [b["custom_id"] for b in row["components"]] == [
        f"coop:leave:{GUILD_ID}:7",
        f"coop:done:{GUILD_ID}:7",
        f"coop:form:edit:{GUILD_ID}:7",
    ]
    assert card_view(shaped_card(buttons=(), editable=False), GUILD_ID) is None


# --- role reactions ------------------------------------------------------------------------


def raw_reaction(
    emoji: str, added: bool, author: int | None = None, message: int = 7
) -> discord.RawReactionActionEvent:
    data: Any = {"message_id": str(message), "channel_id": "8", "user_id": "5", "guild_id": "9"}
    data["type"] = 0
    if author is not None:  # Discord names the message's author on adds only
        data["message_author_id"] = str(author)
    kind: Literal["REACTION_ADD", "REACTION_REMOVE"] = (
        "REACTION_ADD" if added else "REACTION_REMOVE"
    )
    return discord.RawReactionActionEvent(data, discord.PartialEmoji(name=emoji), kind)


def test_the_gate_lets_role_emoji_through_and_any_emoji_on_the_bots_own_messages() -> None:
    bot = 1
    gate = ReactionGate(("📌", "✋", "✅"), roles=PALETTE)

    def admitted(emoji: str, added: bool, author: int | None = None, message: int = 7) -> bool:
        return gate.admit(raw_reaction(emoji, added, author, message), bot, None) is not None

    assert admitted("🔵", True) and admitted("🔵", False)  # the default palette, anywhere
    assert not admitted("🚗", True, author=2)  # someone else's message
    assert admitted("🚗", True, author=bot)  # a card: it may be a role's
    assert not admitted("🚗", False)  # a removal names no author: unknown yet
    assert not admitted("not_an_emoji", True, author=bot)
    gate.learn(["car"])  # a card with the role driver:2:car was drawn
    assert admitted("🚗", False) and admitted("🚗", True, author=2, message=8)


# --- the Edit form -------------------------------------------------------------------------


def filled(modal: EditModal, **typed: str) -> EditForm:
    """The form as submitted with `typed` in its inputs (the rest as prefilled)."""
    inputs = {
        "title": modal.title_input,
        "need": modal.need,
        "due": modal.due,
        "closes": modal.closes,
    }
    for name, item in inputs.items():
        if item is not None:
            item._value = typed.get(name, item.default or "")  # what Discord sends back
    return modal.form()


def test_the_edit_form_is_prefilled_and_sends_only_what_changed() -> None:
    card = shaped_card(need=3, roles=())
    modal = EditModal(GUILD_ID, 2, 7, card)
    assert modal.need is not None
    assert (modal.title_input.default, modal.need.default) == ("Saturday market stall", "3")
    assert modal.due.default is None and modal.closes.default is None
    assert "none" in (modal.due.placeholder or "") and "none" in (modal.closes.placeholder or "")
    assert len(modal.title) <= 45
    inputs = [c for row in modal.to_dict()["components"] for c in row["components"]]
    assert [(c["label"], c["required"]) for c in inputs] == [
        ("Title", False),
        ("People needed", False),
        ("Due", False),
        ("Sign-up closes", False),
    ]

    assert filled(modal) == EditForm()  # nothing changed
    assert filled(modal, title=" Market stall ", need="5", due="friday 5pm") == EditForm(
        "Market stall", "5", "friday 5pm", None
    )
    # Blank need is no limit; "none" clears a due time or a cut-off.
    assert filled(modal, need="", due="None", closes="none") == EditForm(None, "", "", "")
    # A blank title keeps it.
    assert filled(modal, title="  ") == EditForm()


def test_an_edit_form_without_the_card_keeps_whatever_is_left_blank() -> None:
    modal = EditModal(GUILD_ID, 2, 7, None)
    assert modal.need is not None
    assert modal.title_input.default is None and modal.need.default is None
    assert "blank: unchanged" in (modal.need.placeholder or "")
    assert filled(modal) == EditForm()
    assert filled(modal, need="none", title="New") == EditForm("New", "", None, None)


def test_a_roles_card_has_no_need_to_edit() -> None:
    modal = EditModal(GUILD_ID, 2, 7, shaped_card(need=5))
    assert modal.need is None
    assert len(modal.children) == 3
    assert filled(modal, title="Stall") == EditForm("Stall", None, None, None)


def test_a_card_without_a_need_prefills_none_and_leaves_it_so() -> None:
    modal = EditModal(GUILD_ID, 2, 7, shaped_card(need=None, roles=()))
    assert modal.need is not None and modal.need.default is None
    assert filled(modal, need="none") == EditForm()
    assert filled(modal, need="4") == EditForm(None, "4", None, None)


# --- the command tree ----------------------------------------------------------------------


def test_the_coop_group_holds_every_subcommand_within_discords_limits() -> None:
    async def run(_interaction: discord.Interaction, _text: str) -> None:
        raise AssertionError("not run")

    group = build_group(run, {})
    names = [c.name for c in group.commands]
    assert names == [s.name for s in GRAMMAR]
    assert {"edit", "maybe", "handoff", "stop", "calendar"} <= set(names)
    assert len(names) <= 25
    options: dict[str, list[str]] = {}
    for command in group.commands:
        assert isinstance(command, discord.app_commands.Command)
        assert len(command.parameters) <= 25
        assert 1 <= len(command.description) <= 100
        for param in command.parameters:
            assert len(param.display_name) <= 32 and 1 <= len(param.description) <= 100
        options[command.name] = [p.display_name for p in command.parameters]
    assert options["task"][-4:] == ["roles", "closes", "every", "carry"]
    assert options["join"][-2:] == ["role", "for"]
    assert options["edit"] == ["id", "title", "need", "due", "closes"]


@pytest.mark.parametrize(
    ("spec", "values", "typed"),
    [
        (
            "task",
            {"title": "Market stall", "roles": "driver:2, cook:4, setup", "closes": "friday 6pm"},
            'task "Market stall" roles:"driver:2, cook:4, setup" closes:"friday 6pm"',
        ),
        (
            "task",
            {"title": "Clean-up", "every": "saturday 10am", "carry": "yes"},
            'task Clean-up every:"saturday 10am" carry:yes',
        ),
        (
            "join",
            {"id": 3, "role": "cook", "for": "<@1400000000000000011>"},
            "join #3 role:cook for:<@1400000000000000011>",
        ),
        (
            "leave",
            {"id": 3, "for": "<@1400000000000000011>"},
            "leave #3 for:<@1400000000000000011>",
        ),
        ("edit", {"id": 3, "need": "none", "due": "none"}, "edit #3 need:none due:none"),
        ("edit", {"id": 3, "title": "need: 3 chairs"}, 'edit #3 title:"need: 3 chairs"'),
        ("maybe", {"id": 3}, "maybe #3"),
        ("stop", {"id": 3}, "stop #3"),
        ("handoff", {"offer": "#3 <@1400000000000000011>"}, "handoff #3 <@1400000000000000011>"),
        ("handoff", {"offer": "#3 accept"}, "handoff #3 accept"),
        ("calendar", {"which": "channel reset"}, "calendar channel reset"),
        ("calendar", {}, "calendar"),
    ],
)
def test_the_new_options_read_back_as_if_typed(
    spec: str, values: dict[str, Any], typed: str
) -> None:
    assert parse(command_text(SUBCOMMANDS[spec], values)) == parse(typed)


# --- end to end ----------------------------------------------------------------------------

MESSAGES = rf"/channels/{CHANNEL_ID}/messages"
MODAL = 9  # the interaction callback that opens a modal


def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coopbot.db'}"


def embed_fields(message: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0].get("fields", [])}


def rows(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [row["components"] for row in message["components"]]


def pick(who: str, number: int, card: dict[str, Any], role: str) -> dict[str, Any]:
    """`who` picks `role` in the "Join as…" select of task `number`'s card."""
    return component_interaction(
        GUILD_ID,
        CHANNEL_ID,
        USERS[who],
        f"coop:pick:join:{GUILD_ID}:{number}",
        card,
        component_type=3,
        values=[role],
    )


def on_card(who: str, card: dict[str, Any], emoji: str) -> dict[str, Any]:
    """`who` reacts to a card with `emoji` (Discord names the message's author on adds)."""
    return reaction_add(
        ID[who],
        CHANNEL_ID,
        int(card["id"]),
        GUILD_ID,
        emoji,
        member=member_payload(USERS[who]),
        message_author_id=APPLICATION_ID,
    )


async def open_edit(fake: FakeDiscord, who: str, number: int, card: dict[str, Any]) -> Any:
    """`who` presses Edit on the card; the modal Discord was asked to show."""
    pressed = press(who, "form:edit", number, card)
    await interact(fake, pressed)
    [opened] = fake.calls_to("POST", rf"/interactions/{pressed['id']}/.+")
    assert opened.json["type"] == MODAL
    return opened.json["data"]


def prefilled(modal: dict[str, Any]) -> dict[str, str]:
    """label -> the value each input of the modal opens with."""
    inputs = [c for row in modal["components"] for c in row["components"]]
    return {c["label"]: c.get("value", "") for c in inputs}


def test_a_roles_task_joins_by_select_takes_maybes_and_edits_through_its_form(
    tmp_path: Path,
) -> None:
    """Roles, Maybe and role reactions before a restart; the select, a role reaction and the
    Edit button of the same card after it."""
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        create = slash("alice", "task", title="Market stall", roles="driver:1, cook:2")

        async def before_restart() -> None:
            async with running_bot(core):
                await interact(fake, create)
                await handled.wait(1)
                first = await posted(fake, 1)
                [select], buttons_row = rows(first)
                assert select["custom_id"] == f"coop:pick:join:{GUILD_ID}:1"
                assert [o["value"] for o in select["options"]] == ["driver", "cook"]
                assert [b["custom_id"] for b in buttons_row] == [
                    f"coop:maybe:{GUILD_ID}:1",
                    f"coop:leave:{GUILD_ID}:1",
                    f"coop:done:{GUILD_ID}:1",
                    f"coop:form:edit:{GUILD_ID}:1",
                ]
                assert embed_fields(first) == {
                    "🔵 driver · 0/1 in": "nobody yet",
                    "🟢 cook · 0/2 in": "nobody yet",
                }
                # Each role's emoji was put on the card to click, instead of ✋.
                seeded = fake.calls_to("PUT", rf"{MESSAGES}/{first['id']}/reactions/.+/@me")
                assert [c.path.split("/")[-2] for c in seeded] == ["🔵", "🟢"]

                # bob picks cook, erin driver; dave takes driver too: waitlisted; carol maybe;
                # frank reacts with cook's emoji.
                for step, (who, role) in enumerate(
                    (("bob", "cook"), ("erin", "driver"), ("dave", "driver")), start=2
                ):
                    await interact(fake, pick(who, 1, first, role))
                    await handled.wait(step)
                await interact(fake, press("carol", "maybe", 1, first))
                await fake.dispatch_async("MESSAGE_REACTION_ADD", on_card("frank", first, "🟢"))
                await handled.wait(6)

        run(before_restart)
        assert statuses(core, 1) == {
            "bob": "committed",
            "erin": "committed",
            "dave": "waitlisted",
            "carol": "maybe",
            "frank": "committed",
        }
        assert {c.member.display_name: c.role for c in action_of(core, 1).commitments} == {
            "bob": "cook",
            "erin": "driver",
            "dave": "driver",
            "carol": None,
            "frank": "cook",
        }
        assert embed_fields(card(fake, 1)) == {
            "🔵 driver · 1/1 in": f"<@{ID['erin']}>\nWaitlist: <@{ID['dave']}>",
            "🟢 cook · 2/2 in": f"<@{ID['bob']}>, <@{ID['frank']}>",
            "Maybe (1)": f"<@{ID['carol']}>",
        }

        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def after_restart() -> None:
            async with running_bot(core):
                old = card(fake, 1)
                # frank takes his reaction off (he leaves cook), carol picks cook instead.
                await fake.dispatch_async(
                    "MESSAGE_REACTION_REMOVE", unreact("frank", int(old["id"]), "🟢")
                )
                await handled.wait(1)
                await interact(fake, pick("carol", 1, old, "cook"))
                await handled.wait(2)

                # The Edit button opens the form at once, prefilled; nothing reaches the core
                # until it is submitted.
                modal = await open_edit(fake, "alice", 1, old)
                assert modal["title"] == "Edit #1"
                assert prefilled(modal) == {  # no need: each role counts its own
                    "Title": "Market stall",
                    "Due": "",
                    "Sign-up closes": "",
                }
                assert len(handled.events) == 2
                values = {"Title": "Saturday market stall", "Due": "in 3 days"}
                submitted = modal_submit("alice", GUILD_ID, CHANNEL_ID, modal, values)
                await interact(fake, submitted)
                [edit] = (await handled.wait(3))[-1:]
                assert isinstance(edit, EditRequested)
                assert (edit.number, edit.title, edit.need, edit.due, edit.closes) == (
                    1,
                    "Saturday market stall",
                    None,
                    "in 3 days",
                    None,
                )
                assert edit.channel.id == str(CHANNEL_ID)
                assert private_answer(fake, submitted) == (
                    "Updated #1 “Saturday market stall”:\n"
                    "• title: “Market stall” → “Saturday market stall”\n"
                    "• due: none → Mon 30 Nov 2026 10:00 (UTC)"
                )

                # bob may open the form, but the core refuses his edit, privately.
                modal = await open_edit(fake, "bob", 1, old)
                assert prefilled(modal)["Title"] == "Saturday market stall"
                refused = modal_submit("bob", GUILD_ID, CHANNEL_ID, modal, {"Title": "Mine now"})
                await interact(fake, refused)
                await handled.wait(4)
                assert private_answer(fake, refused).startswith("Only alice")

        run(after_restart)
        assert (statuses(core, 1)["frank"], statuses(core, 1)["carol"]) == (
            "withdrawn",
            "committed",
        )
        edited = card(fake, 1)
        assert edited["embeds"][0]["title"] == "#1 Saturday market stall"
        assert embed_fields(edited)["🟢 cook · 2/2 in"] == f"<@{ID['bob']}>, <@{ID['carol']}>"
        assert "Maybe (1)" not in embed_fields(edited)
        action = action_of(core, 1)
        assert (action.title, action.due_at) == ("Saturday market stall", START + timedelta(days=3))
        assert fake.errors == []


def test_after_a_restart_a_roles_own_emoji_still_joins_and_leaves_it(tmp_path: Path) -> None:
    """A role's own emoji (driver:2:car) passes the gate from the first reaction after a
    restart, before its card is drawn again: a removal does not say whose message it is, so
    only the open tasks' role emoji read at start-up let it through."""
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        create = slash("alice", "task", title="Market stall", roles="driver:2:car, cook:1")

        async def before_restart() -> None:
            async with running_bot(core):
                await interact(fake, create)
                await handled.wait(1)
                first = await posted(fake, 1)
                await fake.dispatch_async("MESSAGE_REACTION_ADD", on_card("frank", first, "🚗"))
                await handled.wait(2)

        run(before_restart)
        assert statuses(core, 1) == {"frank": "committed"}

        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def after_restart() -> None:
            async with running_bot(core):
                old = card(fake, 1)
                await fake.dispatch_async(
                    "MESSAGE_REACTION_REMOVE", unreact("frank", int(old["id"]), "🚗")
                )
                await handled.wait(1)
                await fake.dispatch_async("MESSAGE_REACTION_ADD", on_card("bob", old, "🚗"))
                await handled.wait(2)

        run(after_restart)
        assert statuses(core, 1) == {"frank": "withdrawn", "bob": "committed"}
        assert embed_fields(card(fake, 1))["🚗 driver · 1/2 in"] == f"<@{ID['bob']}>"
        assert fake.errors == []


def confirm_by(core: Any, who: str, number: int = 2) -> datetime | None:
    [found] = [c for c in action_of(core, number).commitments if c.member.display_name == who]
    return found.confirm_by


def test_a_handoff_offer_and_a_timed_confirm_are_answered_with_the_dm_buttons(
    tmp_path: Path,
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        gate = slash("alice", "task", title="Fix the gate", need=1, due="in 3 days")
        offer = slash("bob", "handoff", offer=f"#1 <@{ID['carol']}>")
        # Due within the confirm window: whoever moves up from the waitlist must confirm.
        drive = slash("alice", "task", title="Drive to the market", need=1, due="in 12 hours")

        async def answer(who: str, button: str, dm: RecordedCall) -> list[str]:
            pressed = press_in_dm(fake, who, button, dm.response["id"])
            # Counted before the press: under load the core may apply it before the ack.
            applied = len(handled.events)
            await interact(fake, pressed)
            await handled.wait(applied + 1)
            return answers_to_press(fake, pressed)

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, gate)
                await interact(fake, drive)
                await handled.wait(2)
                first, second = await posted(fake, 1), await posted(fake, 2)
                await interact(fake, press("bob", "join", 1, first))
                await interact(fake, offer)
                await interact(fake, press("erin", "join", 2, second))
                await interact(fake, press("dave", "join", 2, second))  # waitlisted
                await handled.wait(6)
                await interact(fake, press("erin", "leave", 2, second))  # dave moves up
                await handled.wait(7)
                await core.idle()

                [offered] = dm_posts(fake, "carol")
                assert buttons(offered.json) == [
                    (f"coop:handoff_yes:{GUILD_ID}:1", "Take the place"),
                    (f"coop:handoff_no:{GUILD_ID}:1", "Decline"),
                ]
                assert await answer("carol", f"coop:handoff_yes:{GUILD_ID}:1", offered)
                assert statuses(core, 1) == {"bob": "withdrawn", "carol": "committed"}
                assert embed_fields(card(fake, 1))["In"] == f"<@{ID['carol']}>"

                confirm = [m for m in dm_posts(fake, "dave") if buttons(m.json)]
                assert [buttons(m.json) for m in confirm] == [
                    [
                        (f"coop:confirm:{GUILD_ID}:2", "I'm still in"),
                        (f"coop:confirm_no:{GUILD_ID}:2", "Can't make it"),
                    ]
                ]
                assert confirm_by(core, "dave") is not None
                assert await answer("dave", f"coop:confirm:{GUILD_ID}:2", confirm[0])
                assert statuses(core, 2) == {"erin": "withdrawn", "dave": "committed"}
                assert confirm_by(core, "dave") is None  # confirmed: no deadline left

        run(scenario)
        assert fake.errors == []


def test_coop_calendar_answers_privately_with_the_link(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        core.coop.prefs = replace(core.coop.prefs, calendar_url="https://coop.example.org")
        handled = Handled(core)
        asked = slash("bob", "calendar")

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, asked)
                await handled.wait(1)

        run(scenario)
        # private_answer checks it is ephemeral: the link is nobody else's business.
        answer = private_answer(fake, asked)
        assert answer.startswith("Your private calendar link for what you're signed up for")
        # A link in <...> works and unfurls no preview.
        assert re.search(r"\n<https://coop\.example\.org/calendar/[\w-]{43}\.ics>\n", answer)
        assert fake.calls_to("POST", MESSAGES) == []  # nothing in the channel
        assert fake.errors == []


def test_the_edit_form_opens_in_time_when_the_card_cannot_be_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord takes a modal only within 3 seconds: a database that does not answer in time
    gives a form without prefills, whose blank fields change nothing."""
    monkeypatch.setattr("adapters.discord.cog.SUGGEST_TIMEOUT", 0.05)
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def never(_community: Any, _number: int) -> Card | None:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, slash("alice", "task", title="Paint the shed", need=3))
                await handled.wait(1)
                first = await posted(fake, 1)
                monkeypatch.setattr(core.coop, "card", never)
                modal = await open_edit(fake, "alice", 1, first)
                assert prefilled(modal) == {
                    "Title": "",
                    "People needed": "",
                    "Due": "",
                    "Sign-up closes": "",
                }
                submitted = modal_submit("alice", GUILD_ID, CHANNEL_ID, modal, {"Due": "friday"})
                await interact(fake, submitted)
                [edit] = (await handled.wait(2))[-1:]
                assert isinstance(edit, EditRequested)
                assert (edit.title, edit.need, edit.due, edit.closes) == (
                    None,
                    None,
                    "friday",
                    None,
                )

        run(scenario)
        action = action_of(core, 1)
        assert (action.title, action.need) == ("Paint the shed", 3)
        assert action.due_at is not None
        assert fake.errors == []


# --- admins acting for others, a series, the cut-off ---------------------------------------

HOUR = timedelta(hours=1)


def description(message: dict[str, Any]) -> list[str]:
    return str(message["embeds"][0].get("description") or "").split("\n")


def edits_of(fake: FakeDiscord, message: dict[str, Any]) -> list[RecordedCall]:
    return fake.calls_to("PATCH", rf"{MESSAGES}/{message['id']}")


def button_ids(body: dict[str, Any]) -> list[str]:
    return [custom_id for custom_id, _ in buttons(body)]


def test_an_admin_joins_and_takes_off_someone_named_who_is_told(tmp_path: Path) -> None:
    for_carol = {"for": f"<@{ID['carol']}>"}
    with new_fake() as fake:
        fake.add_user(STRANGER)  # a Discord user, just not in this guild
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        not_admin = slash("bob", "join", id=1, **for_carol)
        stranger = as_admin(slash("erin", "join", id=1, **{"for": f"<@{STRANGER}>"}))
        added = as_admin(slash("erin", "join", id=1, **for_carol))
        removed = as_admin(slash("erin", "leave", id=1, **for_carol))

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, slash("alice", "task", title="Fix the gate", need=2))
                await handled.wait(1)
                first = await posted(fake, 1)

                await interact(fake, not_admin)
                await interact(fake, stranger)
                await handled.wait(3)
                assert private_answer(fake, not_admin) == (
                    "Only a community admin can join someone else (for:). To join yourself: "
                    "/coop join #1."
                )
                unknown = private_answer(fake, stranger)
                assert unknown.startswith("I can't find ") and str(STRANGER) in unknown
                assert unknown.endswith("Name someone of this workspace or server, like for:@ana.")
                assert statuses(core, 1) == {}
                assert edits_of(fake, first) == [] and dm_posts(fake, "carol") == []

                await interact(fake, added)
                await handled.wait(4)
                assert private_answer(fake, added) == (
                    "Added carol to #1 “Fix the gate”; I've told them."
                )
                [told] = dm_posts(fake, "carol")
                assert told.json["content"] == (
                    "erin added you to #1 “Fix the gate”. /coop leave #1 if you can't."
                )
                assert statuses(core, 1) == {"carol": "committed"}
                assert embed_fields(card(fake, 1)) == {"In": f"<@{ID['carol']}>"}

                await interact(fake, removed)
                await handled.wait(5)
                assert private_answer(fake, removed) == (
                    "Took carol off #1 “Fix the gate”; I've told them."
                )
                _, told = dm_posts(fake, "carol")
                assert told.json["content"] == "erin took you off #1 “Fix the gate”."

        run(scenario)
        assert statuses(core, 1) == {"carol": "withdrawn"}
        assert embed_fields(card(fake, 1)) == {"In": "nobody yet"}
        # The admin is answered, not DM'd; the stranger hears nothing.
        assert fake.dm_channel_id(ID["erin"]) is None and fake.dm_channel_id(STRANGER) is None
        assert fake.errors == []


def test_a_recurring_task_opens_its_next_card_with_the_regulars_until_stopped(
    tmp_path: Path,
) -> None:
    saturday = datetime(2026, 11, 28, 10, tzinfo=UTC)  # START is Friday 10:00 UTC
    repeats = "🔁 Repeats every Saturday at 10:00 (UTC)"
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        create = slash("alice", "task", title="Park clean-up", every="saturday 10am", carry="yes")
        stop = slash("alice", "stop", id=2)

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, create)
                await handled.wait(1)
                first = await posted(fake, 1)
                assert repeats in description(first)
                assert action_of(core, 1).due_at == saturday
                await interact(fake, press("bob", "join", 1, first))
                await handled.wait(2)

                await fire_at(core, saturday - timedelta(minutes=1))
                assert [card_number(m) for m in card_messages(fake)] == [1]
                await fire_at(core, saturday)
                second = await posted(fake, 2)
                assert second["embeds"][0]["title"] == "#2 Park clean-up"
                assert description(second)[1:3] == [
                    f"due <t:{unix(saturday + 7 * 24 * HOUR)}:F> "
                    f"(<t:{unix(saturday + 7 * 24 * HOUR)}:R>)",
                    repeats,
                ]
                # carry:yes: bob, who was in on #1, is in on #2 and told so.
                assert embed_fields(second) == {"In": f"<@{ID['bob']}>"}
                assert statuses(core, 2) == {"bob": "committed"}
                assert dm_posts(fake, "bob")[-1].json["content"] == (
                    "#2 “Park clean-up” is on again, due Sat 05 Dec 2026 10:00 (UTC): you're "
                    "in, as last time. /coop leave #2 if you can't make it."
                )
                assert f"coop:join:{GUILD_ID}:2" in button_ids(second)

                await interact(fake, stop)
                await handled.wait(3)
                assert private_answer(fake, stop).startswith(
                    "Stopped the series of #2 “Park clean-up”: no more occurrences will open."
                )
                assert repeats not in description(edits_of(fake, second)[-1].json)
                assert repeats not in description(card(fake, 1))
                await fire_at(core, saturday + 8 * 24 * HOUR)

        run(scenario)
        assert [card_number(m) for m in card_messages(fake)] == [1, 2]
        assert statuses(core, 2) == {"bob": "committed"}
        assert fake.errors == []


def test_the_card_says_when_sign_up_closes_and_joins_after_it_are_refused(
    tmp_path: Path,
) -> None:
    closes = START + HOUR
    closing = f"<t:{unix(closes)}:f> (<t:{unix(closes)}:R>)"
    refusal = (
        "Sign-up for #1 “Bake bread” closed Fri 27 Nov 2026 11:00 (UTC), so I can't add you "
        "now. Ask alice (who created it) if they still need people."
    )
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        create = slash(
            "alice", "task", title="Bake bread", need=3, closes="in 1 hour", due="in 5 hours"
        )
        late = slash("carol", "join", id=1)

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, create)
                await handled.wait(1)
                first = await posted(fake, 1)
                assert description(first)[2] == f"Sign-up closes {closing}"
                await interact(fake, press("bob", "join", 1, first))
                await handled.wait(2)
                joined = len(edits_of(fake, first))

                # Past the cut-off, before its row fires: the refusal goes by the time alone.
                core.clock.advance(HOUR)
                await interact(fake, late)
                await handled.wait(3)
                assert private_answer(fake, late) == refusal
                assert len(edits_of(fake, first)) == joined

                await fire_at(core, closes)
                [closed] = edits_of(fake, first)[joined:]
                assert description(closed.json)[2] == f"🔒 Sign-up closed {closing}"
                assert f"Sign-up closes {closing}" not in description(closed.json)
                assert button_ids(closed.json) == [
                    f"coop:leave:{GUILD_ID}:1",
                    f"coop:done:{GUILD_ID}:1",
                    f"coop:form:edit:{GUILD_ID}:1",
                ]
                # The Join button of the card as it was before: refused the same way.
                stale = press("dave", "join", 1, first)
                await interact(fake, stale)
                await handled.wait(4)
                assert answers_to_press(fake, stale) == [refusal]

        run(scenario)
        assert statuses(core, 1) == {"bob": "committed"}
        assert fake.errors == []
