"""Socket Mode end to end: serve(), redeliveries, restarts, threads, time zones, the Home tab."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.slack import running
from bot import wiring
from bot.config import ConfigError, Secrets
from bot.core import Core
from tests.fakes.slack import FakeSlack, slash_command_payload
from tests.slack_support import SOCKET_SECRETS, add_people, make_core, started


def test_serving_until_told_to_stop_then_disconnecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-test")

        async def scenario() -> None:
            stop = asyncio.Event()
            job = asyncio.create_task(
                wiring.serve(core, ["slack"], io.StringIO(), io.StringIO(), stop)
            )
            await slack.await_socket_client()
            assert slack.calls_to("auth.test")[0].token == "xoxb-test"
            assert slack.calls_to("apps.connections.open")[0].token == "xapp-test"
            ack = await slack.asend_envelope(
                "slash_commands", slash_command_payload("task Fix the gate", "UA", "C1")
            )
            assert ack["_latency"] < 3.0
            stop.set()  # what SIGTERM does: the card still goes out before serve() returns
            await job

        asyncio.run(scenario())
        assert slack.socket_clients == 0
        post = slack.calls_to("chat.postMessage")[0]
        assert post.token == "xoxb-test" and post.params["text"].startswith("#1 Fix the gate")


async def start(core: Core, secrets: Secrets) -> None:
    async with running(core, secrets):
        pass


def test_coopbot_run_serves_slack_when_its_tokens_are_set(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
        environ |= {
            "SLACK_BOT_TOKEN": "xoxb-from-env",
            "SLACK_APP_TOKEN": "xapp-from-env",
            "COOPBOT_SLACK__API_BASE_URL": slack.base_url,
            "COOPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'coop.db'}",
        }
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            env=environ,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            slack.wait_for_socket_client(timeout=30)
            ack = slack.send_envelope(
                "slash_commands", slash_command_payload("task Bring the ladder", "UA", "C1")
            )
            assert ack["_latency"] < 3.0
            post = slack.wait_for_call("chat.postMessage")[0]
        finally:
            bot.send_signal(signal.SIGINT)
            _, errors = bot.communicate(timeout=30)
        assert bot.returncode == 0, errors  # Ctrl-C stops gracefully
        assert post.token == "xoxb-from-env"
        assert post.params["text"].startswith("#1 Bring the ladder")
        assert slack.calls_to("apps.connections.open")[0].token == "xapp-from-env"
        assert "Slack: connected in Socket Mode" in errors  # logged to stderr


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (Secrets(None, "xapp-1", None, None), "set SLACK_BOT_TOKEN"),
        (Secrets("xoxb-1", None, None, None), "set SLACK_APP_TOKEN"),
        (Secrets("xoxb-1", "xoxb-2", None, None), "SLACK_APP_TOKEN should start with xapp-"),
    ],
)
def test_missing_or_wrong_tokens_are_named(tmp_path: Path, secrets: Secrets, message: str) -> None:
    with FakeSlack() as slack:
        core = make_core(tmp_path, slack)
        with pytest.raises(ConfigError, match=message):
            asyncio.run(start(core, secrets))
        assert slack.calls == []


def test_a_refused_bot_token_stops_start_up_with_its_reason(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        slack.fail_next("auth.test", "invalid_auth")
        core = make_core(tmp_path, slack)
        with pytest.raises(ConfigError, match=r"SLACK_BOT_TOKEN was refused \(invalid_auth\)"):
            asyncio.run(start(core, SOCKET_SECRETS))


def test_a_redelivered_envelope_is_handled_once(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                payload = slash_command_payload("task Water the plants", "UA", "C1")
                await slack.asend_envelope("slash_commands", payload)
                # Slack sends the same envelope again when it thinks the ack was lost.
                await slack.asend_envelope("slash_commands", payload, 1, "timeout")
                await rig.idle()
                assert [a["title"] for a in rig.actions().values()] == ["Water the plants"]
                assert len(slack.calls_to("chat.postMessage")) == 1
                assert len(slack.acks) == 2

        asyncio.run(scenario())


def test_reactions_work_on_messages_from_before_a_restart(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        # Posted before coopbot ever ran.
        slack.add_message("C1", "1690000000.000100", "Who can drive on Sunday?", "UA")

        async def first_run() -> str:
            async with started(slack, make_core(tmp_path, slack)) as rig:
                await rig.send.react("UA", "pushpin", "C1", "1690000000.000100")
                await rig.idle()
                return rig.card_ts(1)

        card = asyncio.run(first_run())

        async def second_run() -> None:
            # A new process: new caches, same database.
            async with started(slack, make_core(tmp_path, slack)) as rig:
                await rig.send.react("UB", "raised_hand", "C1", "1690000000.000100")
                await rig.send.react("UC", "raised_hand::skin-tone-5", "C1", card)
                await rig.idle()
                assert rig.statuses(1) == {"UB": "committed", "UC": "committed"}
                await rig.send.react("UB", "raised_hand", "C1", "1690000000.000100", removed=True)
                await rig.send.react("UC", "white_check_mark::skin-tone-2", "C1", card)
                await rig.idle()
                assert rig.statuses(1) == {"UB": "withdrawn", "UC": "done"}

        asyncio.run(second_run())
        updates = slack.calls_to("chat.update")
        assert {u.params["ts"] for u in updates} == {card}
        assert "*Done:* <@UC>" in str(updates[-1].params["blocks"])


def test_a_tracked_reply_gets_its_card_in_the_same_thread(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        parent, reply = "1710000000.000100", "1710000005.000100"
        slack.add_message("C1", parent, "Planning the picnic", "UA")
        slack.add_message("C1", reply, "Someone should book the park", "UB", thread_ts=parent)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                await rig.send.react("UC", "pushpin", "C1", reply)
                await rig.idle()
                assert [a["title"] for a in rig.actions().values()] == [
                    "Someone should book the park"
                ]

        asyncio.run(scenario())
        # Not in the channel history, so it was read from its thread.
        assert slack.calls_to("conversations.replies")[0].params["ts"] == reply
        post = slack.calls_to("chat.postMessage")[0]
        assert post.params["thread_ts"] == parent  # Slack threads are one level deep


def test_time_zones_come_from_slack_and_coop_tz_overrides_them(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        slack.set_user("UA", name="alice", tz="America/New_York")
        slack.set_user("UB", name="bob", tz=None)  # Slack may not know
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                # The test clock says Friday 27 November 2026, 10:00 UTC.
                for user, text in [
                    ("UA", 'task "Set up chairs" due:"tomorrow 9am"'),
                    ("UA", "tz Asia/Tokyo"),
                    ("UA", 'task "Stack chairs" due:"tomorrow 9am"'),
                    ("UB", 'task "Sweep up" due:"tomorrow 9am"'),
                ]:
                    await rig.send.command(user, text)
                    await rig.idle()
                dues = {a["title"]: a["due"] for a in rig.actions().values()}
                assert dues == {
                    "Set up chairs": "2026-11-28T14:00:00Z",  # New York, from users.info
                    "Stack chairs": "2026-11-28T00:00:00Z",  # Tokyo, set by /coop tz
                    "Sweep up": "2026-11-28T09:00:00Z",  # the default zone, UTC
                }

        asyncio.run(scenario())
        assert [c.params["user"] for c in slack.calls_to("users.info")] == ["UA", "UB"]


def test_workspace_admins_from_slack_may_close_other_peoples_tasks(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        slack.set_user("UC", name="carol", is_owner=True)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                for user, text in [("UA", "task Mow the lawn"), ("UB", "close #1")]:
                    await rig.send.command(user, text)
                    await rig.idle()
                assert rig.actions()[1]["state"] == "open"
                refusal = slack.calls_to("chat.postEphemeral")[-1].params
                assert refusal["user"] == "UB" and "Only alice" in refusal["text"]
                await rig.send.command("UC", "close #1")
                await rig.idle()
                assert rig.actions()[1]["state"] == "closed"

        asyncio.run(scenario())
        last = slack.calls_to("chat.update")[-1].json_field("blocks")
        assert "_(completed)_" in last[0]["text"]["text"]
        assert last[-1]["type"] != "actions"  # no buttons on a closed card


def test_the_home_tab_lists_my_commitments(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                for user, text in [
                    ("UA", "task Bake bread need:1"),
                    ("UA", 'task "Buy flour" due:"in 2 days"'),
                    ("UA", "task Clean ovens"),
                    ("UA", "join #1"),
                    ("UB", "join #1"),
                    ("UB", "join #2"),
                ]:
                    await rig.send.command(user, text)
                    await rig.idle()
                await rig.send.home_opened("UB")
                await rig.idle()

        asyncio.run(scenario())
        publish = slack.calls_to("views.publish")[-1]
        assert publish.params["user_id"] == "UB"
        blocks = publish.json_field("view")["blocks"]
        texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
        assert len(texts) == 2
        assert texts[0].startswith("*#1 Bake bread*") and "You're on the waitlist" in texts[0]
        assert texts[1].startswith("*#2 Buy flour*") and "You're in" in texts[1]
        assert "<!date^" in texts[1]
