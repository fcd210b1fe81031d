"""The operator's endpoints (/healthz, /readyz, /metrics) through the real Slack adapter and
a real database, and what `coopbot run` serves them on."""

from __future__ import annotations

import asyncio
import re
import sys
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from alembic import command
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bot.ops import Ops
from storage.migrate import alembic_config
from tests.fakes.slack import FakeSlack
from tests.process_support import bot_process, slack_http_env
from tests.slack_support import Rig, add_people, make_core, say, started

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def serving(rig: Rig) -> AsyncIterator[tuple[Ops, Callable[[str], Awaitable[Any]]]]:
    """The ops endpoints of `rig`'s core on a free port, and a GET that gives (status, text)."""
    ops = Ops(rig.core, ["slack"])
    ops.serving("slack", rig.bot)
    runner, port = await ops.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:

            async def get(path: str) -> tuple[int, str]:
                async with session.get(f"http://127.0.0.1:{port}{path}") as answer:
                    return answer.status, await answer.text()

            yield ops, get
    finally:
        await runner.cleanup()
        ops.close()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until `check()` holds (the platform's or the client's own timing), or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics page by (name, labels), read by prometheus_client's parser."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(page: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str):
    return page.get((name, frozenset(labels.items())), 0.0)


def test_version_is_the_installed_projects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0
    assert out.stdout.strip() == f"coopbot {project['version']}"


def test_each_readiness_failure_flips_readyz_and_names_itself(tmp_path: Path) -> None:
    asyncio.run(_each_readiness_failure_flips_readyz_and_names_itself(tmp_path))


async def _each_readiness_failure_flips_readyz_and_names_itself(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        core = make_core(tmp_path, slack)
        async with started(slack, core) as rig, serving(rig) as (ops, get):
            assert await get("/healthz") == (200, "ok\n")
            status, text = await get("/readyz")
            assert status == 200, text
            assert text.splitlines() == [
                "ready",
                "database: ok",
                "migrations: ok",
                "slack: ok",
            ]

            # Migrations behind head.
            command.stamp(alembic_config(core.engine), "0006")
            status, text = await get("/readyz")
            assert status == 503 and "migrations: at 0006, head is 0008" in text, text
            assert "database: ok" in text
            command.stamp(alembic_config(core.engine), "head")
            assert (await get("/readyz"))[0] == 200

            # The database file is gone and something else is in its place.
            db = tmp_path / "coop.db"
            db.rename(tmp_path / "moved.db")
            db.mkdir()
            status, text = await get("/readyz")
            assert status == 503 and "database: database sqlite:///" in text, text
            assert "cannot be used (unable to open database file)" in text
            db.rmdir()
            (tmp_path / "moved.db").rename(db)
            assert (await get("/readyz"))[0] == 200

            # Slack's websocket closed, and reconnecting refused for now.
            slack.fail_next("apps.connections.open", "internal_error", times=1000)
            slack.close_sockets()

            async def not_ready() -> bool:
                return (await get("/readyz"))[0] == 503

            await until(not_ready)
            assert "slack: not connected" in (await get("/readyz"))[1]
            slack.stop_failing("apps.connections.open")

            async def ready() -> bool:
                return (await get("/readyz"))[0] == 200

            await until(ready, timeout=30)
            ops.stopping = True
            status, text = await get("/readyz")
            assert status == 503 and "slack: stopping" in text
            assert await get("/healthz") == (200, "ok\n")


def test_readyz_says_when_postgresql_refuses_connections(tmp_path: Path, postgres_url: str) -> None:
    asyncio.run(_readyz_says_when_postgresql_refuses_connections(tmp_path, postgres_url))


async def _readyz_says_when_postgresql_refuses_connections(
    tmp_path: Path, postgres_url: str
) -> None:
    url = make_url(postgres_url)
    admin = f"host={url.host} port={url.port or 5432} user={url.username} dbname=postgres"

    def allow(allowed: bool) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS {allowed}')
            if not allowed:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (url.database,),
                )

    with FakeSlack() as slack:
        core = make_core(tmp_path, slack, database_url=postgres_url)
        async with started(slack, core) as rig, serving(rig) as (_, get):
            assert (await get("/readyz"))[0] == 200
            allow(False)
            try:
                status, text = await get("/readyz")
            finally:
                allow(True)
            assert status == 503, text
            assert f'database "{url.database}" is not currently accepting connections' in text
            assert (await get("/readyz"))[0] == 200


def test_metrics_parse_and_move_by_exactly_the_events_sent(tmp_path: Path) -> None:
    asyncio.run(_metrics_parse_and_move_by_exactly_the_events_sent(tmp_path))


async def _metrics_parse_and_move_by_exactly_the_events_sent(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)
        async with started(slack, core) as rig, serving(rig) as (_, get):
            status, text = await get("/metrics")
            assert status == 200
            before = samples(text)

            await say(rig, "UA", "task Tidy the shed need:2")
            await say(rig, "UB", "join #1")
            card = rig.card_ts(1)
            first = await rig.send.react("UC", "raised_hand", "C1", card, event_id="Ev1")
            again = await rig.send.react("UC", "raised_hand", "C1", card, event_id="Ev1", retry=1)
            assert first.status == again.status == 200
            await rig.idle()
            # The next new message is answered 429 once, then goes out.
            slack.rate_limit_next("chat.postMessage", retry_after=0)
            await say(rig, "UA", 'remind me "Water plants" when:"in 10 minutes"')
            rig.core.clock.advance(timedelta(minutes=15))
            await rig.core.scheduler.tick_now()
            await rig.idle()

            after = samples((await get("/metrics"))[1])

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    command_ = {"platform": "slack", "kind": "CommandInvoked"}
    reaction = {"platform": "slack", "kind": "ReactionAdded"}
    assert moved("coopbot_events_received_total", **command_) == 3
    assert moved("coopbot_events_acked_total", **command_) == 3
    assert moved("coopbot_events_applied_total", **command_) == 3
    assert moved("coopbot_events_deduplicated_total", **command_) == 0
    assert moved("coopbot_events_received_total", **reaction) == 2
    assert moved("coopbot_events_acked_total", **reaction) == 2
    assert moved("coopbot_events_applied_total", **reaction) == 1
    assert moved("coopbot_events_deduplicated_total", **reaction) == 1
    assert moved("coopbot_apply_seconds_count", platform="slack") == 4
    assert moved("coopbot_rate_limited_total", platform="slack", route="chat.postMessage") == 1
    assert (
        moved(
            "coopbot_delivery_failures_total",
            platform="slack",
            kind="dm",
            reason="rate_limited",
        )
        == 1
    )
    # The card once, its edits after two joins, and the reminder's DM (after its 429).
    assert moved("coopbot_deliveries_total", platform="slack", kind="card_post") == 1
    assert moved("coopbot_deliveries_total", platform="slack", kind="dm") >= 1
    assert moved("coopbot_reminder_lag_seconds_count") == 1
    assert moved("coopbot_reminder_lag_seconds_sum") == pytest.approx(300, abs=1)
    # Everything was delivered: the backlog is empty (and its gauges are there).
    assert value(after, "coopbot_outbox_depth", platform="slack") == 0
    assert value(after, "coopbot_outbox_oldest_age_seconds", platform="slack") == 0


def _listening(log: str, pattern: str) -> int:
    found = re.search(pattern, log)
    assert found, log
    return int(found.group(1))


def test_coopbot_run_serves_ops_on_its_listener_and_in_slack_http_mode_on_slacks(
    tmp_path: Path,
) -> None:
    asyncio.run(_coopbot_run_serves_ops_on_its_listener_and_in_slack_http_mode_on_slacks(tmp_path))


async def _coopbot_run_serves_ops_on_its_listener_and_in_slack_http_mode_on_slacks(
    tmp_path: Path,
) -> None:
    with FakeSlack() as slack:
        socket_env = {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "COOPBOT_SLACK__API_BASE_URL": slack.base_url,
            "COOPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        }
        with bot_process(tmp_path, socket_env, "socket") as bot:
            bot.start()
            bot.wait_for_log("connected in Socket Mode")
            bot.wait_for_log(r"ops: .* on 127\.0\.0\.1:\d+")
            port = _listening(bot.log(), r"ops: .* on 127\.0\.0\.1:(\d+)")
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{port}/readyz") as answer,
            ):
                assert answer.status == 200, await answer.text()
                assert "slack: ok" in await answer.text()
        http_env = slack_http_env(slack, f"sqlite:///{tmp_path / 'b.db'}") | {
            "COOPBOT_OPS__LISTEN": "auto"
        }
        with bot_process(tmp_path, http_env, "http") as bot:
            bot.start()
            bot.wait_for_log(r"serving /slack/events on port \d+")
            port = _listening(bot.log(), r"serving /slack/events on port (\d+)")
            async with aiohttp.ClientSession() as session:
                for path, status in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200)):
                    async with session.get(f"http://127.0.0.1:{port}{path}") as answer:
                        assert answer.status == status, (path, await answer.text())
            assert "ops: " not in bot.log()  # no listener of its own


def test_the_default_listener_is_off_for_the_console_and_on_for_platforms() -> None:
    from bot.config import OpsSettings

    auto = OpsSettings()
    assert auto.address(console_only=True, slack_http=False) is None
    assert auto.address(console_only=False, slack_http=False) == ("127.0.0.1", 9464)
    assert auto.address(console_only=False, slack_http=True) is None
    assert OpsSettings(listen="0.0.0.0:9100").address(True, True) == ("0.0.0.0", 9100)
    assert OpsSettings(listen="off").address(False, False) is None


def test_a_taken_ops_port_stops_start_up_with_one_line(tmp_path: Path) -> None:
    import socket

    with FakeSlack() as slack, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "COOPBOT_SLACK__API_BASE_URL": slack.base_url,
            "COOPBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
            "COOPBOT_OPS__LISTEN": f"127.0.0.1:{port}",
        }
        with bot_process(tmp_path, env) as bot:
            bot.start()
            assert bot.wait() == 2
            lines = bot.log().strip().splitlines()
    assert lines == [
        f"coopbot: setting ops.listen: cannot listen on 127.0.0.1:{port} (address already in "
        "use); choose another port, or off"
    ], lines


def test_discord_429s_that_discord_py_waits_out_are_counted_by_route(tmp_path: Path) -> None:
    from adapters.discord import running
    from bot.config import Secrets
    from tests.discord_support import TOKEN, Handled, interact, new_core, new_fake, run, slash

    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'coop.db'}", fake)
        handled = Handled(core)

        async def scenario() -> None:
            async with running(core, Secrets(None, None, None, TOKEN)) as bot, core.running():
                await bot.bot.wait_until_ready()
                fake.rate_limit_next("POST", r"^/channels/\d+/messages$", retry_after=0.05)
                await interact(fake, slash("alice", "task", title="Tidy the shed", need=2))
                await handled.wait(1)

        run(scenario)
    page = samples(core.metrics.exposition().decode())
    route = "POST /channels/{id}/messages"
    assert value(page, "coopbot_rate_limited_total", platform="discord", route=route) == 1
    assert value(page, "coopbot_deliveries_total", platform="discord", kind="card_post") == 1
    assert sum(v for (n, _), v in page.items() if n == "coopbot_rate_limited_total") == 1


def test_discord_routes_leave_out_ids_and_tokens() -> None:
    from adapters.discord.chat import route

    base = "https://discord.com/api/v10"
    assert route("POST", f"{base}/channels/123/messages") == "POST /channels/{id}/messages"
    assert (
        route("PATCH", f"{base}/webhooks/99/aW50ZXJhY3Rpb24/messages/@original?wait=1")
        == "PATCH /webhooks/{id}/{token}/messages/@original"
    )
    assert (
        route("POST", "http://127.0.0.1:5/api/v10/interactions/7/tok/callback")
        == "POST /interactions/{id}/{token}/callback"
    )


def test_readyz_names_discord_when_its_gateway_is_gone(tmp_path: Path) -> None:
    from adapters.discord import running
    from bot.config import Secrets
    from tests.discord_support import TOKEN, new_core, new_fake, run

    with new_fake() as fake:
        core = new_core(f"sqlite:///{tmp_path / 'coop.db'}", fake)

        async def scenario() -> None:
            async with running(core, Secrets(None, None, None, TOKEN)) as bot, core.running():
                await bot.bot.wait_until_ready()
                ops = Ops(core, ["discord"])
                ops.serving("discord", bot)
                try:
                    checks = dict(await ops.readiness())
                    assert checks == {"database": None, "migrations": None, "discord": None}
                    # 4004: Discord no longer takes the token; discord.py gives up for good.
                    await fake.close_gateway_async(4004)

                    async def gone() -> bool:
                        return dict(await ops.readiness())["discord"] == "not connected"

                    await until(gone)
                finally:
                    ops.close()

        run(scenario)
