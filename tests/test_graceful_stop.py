"""SIGTERM, as systemd, Docker and Kubernetes send it, to a real `coopbot run` in the middle of
a burst: it stops taking requests, finishes and answers every one it acknowledged, exits 0."""

from __future__ import annotations

import asyncio
import signal
import threading
from pathlib import Path

from tests.discord_support import CHANNEL_ID, GUILD_ID, TOKEN, new_fake
from tests.fakes.discord import make_user, slash_command_interaction
from tests.fakes.slack import FakeSlack
from tests.process_support import (
    bot_process,
    command,
    exported,
    join_burst,
    slack_http_env,
    slack_port,
)
from tests.slack_support import add_people


def test_sigterm_during_a_burst_of_slack_joins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coop.db'}"
    users = [f"U{i:03d}" for i in range(100)]
    with FakeSlack() as slack, bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        add_people(slack)
        bot.start()
        port = slack_port(bot)
        assert asyncio.run(command(port, "UA", "task Fold")) == 200
        answers = asyncio.run(join_burst(bot, port, users, 30, signal.SIGTERM))
        assert bot.wait() == 0, bot.log()
        assert "SIGTERM: stopping" in bot.log()

    acked = {user for user, status in answers.items() if status == 200}
    assert len(acked) >= 30  # the requests already in flight when it stopped are finished too
    actions = {a["id"]: a for a in exported(url, tmp_path)["actions"]}
    stored = {c["member"] for c in actions[1]["commitments"]}
    assert acked <= stored
    replies = [c for c in slack.calls_to("chat.postEphemeral") if c.status == 200]
    for user in stored:
        answered = [c for c in replies if c.params["user"] == user]
        assert [c.params["text"] for c in answered] == ["You're in on #1 “Fold”."], user
    deliveries = exported(url, tmp_path)["deliveries"]
    assert {d["state"] for d in deliveries} <= {"sent", "skipped"}  # nothing left behind


def discord_env(fake_rest: str, gateway: str, url: str) -> dict[str, str]:
    return {
        "DISCORD_BOT_TOKEN": TOKEN,
        "COOPBOT_DATABASE_URL": url,
        "COOPBOT_DISCORD__API_BASE_URL": fake_rest,
        "COOPBOT_DISCORD__GATEWAY_URL": gateway,
        "COOPBOT_DISCORD__GUILD_IDS": f"[{GUILD_ID}]",
    }


def test_sigterm_during_a_burst_of_discord_interactions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coop.db'}"
    people = [make_user(1500000000000000000 + i, f"person{i}") for i in range(50)]
    with new_fake() as fake:
        env = discord_env(fake.rest_base, str(fake.gateway_url), url)
        with bot_process(tmp_path, env) as bot:
            bot.start()
            fake.wait_for("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands", timeout=30)
            bot.wait_for_log(r"has connected to Gateway")
            task = slash_command_interaction(
                GUILD_ID, CHANNEL_ID, people[0], "coop", "task", {"title": "Carry boxes"},
                command_guild_id=GUILD_ID,
            )  # fmt: skip
            fake.dispatch("INTERACTION_CREATE", task)
            fake.wait_for("POST", rf"/channels/{CHANNEL_ID}/messages", timeout=30)  # the card
            joins = [
                slash_command_interaction(
                    GUILD_ID,
                    CHANNEL_ID,
                    person,
                    "coop",
                    "join",
                    {"id": 1},
                    command_guild_id=GUILD_ID,
                )  # fmt: skip
                for person in people
            ]
            stopped = threading.Event()

            def stop_after_20() -> None:
                fake.wait_for("POST", r"/interactions/\d+/[^/]+/callback", count=21, timeout=30)
                bot.signal(signal.SIGTERM)
                stopped.set()

            stopper = threading.Thread(target=stop_after_20)
            stopper.start()
            for payload in joins:
                if stopped.is_set():
                    break
                fake.dispatch("INTERACTION_CREATE", payload, timeout=0.5)
            stopper.join()
            assert bot.wait() == 0, bot.log()

        deferred = {
            p["id"]
            for p in joins
            for c in fake.calls_to("POST", rf"/interactions/{p['id']}/[^/]+/callback")
            if c.status == 200
        }
        assert len(deferred) >= 20
        core_statuses = _statuses(url, tmp_path)
        for payload, person in zip(joins, people, strict=True):
            if payload["id"] not in deferred:
                continue
            assert core_statuses.get(person["id"]) == "committed", person["username"]
            answers = fake.calls_to(
                "PATCH", rf"/webhooks/\d+/{payload['token']}/messages/@original"
            )
            assert [a.status for a in answers] == [200]
            assert answers[0].json["content"] == "You're in on #1 “Carry boxes”."
            assert fake.followups(payload["token"]) == []


def _statuses(url: str, tmp_path: Path) -> dict[str, str]:
    actions = {a["id"]: a for a in exported(url, tmp_path)["actions"]}
    return {c["member"]: c["status"] for c in actions[1]["commitments"]}
