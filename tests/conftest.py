"""Shared fixtures: a real SQLite file, and PostgreSQL when COOPBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from storage.db import make_engine
from tests.harness import TestBot


def _worker_database(url: str | None) -> str | None:
    """With pytest-xdist, each worker gets a PostgreSQL database of its own next to the one
    given (`<name>_gw0`, ...), made afresh: tests reset their schema, and two workers resetting
    one schema would wipe each other's tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    server = make_url(url)
    name = f"{server.database}_{worker}"
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.set(database=name).render_as_string(hide_password=False)


def _libpq(server: URL) -> str:
    parts = {
        "host": server.host,
        "port": server.port,
        "user": server.username,
        "password": server.password,
        "dbname": server.database,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if POSTGRES_URL and POSTGRES_URL != _GIVEN:
        server = make_url(POSTGRES_URL)
        with psycopg.connect(_libpq(make_url(_GIVEN or "")), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')


_GIVEN = os.environ.get("COOPBOT_TEST_POSTGRES_URL")
POSTGRES_URL = _worker_database(_GIVEN)
if POSTGRES_URL:
    # Processes the tests start read it from the environment too.
    os.environ["COOPBOT_TEST_POSTGRES_URL"] = POSTGRES_URL
# Bots in tests (and the processes they start) serve /healthz, /readyz and /metrics on a free
# port each, never the default 9464 another run on this machine may hold.
os.environ.setdefault("COOPBOT_OPS__LISTEN", "127.0.0.1:0")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A test that runs `coopbot run` in this process sets logging up for the bot (a handler
    on that test's captured stderr); later tests must not log into the closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    loggers = {n: logging.getLogger(n).level for n in ("alembic", "apscheduler", "bot.events")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in loggers.items():
        logging.getLogger(name).setLevel(was)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coopbot.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("COOPBOT_TEST_POSTGRES_URL is not set (.ci/run sets it to a local server)")
    _reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def bot(sqlite_url: str) -> TestBot:
    return TestBot(sqlite_url, admins=("root",))
