"""`coopbot doctor` against the local fakes: one line per check, exit 1 on any failure, and each
failure named, without changing the database or joining a gateway."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import discord
import pytest
from alembic.script import ScriptDirectory

from adapters.discord.doctor import lacking
from adapters.discord.permissions import BOT_PERMISSIONS
from adapters.slack.surface import bot_scopes
from bot.cli import main
from storage.db import make_engine
from storage.migrate import alembic_config, current_revision, upgrade
from tests.fakes.discord import DEFAULT_GUILD_ID, FakeDiscord
from tests.fakes.slack import FakeSlack

REPO = Path(__file__).resolve().parent.parent
DISCORD_TOKEN = "fake-discord-token"
MESSAGE_CONTENT = 1 << 18


def head() -> str:
    engine = make_engine("sqlite://")
    return ", ".join(sorted(ScriptDirectory.from_config(alembic_config(engine)).get_heads()))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database at head, shared: doctor only reads it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('doctor') / 'coopbot.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@dataclass
class Doctor:
    """`coopbot doctor` in this process, in an empty directory, with only the given env."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def env(self, **values: str) -> Doctor:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)
        return self

    def drop(self, *names: str) -> Doctor:
        for name in names:
            self.monkeypatch.delenv(name, raising=False)
        return self

    def run(self, *args: str) -> tuple[int, list[str]]:
        code = main([*args, "doctor"])
        captured = self.capsys.readouterr()
        assert captured.err == "" and captured.out
        return code, captured.out.splitlines()


@pytest.fixture
def doctor(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    migrated: str,
) -> Doctor:
    monkeypatch.chdir(tmp_path)  # no ./coopbot.yaml
    for name in list(os.environ):
        if name.startswith(("SLACK_", "DISCORD_", "COOPBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COOPBOT_DATABASE_URL", migrated)
    return Doctor(monkeypatch, capsys)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    with FakeDiscord(token=DISCORD_TOKEN) as fake:
        yield fake


def on_slack(doctor: Doctor, fake: FakeSlack) -> Doctor:
    return doctor.env(
        SLACK_BOT_TOKEN="xoxb-fake",
        SLACK_APP_TOKEN="xapp-fake",
        COOPBOT_SLACK__API_BASE_URL=fake.base_url,
    )


def on_discord(doctor: Doctor, fake: FakeDiscord) -> Doctor:
    return doctor.env(DISCORD_BOT_TOKEN=DISCORD_TOKEN, COOPBOT_DISCORD__API_BASE_URL=fake.rest_base)


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("ok    ")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_everything_passes_against_the_fakes(
    doctor: Doctor, slack: FakeSlack, fake_discord: FakeDiscord, migrated: str
) -> None:
    code, lines = on_discord(on_slack(doctor, slack), fake_discord).run()
    assert failures(lines) == []
    assert code == 0
    assert [line.split(":")[0] for line in lines] == [
        "ok    settings",
        "ok    database",
        "ok    time zones",
        "ok    adapters",
        "ok    Slack token",
        "ok    Slack scopes",
        "ok    Slack Socket Mode",
        "ok    Discord token",
        "ok    Discord intents",
        f"ok    Discord permissions in Coop Test Guild ({DEFAULT_GUILD_ID})",
    ]
    assert f"ok    database: {migrated}, migrations at head ({head()})" in lines
    assert "ok    adapters: slack, discord (for the credentials set)" in lines
    assert "ok    Slack token: bot coopbot (UBOT) in Fake Team (T1)" in lines
    # It checked and joined nothing: no socket, no gateway.
    assert slack.calls_to("apps.connections.open") and not fake_discord.identifies


def test_the_console_alone_needs_only_the_core(doctor: Doctor) -> None:
    code, lines = doctor.run()
    assert code == 0 and failures(lines) == []
    assert lines[-1] == "ok    adapters: console (no Slack or Discord credentials are set)"


def test_a_refused_slack_token_is_named(doctor: Doctor, slack: FakeSlack) -> None:
    slack.fail_next("auth.test", "invalid_auth")
    code, lines = on_slack(doctor, slack).run()
    assert code == 1
    assert failures(lines) == [
        "FAIL  Slack token: auth.test refused it (invalid_auth); copy the Bot User OAuth "
        "Token again (OAuth & Permissions)"
    ]


def test_missing_scopes_are_named(doctor: Doctor, slack: FakeSlack) -> None:
    slack.set_scopes([s for s in bot_scopes() if s not in ("reactions:read", "users:read")])
    code, lines = on_slack(doctor, slack).run()
    assert code == 1
    assert failures(lines) == [
        "FAIL  Slack scopes: missing reactions:read, users:read: add them under OAuth & "
        "Permissions and reinstall"
    ]


def test_a_refused_app_token_is_named(doctor: Doctor, slack: FakeSlack) -> None:
    slack.fail_next("apps.connections.open", "invalid_auth")
    code, lines = on_slack(doctor, slack).run()
    assert code == 1
    (failed,) = failures(lines)
    assert failed.startswith(
        "FAIL  Slack Socket Mode: apps.connections.open refused SLACK_APP_TOKEN (invalid_auth)"
    )


def test_a_missing_or_malformed_token_is_said_as_at_start_up(
    doctor: Doctor, slack: FakeSlack
) -> None:
    on_slack(doctor, slack).env(SLACK_APP_TOKEN="xoxb-wrong-kind")
    code, lines = doctor.run()
    assert code == 1
    (failed,) = failures(lines)
    assert failed.startswith("FAIL  Slack: SLACK_APP_TOKEN should start with xapp-")
    assert slack.calls == []


def test_an_unreachable_slack_is_one_line(doctor: Doctor) -> None:
    base = f"http://127.0.0.1:{closed_port()}/api/"
    doctor.env(SLACK_BOT_TOKEN="xoxb-fake", SLACK_APP_TOKEN="xapp-fake")
    code, lines = doctor.env(COOPBOT_SLACK__API_BASE_URL=base).run()
    assert code == 1
    assert [line[:36] for line in failures(lines)] == [
        f"FAIL  Slack token: cannot reach {base}"[:36],
        f"FAIL  Slack Socket Mode: cannot reach {base}"[:36],
    ]


def test_many_workspaces_need_valid_token_keys(doctor: Doctor, slack: FakeSlack) -> None:
    doctor.env(
        COOPBOT_SLACK__MODE="http",
        COOPBOT_SLACK__CLIENT_ID="123.456",
        COOPBOT_SLACK__API_BASE_URL=slack.base_url,
        SLACK_CLIENT_SECRET="secret",
        SLACK_SIGNING_SECRET="signing",
        COOPBOT_TOKEN_KEYS="not-a-key",
    )
    code, lines = doctor.run()
    assert code == 1
    (failed,) = failures(lines)
    assert failed.startswith("FAIL  Slack token keys: COOPBOT_TOKEN_KEYS: key 1 of 1 is not")
    assert "ok    Slack install flow: many workspaces: client 123.456" in lines[-2]
    assert slack.calls == []  # no single bot token to test


def test_a_refused_discord_token_is_named(doctor: Doctor, fake_discord: FakeDiscord) -> None:
    code, lines = on_discord(doctor, fake_discord).env(DISCORD_BOT_TOKEN="stale").run()
    assert code == 1
    assert failures(lines) == [
        "FAIL  Discord token: Discord refused DISCORD_BOT_TOKEN (401 Unauthorized); copy it "
        "again from the Developer Portal (Bot, Reset Token)"
    ]


def test_an_unreachable_discord_is_one_line(doctor: Doctor) -> None:
    base = f"http://127.0.0.1:{closed_port()}/api/v10"
    code, lines = doctor.env(DISCORD_BOT_TOKEN="t", COOPBOT_DISCORD__API_BASE_URL=base).run()
    assert code == 1
    assert failures(lines) == [lines[-1]]
    assert lines[-1].startswith(f"FAIL  Discord token: cannot reach {base} (")


def test_missing_discord_permissions_are_named(doctor: Doctor, fake_discord: FakeDiscord) -> None:
    without = BOT_PERMISSIONS.value & ~(
        discord.Permissions(embed_links=True, add_reactions=True).value
    )
    fake_discord.set_bot_permissions(DEFAULT_GUILD_ID, without)
    code, lines = on_discord(doctor, fake_discord).run()
    assert code == 1
    (failed,) = failures(lines)
    assert failed.startswith(
        f"FAIL  Discord permissions in Coop Test Guild ({DEFAULT_GUILD_ID}): missing Add "
        "Reactions, Embed Links: grant them to the bot's role"
    )


def test_a_configured_server_the_bot_is_not_in_fails(
    doctor: Doctor, fake_discord: FakeDiscord
) -> None:
    on_discord(doctor, fake_discord).env(COOPBOT_DISCORD__GUILD_IDS=f"[{DEFAULT_GUILD_ID}, 42]")
    code, lines = doctor.run()
    assert code == 1
    assert lines[-2].startswith("ok    Discord permissions in Coop Test Guild")
    assert lines[-1].startswith(
        "FAIL  Discord server 42: in discord.guild_ids, but the bot is not in it"
    )


@pytest.mark.parametrize(("flags", "ok"), [(0, False), (MESSAGE_CONTENT, True)])
def test_the_message_content_intent_must_be_on_when_asked_for(
    doctor: Doctor, fake_discord: FakeDiscord, flags: int, ok: bool
) -> None:
    fake_discord.application_flags = flags
    on_discord(doctor, fake_discord).env(COOPBOT_DISCORD__MESSAGE_CONTENT_INTENT="true")
    code, lines = doctor.run()
    (intents,) = [line for line in lines if "Discord intents" in line]
    assert code == (0 if ok else 1)
    if ok:
        assert intents == "ok    Discord intents: Message Content is switched on, as asked"
    else:
        assert intents.startswith(
            "FAIL  Discord intents: discord.message_content_intent is true, but the Message "
            "Content intent is off in the Developer Portal"
        )


def test_an_administrator_lacks_nothing() -> None:
    assert lacking(discord.Permissions(administrator=True)) == []
    assert lacking(discord.Permissions(view_channel=True, add_reactions=True)) == [
        "send_messages",
        "embed_links",
        "read_message_history",
        "send_messages_in_threads",
    ]


@pytest.mark.parametrize(
    ("at", "said"), [(None, "not migrated (head is {head})"), ("0001", "at 0001, head is {head}")]
)
def test_a_database_behind_head_is_named_and_left_as_it_is(
    doctor: Doctor, tmp_path: Path, at: str | None, said: str
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    if at is None:
        sqlite3.connect(tmp_path / "old.db").close()
    else:
        upgrade(make_engine(url), at)
    code, lines = doctor.env(COOPBOT_DATABASE_URL=url).run()
    assert code == 1
    assert failures(lines) == [
        f"FAIL  database: {url}: {said.format(head=head())}; run `coopbot db upgrade` (or "
        "`coopbot run`, which migrates at start)"
    ]
    assert current_revision(make_engine(url)) == at


def test_a_missing_sqlite_file_is_not_created(doctor: Doctor, tmp_path: Path) -> None:
    code, lines = doctor.env(COOPBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'none.db'}").run()
    assert code == 1
    assert failures(lines)[0].startswith(f"FAIL  database: sqlite:///{tmp_path}/none.db: no such")
    assert not (tmp_path / "none.db").exists()


def test_an_unreachable_database_is_one_line_without_its_password(doctor: Doctor) -> None:
    url = f"postgresql://coop:hunter2@127.0.0.1:{closed_port()}/coopbot"
    code, lines = doctor.env(COOPBOT_DATABASE_URL=url).run()
    assert code == 1
    (failed,) = failures(lines)
    assert failed.startswith("FAIL  database: postgresql://coop:***@127.0.0.1:")
    assert "cannot connect (" in failed
    assert "hunter2" not in "\n".join(lines) and "Traceback" not in "\n".join(lines)


def test_a_postgresql_database_at_head_passes(doctor: Doctor, postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    engine.dispose()
    code, lines = doctor.env(COOPBOT_DATABASE_URL=postgres_url).run()
    assert failures(lines) == [] and code == 0


def test_bad_settings_are_the_only_line(doctor: Doctor, tmp_path: Path) -> None:
    code, lines = doctor.env(COOPBOT_DEFAULT_TIMEZONE="Mars/Base").run()
    assert (code, lines) == (
        1,
        [
            "FAIL  settings: setting default_timezone: 'Mars/Base' is not an IANA time zone "
            "such as Europe/Berlin"
        ],
    )
    (tmp_path / "bad.yaml").write_text("emoji: [", encoding="utf-8")
    code, lines = doctor.drop("COOPBOT_DEFAULT_TIMEZONE").run("--config", "bad.yaml")
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("FAIL  settings: config file bad.yaml: not valid YAML")


def test_the_settings_file_is_named(doctor: Doctor, tmp_path: Path) -> None:
    (tmp_path / "coopbot.yaml").write_text("default_timezone: Europe/Berlin\n", encoding="utf-8")
    code, lines = doctor.run()
    assert code == 0
    assert lines[0] == "ok    settings: coopbot.yaml, overridden by COOPBOT_* variables"
    assert lines[2].startswith("ok    time zones: ") and "Europe/Berlin loads" in lines[2]


def test_the_command_loads_only_the_chosen_platforms_library(
    tmp_path: Path, slack: FakeSlack, migrated: str
) -> None:
    """A real `coopbot doctor` process on Slack: discord.py is never imported."""
    code = (
        "import sys\n"
        "from bot.cli import main\n"
        "code = main(['doctor'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'discord', 'slack_sdk'}))\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    env = {k: v for k, v in env.items() if not k.startswith("COOPBOT_")}
    env |= {
        "PYTHONPATH": str(REPO),
        "COOPBOT_DATABASE_URL": migrated,
        "COOPBOT_SLACK__API_BASE_URL": slack.base_url,
        "SLACK_BOT_TOKEN": "xoxb-fake",
        "SLACK_APP_TOKEN": "xapp-fake",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "['slack_sdk']"
    assert "ok    Slack Socket Mode: apps.connections.open accepts SLACK_APP_TOKEN" in done.stdout
