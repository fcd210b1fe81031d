"""The console acceptance scenario, replayed through the fake Discord gateway against the real
discord.py client: same database state as the console, and the expected REST calls."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters import console
from bot.clock import ManualClock
from bot.config import Settings
from bot.export import to_json
from bot.wiring import Core, build_core
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    ID,
    NAME,
    USERS,
    Handled,
    as_admin,
    card_messages,
    followup_texts,
    interact,
    menu,
    new_core,
    new_fake,
    press,
    react,
    run,
    running_bot,
    slash,
)
from tests.fakes.discord import message_create
from tests.harness import START
from tests.test_console import ACCEPTANCE

MEETUP = "Who can help set up the meetup room on Friday?"


def export(core: Core, people: dict[str, str]) -> dict[int, dict[str, Any]]:
    """Actions by number, with member ids turned into names by `people`."""
    with core.uow() as uow:
        actions = json.loads(to_json(uow.export()))["actions"]
    for action in actions:
        action["creator"] = people.get(action["creator"], action["creator"])
        named = [(people.get(c["member"], c["member"]), c) for c in action["commitments"]]
        action["members"] = {name: c["status"] for name, c in named}
        action["vias"] = {name: c["via"] for name, c in named}
        for key in ("community", "channel", "commitments"):
            del action[key]
    return {a["id"]: a for a in actions}


async def console_replay(database_url: str) -> Core:
    core = build_core(Settings(database_url=database_url), clock=ManualClock(START))
    async with console.running(core, io.StringIO(ACCEPTANCE), io.StringIO()) as typed:
        await typed.wait()
    return core


def test_console_scenario_through_the_gateway(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'discord.db'}", fake, message_content_intent=True)
        handled = Handled(core)
        joins = {who: slash(who, "join", id=2) for who in ("dave", "erin", "frank")}

        async def scenario() -> None:
            async with running_bot(core):
                # alice asks; alice 📌 it; bob ✋ on it; carol presses Join on the card.
                asked = message_create(CHANNEL_ID, MEETUP, USERS["alice"], guild_id=GUILD_ID)
                await fake.dispatch_async("MESSAGE_CREATE", asked)
                await fake.dispatch_async(
                    "MESSAGE_REACTION_ADD", react("alice", int(asked["id"]), "📌")
                )
                await handled.wait(1)
                [card1] = card_messages(fake)
                await fake.dispatch_async(
                    "MESSAGE_REACTION_ADD", react("bob", int(asked["id"]), "✋")
                )
                await handled.wait(2)
                await interact(fake, press("carol", "join", 1, card1))
                await handled.wait(3)

                # alice creates #2; dave, erin and frank join (frank waits); dave leaves.
                await interact(
                    fake, slash("alice", "task", title="Buy snacks", need=2, due="in 3 days")
                )
                for payload in joins.values():
                    await interact(fake, payload)
                await handled.wait(7)
                await interact(fake, slash("dave", "leave", id=2))
                await handled.wait(8)

                # erin tracks another message with the context menu.
                other = message_create(
                    CHANNEL_ID, "Bring a projector?", USERS["bob"], guild_id=GUILD_ID
                )
                await fake.dispatch_async("MESSAGE_CREATE", other)
                await interact(fake, menu("erin", other))
                await handled.wait(9)
                await core.idle()

                # The REST calls: cards posted (tracked ones as replies), edited, one DM.
                posts = fake.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages")
                titles = [c.json["embeds"][0]["title"] for c in posts]
                assert titles == [f"#1 {MEETUP}", "#2 Buy snacks", "#3 Bring a projector?"]
                assert str(posts[0].json["message_reference"]["message_id"]) == asked["id"]
                assert "message_reference" not in posts[1].json
                assert str(posts[2].json["message_reference"]["message_id"]) == other["id"]
                card1, card2, _ = card_messages(fake)
                assert card1["embeds"][0]["fields"][0]["value"] == (
                    f"<@{ID['bob']}>, <@{ID['carol']}>"
                )
                assert "**2/2 in**" in card2["embeds"][0]["description"]
                assert card2["embeds"][0]["fields"][0]["value"] == (
                    f"<@{ID['erin']}>, <@{ID['frank']}>"
                )
                for card in (card1, card2):
                    assert fake.calls_to("PATCH", rf"/channels/{CHANNEL_ID}/messages/{card['id']}")
                [opened] = fake.calls_to("POST", r"/users/@me/channels")
                assert opened.json == {"recipient_id": ID["frank"]}
                dm_channel = fake.dm_channel_id(ID["frank"])
                [dm] = fake.calls_to("POST", rf"/channels/{dm_channel}/messages")
                assert dm.json["content"].startswith("Good news: a spot opened on #2")
                # Private answers went back through the interactions, ephemeral.
                [full] = followup_texts(fake, joins["frank"])
                assert "is full, so you're number 1 on the waitlist" in full
                original = fake.original_response(joins["frank"]["token"])
                assert original is not None and original["flags"] == 64

        run(scenario)
        assert fake.errors == []

    console = asyncio.run(console_replay(f"sqlite:///{tmp_path / 'console.db'}"))
    got, expected = export(core, NAME), export(console, {})
    assert got[1] == expected[1] | {"vias": {"bob": "reaction", "carol": "button"}}
    assert got[2] == expected[2]
    assert got[1]["members"] == {"bob": "committed", "carol": "committed"}
    assert got[2]["members"] == {"dave": "withdrawn", "erin": "committed", "frank": "committed"}
    assert got[2]["due"] == (START + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (got[3]["title"], got[3]["creator"], got[3]["vias"]) == (
        "Bring a projector?",
        "erin",
        {},
    )


def test_close_by_an_admin_and_cancel_edit_cards_and_dm_the_people_in(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'discord.db'}", fake)
        handled = Handled(core)
        refused = slash("bob", "close", id=1)

        async def scenario() -> None:
            async with running_bot(core):
                for title in ("Paint the shed", "Fix the gate"):
                    await interact(fake, slash("alice", "task", title=title))
                await handled.wait(2)
                await fake.await_for("POST", rf"/channels/{CHANNEL_ID}/messages", 2)
                cards = card_messages(fake)
                await interact(fake, press("bob", "join", 2, cards[1]))
                await interact(fake, refused)  # bob neither created #1 nor manages the server
                await interact(fake, as_admin(slash("erin", "close", id=1)))
                await interact(fake, slash("alice", "cancel", id=2))
                await handled.wait(6)
                await core.idle()

        run(scenario)
        [refusal] = followup_texts(fake, refused)
        assert refusal.startswith("Only alice (who created #1")
        closed, cancelled = card_messages(fake)
        assert closed["embeds"][0]["footer"]["text"] == "Closed" and closed["components"] == []
        assert cancelled["embeds"][0]["footer"]["text"] == "Cancelled"
        assert cancelled["components"] == []
        [dm] = fake.messages(fake.dm_channel_id(ID["bob"]) or 0)
        assert dm["content"] == "#2 “Fix the gate” was cancelled by alice."
        assert fake.errors == []
