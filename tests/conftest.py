"""Shared fixtures: a real SQLite file, and PostgreSQL when COOPBOT_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.harness import TestBot

POSTGRES_URL = os.environ.get("COOPBOT_TEST_POSTGRES_URL")
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
