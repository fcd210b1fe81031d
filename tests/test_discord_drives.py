"""Pledge drives end to end on Discord: `/coop pledge`, the Pledge button, `/coop join ... if:`,
the "Start a pledge drive" menu and its form, tipping, the deadline and the check-in DMs, sent
through the fake gateway to the real discord.py client and checked in the requests Discord got.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.events import DriveRequested
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    ID,
    Handled,
    action_of,
    answer_path,
    card_messages,
    card_number,
    followup_texts,
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
    statuses,
    unreact,
)
from tests.fakes.discord import APPLICATION_ID, FakeDiscord, RecordedCall
from tests.harness import START
from tests.test_discord_reminders import (
    answers_to_press,
    buttons,
    channel_posts,
    dm_posts,
    fire_at,
    press_in_dm,
    private_answer,
)

DRIVE_MENU = "Start a pledge drive"
MESSAGES = rf"/channels/{CHANNEL_ID}/messages"
DEADLINE = START + timedelta(days=2)
HAND = "✋"


def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coopbot.db'}"


def unix(when: datetime) -> int:
    return int(when.timestamp())


def closes(when: datetime) -> str:
    return f"Sign-up closes <t:{unix(when)}:f> (<t:{unix(when)}:R>)"


def description(message: dict[str, Any]) -> list[str]:
    return str(message["embeds"][0]["description"]).split("\n")


def fields(message: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0].get("fields", [])}


def footer(message: dict[str, Any]) -> str:
    return str(message["embeds"][0]["footer"]["text"])


def mentions(*names: str) -> str:
    return ", ".join(f"<@{ID[name]}>" for name in names)


def card(fake: FakeDiscord, number: int) -> dict[str, Any]:
    """The card of action `number` as it stands in #general now (after its edits)."""
    [found] = [m for m in card_messages(fake) if card_number(m) == number]
    return found


def drive_buttons(number: int) -> list[tuple[str, str]]:
    return [
        (f"coop:join:{GUILD_ID}:{number}", "Pledge"),
        (f"coop:leave:{GUILD_ID}:{number}", "Withdraw"),
    ]


def seeded(fake: FakeDiscord, message: dict[str, Any]) -> list[RecordedCall]:
    """The bot's own ✋ added to `message` (to show people where to click)."""
    return fake.calls_to("PUT", rf"{MESSAGES}/{message['id']}/reactions/{HAND}/@me")


async def posted(fake: FakeDiscord, number: int) -> dict[str, Any]:
    """The card of action `number`, once it is in #general."""
    for _ in range(50):
        found = [m for m in card_messages(fake) if card_number(m) == number]
        if found:
            return found[0]
        count = len(fake.calls_to("POST", MESSAGES))
        await fake.await_for("POST", MESSAGES, count + 1)
    raise AssertionError(f"card #{number} was never posted")


async def open_form(fake: FakeDiscord, who: str, target: dict[str, Any]) -> dict[str, Any]:
    """`who` uses "Start a pledge drive" on `target`; the modal Discord was asked to show."""
    opener = menu(who, target, DRIVE_MENU)
    await interact(fake, opener)
    [opened] = fake.calls_to("POST", rf"/interactions/{opener['id']}/.+")
    assert opened.json["type"] == 9  # a modal
    return dict(opened.json["data"])


def pledge_if(who: str, number: int, condition: str) -> dict[str, Any]:
    """`/coop join id:<number> if:<condition>`, the option named `if` as Discord sends it
    (a Python keyword, which the adapter renames for discord.py)."""
    options: dict[str, Any] = {"id": number, "if": condition}
    return slash(who, "join", **options)


def labels(modal: dict[str, Any]) -> list[tuple[str, bool]]:
    """(label, required) of each text input of a modal, in order."""
    inputs = [c for row in modal["components"] for c in row["components"]]
    return [(c["label"], c["required"]) for c in inputs]


# --- /coop pledge, pledges and tipping -----------------------------------------------------


def test_a_drive_shows_progress_and_deadline_and_tips_once_into_a_task(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        started = slash("alice", "pledge", title="Beach cleanup", goal=3, deadline="in 2 days")
        conditional = pledge_if("carol", 1, "2")

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, started)
                await handled.wait(1)
                drive = await posted(fake, 1)
                assert private_answer(fake, started) == (
                    "Started the pledge drive #1 “Beach cleanup”: goal 3 people, sign-up closes "
                    "Sun 29 Nov 2026 10:00 (UTC)."
                )
                [post] = fake.calls_to("POST", MESSAGES)
                [embed] = post.json["embeds"]
                assert embed["title"] == "#1 Beach cleanup"
                assert embed["description"].split("\n") == [
                    f"Pledge drive by <@{ID['alice']}>",
                    "▱▱▱▱▱▱▱▱▱▱ **0 of 3 in**",
                    closes(DEADLINE),
                ]
                assert "fields" not in embed or embed["fields"] == []  # nobody in: no field
                assert embed["footer"]["text"] == "Open"
                assert buttons(post.json) == drive_buttons(1)
                await fake.await_for("PUT", rf"{MESSAGES}/{drive['id']}/reactions/{HAND}/@me")

                # bob presses Pledge; carol pledges on a condition bob alone does not meet.
                await interact(fake, press("bob", "join", 1, drive))
                await handled.wait(2)
                await interact(fake, conditional)
                await handled.wait(3)
                assert private_answer(fake, conditional) == (
                    "You've pledged to #1 “Beach cleanup”, on a condition: you asked for at "
                    "least 2 others and 1 is in. It counts as soon as that changes "
                    "(1 of 3 in so far)."
                )
                [carols] = [
                    c
                    for c in action_of(core, 1).commitments
                    if c.member.external_id == str(ID["carol"])
                ]
                assert (carols.status.value, carols.if_others) == ("committed", 2)
                now = card(fake, 1)
                assert description(now)[1:3] == [
                    "▰▰▰▱▱▱▱▱▱▱ **1 of 3 in**",
                    f"1 more conditional: {mentions('carol')}",
                ]
                assert fields(now) == {"In": mentions("bob")}
                assert channel_posts(fake, CHANNEL_ID) == []

                # dave's pledge makes carol's condition hold: 3 of 3, and it tips, once.
                dave = press("dave", "join", 1, drive)
                await interact(fake, dave)
                await handled.wait(4)
                await core.idle()
                assert answers_to_press(fake, dave) == [
                    "Your pledge tipped #1 “Beach cleanup”: 3 of 3 in!"
                ]

        run(scenario)
        [announced] = channel_posts(fake, CHANNEL_ID)
        assert announced.json["content"] == (
            "🎉 #1 “Beach cleanup” tipped: 3 of 3 in! The pledges are now commitments on task #2."
        )
        assert announced.json["allowed_mentions"] == {"parse": []}
        for who in ("bob", "carol", "dave"):
            [dm] = dm_posts(fake, who)
            assert dm.json["content"].startswith("#1 “Beach cleanup” tipped: 3 of 3 in. You're in")
        assert [dm_posts(fake, who) for who in ("alice", "erin", "frank")] == [[], [], []]

        task = card(fake, 2)
        assert task["embeds"][0]["title"] == "#2 Beach cleanup"
        assert set(fields(task)["In"].split(", ")) == set(
            mentions("bob", "carol", "dave").split(", ")
        )
        assert statuses(core, 2) == {"bob": "committed", "carol": "committed", "dave": "committed"}

        tipped = card(fake, 1)
        assert footer(tipped) == "Tipped"
        assert tipped["components"] == []
        lines = description(tipped)
        assert lines[1] == "▰▰▰▰▰▰▰▰▰▰ **3 of 3 in**"
        assert "🎉 Tipped! Now task #2" in lines
        assert not any(line.startswith("Sign-up closes") for line in lines)
        assert set(fields(tipped)["In"].split(", ")) == set(
            mentions("bob", "carol", "dave").split(", ")
        )
        assert action_of(core, 1).state.value == "tipped"
        assert fake.errors == []


# --- after it tipped: "did you do it?" from the DM -----------------------------------------


def test_the_check_in_after_a_tipped_drive_is_answered_with_the_dm_buttons(
    tmp_path: Path,
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core):
                await interact(
                    fake,
                    slash("alice", "pledge", title="Plant trees", goal=2, deadline="in 2 days"),
                )
                await handled.wait(1)
                await interact(fake, slash("bob", "join", id=1))
                await interact(fake, slash("carol", "join", id=1))
                await handled.wait(3)
                await core.idle()
                assert action_of(core, 1).state.value == "tipped"
                tipped_dms = {who: len(dm_posts(fake, who)) for who in ("bob", "carol")}

                # Three days after the tip (the task has no due time) each of the group is asked.
                assert await fire_at(core, START + timedelta(days=3) - timedelta(minutes=1)) == 0
                assert await fire_at(core, START + timedelta(days=3)) == 1
                asked = {who: dm_posts(fake, who)[tipped_dms[who] :] for who in tipped_dms}
                for who, [dm] in asked.items():
                    assert dm.json["content"] == (
                        "Did you do it? #1 “Plant trees” tipped and you were in. "
                        "Your answer shows on its card."
                    ), who
                    assert buttons(dm.json) == [
                        (f"coop:pledge_did:{GUILD_ID}:1", "I did it"),
                        (f"coop:pledge_didnt:{GUILD_ID}:1", "I didn't"),
                    ]
                assert dm_posts(fake, "alice") == []

                # Pressed in the DM (no guild), they come back for the guild they name.
                [bobs] = asked["bob"]
                did = press_in_dm(fake, "bob", f"coop:pledge_did:{GUILD_ID}:1", bobs.response["id"])
                await interact(fake, did)
                await handled.wait(4)
                [carols] = asked["carol"]
                didnt = press_in_dm(
                    fake, "carol", f"coop:pledge_didnt:{GUILD_ID}:1", carols.response["id"]
                )
                await interact(fake, didnt)
                await handled.wait(5)
                await core.idle()
                assert answers_to_press(fake, did) == [
                    "Noted on #1 “Plant trees”. Thank you for doing it!"
                ]
                assert answers_to_press(fake, didnt) == [
                    "Noted on #1 “Plant trees”. Thanks for saying so."
                ]

        run(scenario)
        drive = card(fake, 1)
        assert "Did it: 1 · Didn't: 1" in description(drive)
        assert footer(drive) == "Tipped"
        assert {c.member.external_id: c.checkin for c in action_of(core, 1).commitments} == {
            str(ID["bob"]): "did",
            str(ID["carol"]): "didnt",
        }
        assert statuses(core, 2) == {"bob": "done", "carol": "committed"}
        assert fields(card(fake, 2)) == {"In": mentions("carol"), "Done": mentions("bob")}
        assert fake.errors == []


# --- a drive that counts an amount, and its deadline ---------------------------------------


def test_a_drive_in_hours_pledged_by_reaction_extended_once_then_failed(tmp_path: Path) -> None:
    extended = START + timedelta(days=3)
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        amount = slash("bob", "join", id=1, amount=5)
        extend = slash("alice", "extend", id=1, deadline="in 3 days")
        repaint = slash(
            "alice", "pledge", title="Repaint the hall", goal=20, deadline="in 2 days", unit="hours"
        )

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, repaint)
                await handled.wait(1)
                drive = await posted(fake, 1)
                await interact(fake, amount)
                await handled.wait(2)
                assert private_answer(fake, amount) == (
                    "You've pledged to #1 “Repaint the hall” (5 hours). It counts now: "
                    "5 of 20 hours."
                )
                assert description(card(fake, 1))[1] == "▰▰▱▱▱▱▱▱▱▱ **5 of 20 hours**"

                # On a drive that is not sealed the ✋ pledges (one hour), and taking it back
                # withdraws.
                await fake.dispatch_async(
                    "MESSAGE_REACTION_ADD", react("erin", int(drive["id"]), "✋")
                )
                await handled.wait(3)
                await core.idle()
                assert description(card(fake, 1))[1] == "▰▰▰▱▱▱▱▱▱▱ **6 of 20 hours**"
                await fake.dispatch_async(
                    "MESSAGE_REACTION_REMOVE", unreact("erin", int(drive["id"]), "✋")
                )
                await handled.wait(4)
                await core.idle()
                assert statuses(core, 1) == {"bob": "committed", "erin": "withdrawn"}
                assert description(card(fake, 1))[1] == "▰▰▱▱▱▱▱▱▱▱ **5 of 20 hours**"

                # alice gives it one more day: the card shows the new deadline, bob is told.
                await interact(fake, extend)
                await handled.wait(5)
                await core.idle()
                assert private_answer(fake, extend) == (
                    "Extended #1 “Repaint the hall” to Mon 30 Nov 2026 10:00 (UTC). "
                    "That was its one extension."
                )
                assert closes(extended) in description(card(fake, 1))
                [moved] = dm_posts(fake, "bob")
                assert moved.json["content"] == (
                    "The deadline of #1 “Repaint the hall” moved to Mon 30 Nov 2026 10:00 (UTC). "
                    "Your pledge stands."
                )

                assert await fire_at(core, DEADLINE) == 1  # only the half-way projection
                assert footer(card(fake, 1)) == "Open"
                assert await fire_at(core, extended - timedelta(minutes=1)) == 0
                assert await fire_at(core, extended) == 1

        run(scenario)
        failed = card(fake, 1)
        assert footer(failed) == "Failed"
        assert failed["components"] == []
        assert description(failed)[1:] == [
            "▰▰▱▱▱▱▱▱▱▱ **5 of 20 hours**",
            f"Closed <t:{unix(extended)}:f> (<t:{unix(extended)}:R>) without reaching its goal",
        ]
        assert fields(failed) == {"In": mentions("bob")}
        _, released = dm_posts(fake, "bob")
        assert released.json["content"].startswith(
            "#1 “Repaint the hall” closed without reaching its goal: 5 of 20 hours"
        )
        assert len(dm_posts(fake, "erin")) == 1  # "you've pledged", and no release: withdrawn
        assert channel_posts(fake, CHANNEL_ID) == []  # no announcement when it fails
        assert action_of(core, 1).state.value == "failed"
        assert fake.errors == []


# --- the message context menu and its form -------------------------------------------------


def test_start_a_pledge_drive_from_a_message_through_the_form(tmp_path: Path) -> None:
    text = "Beach cleanup on Saturday\nBring gloves if you have them"
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        asked = fake.get_message(CHANNEL_ID, fake.add_message(CHANNEL_ID, text, ID["bob"]))
        assert asked is not None

        async def scenario() -> None:
            async with running_bot(core):
                form = await open_form(fake, "alice", asked)
                assert form["title"] == "Start a pledge drive"
                assert labels(form) == [
                    ("Goal", True),
                    ("Sign-up closes", True),
                    ("Unit (leave empty to count people)", False),
                    ("Sealed? (yes or no)", False),
                ]
                assert all(len(label) <= 45 for label, _ in labels(form))  # Discord's limit
                # Nothing was handed to the core yet: the form is still open.
                assert handled.events == []

                # A typo in "sealed" is refused by the adapter, privately, nothing started.
                typo = modal_submit(
                    "alice",
                    GUILD_ID,
                    CHANNEL_ID,
                    form,
                    {"Goal": "3", "Sign-up closes": "in 2 days", "Sealed? (yes or no)": "maybe"},
                )
                await interact(fake, typo)
                await fake.await_for("PATCH", rf"/webhooks/\d+/{typo['token']}/messages/@original")
                assert followup_texts(fake, typo) == ["sealed: is yes or no (got “maybe”)."]
                assert handled.events == []

                form = await open_form(fake, "alice", asked)
                submitted = modal_submit(
                    "alice",
                    GUILD_ID,
                    CHANNEL_ID,
                    form,
                    {
                        "Goal": "3",
                        "Sign-up closes": "in 2 days",
                        "Unit (leave empty to count people)": "  ",
                        "Sealed? (yes or no)": "Yes",
                    },
                )
                await interact(fake, submitted)
                [event] = await handled.wait(1)
                assert isinstance(event, DriveRequested)
                assert (event.message.channel.id, event.message.id) == (
                    str(CHANNEL_ID),
                    asked["id"],
                )
                assert (event.text, event.goal, event.deadline) == (text, "3", "in 2 days")
                assert (event.unit, event.sealed) == ("", True)
                assert event.event_id == submitted["id"]
                assert private_answer(fake, submitted) == (
                    "Started the pledge drive #1 “Beach cleanup on Saturday”: goal 3 people, "
                    "sign-up closes Sun 29 Nov 2026 10:00 (UTC). It's sealed: only counts show "
                    "until it tips."
                )
                await posted(fake, 1)

        run(scenario)
        [post] = fake.calls_to("POST", MESSAGES)
        assert str(post.json["message_reference"]["message_id"]) == asked["id"]
        assert post.json["embeds"][0]["title"] == "#1 Beach cleanup on Saturday"
        assert buttons(post.json) == drive_buttons(1)
        drive = action_of(core, 1)
        assert (drive.kind.value, drive.title, drive.body) == (
            "pledge",
            "Beach cleanup on Saturday",
            text,
        )
        assert drive.creator.external_id == str(ID["alice"])
        assert drive.due_at == DEADLINE
        assert drive.drive is not None and drive.drive.sealed and drive.drive.goal == 3
        assert fake.errors == []


def test_a_message_without_text_asks_for_the_drives_title_in_the_form(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        image_only = fake.add_message(CHANNEL_ID, "", ID["bob"])
        target = fake.get_message(CHANNEL_ID, image_only)
        assert target is not None
        link = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{image_only}"

        async def scenario() -> None:
            async with running_bot(core):
                form = await open_form(fake, "erin", target)
                assert labels(form)[0] == ("Title", True)
                assert len(labels(form)) == 5  # Discord's most
                values = {"Title": " Fix the lamp ", "Goal": "2", "Sign-up closes": "in 2 days"}
                await interact(fake, modal_submit("erin", GUILD_ID, CHANNEL_ID, form, values))
                await handled.wait(1)
                await posted(fake, 1)

        run(scenario)
        drive = action_of(core, 1)
        assert (drive.title, drive.body) == ("Fix the lamp", f"Fix the lamp\n{link}")
        assert drive.source_message_id == str(image_only)
        assert drive.drive is not None and not drive.drive.sealed
        assert fake.errors == []


# --- a sealed drive names nobody until it tips ---------------------------------------------


PLEDGERS = ("bob", "carol", "erin")


def naming(calls: list[RecordedCall], people: tuple[str, ...]) -> list[tuple[str, str]]:
    """(who, the request) for each request body that names one of `people` by id or name;
    opening a DM channel (addressed by id, it shows nothing to anyone) aside."""
    found = []
    for call in calls:
        if call.path == "/users/@me/channels":
            continue
        body = json.dumps(call.json, ensure_ascii=False)
        for who in people:
            if str(ID[who]) in body or who in body.lower():
                found.append((who, f"{call.method} {call.path}: {body[:300]}"))
    return found


def test_a_sealed_drive_shows_counts_only_until_it_tips_and_invites_no_reaction(
    tmp_path: Path,
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        sealed = slash(
            "alice", "pledge", title="Secret santa", goal=3, deadline="in 2 days", sealed="yes"
        )
        carols = pledge_if("carol", 1, "2")
        before: list[RecordedCall] = []

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, sealed)
                await handled.wait(1)
                drive = await posted(fake, 1)
                assert description(drive)[0] == f"Sealed pledge drive by <@{ID['alice']}>"
                assert "🔒 Sealed: only counts show until it tips" in description(drive)
                assert buttons(drive) == drive_buttons(1)  # pledging is by button or command

                await interact(fake, press("bob", "join", 1, drive))
                await interact(fake, carols)
                await handled.wait(3)
                # A ✋ is public, so it is no pledge here: dave is told so, by DM.
                await fake.dispatch_async(
                    "MESSAGE_REACTION_ADD", react("dave", int(drive["id"]), "✋")
                )
                await handled.wait(4)
                await core.idle()
                assert statuses(core, 1) == {"bob": "committed", "carol": "committed"}
                [refused] = dm_posts(fake, "dave")
                assert refused.json["content"].startswith("#1 “Secret santa” is sealed")
                now = card(fake, 1)
                assert description(now)[1:3] == ["▰▰▰▱▱▱▱▱▱▱ **1 of 3 in**", "1 more conditional"]
                assert fields(now) == {}
                # What others can ask for shows counts only too: show is the card's embed.
                shown = slash("frank", "show", id=1)
                await interact(fake, shown)
                await handled.wait(5)
                original = fake.original_response(shown["token"])
                assert original is not None
                assert description(original)[1:3] == description(now)[1:3]
                assert fields(original) == {}
                listed = slash("frank", "list")
                await interact(fake, listed)
                await handled.wait(6)
                assert "1 of 3 in" in private_answer(fake, listed)
                before.extend(fake.calls)

                # erin's pledge tips it: 3 of 3, and now the names show.
                await interact(fake, press("erin", "join", 1, drive))
                await handled.wait(7)
                await core.idle()
                # The task card gets its ✋; the drive's card never got one.
                task = await posted(fake, 2)
                await fake.await_for("PUT", rf"{MESSAGES}/{task['id']}/reactions/{HAND}/@me")
                assert seeded(fake, drive) == []

        run(scenario)
        assert naming(before, PLEDGERS) == []
        assert len(before) > 10  # cards, edits, answers and a DM were all looked at
        tipped = card(fake, 1)
        assert footer(tipped) == "Tipped"
        assert "🔒 Sealed: only counts show until it tips" not in description(tipped)
        in_ = set(fields(tipped)["In"].split(", "))
        assert in_ == {f"<@{ID[who]}>" for who in PLEDGERS}
        # The same look finds them once it tipped (the tipped card, their DMs).
        after = fake.calls[len(before) :]
        assert {who for who, _ in naming(after, PLEDGERS)} == set(PLEDGERS)
        assert fake.errors == []


# --- where the bot cannot post its card ----------------------------------------------------


def test_a_drive_where_the_bot_cannot_post_cards_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    no_embeds = {"id": str(APPLICATION_ID), "type": 1, "allow": "0", "deny": str(1 << 14)}
    with new_fake(channel={"permission_overwrites": [no_embeds]}) as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        asked = fake.get_message(CHANNEL_ID, fake.add_message(CHANNEL_ID, "Picnic", ID["bob"]))
        assert asked is not None
        command = slash("alice", "pledge", title="Picnic", goal=2, deadline="in 2 days")

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, command)
                [reply] = await fake.await_for("PATCH", answer_path(command))
                form = await open_form(fake, "bob", asked)
                values = {"Goal": "2", "Sign-up closes": "in 2 days"}
                submitted = modal_submit("bob", GUILD_ID, CHANNEL_ID, form, values)
                await interact(fake, submitted)
                [answer] = await fake.await_for("PATCH", answer_path(submitted))
                for said in (reply, answer):
                    assert said.json["content"] == (
                        f"I can't post cards in <#{CHANNEL_ID}>: I'm missing the Embed Links "
                        "permission there. A server admin can grant it in the channel's "
                        "settings (Permissions), then try again."
                    )

        run(scenario)
        assert fake.calls_to("POST", MESSAGES) == []
        with core.uow() as uow:
            assert list(uow.export()) == []
        assert handled.events == []
