"""Slack's 3-second rule: every command, button, shortcut and event is acknowledged at once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.ports import UnitOfWork
from tests.fakes.slack import FakeSlack
from tests.slack_support import Mode, add_people, make_core, started

MESSAGE_TS = "1710000000.000100"


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_acks_do_not_wait_for_a_stuck_database_or_a_slow_slack(tmp_path: Path, mode: Mode) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        slack.add_message("C1", MESSAGE_TS, "Who can fix the bike?", "UA")
        core = make_core(tmp_path, slack, mode)
        database_open = threading.Event()
        database_open.set()
        fast_uow = core.coop.uow_factory

        def stuck_uow() -> UnitOfWork:
            # Every transaction waits here until the test opens the database again.
            assert database_open.wait(timeout=20)
            return fast_uow()

        core.coop.uow_factory = stuck_uow

        async def scenario() -> None:
            async with started(slack, core, mode) as rig:
                await rig.send.command("UA", "task Paint the shed need:5")
                await rig.idle()
                card = rig.card_ts(1)

                database_open.clear()
                slack.delay("users.info", 3.5)  # longer than Slack's deadline on its own
                slack.delay("chat.postEphemeral", 1.0)
                deliveries = [
                    await rig.send.command("UB", "join #1"),
                    await rig.send.click("UC", "C1", card, "join", 1),
                    await rig.send.shortcut("UD", "C1", MESSAGE_TS, "Who can fix the bike?", "UA"),
                    await rig.send.react("UE", "raised_hand", "C1", card),
                ]
                assert [d.status for d in deliveries] == [200, 200, 200, 200]
                assert max(d.latency for d in deliveries) < 1.0, deliveries
                assert rig.actions().keys() == {1}  # nothing could be written yet

                database_open.set()
                await rig.idle()
                assert rig.statuses(1) == {"UB": "committed", "UC": "committed", "UE": "committed"}
                assert rig.actions()[2]["title"] == "Who can fix the bike?"

        asyncio.run(scenario())
