"""Slack, Discord and the console served by one process, in one event loop, on one database."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot import wiring
from bot.clock import ManualClock
from bot.config import ConfigError, load_settings
from bot.wiring import build_core
from tests.discord_support import GUILD_ID, TOKEN, Handled, interact, new_fake, run, slash
from tests.fakes.slack import FakeSlack, slash_command_payload
from tests.harness import START
from tests.slack_support import add_people


def test_one_process_serves_slack_discord_and_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with new_fake() as discord_fake, FakeSlack() as slack:
        add_people(slack)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("COOPBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'coop.db'}")
        monkeypatch.setenv("COOPBOT_SLACK__API_BASE_URL", slack.base_url)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-test")
        monkeypatch.setenv("COOPBOT_DISCORD__API_BASE_URL", discord_fake.rest_base)
        monkeypatch.setenv("COOPBOT_DISCORD__GATEWAY_URL", str(discord_fake.gateway_url))
        monkeypatch.setenv("COOPBOT_DISCORD__GUILD_IDS", f"[{GUILD_ID}]")
        monkeypatch.setenv("DISCORD_BOT_TOKEN", TOKEN)
        settings = load_settings()
        assert wiring.choose_adapters(settings, wiring.Secrets.from_env()) == ["slack", "discord"]
        core = build_core(settings, clock=ManualClock(START))
        handled = Handled(core)

        async def scenario() -> None:
            lines = io.StringIO("alice: /coop task Sweep the floor\n")
            job = asyncio.create_task(
                wiring.serve(core, ["console", "slack", "discord"], lines, io.StringIO())
            )
            await slack.await_socket_client()
            await discord_fake.await_for("PUT", rf"/applications/\d+/guilds/{GUILD_ID}/commands")
            ack = await slack.asend_envelope(
                "slash_commands", slash_command_payload("task Paint the shed", "UA", "C1")
            )
            assert ack["_latency"] < 3.0
            await interact(discord_fake, slash("bob", "task", title="Mop the floor"))
            await handled.wait(3)
            await slack.await_call("chat.postMessage")
            job.cancel()
            with pytest.raises(asyncio.CancelledError):
                await job

        run(scenario)
        with core.uow() as uow:
            made = {(r.community.platform, r.action.number, r.action.title) for r in uow.export()}
        assert made == {
            ("console", 1, "Sweep the floor"),
            ("slack", 1, "Paint the shed"),
            ("discord", 1, "Mop the floor"),
        }
        assert discord_fake.calls_to("POST", r"/channels/\d+/messages")


def _fake_adapters(monkeypatch: pytest.MonkeyPatch, cleaned: list[str], fail: bool) -> None:
    import adapters.discord
    import adapters.slack

    async def slack(core: object, secrets: object) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            # A cleanup that takes a few turns of the loop, like closing a websocket.
            for _ in range(3):
                await asyncio.sleep(0)
            cleaned.append("slack")

    async def discord(core: object, secrets: object) -> None:
        try:
            if fail:
                raise ConfigError("DISCORD_BOT_TOKEN: refused")
            await asyncio.Event().wait()
        finally:
            cleaned.append("discord")

    monkeypatch.setattr(adapters.slack, "serve", slack)
    monkeypatch.setattr(adapters.discord, "serve", discord)


def test_stopping_waits_for_every_adapter_to_finish_cleaning_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cleaned: list[str] = []
    _fake_adapters(monkeypatch, cleaned, fail=False)

    async def scenario() -> None:
        job = asyncio.create_task(
            wiring.serve(None, ["slack", "discord"], io.StringIO(), io.StringIO())  # type: ignore[arg-type]
        )
        await asyncio.sleep(0)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert sorted(cleaned) == ["discord", "slack"]

    asyncio.run(scenario())


def test_one_adapter_failing_stops_the_others_and_reports_its_own_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cleaned: list[str] = []
    _fake_adapters(monkeypatch, cleaned, fail=True)
    with pytest.raises(ConfigError, match="DISCORD_BOT_TOKEN: refused"):
        asyncio.run(wiring.serve(None, ["slack", "discord"], io.StringIO(), io.StringIO()))  # type: ignore[arg-type]
    assert sorted(cleaned) == ["discord", "slack"]
