"""A real `coopbot run` serving Slack over HTTP, killed with SIGKILL at each dangerous point,
then started again: at the fake Slack every effect arrived exactly once, and the database
holds every acknowledged change.

The points are reached with failpoints (bot/failpoints.py): the process logs that it holds
there, and the test kills it by its pid.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.slack import (
    Call,
    FakeSlack,
    event_callback_payload,
    reaction_event,
)
from tests.process_support import (
    BotProcess,
    bot_process,
    command,
    exported,
    join_burst,
    post_signed,
    slack_http_env,
    slack_port,
)
from tests.slack_support import add_people

HOLDING = r"failpoint {} reached"


def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coop.db'}"


def ok(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.status == 200 and c.response.get("ok")]


def cards_posted(slack: FakeSlack, number: int) -> list[Call]:
    posts = ok(slack.calls_to("chat.postMessage"))
    return [c for c in posts if str(c.params.get("text", "")).startswith(f"#{number} ")]


def ephemerals(slack: FakeSlack, user: str) -> list[str]:
    calls = ok(slack.calls_to("chat.postEphemeral"))
    return [str(c.params["text"]) for c in calls if c.params.get("user") == user]


def dms(slack: FakeSlack, user: str) -> list[str]:
    calls = ok(slack.calls_to("chat.postMessage"))
    return [str(c.params["text"]) for c in calls if c.params.get("channel") == f"D{user}"]


def card_now(slack: FakeSlack, ts: str) -> str:
    """The people section of the card at `ts` as Slack shows it now."""
    [message] = [m for m in slack.messages("C1") if m["ts"] == ts]
    return str(message["blocks"][1]["text"]["text"])


def unfinished(tmp_path: Path) -> tuple[int, int]:
    """(events recorded but not applied, deliveries not done) in the bot's database."""
    with sqlite3.connect(tmp_path / "coop.db") as db:
        events = db.execute("select count(*) from inbox where state = 'applying'").fetchone()
        rows = db.execute(
            "select count(*) from outbox where state in ('pending', 'sending')"
        ).fetchone()
    return int(events[0]), int(rows[0])


def wait_until_done(tmp_path: Path, bot: BotProcess, timeout: float = 60.0) -> None:
    """Until the restarted bot has applied and delivered everything it took over."""
    deadline = time.monotonic() + timeout
    while unfinished(tmp_path) != (0, 0):
        assert bot.proc is not None and bot.proc.poll() is None, bot.log()
        assert time.monotonic() < deadline, f"still {unfinished(tmp_path)}:\n{bot.log()}"
        time.sleep(0.05)


def start_with_a_task(
    bot: BotProcess, slack: FakeSlack, title: str = "Stack the chairs need:150"
) -> str:
    """Run the bot once to create task #1 and post its card; stop it; the card's ts."""
    bot.start()
    assert asyncio.run(command(slack_port(bot), "UA", f"task {title}")) == 200
    [card] = slack.wait_for_call("chat.postMessage")
    bot.signal(signal.SIGTERM)
    assert bot.wait() == 0
    return str(card.response["ts"])


def joined(database_url: str, tmp_path: Path, number: int = 1) -> dict[str, str]:
    actions = {a["id"]: a for a in exported(database_url, tmp_path)["actions"]}
    return {c["member"]: c["status"] for c in actions[number]["commitments"]}


@pytest.fixture
def slack() -> Any:
    with FakeSlack() as fake:
        add_people(fake)
        yield fake


def test_killed_after_the_ack_before_the_change_is_committed(
    tmp_path: Path, slack: FakeSlack
) -> None:
    url = database(tmp_path)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        card_ts = start_with_a_task(bot, slack)
        bot.start(COOPBOT_FAILPOINTS="inbox.before_commit")
        assert asyncio.run(command(slack_port(bot), "UB", "join #1")) == 200  # acknowledged
        bot.wait_for_log(HOLDING.format("inbox.before_commit"))
        bot.kill()
        assert ephemerals(slack, "UB") == [] and slack.calls_to("chat.update") == []

        bot.start()
        wait_until_done(tmp_path, bot)
        assert joined(url, tmp_path) == {"UB": "committed"}
        assert ephemerals(slack, "UB") == ["You're in on #1 “Stack the chairs”."]
        assert "*In:* <@UB>" in card_now(slack, card_ts)
        assert len(cards_posted(slack, 1)) == 1


def test_killed_after_the_commit_before_the_send(tmp_path: Path, slack: FakeSlack) -> None:
    url = database(tmp_path)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        card_ts = start_with_a_task(bot, slack)
        bot.start(COOPBOT_FAILPOINTS="outbox.before_send")
        assert asyncio.run(command(slack_port(bot), "UB", "join #1")) == 200
        bot.wait_for_log(HOLDING.format("outbox.before_send"), count=2)  # the edit and the answer
        bot.kill()
        assert joined(url, tmp_path) == {"UB": "committed"}
        assert ephemerals(slack, "UB") == [] and slack.calls_to("chat.update") == []

        bot.start()
        wait_until_done(tmp_path, bot)
        assert ephemerals(slack, "UB") == ["You're in on #1 “Stack the chairs”."]
        assert [c.status for c in slack.calls_to("chat.update")] == [200]
        assert "*In:* <@UB>" in card_now(slack, card_ts)


def test_a_card_posted_but_not_recorded_is_found_not_posted_again_nor_orphaned(
    tmp_path: Path, slack: FakeSlack
) -> None:
    url = database(tmp_path)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start(COOPBOT_FAILPOINTS="outbox.after_send:card_post")
        port = slack_port(bot)
        assert asyncio.run(command(port, "UA", "task Tidy the shed")) == 200
        bot.wait_for_log(HOLDING.format("outbox.after_send"))
        bot.kill()
        [posted] = cards_posted(slack, 1)  # Slack has the card; the database does not know
        ts = str(posted.response["ts"])

        bot.start()
        port = slack_port(bot)
        wait_until_done(tmp_path, bot)
        assert len(cards_posted(slack, 1)) == 1
        # Slack was asked, by the delivery key in the message's metadata.
        [looked] = slack.calls_to("conversations.history")
        assert looked.params["include_all_metadata"] in (True, "true", "1", 1)

        # The card works: a ✋ on it joins and the card is edited in place.
        event = reaction_event("reaction_added", "UC", "raised_hand", "C1", ts)

        async def react() -> int | None:
            async with aiohttp.ClientSession() as session:
                return await post_signed(session, port, "events_api", event_callback_payload(event))

        assert asyncio.run(react()) == 200
        wait_until_done(tmp_path, bot)
        assert joined(url, tmp_path) == {"UC": "committed"}
        [edit] = ok(slack.calls_to("chat.update"))
        assert edit.params["ts"] == ts and "*In:* <@UC>" in card_now(slack, ts)


def test_a_dm_sent_but_not_recorded_is_not_sent_again(tmp_path: Path, slack: FakeSlack) -> None:
    url = database(tmp_path)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start()
        port = slack_port(bot)
        for user, text in (
            ("UA", "task Drive the van need:1"),
            ("UB", "join #1"),
            ("UC", "join #1"),
        ):
            assert asyncio.run(command(port, user, text)) == 200
        slack.wait_for_call("chat.postEphemeral", count=2)
        bot.signal(signal.SIGTERM)
        assert bot.wait() == 0

        bot.start(COOPBOT_FAILPOINTS="outbox.after_send:dm")
        assert asyncio.run(command(slack_port(bot), "UB", "leave #1")) == 200  # UC is promoted
        bot.wait_for_log(HOLDING.format("outbox.after_send"))
        bot.kill()
        assert len(dms(slack, "UC")) == 1

        bot.start()
        wait_until_done(tmp_path, bot)
        assert dms(slack, "UC") == [
            "Good news: a spot opened on #1 “Drive the van” and you're in now."
        ]
        assert joined(url, tmp_path) == {"UB": "withdrawn", "UC": "committed"}


def test_killed_in_the_middle_of_a_burst_of_200(tmp_path: Path, slack: FakeSlack) -> None:
    url = database(tmp_path)
    users = [f"U{i:03d}" for i in range(200)]
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        card_ts = start_with_a_task(bot, slack)
        bot.start()
        port = slack_port(bot)
        answers = asyncio.run(join_burst(bot, port, users, 80, signal.SIGKILL))
        bot.wait(10)
        acked = {user for user, status in answers.items() if status == 200}
        assert 80 <= len(acked) < 200

        bot.start()
        wait_until_done(tmp_path, bot)
        stored = joined(url, tmp_path)
        assert acked <= set(stored)  # nothing acknowledged was lost
        assert set(stored) <= set(users)
        committed = [u for u, s in stored.items() if s == "committed"]
        assert len(committed) == min(150, len(stored))
        # Every stored join was answered; twice only where the kill cut an answer off
        # mid-send (Slack has no way to look an ephemeral message up afterwards).
        deliveries = exported(url, tmp_path)["deliveries"]
        retried = {d["recipient"] for d in deliveries if d["kind"] == "reply" and d["attempts"] > 1}
        for user in stored:
            answers_to = ephemerals(slack, user)
            assert 1 <= len(answers_to) <= (2 if user in retried else 1), user
        assert len(cards_posted(slack, 1)) == 1
        shown = card_now(slack, card_ts)
        assert f"{len(committed)}/150 in" in shown
