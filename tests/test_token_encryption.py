"""Many-workspace mode keeps bot tokens encrypted at rest, with keys that can be rotated.

Each test installs through the real slack-bolt OAuth flow against the fake Slack, then reads
what the database really holds: every row of every table and, on SQLite, the bytes of the
database file and its WAL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, MetaData, select
from sqlalchemy.engine import make_url

from adapters.slack.installations import token_cipher
from bot.config import ConfigError, Secrets
from bot.core import Core
from storage.db import make_engine
from storage.migrate import upgrade
from storage.tables import slack_bots
from tests.fakes.slack import Call, FakeSlack, slash_command_payload
from tests.slack_support import SIGNING_SECRET, HttpDriver, add_people, make_core, started
from tests.test_slack_oauth import install, token_exchange

REPO = Path(__file__).resolve().parent.parent
KEY_A = "pJgNRLS_oA2GptBeiUEluWKenanzdYMJULiLASbv868="
KEY_B = "oa2XM0QK_sItQnM2wirNMwQa0YHa_VmB1VOfbW7L4UE="
KEY_C = "2J5dp5j7gBWxLmcLwZtXLkyKrGoJCmCOEv8KbUUW4H4="
# Shaped like real bot tokens, so that finding one in the database means finding a token.
TOKENS = {
    team: f"xoxb-{team}-1234567890123-4567890123456-Zq8sR2vN5xW1yT7u" for team in ("T2", "T3", "T4")
}


def with_real_token(call: Call) -> dict[str, Any]:
    answer = token_exchange(call)
    return answer | {"access_token": TOKENS[answer["team"]["id"]]}


def secrets(keys: str | None) -> Secrets:
    return Secrets(
        None, None, SIGNING_SECRET, None, slack_client_secret="client-secret", token_keys=keys
    )


def oauth_core(tmp_path: Path, slack: FakeSlack, database_url: str) -> Core:
    add_people(slack)
    slack.set_response("oauth.v2.access", with_real_token)
    return make_core(tmp_path, slack, "http", database_url, client_id="111.222")


def everything_stored(engine: Engine) -> bytes:
    """Every row of every table, and on SQLite the database file, its WAL and shared memory."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as conn:
        rows = [repr(row) for t in tables.sorted_tables for row in conn.execute(select(t))]
    stored = "\n".join(rows).encode()
    if engine.dialect.name == "sqlite":
        database = Path(str(make_url(str(engine.url)).database))
        for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
            if path.exists():
                stored += path.read_bytes()
    return stored


def stored_tokens(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(slack_bots.c.team_id, slack_bots.c.bot_token)).all()
    return {team: token for team, token in rows}


def opens_with(key: str, stored: str) -> str | None:
    try:
        return Fernet(key).decrypt(stored.encode()).decode()
    except InvalidToken:
        return None


async def command(rig: Any, team: str, title: str) -> list[Call]:
    """`/coop task <title>` from workspace `team`; the messages the bot posted for it."""
    before = len(rig.slack.calls)
    payload = slash_command_payload(
        f"task {title}", "UA", "C1", team_id=team, response_url=rig.slack.response_url()
    )
    assert (await rig.send.send("slash_commands", payload)).status == 200
    await rig.idle()
    return [c for c in rig.slack.calls[before:] if c.method == "chat.postMessage"]


def installed(tmp_path: Path, slack: FakeSlack, database_url: str, keys: str, *teams: str) -> None:
    """Install the app in `teams`, with `keys`, through /slack/install as a browser would."""
    core = oauth_core(tmp_path, slack, database_url)

    async def scenario() -> None:
        async with started(slack, core, "http", secrets=secrets(keys)) as rig:
            assert isinstance(rig.send, HttpDriver)
            base = f"http://127.0.0.1:{rig.bot.http_port}"
            for team in teams:
                assert await install(rig.send.session, base, team) == 200

    asyncio.run(scenario())
    core.engine.dispose()


def coopbot(
    tmp_path: Path, database_url: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real `coopbot` command in a clean environment."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "COOPBOT_"))
    }
    environ |= {"PYTHONPATH": str(REPO), "COOPBOT_DATABASE_URL": database_url} | env
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_installed_workspace_is_served_and_its_token_is_stored_nowhere_in_plain_text(
    tmp_path: Path, database_url: str
) -> None:
    with FakeSlack() as slack:
        core = oauth_core(tmp_path, slack, database_url)

        async def scenario() -> None:
            async with started(slack, core, "http", secrets=secrets(KEY_A)) as rig:
                assert isinstance(rig.send, HttpDriver)
                base = f"http://127.0.0.1:{rig.bot.http_port}"
                assert await install(rig.send.session, base, "T2") == 200
                posted = await command(rig, "T2", "Plant trees")
                assert [c.token for c in posted] == [TOKENS["T2"]]
                # While the bot runs: the WAL holds the latest writes.
                assert TOKENS["T2"].encode() not in everything_stored(core.engine)

        asyncio.run(scenario())
        assert TOKENS["T2"].encode() not in everything_stored(core.engine)
        stored = stored_tokens(core.engine)["T2"]
        assert opens_with(KEY_A, stored) == TOKENS["T2"]


def test_rotating_the_key_re_encrypts_every_token_and_the_old_key_can_go(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeSlack() as slack:
        installed(tmp_path, slack, database_url, KEY_A, "T2", "T3")
        engine = make_engine(database_url)
        before = stored_tokens(engine)

        # The new key first, the old one after: what the old one encrypted still opens.
        rotated = coopbot(
            tmp_path,
            database_url,
            "slack",
            "rotate-token-key",
            COOPBOT_TOKEN_KEYS=f"{KEY_B},{KEY_A}",
        )
        assert (rotated.returncode, rotated.stderr) == (0, "")
        assert rotated.stdout == "coopbot: 2 stored bot tokens are encrypted with the first key\n"
        after = stored_tokens(engine)
        assert {team: opens_with(KEY_B, token) for team, token in after.items()} == {
            "T2": TOKENS["T2"],
            "T3": TOKENS["T3"],
        }
        assert all(opens_with(KEY_A, token) is None for token in after.values())
        assert set(before.values()).isdisjoint(after.values())
        again = coopbot(
            tmp_path,
            database_url,
            "slack",
            "rotate-token-key",
            COOPBOT_TOKEN_KEYS=f"{KEY_B},{KEY_A}",
        )
        assert again.returncode == 0
        assert all(opens_with(KEY_B, t) for t in stored_tokens(engine).values())

        # The old key dropped: the bot still serves both workspaces.
        core = make_core(tmp_path, slack, "http", database_url, client_id="111.222")

        async def served_with_b() -> None:
            async with started(slack, core, "http", secrets=secrets(KEY_B)) as rig:
                for team in ("T2", "T3"):
                    posted = await command(rig, team, "Paint walls")
                    assert [c.token for c in posted] == [TOKENS[team]]

        asyncio.run(served_with_b())
        core.engine.dispose()

        # Only the old key: one clear line naming each workspace, no traceback, no token.
        core = make_core(tmp_path, slack, "http", database_url, client_id="111.222")
        caplog.clear()

        async def only_a() -> None:
            async with started(slack, core, "http", secrets=secrets(KEY_A)) as rig:
                assert await command(rig, "T2", "Sneak in") == []

        with caplog.at_level(logging.INFO):
            asyncio.run(only_a())
        core.engine.dispose()
        start_up = [r for r in caplog.records if r.name == "adapters.slack"]
        assert [r.getMessage() for r in start_up if r.levelno == logging.ERROR] == [
            "Slack: no key in COOPBOT_TOKEN_KEYS opens the stored bot token of workspace T2 "
            "(Team T2), workspace T3 (Team T3): put back the key it was encrypted with, or "
            "install the app there again"
        ]
        refused = [r.getMessage() for r in caplog.records if r.name == "adapters.slack.auth"]
        assert refused == [
            "Slack: no key in COOPBOT_TOKEN_KEYS opens the stored bot token of workspace T2 "
            "(Team T2): put back the key it was encrypted with, or install the app there again"
        ]
        assert not any(r.exc_info for r in caplog.records)
        assert not any(TOKENS["T2"] in r.getMessage() for r in caplog.records)
        failed = coopbot(
            tmp_path, database_url, "slack", "rotate-token-key", COOPBOT_TOKEN_KEYS=KEY_A
        )
        assert failed.returncode == 2 and failed.stdout == ""
        assert failed.stderr.count("\n") == 1 and "workspace T2 (Team T2)" in failed.stderr
        assert TOKENS["T2"] not in failed.stderr + failed.stdout
        engine.dispose()


def test_a_refused_rotation_changes_nothing_and_forgetting_deletes_only_the_unreadable(
    tmp_path: Path, database_url: str
) -> None:
    with FakeSlack() as slack:
        installed(tmp_path, slack, database_url, KEY_A, "T2")
        installed(tmp_path, slack, database_url, KEY_C, "T3")  # a key since lost
        engine = make_engine(database_url)
        before = stored_tokens(engine)
        keys = {"COOPBOT_TOKEN_KEYS": f"{KEY_B},{KEY_A}"}

        refused = coopbot(tmp_path, database_url, "slack", "rotate-token-key", **keys)
        assert (refused.returncode, refused.stdout) == (2, "")
        assert refused.stderr == (
            "coopbot: Slack: no key in COOPBOT_TOKEN_KEYS opens the stored bot token of "
            "workspace T3 (Team T3): put back the key it was encrypted with, or install the app "
            "there again (nothing was changed; --forget-unreadable deletes it)\n"
        )
        assert stored_tokens(engine) == before

        forgot = coopbot(
            tmp_path, database_url, "slack", "rotate-token-key", "--forget-unreadable", **keys
        )
        assert forgot.returncode == 0, forgot.stderr
        assert forgot.stdout.splitlines() == [
            "coopbot: 1 stored bot tokens are encrypted with the first key",
            "coopbot: forgot the tokens of workspace T3 (Team T3)",
        ]
        after = stored_tokens(engine)
        assert list(after) == ["T2"] and opens_with(KEY_B, after["T2"]) == TOKENS["T2"]
        engine.dispose()


def test_installing_again_replaces_the_workspace_token(tmp_path: Path, database_url: str) -> None:
    with FakeSlack() as slack:
        installed(tmp_path, slack, database_url, KEY_C, "T2")  # a key since lost
        installed(tmp_path, slack, database_url, KEY_A, "T2")
        engine = make_engine(database_url)
        [stored] = stored_tokens(engine).values()
        assert opens_with(KEY_A, stored) == TOKENS["T2"]
        engine.dispose()


def test_tokens_an_earlier_version_stored_in_plain_text_are_encrypted_at_start_up(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The database as the version before encryption left it, with a token in a row and
    # another in the free space of a workspace that uninstalled the app.
    engine = make_engine(database_url)
    upgrade(engine, "0006")

    def legacy(team: str) -> dict[str, Any]:
        return {
            "client_id": "111.222",
            "app_id": "A1",
            "team_id": team,
            "team_name": f"Team {team}",
            "bot_token": TOKENS[team],
            "bot_user_id": "UBOT",
            "bot_scopes": "commands,chat:write",
            "is_enterprise_install": False,
            "installed_at": datetime.now(UTC).replace(tzinfo=None),
        }

    with engine.begin() as conn:
        conn.execute(slack_bots.insert().values(**legacy("T2")))
        conn.execute(slack_bots.insert().values(**legacy("T4")))
    with engine.begin() as conn:
        conn.execute(slack_bots.delete().where(slack_bots.c.team_id == "T4"))
    engine.dispose()

    with FakeSlack() as slack:
        core = oauth_core(tmp_path, slack, database_url)

        async def scenario() -> None:
            async with started(slack, core, "http", secrets=secrets(KEY_A)) as rig:
                posted = await command(rig, "T2", "Plant trees")
                assert [c.token for c in posted] == [TOKENS["T2"]]
                stored = everything_stored(core.engine)
                assert TOKENS["T2"].encode() not in stored
                assert TOKENS["T4"].encode() not in stored

        with caplog.at_level(logging.INFO, logger="adapters.slack"):
            asyncio.run(scenario())
        assert "Slack: encrypted 1 bot tokens stored in plain text" in caplog.messages
        assert opens_with(KEY_A, stored_tokens(core.engine)["T2"]) == TOKENS["T2"]
        core.engine.dispose()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (None, "coopbot: Slack: many workspaces need COOPBOT_TOKEN_KEYS, the key their bot "),
        ("  ,  ", "coopbot: Slack: many workspaces need COOPBOT_TOKEN_KEYS, the key their bot "),
        (f"{KEY_A},not-a-key", "coopbot: Slack: COOPBOT_TOKEN_KEYS: key 2 of 2 is not a Fernet "),
    ],
)
def test_many_workspaces_without_a_usable_key_refuse_to_start_in_one_line(
    tmp_path: Path, keys: str | None, message: str
) -> None:
    env = {
        "COOPBOT_SLACK__MODE": "http",
        "COOPBOT_SLACK__CLIENT_ID": "111.222",
        "COOPBOT_SLACK__HTTP_PORT": "0",
        "SLACK_CLIENT_SECRET": "client-secret",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
    } | ({"COOPBOT_TOKEN_KEYS": keys} if keys is not None else {})
    database = f"sqlite:///{tmp_path / 'coop.db'}"
    run = coopbot(tmp_path, database, "run", **env)
    assert run.returncode == 2, run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith(message)
    assert line.endswith(
        'make one with: python -c "from cryptography.fernet import Fernet; '
        'print(Fernet.generate_key().decode())"'
    )
    assert "not-a-key" not in line
    rotate = coopbot(tmp_path, database, "slack", "rotate-token-key", **env)
    assert (rotate.returncode, rotate.stderr.splitlines()) == (2, [line])


def test_a_key_is_checked_without_being_repeated() -> None:
    with pytest.raises(ConfigError, match="key 1 of 1 is not a Fernet key") as err:
        token_cipher(KEY_A[:-2])
    assert KEY_A[:-2] not in str(err.value)
    cipher = token_cipher(f" {KEY_B} , {KEY_A} ")
    sealed = cipher.seal(TOKENS["T2"])
    assert opens_with(KEY_B, sealed) == TOKENS["T2"]
    assert cipher.open(Fernet(KEY_A).encrypt(b"xoxb-old").decode(), "workspace T2") == "xoxb-old"
