"""A real `coopbot run` serving Discord, killed with SIGKILL right after Discord accepted a
message and before that was recorded, then started again: nothing arrives twice.

Within Discord's nonce window the message is sent again with the same nonce, and Discord
answers with the one it has; past it, the channel's recent messages are searched instead.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import discord

from adapters.discord.refs import community_ref
from bot.cards import card_for
from bot.ports import Delivery
from bot.refs import ChannelRef
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    ID,
    TOKEN,
    Handled,
    action_of,
    card_messages,
    interact,
    new_core,
    new_fake,
    react,
    run,
    running_bot,
    slash,
)
from tests.fakes.discord import FakeDiscord
from tests.process_support import BotProcess, bot_process, exported

HOLDING = r"failpoint outbox.after_send reached"


def discord_env(fake: FakeDiscord, url: str) -> dict[str, str]:
    return {
        "DISCORD_BOT_TOKEN": TOKEN,
        "COOPBOT_DATABASE_URL": url,
        "COOPBOT_DISCORD__API_BASE_URL": fake.rest_base,
        "COOPBOT_DISCORD__GATEWAY_URL": str(fake.gateway_url),
        "COOPBOT_DISCORD__GUILD_IDS": f"[{GUILD_ID}]",
        "COOPBOT_DELIVERY__LEASE_SECONDS": "2",
        "COOPBOT_DELIVERY__POLL_SECONDS": "0.2",
    }


def connected(bot: BotProcess, fake: FakeDiscord) -> None:
    bot.wait_for_log(r"has connected to Gateway")
    fake.wait_for("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands", timeout=30)


def wait_until_done(tmp_path: Path, bot: BotProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(tmp_path / "coop.db") as db:
            left = db.execute(
                "select (select count(*) from inbox where state = 'applying')"
                " + (select count(*) from outbox where state in ('pending', 'sending'))"
            ).fetchone()[0]
        if left == 0:
            return
        assert bot.proc is not None and bot.proc.poll() is None, bot.log()
        assert time.monotonic() < deadline, bot.log()
        time.sleep(0.05)


def run_once(tmp_path: Path, fake: FakeDiscord, failpoint: str, dispatch: list[dict]) -> BotProcess:
    """Start the bot with `failpoint`, dispatch the interactions, wait for the hold, kill."""
    bot = BotProcess(tmp_path, discord_env(fake, f"sqlite:///{tmp_path / 'coop.db'}"))
    bot.start(COOPBOT_FAILPOINTS=failpoint)
    connected(bot, fake)
    for payload in dispatch:
        fake.dispatch("INTERACTION_CREATE", payload)
    bot.wait_for_log(HOLDING)
    bot.kill()
    return bot


def test_a_card_and_an_answer_sent_but_not_recorded_arrive_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coop.db'}"
    with new_fake() as fake:
        task = slash("alice", "task", title="Carry the boxes")
        run_once(tmp_path, fake, "outbox.after_send:card_post", [task])
        assert len(card_messages(fake)) == 1  # Discord has the card; the database does not

        with bot_process(tmp_path, discord_env(fake, url)) as bot:
            bot.start()
            connected(bot, fake)
            wait_until_done(tmp_path, bot)
            [card] = card_messages(fake)  # sent again with its nonce: the same one came back
            posts = fake.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages")
            assert len(posts) == 2 and posts[0].json["nonce"] == posts[1].json["nonce"]
            assert posts[1].response["id"] == card["id"]

            # Not orphaned: a ✋ on it joins, and it is edited in place.
            fake.dispatch("MESSAGE_REACTION_ADD", react("bob", int(card["id"]), "✋"))
            fake.wait_for("PATCH", rf"/channels/{CHANNEL_ID}/messages/{card['id']}", timeout=30)
            wait_until_done(tmp_path, bot)
        [action] = exported(url, tmp_path)["actions"]
        assert [(c["member"], c["status"]) for c in action["commitments"]] == [
            (str(ID["bob"]), "committed")
        ]

        join = slash("carol", "join", id=1)
        run_once(tmp_path, fake, "outbox.after_send:reply", [join])
        with bot_process(tmp_path, discord_env(fake, url)) as bot:
            bot.start()
            connected(bot, fake)
            wait_until_done(tmp_path, bot)
        # The answer replaced the "thinking..." twice, with the same words: one answer.
        answers = fake.calls_to("PATCH", rf"/webhooks/\d+/{join['token']}/messages/@original")
        assert [a.json["content"] for a in answers] == ["You're in on #1 “Carry the boxes”."] * 2
        assert fake.followups(join["token"]) == []


def test_past_the_nonce_window_the_channel_is_searched_before_sending_again(
    tmp_path: Path,
) -> None:
    # A Discord that no longer remembers any nonce: only looking first can avoid a copy.
    with new_fake(nonce_window=0) as fake:
        core = new_core(f"sqlite:///{tmp_path / 'coop.db'}", fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running_bot(core) as bot:
                await interact(fake, slash("alice", "task", title="Paint the fence"))
                await handled.wait(1)
                [card] = card_messages(fake)
                channel = ChannelRef(community_ref(GUILD_ID), str(CHANNEL_ID))
                drawn = card_for(action_of(core, 1))
                long_ago = discord.utils.utcnow() - timedelta(minutes=10)
                again = Delivery("coop-1", recheck=True, first_attempt_at=long_ago)
                found = await bot.chat.post_card(again, channel, drawn, None)
                assert found.id == card["id"]
                fresh = Delivery("coop-9", recheck=False, first_attempt_at=discord.utils.utcnow())
                other = await bot.chat.post_card(fresh, channel, drawn, None)
                assert other.id != card["id"]  # without a recheck it does post

        run(scenario)
        posts = fake.calls_to("POST", rf"/channels/{CHANNEL_ID}/messages")
        assert len(posts) == 2  # the card, then the one posted without a recheck
        [looked] = fake.calls_to("GET", rf"/channels/{CHANNEL_ID}/messages")
        assert "after" in looked.query
