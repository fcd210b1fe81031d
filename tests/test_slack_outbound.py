"""What the bot sends: 429s honoured without losing anything, pacing, and helpful fallbacks."""

from __future__ import annotations

import asyncio
from itertools import pairwise
from pathlib import Path

from tests.fakes.slack import Call, FakeSlack
from tests.slack_support import add_people, make_core, started


def people_lines(call: Call) -> list[str]:
    """The lines of a card's second section: progress and who is in."""
    return str(call.json_field("blocks")[1]["text"]["text"]).splitlines()


def test_a_rate_limited_card_update_is_delayed_not_lost(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            # No retries inside the Web API client: the dispatcher copes.
            async with started(slack, core, client_retries=0) as rig:
                await rig.send.command("UA", "task Build a bench need:5")
                await rig.idle()
                slack.rate_limit_next("chat.update", retry_after=1, times=2)
                await rig.send.command("UB", "join #1")
                await slack.await_call("chat.update")  # answered 429
                # While the edit waits, the core goes on: more joins, and a new card.
                for user in ("UC", "UD"):
                    await rig.send.command(user, "join #1")
                    await slack.await_call("chat.postEphemeral", count=["UC", "UD"].index(user) + 1)
                await rig.send.command("UE", "task Sweep the hall")
                await rig.idle()
                assert rig.statuses(1) == {"UB": "committed", "UC": "committed", "UD": "committed"}

        asyncio.run(scenario())
        updates = slack.calls_to("chat.update")
        assert [u.status for u in updates] == [429, 429, 200]
        assert updates[1].time - updates[0].time >= 1.0  # Retry-After: 1
        assert updates[2].time - updates[1].time >= 1.0
        # The card is drawn when it is sent: the one edit that went out shows all three.
        assert "*In:* <@UB>, <@UC>, <@UD>" in people_lines(updates[2])
        # A new card in the same channel did not wait for the edit.
        other = slack.calls_to("chat.postMessage")[-1]
        assert other.params["text"].startswith("#2 Sweep the hall")
        assert other.time < updates[2].time


def test_a_rate_limited_post_goes_out_after_retry_after(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                slack.rate_limit_next("chat.postMessage", retry_after=1)
                await rig.send.command("UA", "task Fold the flyers")
                await rig.idle()

        asyncio.run(scenario())
        posts = slack.calls_to("chat.postMessage")
        assert [p.status for p in posts] == [429, 200]
        assert posts[1].time - posts[0].time >= 1.0


def test_posts_in_one_channel_are_paced(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core, post_interval=0.3) as rig:
                for title in ("One", "Two", "Three"):
                    await rig.send.command("UA", f"task {title}")
                await rig.idle()

        asyncio.run(scenario())
        times = [p.time for p in slack.calls_to("chat.postMessage")]
        assert len(times) == 3
        assert [b - a >= 0.29 for a, b in pairwise(times)] == [True, True]


def test_a_card_the_bot_cannot_post_is_explained_to_whoever_asked(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                # Slack refuses the bot everything in a channel it is not in.
                slack.fail_next("chat.postMessage", "not_in_channel")
                slack.fail_next("chat.postEphemeral", "not_in_channel")
                await rig.send.command(
                    "UA", "task Plan the party", channel="C9", response_url=slack.response_url()
                )
                await rig.idle()
                assert rig.actions()[1]["title"] == "Plan the party"

        asyncio.run(scenario())
        (answer,) = slack.calls_to("response_url")
        assert "#1 is saved, but I can't post its card here" in answer.params["text"]
        assert answer.params["response_type"] == "ephemeral"
        assert answer.params["replace_original"] is False


def test_private_replies_reach_people_where_the_bot_cannot_post(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                slack.fail_next("chat.postEphemeral", "channel_not_found")
                # A command's answer goes back through its response_url ...
                await rig.send.command("UA", "list", response_url=slack.response_url())
                await rig.idle()
                # ... an answer to a reaction, which has none, as a direct message.
                await rig.send.command("UA", "task Lock up need:1")
                await rig.send.command("UA", "join #1")
                await rig.idle()
                slack.fail_next("chat.postEphemeral", "not_in_channel")
                await rig.send.react("UB", "raised_hand", "C1", rig.card_ts(1))
                await rig.idle()

        asyncio.run(scenario())
        (listed,) = slack.calls_to("response_url")
        assert listed.params["text"].startswith("No open actions in this channel")
        dm = slack.calls_to("chat.postMessage")[-1].params
        assert (
            dm["channel"] == "DUB" and "is full, so you're number 1 on the waitlist" in dm["text"]
        )
