"""`/coop show #ID` answers with the card itself where a platform draws cards (Slack blocks,
a Discord embed), and with its text in the console, through the real adapters and fakes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.discord_support import (
    ID,
    Handled,
    interact,
    new_core,
    new_fake,
    run,
    running_bot,
    slash,
)
from tests.fakes.slack import FakeSlack
from tests.harness import TestBot
from tests.slack_support import add_people, make_core, of, say, started


def _texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_slack_show_is_the_cards_blocks_without_buttons(tmp_path: Path) -> None:
    async def scenario() -> None:
        with FakeSlack() as slack:
            add_people(slack)
            core = make_core(tmp_path, slack)
            async with started(slack, core) as rig:
                await say(rig, "UA", 'task "Tidy the shed" need:2')
                await say(rig, "UB", "join #1")
                [answer] = of(await say(rig, "UC", "show #1"), "chat.postEphemeral")
                # Where the bot is not in the channel, the response_url carries the same.
                slack.fail_next("chat.postEphemeral", "not_in_channel")
                [hook] = of(await say(rig, "UC", "show #1"), "response_url")

        for params in (answer.params, hook.params):
            blocks = params["blocks"]
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            shown = _texts(blocks)
            assert [b["type"] for b in blocks] == ["section", "section"]
            assert "#1 Tidy the shed" in shown and "<@UB>" in shown and "1/2" in shown
            assert "buttons:" not in shown and "[open]" not in shown
            assert "actions" not in {b["type"] for b in blocks}  # no buttons on a copy
            assert str(params["text"]).startswith("#1 Tidy the shed — 1/2")

    asyncio.run(scenario())


def test_discord_show_is_the_cards_embed(tmp_path: Path) -> None:
    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'coop.db'}", fake)
        handled = Handled(core)
        ask = slash("carol", "show", id=1)

        async def scenario() -> None:
            async with running_bot(core):
                await interact(fake, slash("alice", "task", title="Tidy the shed", need=2))
                await interact(fake, slash("bob", "join", id=1))
                await handled.wait(2)
                await interact(fake, ask)
                await handled.wait(3)

        run(scenario)
        original = fake.original_response(ask["token"])
    assert original is not None
    [embed] = original["embeds"]
    assert embed["title"].startswith("#1 Tidy the shed")
    assert str(ID["bob"]) in json.dumps(embed)
    assert not original.get("content")
    assert not original.get("components")


def test_the_console_shows_the_cards_text(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    bot.say("alice", 'task "Tidy the shed" need:2')
    bot.say("alice", "show #1")
    assert "Tidy the shed" in bot.chat.last_private("alice")
