"""Slack, Discord and the console served by one process, in one event loop, on one database."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import wiring
from bot.clock import ManualClock
from bot.config import ConfigError, Settings, load_settings
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


class FakeAdapter:
    """Stands in for a platform adapter; records what happened to it, in order."""

    def __init__(self, name: str, log: list[str], fail_while_running: bool = False) -> None:
        self.name, self.log, self.fail = name, log, fail_while_running

    async def wait(self) -> None:
        if self.fail:
            raise ConfigError(f"{self.name}: refused")
        await asyncio.Event().wait()

    async def stop_intake(self) -> None:
        self.log.append(f"{self.name} stopped taking events")


def _fake_adapters(monkeypatch: pytest.MonkeyPatch, log: list[str], fail: str = "") -> None:
    import adapters.discord
    import adapters.slack

    def fake(name: str) -> Any:
        @contextlib.asynccontextmanager
        async def running(core: object, secrets: object) -> AsyncIterator[FakeAdapter]:
            if fail == f"{name} at start":
                raise ConfigError(f"{name}: refused at start")
            try:
                yield FakeAdapter(name, log, fail == f"{name} later")
            finally:
                # A cleanup that takes a few turns of the loop, like closing a websocket.
                for _ in range(3):
                    await asyncio.sleep(0)
                log.append(f"{name} closed")

        return running

    monkeypatch.setattr(adapters.slack, "running", fake("slack"))
    monkeypatch.setattr(adapters.discord, "running", fake("discord"))


def test_stopping_stops_intake_then_waits_for_every_adapter_to_clean_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    _fake_adapters(monkeypatch, log)
    core = build_core(Settings(database_url=f"sqlite:///{tmp_path / 'coop.db'}"))

    async def scenario() -> None:
        stop = asyncio.Event()
        job = asyncio.create_task(
            wiring.serve(core, ["slack", "discord"], io.StringIO(), io.StringIO(), stop)
        )
        await asyncio.sleep(0.1)
        assert log == []
        stop.set()
        await job

    asyncio.run(scenario())
    assert log[:2] == ["slack stopped taking events", "discord stopped taking events"]
    assert sorted(log[2:]) == ["discord closed", "slack closed"]


@pytest.mark.parametrize("failure", ["discord at start", "discord later"])
def test_one_adapter_failing_stops_the_others_and_reports_its_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    log: list[str] = []
    _fake_adapters(monkeypatch, log, fail=failure)
    core = build_core(Settings(database_url=f"sqlite:///{tmp_path / 'coop.db'}"))
    with pytest.raises(ConfigError, match="discord: refused"):
        asyncio.run(wiring.serve(core, ["slack", "discord"], io.StringIO(), io.StringIO()))
    assert "slack closed" in log
