"""The console acceptance scenario replayed as Slack payloads, in Socket Mode and in HTTP mode."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import console
from adapters.slack.surface import METHOD_SCOPES, bot_scopes
from bot.clock import ManualClock
from bot.config import Settings
from bot.export import action_record
from bot.wiring import build_core
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import FakeSlack
from tests.harness import START
from tests.slack_support import PEOPLE, Mode, Rig, add_people, make_core, started
from tests.test_console import ACCEPTANCE

MEETUP = "Who can help set up the meetup room on Friday?"
MEETUP_TS = "1710000000.000100"
CHAIRS = "Bring 20 chairs up from the storage room"
CHAIRS_TS = "1710000050.000100"
NAMES = {user_id: name for name, user_id in PEOPLE.items()}


async def replay(rig: Rig) -> None:
    """The console script as Slack would deliver it; each step is handled before the next."""
    send, slack = rig.send, rig.slack
    slack.add_message("C1", MEETUP_TS, MEETUP, "UA")
    slack.add_message("C1", CHAIRS_TS, CHAIRS, "UC")
    steps: list[Any] = [
        lambda: send.react("UA", "pushpin", "C1", MEETUP_TS),
        lambda: send.react("UB", "raised_hand::skin-tone-3", "C1", MEETUP_TS),
        lambda: send.command("UC", "join #1"),
        lambda: send.command("UA", 'task "Buy snacks" need:2 due:"in 3 days"'),
        lambda: send.command("UD", "join #2"),
        lambda: send.click("UE", "C1", rig.card_ts(2), "join", 2),  # a button instead of a command
        lambda: send.command("UF", "join #2"),
        lambda: send.command("UD", "leave #2"),
        lambda: send.shortcut("UB", "C1", CHAIRS_TS, CHAIRS, "UC"),  # "Track as task"
    ]
    for step in steps:
        delivery = await step()
        assert delivery.status == 200 and delivery.latency < 3.0
        await rig.idle()


def console_actions(tmp_path: Path) -> dict[int, dict[str, Any]]:
    """The console acceptance script run in-process, exported like `coopbot export`."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'console.db'}")
    core = build_core(settings, clock=ManualClock(START))

    async def run() -> None:
        async with console.running(core, io.StringIO(ACCEPTANCE), io.StringIO()) as typed:
            await typed.wait()

    asyncio.run(run())
    with SqlUnitOfWork(core.engine) as uow:
        return {r.action.number: action_record(r) for r in uow.export()}


def comparable(action: dict[str, Any], name_of: dict[str, str]) -> dict[str, Any]:
    """What both platforms must agree on: no ids, channels or how people joined."""
    return {
        "title": action["title"],
        "state": action["state"],
        "need": action["need"],
        "due": action["due"],
        "creator": name_of.get(action["creator"], action["creator"]),
        "commitments": [
            (name_of.get(c["member"], c["member"]), c["status"]) for c in action["commitments"]
        ],
    }


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_console_scenario_replayed_as_slack_payloads(tmp_path: Path, mode: Mode) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, mode)

        async def scenario() -> dict[int, dict[str, Any]]:
            async with started(slack, core, mode) as rig:
                await replay(rig)
                return rig.actions()

        actions = asyncio.run(scenario())
        calls = slack.calls

    # The same database state as the console run of the same story.
    console = console_actions(tmp_path)
    for number in (1, 2):
        assert comparable(actions[number], NAMES) == comparable(console[number], {})
    assert {c["member"]: c["status"] for c in actions[1]["commitments"]} == {
        "UB": "committed",
        "UC": "committed",
    }
    assert actions[2]["need"] == 2
    assert actions[2]["due"] == "2026-11-30T10:00:00Z"  # in 3 days from START
    assert {c["member"]: (c["status"], c["via"]) for c in actions[2]["commitments"]} == {
        "UD": ("withdrawn", "command"),
        "UE": ("committed", "button"),
        "UF": ("committed", "command"),
    }
    assert {c["member"]: c["via"] for c in actions[1]["commitments"]} == {
        "UB": "reaction",
        "UC": "command",
    }
    assert (actions[3]["title"], actions[3]["creator"]) == (CHAIRS, "UB")
    assert set(actions) == {1, 2, 3}

    # Cards: #1 and #3 in the threads of the messages they track, #2 in the channel.
    posts = [c for c in calls if c.method == "chat.postMessage" and c.params["channel"] == "C1"]
    assert [(p.params["text"].split(" ")[0], p.params.get("thread_ts")) for p in posts] == [
        ("#1", MEETUP_TS),
        ("#2", None),
        ("#3", CHAIRS_TS),
    ]
    card2 = posts[1]
    due = int((START + timedelta(days=3)).timestamp())
    assert f"<!date^{due}^{{date_short_pretty}} at {{time}}|" in str(card2.params["blocks"])
    elements = card2.json_field("blocks")[-1]["elements"]
    # The buttons, then the menu whose Edit item opens the Edit form.
    assert [(b["action_id"], b.get("value")) for b in elements] == [
        ("coop_join", "2"),
        ("coop_maybe", "2"),
        ("coop_leave", "2"),
        ("coop_done", "2"),
        ("coop_card_menu", None),
    ]

    # Cards updated in place: the last edit of #2 shows erin and frank in, dave gone.
    card2_ts = card2.response["ts"]
    updates = [c for c in calls if c.method == "chat.update" and c.params["ts"] == card2_ts]
    assert len(updates) == 4  # dave, erin, frank (waitlisted), dave leaves
    last = str(updates[-1].params["blocks"])
    assert "*In:* <@UE>, <@UF>" in last and "<@UD>" not in last and "Waitlist" not in last
    card1_ts = posts[0].response["ts"]
    assert len([c for c in calls if c.method == "chat.update" and c.params["ts"] == card1_ts]) == 2

    # Frank is told privately that he is waitlisted, then by DM that he is in.
    ephemeral = [c.params for c in calls if c.method == "chat.postEphemeral"]
    assert any(p["user"] == "UF" and "is full" in p["text"] for p in ephemeral)
    assert [c.params["users"] for c in calls if c.method == "conversations.open"] == ["UF"]
    dms = [c for c in calls if c.method == "chat.postMessage" and c.params["channel"] == "DUF"]
    assert len(dms) == 1 and "Good news: a spot opened on #2" in dms[0].params["text"]

    # The reaction's message was read back once; the shortcut carried its text itself.
    history = [c.params for c in calls if c.method == "conversations.history"]
    assert [(h["channel"], h["latest"]) for h in history] == [("C1", MEETUP_TS)]
    # Each person was looked up once.
    looked_up = [c.params["user"] for c in calls if c.method == "users.info"]
    assert sorted(looked_up) == sorted(PEOPLE.values())
    # Every Web API call is one the manifest's scopes allow.
    assert {c.method for c in calls} <= set(METHOD_SCOPES)
    needed = {s for c in calls for s in METHOD_SCOPES[c.method]}
    assert needed <= set(bot_scopes())
