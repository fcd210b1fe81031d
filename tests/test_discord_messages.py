"""What reminders, check-ins and digests need from Discord, against the fake: DMs with the
core's buttons (pressed in the DM, they come back in the guild they name), plain channel
messages that ping nobody and arrive once, and looking up who belongs to a guild."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from adapters.discord.refs import community_ref
from adapters.discord.text import chunks
from bot.cards import Button
from bot.events import ButtonPressed
from bot.ports import Delivery, Refused
from bot.refs import ChannelRef, MemberRef, MessageRef
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    ID,
    OTHER_CHANNEL_ID,
    USERS,
    Received,
    interact,
    new_core,
    new_fake,
    press,
    run,
    running_bot,
)
from tests.fakes.discord import APPLICATION_ID, FakeDiscord, component_interaction

COMMUNITY = community_ref(GUILD_ID)
GENERAL = ChannelRef(COMMUNITY, str(CHANNEL_ID))
MESSAGES = rf"/channels/{CHANNEL_ID}/messages"
CALLBACK = r"/interactions/{}/[^/]+/callback"
SEND_MESSAGES = 1 << 11
SNOOZES = (
    Button("snooze_15m", "In 15 minutes", 42),
    Button("snooze_1h", "In an hour", 42),
    Button("snooze_tomorrow", "Tomorrow", 42),
)
CHECK_IN = (Button("checkin_done", "It happened", 7), Button("checkin_not", "It didn't", 7))


def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coopbot.db'}"


def first_try(key: str) -> Delivery:
    return Delivery(key, recheck=False, first_attempt_at=discord.utils.utcnow())


def retry_long_after(key: str) -> Delivery:
    """A retry of `key` past Discord's nonce window, when an earlier try may have arrived."""
    return Delivery(key, recheck=True, first_attempt_at=discord.utils.utcnow() - timedelta(hours=1))


def person(who: str) -> MemberRef:
    return MemberRef(COMMUNITY, str(ID[who]), who)


def buttons(message: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(custom_id, label, style) of each button under a message, in order."""
    return [
        (button["custom_id"], button["label"], button["style"])
        for row in message["components"]
        for button in row["components"]
    ]


async def pressed(fake: FakeDiscord, payload: dict[str, Any]) -> int:
    """Dispatch a button press; the type of Discord's answer to it."""
    await interact(fake, payload)
    [answer] = fake.calls_to("POST", CALLBACK.format(payload["id"]))
    return int(answer.json["type"])


def test_buttons_under_a_dm_are_pressed_in_the_dm_for_the_guild_they_name(
    tmp_path: Path,
) -> None:
    with new_fake() as fake:
        core = new_core(database(tmp_path), fake)
        received = Received(core)

        async def scenario() -> None:
            async with running_bot(core) as bot:
                reminder = await bot.chat.send_dm(
                    first_try("coop-1"), person("bob"), "Water the plants", SNOOZES
                )
                await bot.chat.send_dm(
                    first_try("coop-2"), person("bob"), "Did #7 happen?", CHECK_IN
                )
                dm = fake.dm_channel_id(ID["bob"])
                assert dm is not None
                snoozing, checking = fake.messages(dm)
                assert snoozing["id"] == reminder
                # Persistent (custom_ids carry everything), grey but for a yes in green.
                assert buttons(snoozing) == [
                    (f"coop:snooze_15m:{GUILD_ID}:42", "In 15 minutes", 2),
                    (f"coop:snooze_1h:{GUILD_ID}:42", "In an hour", 2),
                    (f"coop:snooze_tomorrow:{GUILD_ID}:42", "Tomorrow", 2),
                ]
                assert buttons(checking) == [
                    (f"coop:checkin_done:{GUILD_ID}:7", "It happened", 3),
                    (f"coop:checkin_not:{GUILD_ID}:7", "It didn't", 2),
                ]

                # Discord sends a press in a DM with `user` and the DM channel, no guild.
                snooze = component_interaction(
                    None, dm, USERS["bob"], f"coop:snooze_1h:{GUILD_ID}:42", snoozing
                )
                assert "guild_id" not in snooze and "member" not in snooze
                assert await pressed(fake, snooze) == 6  # acknowledged, nothing to show yet
                done = component_interaction(
                    None, dm, USERS["bob"], f"coop:checkin_done:{GUILD_ID}:7", checking
                )
                assert await pressed(fake, done) == 6
                click, yes = snooze["id"], done["id"]

                in_dm = ChannelRef(COMMUNITY, str(dm))
                bob = person("bob")
                assert received.events == [
                    ButtonPressed(bob, MessageRef(in_dm, snoozing["id"]), "snooze_1h", 42, click),
                    ButtonPressed(bob, MessageRef(in_dm, checking["id"]), "checkin_done", 7, yes),
                ]
                # Whatever the core answers goes privately through the press itself.
                assert [i.reply and i.reply.kind for i in received.inbound] == ["interaction"] * 2

        run(scenario)
        actor = received.events[0].actor
        assert (actor.community.name, actor.name, actor.is_admin) == ("Meetup Crew", "bob", False)
        assert fake.errors == []


def test_a_button_pressed_in_another_guild_than_it_names_is_refused(tmp_path: Path) -> None:
    elsewhere_guild, elsewhere = 1400000000000000901, 1400000000000000902
    with new_fake() as fake:
        fake.add_guild(
            elsewhere_guild, "Elsewhere", channels=[{"id": elsewhere}], members=[USERS["bob"]]
        )
        core = new_core(database(tmp_path), fake)
        received = Received(core)
        custom_id = f"coop:join:{GUILD_ID}:1"
        row = {"type": 1, "components": [{"type": 2, "style": 3, "custom_id": custom_id}]}
        copied = fake.add_message(elsewhere, "", APPLICATION_ID, components=[row])
        card = fake.add_message(CHANNEL_ID, "", APPLICATION_ID, components=[row])

        async def scenario() -> None:
            async with running_bot(core):
                foreign = fake.get_message(elsewhere, copied)
                here = fake.get_message(CHANNEL_ID, card)
                assert foreign is not None and here is not None
                from_there = component_interaction(
                    elsewhere_guild, elsewhere, USERS["bob"], custom_id, foreign
                )
                assert await pressed(fake, from_there) == 6  # answered, so no error shows
                assert received.events == []
                assert await pressed(fake, press("bob", "join", 1, here)) == 6

        run(scenario)
        [event] = received.events
        assert event == ButtonPressed(
            person("bob"), MessageRef(GENERAL, str(card)), "join", 1, event.event_id
        )
        assert fake.errors == []


def test_a_channel_message_pings_nobody_and_arrives_once(tmp_path: Path) -> None:
    # A Discord that remembers no nonce: only looking first can avoid a second copy.
    with new_fake(nonce_window=0) as fake:
        core = new_core(database(tmp_path), fake)
        text = f"Digest: #1 needs 2 more. <@{ID['alice']}> is in. @everyone, come along!"
        # The person stays mentioned (it pings nobody); @everyone is only shown.
        shown = f"Digest: #1 needs 2 more. <@{ID['alice']}> is in. @\u200beveryone, come along!"
        long_text = "\n".join(f"#{i} Set up table {i} " + "x" * 80 for i in range(50))
        parts = chunks(long_text)
        assert len(parts) == 3

        async def scenario() -> None:
            async with running_bot(core) as bot:
                posted = await bot.chat.post_message(first_try("coop-5"), GENERAL, text)
                again = await bot.chat.post_message(retry_long_after("coop-5"), GENERAL, text)
                assert again == posted
                # The first part of a long one arrived, then the send was cut short.
                await bot.chat.post_message(first_try("coop-6"), GENERAL, parts[0])
                await bot.chat.post_message(retry_long_after("coop-6"), GENERAL, long_text)

        run(scenario)
        posts = fake.calls_to("POST", MESSAGES)
        assert [(p.json["content"], p.json["nonce"]) for p in posts] == [
            (shown, "coop-5"),
            (parts[0], "coop-6"),
            (parts[1], "coop-6.1"),
            (parts[2], "coop-6.2"),
        ]
        for post in posts:
            assert post.json["enforce_nonce"] is True
            assert post.json["allowed_mentions"] == {"parse": []}
            assert post.json.get("embeds") in (None, []) and not post.json.get("components")
        assert [m["content"] for m in fake.messages(CHANNEL_ID)] == [shown, *parts]
        assert all("after" in c.query for c in fake.calls_to("GET", MESSAGES))
        assert fake.errors == []


def test_a_channel_message_the_bot_may_not_post_is_refused_with_the_reason(
    tmp_path: Path,
) -> None:
    no_sending = {"id": str(APPLICATION_ID), "type": 1, "allow": "0", "deny": str(SEND_MESSAGES)}
    with new_fake(channel={"permission_overwrites": [no_sending]}) as fake:
        core = new_core(database(tmp_path), fake)
        gone = ChannelRef(COMMUNITY, "1400000000000000999")
        random = ChannelRef(COMMUNITY, str(OTHER_CHANNEL_ID))
        refused: dict[str, Refused] = {}

        async def scenario() -> None:
            async with running_bot(core) as bot:
                for name, channel, key in (
                    ("general", GENERAL, "coop-1"),
                    ("gone", gone, "coop-2"),
                ):
                    with pytest.raises(Refused) as err:
                        await bot.chat.post_message(first_try(key), channel, "Standup in 5")
                    refused[name] = err.value
                # The cache said yes, Discord says no (permissions changed meanwhile).
                fake.fail_next("POST", rf"/channels/{OTHER_CHANNEL_ID}/messages", 403, 50013,
                               "Missing Permissions")  # fmt: skip
                with pytest.raises(Refused) as err:
                    await bot.chat.post_message(first_try("coop-3"), random, "Standup in 5")
                refused["random"] = err.value
                assert await bot.chat.post_message(first_try("coop-4"), random, "Standup in 5")

        run(scenario)
        assert fake.calls_to("POST", MESSAGES) == []  # known from the cache: not even tried
        assert refused["general"].notice == (
            f"I can't post messages in <#{CHANNEL_ID}>: I'm missing the Send Messages "
            "permission there. A server admin can grant it in the channel's settings "
            "(Permissions), then try again."
        )
        assert (
            refused["gone"].notice
            == f"I can't post in <#{gone.id}>: it was deleted, or I can't see it."
        )
        assert "Send Messages" in (refused["random"].notice or "")
        assert not any(r.unreachable for r in refused.values())
        assert [m["content"] for m in fake.messages(OTHER_CHANNEL_ID)] == ["Standup in 5"]


def test_find_member_knows_the_guilds_members_and_no_one_else(tmp_path: Path) -> None:
    stranger, club_id = 1400000000000000777, 1400000000000000555
    with new_fake() as fake:
        fake.add_user(stranger)  # a Discord user, just not in the guild
        fake.add_guild(club_id, "Book Club", members=[{"user": USERS["carol"], "nick": "Caz"}])
        club = community_ref(club_id)
        core = new_core(database(tmp_path), fake)
        found: dict[str, MemberRef | None] = {}

        async def scenario() -> None:
            async with running_bot(core) as bot:
                for who in ("alice", "bob"):
                    found[who] = await bot.chat.find_member(COMMUNITY, str(ID[who]))
                found["carol in the club"] = await bot.chat.find_member(club, str(ID["carol"]))
                found["bob in the club"] = await bot.chat.find_member(club, str(ID["bob"]))
                found["stranger"] = await bot.chat.find_member(COMMUNITY, str(stranger))
                found["not an id"] = await bot.chat.find_member(COMMUNITY, "bob")
                unknown = community_ref(1400000000000000666)
                found["unknown guild"] = await bot.chat.find_member(unknown, str(ID["bob"]))
                # The bot itself is always in the cache: no request for it.
                found["bot"] = await bot.chat.find_member(COMMUNITY, str(APPLICATION_ID))

        run(scenario)
        alice, bob, carol = found.pop("alice"), found.pop("bob"), found.pop("carol in the club")
        me = found.pop("bot")
        assert alice is not None and bob is not None and carol is not None and me is not None
        assert (alice, bob, carol) == (
            person("alice"),
            person("bob"),
            MemberRef(club, str(ID["carol"])),
        )
        assert (alice.name, alice.is_admin) == ("alice", True)  # the guild's owner
        assert (bob.name, bob.is_admin) == ("bob", False)
        assert carol.name == "Caz"  # the name shown in that guild
        assert me.name == "coopbot"
        assert found == {
            "bob in the club": None,
            "stranger": None,
            "not an id": None,
            "unknown guild": None,
        }
        members = [c.path for c in fake.calls_to("GET", r"/guilds/.+")]
        assert members == [
            f"/guilds/{GUILD_ID}/members/{ID['alice']}",
            f"/guilds/{GUILD_ID}/members/{ID['bob']}",
            f"/guilds/{club_id}/members/{ID['carol']}",
            f"/guilds/{club_id}/members/{ID['bob']}",
            f"/guilds/{GUILD_ID}/members/{stranger}",
            "/guilds/1400000000000000666",  # not one of the bot's guilds: asked once, unknown
        ]
        assert fake.errors == []
