"""Operators' logs carry kinds and ids, not what people typed, unless debug logging is on."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot import logs, usecases
from storage.db import make_engine
from tests.harness import TestBot

SECRET = "Surprise party for Dana"


@pytest.fixture
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The root logger's output through the formatter `coopbot run` uses at INFO."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.Redacting(logs.FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


def test_a_crash_is_logged_by_kind_and_key_without_the_text(
    sqlite_url: str, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(turn: object, title: str, *args: object) -> list[object]:
        raise RuntimeError(f"cannot file {title!r}")

    monkeypatch.setattr(usecases, "create_task", broken)
    bot = TestBot(sqlite_url)
    sent = bot.say("alice", f'task "{SECRET}"', event_id="E42")
    assert "something went wrong" in sent[0].text
    logged = captured.getvalue()
    assert "failed to handle CommandInvoked" in logged and "E42" in logged
    assert "RuntimeError" in logged and "in broken" in logged  # where, not what
    assert SECRET not in logged and "Dana" not in logged


def test_debug_logging_shows_the_message() -> None:
    try:
        raise ValueError(f"cannot file {SECRET}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        record.exc_info = sys.exc_info()
    redacted = logs.Redacting(logs.FORMAT).format(record)
    record.exc_text = None
    full = logging.Formatter(logs.FORMAT).format(record)
    assert SECRET in full and SECRET not in redacted
    assert "ValueError" in redacted and "test_logs.py" in redacted


def test_an_error_in_a_log_line_keeps_only_its_first_line() -> None:
    err = RuntimeError(f"statement failed\n[parameters: ('{SECRET}',)]")
    line = logs.Redacting(logs.FORMAT).format(
        logging.LogRecord("x", logging.WARNING, __file__, 1, "cannot apply (%s)", (err,), None)
    )
    assert "statement failed" in line and SECRET not in line


def test_a_failed_statement_does_not_carry_its_values(tmp_path: Path) -> None:
    quiet = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    loud = make_engine(f"sqlite:///{tmp_path / 'b.db'}", hide_parameters=False)
    for engine, shown in ((quiet, False), (loud, True)):
        with pytest.raises(OperationalError) as err, engine.connect() as conn:
            conn.execute(text("SELECT * FROM nowhere WHERE title = :t"), {"t": SECRET})
        assert (SECRET in str(err.value)) is shown


def _run_console(tmp_path: Path, log_format: str) -> list[str]:
    from tests.test_console import coopbot

    script = f"alice: /coop task {SECRET} need:2\nbob: /coop join #1\nbob: /coop nonsense\n"
    run = coopbot(
        ["run"],
        tmp_path / "coop.db",
        script,
        COOPBOT_LOG_FORMAT=log_format,
        COOPBOT_LOG_LEVEL="INFO",
    )
    assert run.returncode == 0, run.stderr
    assert SECRET not in run.stderr
    return run.stderr.splitlines()


def test_json_logs_are_one_object_a_line_with_each_events_fields(tmp_path: Path) -> None:
    import json
    from datetime import datetime

    lines = _run_console(tmp_path, "json")
    records = [json.loads(line) for line in lines]  # every line parses
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert datetime.fromisoformat(record["time"]).tzinfo is not None
    applied = [r for r in records if r["message"].startswith("applied ")]
    assert [(r["kind"], r["action"], r["community"]) for r in applied] == [
        ("CommandInvoked", "task", "console:console"),
        ("CommandInvoked", "join", "console:console"),
        ("CommandInvoked", "other", "console:console"),
    ]
    assert len({r["event"] for r in applied}) == 3
    assert all(r["event"].startswith("console:console:") for r in applied)
    assert all(isinstance(r["latency_ms"], float) and r["latency_ms"] >= 0 for r in applied)


def test_text_logs_carry_a_utc_timestamp(tmp_path: Path) -> None:
    import re

    lines = _run_console(tmp_path, "text")
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING|ERROR) \S+: ")
    assert lines and all(stamp.match(line) for line in lines), lines
    assert sum("applied CommandInvoked" in line for line in lines) == 3
