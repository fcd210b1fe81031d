"""Discord's rules, against the fake: restarts, duplicate deliveries, rate limits, the
3-second deadline, missing permissions, the Message Content intent, shards and start-up."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord.http
import pytest

from adapters.discord import running
from bot import pacing, wiring
from bot.clock import ManualClock
from bot.config import ConfigError, Secrets, load_settings
from bot.events import CommandInvoked
from bot.ports import UnitOfWork
from bot.wiring import Core, build_core
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    ID,
    TOKEN,
    USERS,
    Handled,
    action_of,
    answer_path,
    card_messages,
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
from tests.fakes.discord import (
    APPLICATION_ID,
    FakeDiscord,
    component_interaction,
    make_user,
    member_payload,
    reaction_add,
)
from tests.harness import START

CALLBACK = r"/interactions/\d+/[^/]+/callback"
MESSAGES = rf"/channels/{CHANNEL_ID}/messages"


def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coopbot.db'}"


def secrets(token: str | None = TOKEN) -> Secrets:
    return Secrets(
        slack_bot_token=None,
        slack_app_token=None,
        slack_signing_secret=None,
        discord_bot_token=token,
    )


async def new_task(fake: FakeDiscord, handled: Handled, title: str = "Set up chairs") -> dict:
    """alice creates a task with /coop task; returns its card message."""
    before = len(handled.events)
    posts = len(fake.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages"))
    await interact(fake, slash("alice", "task", title=title))
    await handled.wait(before + 1)
    # Applied is not yet posted: the card goes out through the outbox.
    await fake.await_for("POST", rf"/channels/{CHANNEL_ID}/messages", posts + 1)
    return card_messages(fake)[-1]


def test_after_a_restart_old_buttons_and_reactions_on_old_messages_work(tmp_path: Path) -> None:
    with new_fake() as fake:
        old = fake.add_message(CHANNEL_ID, "Who brings the projector?", ID["bob"])
        first = new_core(database(tmp_path), fake, message_content_intent=True)
        handled = Handled(first)

        async def before_restart() -> None:
            async with running_bot(first):
                await new_task(fake, handled)
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("alice", old, "📌"))
                await handled.wait(2)

        run(before_restart)
        card = card_messages(fake)[0]
        assert statuses(first, 1) == {} and action_of(first, 2).title == "Who brings the projector?"

        second = new_core(database(tmp_path), fake, message_content_intent=True)
        handled = Handled(second)

        async def after_restart() -> None:
            async with running_bot(second):
                stored = fake.get_message(CHANNEL_ID, int(card["id"]))
                assert stored is not None
                await interact(fake, press("bob", "join", 1, stored))
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("carol", old, "✋"))
                await handled.wait(2)
                await second.idle()

        run(after_restart)
        assert statuses(second, 1) == {"bob": "committed"}
        assert statuses(second, 2) == {"carol": "committed"}
        edited = fake.get_message(CHANNEL_ID, int(card["id"]))
        assert edited is not None and edited["embeds"][0]["fields"][0]["value"] == f"<@{ID['bob']}>"
        assert fake.errors == []


def test_a_reaction_delivered_twice_commits_once_even_after_a_resume(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core) as bot:
                card_id = int((await new_task(fake, handled))["id"])
                joined = react("bob", card_id, "✋")
                seq = await fake.dispatch_async("MESSAGE_REACTION_ADD", joined)
                await handled.wait(2)
                await fake.dispatch_async("MESSAGE_REACTION_ADD", joined)  # delivered again
                await fake.close_gateway_async(4000)
                await fake.wait_for_resume_async()
                await fake.dispatch_async("MESSAGE_REACTION_ADD", joined)  # and after a resume
                await interact(fake, slash("carol", "show", id=1))  # handled after those
                await handled.wait(3)
                assert [type(e).__name__ for e in handled.events] == [
                    "CommandInvoked",
                    "ReactionAdded",
                    "CommandInvoked",
                ]
                assert statuses(core, 1) == {"bob": "committed"}

                # bob withdraws; then the gateway replays his add with its original sequence
                # number (the fake cannot, so the frame goes to discord.py's parser directly).
                await fake.dispatch_async("MESSAGE_REACTION_REMOVE", unreact("bob", card_id, "✋"))
                await handled.wait(4)
                replay = {"op": 0, "t": "MESSAGE_REACTION_ADD", "s": seq, "d": joined}
                await bot._get_websocket(GUILD_ID).received_message(json.dumps(replay))
                await interact(fake, slash("carol", "show", id=1))
                await handled.wait(5)
                assert isinstance(handled.events[-1], CommandInvoked)
                assert statuses(core, 1) == {"bob": "withdrawn"}

                # A genuine second add still counts.
                await fake.dispatch_async("MESSAGE_REACTION_ADD", joined)
                await handled.wait(6)
                assert statuses(core, 1) == {"bob": "committed"}
                await core.idle()

        run(scenario)
        assert fake.dm_channel_id(ID["bob"]) is None  # no "you're already in" DMs
        assert fake.errors == []


def test_an_interaction_delivered_twice_changes_nothing(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core):
                payload = slash("alice", "task", title="Only once")
                await interact(fake, payload)
                await fake.dispatch_async("INTERACTION_CREATE", payload)
                await fake.await_for("POST", rf"/interactions/{payload['id']}/.+/callback", 2)
                await interact(fake, slash("alice", "list"))
                await handled.wait(2)

        run(scenario)
        callbacks = fake.calls_to("POST", r"/interactions/\d+/[^/]+/callback")
        assert [c.status for c in callbacks] == [200, 400, 200]  # Discord refused the repeat
        assert len(card_messages(fake)) == 1
        assert action_of(core, 1).title == "Only once"


def test_a_rate_limited_edit_is_delayed_not_lost_and_does_not_hold_up_others(
    tmp_path: Path,
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core):
                fake.rate_limit_next("POST", MESSAGES, retry_after=0.2, is_global=True)
                card = await new_task(fake, handled)
                path = f"{MESSAGES}/{card['id']}"
                # More 429s than discord.py retries by itself.
                fake.rate_limit_next("PATCH", path, retry_after=0.1, times=6)
                await interact(fake, press("bob", "join", 1, card))
                listing = slash("carol", "list")
                await interact(fake, listing)
                await handled.wait(3)
                [answer] = await fake.await_for("PATCH", answer_path(listing))
                edits = await fake.await_for("PATCH", path, count=7, timeout=10)
                assert [c.status for c in edits] == [429] * 6 + [200]
                assert answer.time < edits[-1].time  # the list was answered while the edit waited

        run(scenario)
        posts = fake.calls_to("POST", MESSAGES)
        assert [c.status for c in posts] == [429, 200]
        assert posts[1].time - posts[0].time >= 0.19
        [card] = card_messages(fake)
        assert card["embeds"][0]["fields"][0]["value"] == f"<@{ID['bob']}>"
        assert statuses(core, 1) == {"bob": "committed"}


def slowly(factory: Callable[[], UnitOfWork], seconds: float) -> Callable[[], UnitOfWork]:
    def slow() -> UnitOfWork:
        time.sleep(seconds)  # runs in the core's worker thread, like a slow database would
        return factory()

    return slow


def test_a_slow_database_does_not_make_interactions_miss_the_deadline(tmp_path: Path) -> None:
    with new_fake() as fake:  # the fake refuses initial responses later than 3 s
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core):
                card = await new_task(fake, handled)
                core.coop.uow_factory = slowly(core.coop.uow_factory, 3.1)
                click = press("bob", "join", 1, card)
                # Applied with bob's, in one slow transaction, or after it in another.
                command = slash("carol", "join", id=1)
                sent = time.time()
                for payload in (click, command):
                    await fake.dispatch_async("INTERACTION_CREATE", payload)
                for payload, kind in ((click, 6), (command, 5)):
                    [answer] = await fake.await_for("POST", rf"/interactions/{payload['id']}/.+")
                    # 200, not 404 "Unknown interaction": deferred (6: silently, 5: thinking).
                    assert (answer.status, answer.json["type"]) == (200, kind)
                    # Recording waits for the database at most ack_wait_seconds (its turn to
                    # write may come after an apply the slow database holds up).
                    assert answer.time - sent < core.settings.delivery.ack_wait_seconds + 0.5
                await handled.wait(3, timeout=15)
                [followup] = await fake.await_for("PATCH", answer_path(command))
                assert followup.time - sent > 3.1  # the answer waited for its change
                assert followup_texts(fake, command) == ["You're in on #1 “Set up chairs”."]

        run(scenario)
        assert statuses(core, 1) == {"bob": "committed", "carol": "committed"}
        assert fake.errors == []


def test_closed_dms_are_not_retried_so_refusals_do_not_pile_up(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, slash("alice", "task", title="Drive the van", need=1))
                for who in ("bob", "carol"):
                    await interact(fake, slash(who, "join", id=1))
                fake.fail_next("POST", r"/users/@me/channels", 403, 50007, "Cannot send messages")
                await interact(fake, slash("bob", "leave", id=1))  # carol is promoted: a DM
                await interact(fake, slash("alice", "cancel", id=1))  # carol is told: a DM
                await handled.wait(5)

        run(scenario)
        assert statuses(core, 1) == {"bob": "withdrawn", "carol": "committed"}
        [refused] = fake.calls_to("POST", r"/users/@me/channels")  # the second was not tried
        assert (refused.status, refused.json) == (403, {"recipient_id": ID["carol"]})


def test_a_promotion_dm_and_the_cancellation_after_it_arrive_in_that_order(
    tmp_path: Path,
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core):
                card = await new_task(fake, handled, "Drive the van")  # nobody in yet
                await interact(fake, slash("alice", "task", title="Bake a cake"))
                await interact(fake, slash("bob", "join", id=1))
                await interact(fake, slash("carol", "join", id=2))
                await handled.wait(4)
                # #1 takes one person: carol's ✋ puts her on its waitlist, told by DM.
                action = action_of(core, 1)
                action.need = 1
                with core.uow() as uow:
                    uow.save_action(action)
                    uow.commit()
                await fake.dispatch_async(
                    "MESSAGE_REACTION_ADD", react("carol", int(card["id"]), "✋")
                )
                await handled.wait(5)
                # Discord is slow to take the next DM; the one after it is ready at once.
                fake.delay("POST", DM_MESSAGES, 1.0, times=1)
                await interact(fake, slash("bob", "leave", id=1))  # carol is promoted on #1
                await interact(fake, slash("alice", "cancel", id=2))  # carol is told of #2
                await handled.wait(7)

        run(scenario)
        dm_channel = fake.dm_channel_id(ID["carol"])
        assert dm_channel is not None
        told = [m["content"] for m in fake.messages(dm_channel)]
        assert len(told) == 3, told
        assert "on the waitlist" in told[0]
        assert "a spot opened on #1" in told[1] and "#2 “Bake a cake” was cancelled" in told[2]


def test_a_hundred_reactions_in_a_second_give_a_handful_of_card_edits(tmp_path: Path) -> None:
    people = [make_user(1500000000000000100 + i, f"person{i}") for i in range(100)]
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core, edit_interval=pacing.DISCORD.edit_interval):
                card = await new_task(fake, handled)
                began = time.monotonic()
                for person in people:
                    joined = reaction_add(
                        int(person["id"]), CHANNEL_ID, int(card["id"]), GUILD_ID, "✋",
                        member=member_payload(person),
                    )  # fmt: skip
                    await fake.dispatch_async("MESSAGE_REACTION_ADD", joined)
                assert time.monotonic() - began < 1.0
                await handled.wait(101)

        run(scenario)
        edits = [c for c in fake.calls_to("PATCH", rf"{MESSAGES}/\d+") if c.status == 200]
        assert 1 <= len(edits) <= 4, len(edits)
        assert "**100 in**" in edits[-1].json["embeds"][0]["description"]
        assert len(action_of(core, 1).commitments) == 100


async def fill_in(
    fake: FakeDiscord, opener: dict[str, Any], who: str, guild_id: int | None, title: str
) -> dict[str, Any]:
    """`who` triggers `opener`, which must answer with a modal, and submits `title` in it."""
    await interact(fake, opener)
    [opened] = fake.calls_to("POST", rf"/interactions/{opener['id']}/.+")
    assert opened.json["type"] == 9  # a modal
    submit = modal_submit(
        who, guild_id, int(opener["channel_id"]), opened.json["data"], {"Title": title}
    )
    await interact(fake, submit)
    return submit


UNTITLED = "Task from a message in #general"
DM_MESSAGES = rf"/channels/(?!{CHANNEL_ID})\d+/messages"  # messages anywhere but #general


def test_without_message_content_a_pin_tracks_a_link_and_asks_the_reactor_for_a_title(
    tmp_path: Path,
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)  # message_content_intent: false
        handled = Handled(core)
        asked = fake.add_message(CHANNEL_ID, "text the bot cannot read", ID["bob"])
        image_only = fake.add_message(CHANNEL_ID, "", ID["bob"])
        link = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{asked}"
        image_link = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{image_only}"

        async def scenario() -> None:
            async with running_bot(core):
                # The task exists at once, titled from the channel, the link in its body.
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("alice", asked, "📌"))
                await handled.wait(1)
                task = action_of(core, 1)
                assert (task.title, task.body) == (UNTITLED, f"{UNTITLED}\n{link}")
                [card] = card_messages(fake)
                assert card["embeds"][0]["title"] == f"#1 {UNTITLED}"

                # Before any title, ✋ on the message or on the card joins.
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("carol", asked, "✋"))
                card_id = int(card["id"])
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("dave", card_id, "✋"))
                await handled.wait(3)
                assert statuses(core, 1) == {"carol": "committed", "dave": "committed"}

                # alice, who pinned it, is asked by DM, with a button (links go out in <...>).
                [sent] = await fake.await_for("POST", DM_MESSAGES)
                assert sent.json["content"].startswith(
                    f"I'm tracking <{link}> as #1, but I couldn't read its text"
                )
                dm_channel = fake.dm_channel_id(ID["alice"])
                assert dm_channel is not None
                [prompt] = fake.messages(dm_channel)
                [button] = prompt["components"][0]["components"]
                assert button["custom_id"] == f"coop:title:{GUILD_ID}:{CHANNEL_ID}:{asked}"
                assert button["label"] == "Give it a title"

                # Only the creator (or an admin) may rename: bob's try is refused privately.
                # (A button someone else got hold of, e.g. a forwarded DM.)
                bobs = component_interaction(
                    None, dm_channel, USERS["bob"], button["custom_id"], prompt
                )
                refused = await fill_in(fake, bobs, "bob", None, "Bob's title")
                await handled.wait(4)
                alices = component_interaction(
                    None, dm_channel, USERS["alice"], button["custom_id"], prompt
                )
                renamed = await fill_in(fake, alices, "alice", None, "  Set up the room ")
                await handled.wait(5)
                assert [type(e).__name__ for e in handled.events[3:]] == ["TitleGiven"] * 2
                assert followup_texts(fake, refused) == [
                    f"Only alice (who created #1 “{UNTITLED}”) or a community admin can rename it."
                ]
                assert followup_texts(fake, renamed) == ["Renamed #1 to “Set up the room”."]

                # The context menu on a message without text asks for the title first, then
                # tracks it with the link in its body.
                target = fake.get_message(CHANNEL_ID, image_only)
                assert target is not None
                await fill_in(fake, menu("erin", target), "erin", GUILD_ID, "Fix the lamp")
                await handled.wait(6)
                await core.idle()

        run(scenario)
        task = action_of(core, 1)
        assert (task.title, task.body) == ("Set up the room", f"{UNTITLED}\n{link}")
        assert task.source_message_id == str(asked) and task.creator.external_id == str(ID["alice"])
        assert statuses(core, 1) == {"carol": "committed", "dave": "committed"}
        titled = action_of(core, 2)
        assert (titled.title, titled.body) == ("Fix the lamp", f"Fix the lamp\n{image_link}")
        assert titled.creator.external_id == str(ID["erin"])
        first, second = card_messages(fake)
        assert first["embeds"][0]["title"] == "#1 Set up the room"  # edited in place
        assert second["embeds"][0]["title"] == "#2 Fix the lamp"
        posts = fake.calls_to("POST", MESSAGES)
        replied_to = [int(p.json["message_reference"]["message_id"]) for p in posts]
        assert replied_to == [asked, image_only]
        assert len(fake.calls_to("POST", DM_MESSAGES)) == 1  # only the pin asks by DM
        assert fake.calls_to("GET", rf"{MESSAGES}/\d+") == []  # nothing fetched in vain
        assert fake.errors == []


def test_a_pin_without_message_content_tracks_even_when_the_reactors_dms_are_closed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        handled = Handled(core)
        asked = fake.add_message(CHANNEL_ID, "text the bot cannot read", ID["bob"])
        # Discord opens the DM channel, then refuses the message.
        fake.fail_next("POST", DM_MESSAGES, 403, 50007, "Cannot send messages to this user")

        async def scenario() -> None:
            async with running_bot(core):
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("alice", asked, "📌"))
                await handled.wait(1)
                [dm] = await fake.await_for("POST", DM_MESSAGES)
                assert dm.status == 403
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("carol", asked, "✋"))
                await handled.wait(2)

        run(scenario)
        assert action_of(core, 1).title == UNTITLED
        assert statuses(core, 1) == {"carol": "committed"}
        assert len(card_messages(fake)) == 1
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
        assert fake.errors == []


def test_missing_channel_permissions_are_explained_and_nothing_is_attempted(
    tmp_path: Path,
) -> None:
    no_embeds = {"id": str(APPLICATION_ID), "type": 1, "allow": "0", "deny": str(1 << 14)}
    with new_fake(channel={"permission_overwrites": [no_embeds]}) as fake:
        core = new_core(database(tmp_path), fake, message_content_intent=True)
        handled = Handled(core)
        message = fake.add_message(CHANNEL_ID, "Paint the fence", ID["bob"])

        async def scenario() -> None:
            async with running_bot(core):
                command = slash("alice", "task", title="Buy snacks")
                await interact(fake, command)
                await fake.dispatch_async("MESSAGE_REACTION_ADD", react("bob", message, "📌"))
                dm = await fake.await_for("POST", r"/channels/\d+/messages")
                [reply] = await fake.await_for("PATCH", answer_path(command))
                assert "missing the Embed Links permission" in reply.json["content"]
                assert "missing the Embed Links permission" in dm[0].json["content"]

        run(scenario)
        assert fake.calls_to("POST", MESSAGES) == []
        with core.uow() as uow:
            assert list(uow.export()) == []
        assert handled.events == []


def test_shards_intents_and_who_syncs_commands(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake, shard_count=2, shard_ids=[1])

        async def scenario() -> None:
            async with running_bot(core):
                pass

        run(scenario)
        [identify] = fake.identifies
        assert identify["shard"] == [1, 2]
        assert identify["intents"] == 1 | 1 << 10  # guilds, guild reactions
        assert fake.calls_to("PUT", r"/applications/.*") == []  # shard 0's process syncs

    with new_fake() as fake:
        core = new_core(database(tmp_path), fake, message_content_intent=True, guild_ids=[])
        run(scenario)
        [identify] = fake.identifies
        assert identify["shard"] == [0, 1]
        assert identify["intents"] == 1 | 1 << 10 | 1 << 15
        assert len(fake.calls_to("PUT", rf"/applications/{APPLICATION_ID}/commands")) == 1
        assert {c["name"] for c in fake.commands()} == {  # global
            "coop",
            "Track as task",
            "Start a pledge drive",
        }


def test_serve_runs_from_settings_beside_the_console_on_one_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_base = discord.http.Route.BASE
    with new_fake() as fake:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("COOPBOT_DATABASE_URL", database(tmp_path))
        monkeypatch.setenv("COOPBOT_DISCORD__API_BASE_URL", fake.rest_base)
        monkeypatch.setenv("COOPBOT_DISCORD__GATEWAY_URL", str(fake.gateway_url))
        monkeypatch.setenv("COOPBOT_DISCORD__GUILD_IDS", f"[{GUILD_ID}]")
        monkeypatch.setenv("DISCORD_BOT_TOKEN", TOKEN)
        core = build_core(load_settings(), clock=ManualClock(START))
        handled = Handled(core)

        async def scenario() -> None:
            lines = io.StringIO("alice: /coop task Sweep the floor\n")
            job = asyncio.create_task(
                wiring.serve(core, ["console", "discord"], lines, io.StringIO())
            )
            await fake.await_for("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands")
            await interact(fake, slash("bob", "task", title="Mop the floor"))
            await handled.wait(2)
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job

        run(scenario)
        assert original_base == discord.http.Route.BASE
        with core.uow() as uow:
            titles = {(r.community.platform, r.action.title) for r in uow.export()}
        assert titles == {("console", "Sweep the floor"), ("discord", "Mop the floor")}


def test_a_refused_token_or_intent_stops_start_up_with_one_line_naming_it(
    tmp_path: Path,
) -> None:
    async def serve(core: Core, token: str | None) -> None:
        async with running(core, secrets(token)) as discord:
            await discord.wait()

    def start(core: Core, token: str | None) -> str:
        with pytest.raises(ConfigError) as stopped:
            asyncio.run(asyncio.wait_for(serve(core, token), 10))
        return str(stopped.value)

    with new_fake() as fake:  # accepts only TOKEN
        core = new_core(database(tmp_path), fake)
        refused = start(core, "not-the-token")
        assert fake.identifies == []  # refused at login, before the gateway
    missing = start(core, None)
    with new_fake(reject_privileged_intents=True) as fake:
        closed = start(new_core(database(tmp_path), fake, message_content_intent=True), TOKEN)
        [identify] = fake.identifies  # asked for Message Content, so the fake closed with 4014
        assert identify["intents"] & 1 << 15

    assert refused.startswith("DISCORD_BOT_TOKEN: Discord refused it; copy it again")
    assert missing.startswith("DISCORD_BOT_TOKEN: not set")
    assert closed.startswith("setting discord.message_content_intent: true, but the Message")
    assert all("\n" not in line for line in (refused, missing, closed))
