"""The console adapter end to end: `coopbot run` with a script on stdin, then `coopbot export`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ACCEPTANCE = """\
alice: Who can help set up the meetup room on Friday?
alice: +pushpin m1
bob: +raised_hand m1
carol: /coop join #1
alice: /coop task "Buy snacks" need:2 due:"in 3 days"
dave: /coop join #2
erin: /coop join #2
frank: /coop join #2
dave: /coop leave #2
"""


def coopbot(
    args: list[str], db: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    environ |= {"COOPBOT_DATABASE_URL": f"sqlite:///{db}"} | env
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        cwd=db.parent,
    )


def export(db: Path) -> dict[str, dict]:
    result = coopbot(["export", "--format", "json"], db)
    assert result.returncode == 0, result.stderr
    return {a["id"]: a for a in json.loads(result.stdout)["actions"]}


def members(action: dict) -> dict[str, str]:
    return {c["member"]: c["status"] for c in action["commitments"]}


def test_acceptance_script_then_export_and_restart(tmp_path: Path) -> None:
    db = tmp_path / "coop.db"
    run = coopbot(["run"], db, ACCEPTANCE)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "[m1] alice: Who can help set up the meetup room on Friday?" in out
    assert "[m2] coopbot (reply to m1):" in out and "[m2 edited]" in out
    assert "(DM to frank) Good news: a spot opened on #2" in out
    assert "(only frank sees) #2 “Buy snacks” is full" in out

    actions = export(db)
    assert actions[1]["title"] == "Who can help set up the meetup room on Friday?"
    assert members(actions[1]) == {"bob": "committed", "carol": "committed"}
    assert actions[2]["need"] == 2 and actions[2]["due"].endswith("Z")
    assert members(actions[2]) == {"dave": "withdrawn", "erin": "committed", "frank": "committed"}
    vias = {c["member"]: c["via"] for c in actions[1]["commitments"]}
    assert vias == {"bob": "reaction", "carol": "command"}

    again = coopbot(["run"], db, "gina: /coop join #1\ngina: /coop mine\n")
    assert again.returncode == 0, again.stderr
    assert "#1 Who can help set up the meetup room on Friday? — 3 in" in again.stdout
    assert members(export(db)[1]) == {"bob": "committed", "carol": "committed", "gina": "committed"}
    assert set(export(db)) == {1, 2}


BAD_INPUT = [
    ("bob: /coop task", "needs a title"),
    ("bob: /coop task Snacks need:0", "between 1 and 1000"),
    ("bob: /coop task Snacks need:lots", "whole number"),
    ('bob: /coop task Snacks due:"yesterday"', "has passed"),
    ('bob: /coop task Snacks due:"blorp"', "can't read"),
    ("bob: /coop join #999", "no action #999"),
    ("bob: /coop cancel #1", "Only alice"),
    ("bob: /coop frobnicate", "don't know the command"),
    ("bob: /coop task " + "x" * 3_000, "3,000 characters"),
    ("bob: +raised_hand m99", "There's no message m99"),
]


def test_bad_input_is_answered_privately_and_the_bot_keeps_running(tmp_path: Path) -> None:
    db = tmp_path / "coop.db"
    setup = "alice: /coop task Setup need:2\n"
    assert coopbot(["run"], db, setup).returncode == 0
    before = export(db)
    script = "\n".join(line for line, _ in BAD_INPUT) + "\ncarol: /coop join #1\n"
    run = coopbot(["run"], db, script)
    assert run.returncode == 0, run.stderr
    private = [line for line in run.stdout.splitlines() if line.startswith("(only bob sees)")]
    assert len(private) == len(BAD_INPUT)
    for line, (_, expected) in zip(private, BAD_INPUT, strict=True):
        assert expected in line
    after = export(db)
    assert members(after[1]) == {"carol": "committed"}
    after[1]["commitments"] = before[1]["commitments"]
    assert after == before


def test_channels_advance_and_admins(tmp_path: Path) -> None:
    db = tmp_path / "coop.db"
    config = tmp_path / "coopbot.yaml"
    config.write_text("console:\n  admins: [root]\n")
    script = """\
:channel #ops
alice: /coop task Rota due:"in 2 hours"
:advance 3h
alice: /coop task Late due:"in 1 hour"
alice: /coop list
:channel general
alice: /coop list
root: /coop cancel #1
dave: !join m1
dave: !frob m1
nonsense line
"""
    run = coopbot(["--config", str(config), "run"], db, script)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "(console) now in #ops" in out and "(console) the clock moved on 3h" in out
    assert "#1 Rota" in out.split("alice sees) Open actions here:")[1]
    assert "No open actions in this channel" in out
    assert "#1 “Rota” is now cancelled" in out
    assert "no longer takes changes" in out
    assert "button isn't one I know" in out
    assert "Start a line with a name" in out
    actions = export(db)
    assert actions[1]["channel"] == "ops" and actions[1]["state"] == "cancelled"
    # "in 1 hour" was read after the clock moved on 3 hours, so it falls after "in 2 hours".
    assert actions[2]["due"] > actions[1]["due"]


def test_csv_export_has_one_row_per_commitment(tmp_path: Path) -> None:
    db = tmp_path / "coop.db"
    coopbot(
        ["run"], db, "a: /coop task One\nb: /coop join #1\nc: /coop join #1\na: /coop task Two\n"
    )
    result = coopbot(["export", "--format", "csv", "--output", str(tmp_path / "x.csv")], db)
    assert result.returncode == 0
    rows = (tmp_path / "x.csv").read_text().splitlines()
    assert rows[0].startswith("community,id,kind,title")
    assert [r.split(",")[1] + r.split(",")[10] for r in rows[1:]] == ["1b", "1c", "2"]


def test_export_lists_every_delivery_as_json_and_csv(tmp_path: Path) -> None:
    db = tmp_path / "coop.db"
    coopbot(["run"], db, "a: /coop task One need:1\nb: /coop join #1\nc: /coop join #1\n")
    result = coopbot(["export"], db)
    deliveries = json.loads(result.stdout)["deliveries"]
    assert [(d["kind"], d["recipient"], d["state"]) for d in deliveries] == [
        ("card_post", "general", "sent"),
        ("card_edit", "general", "sent"),
        ("reply", "b", "sent"),
        ("card_edit", "general", "sent"),
        ("reply", "c", "sent"),
    ]
    first = deliveries[0]
    assert first["attempts"] == 1 and first["message_id"] == "m1" and first["error"] == ""
    assert first["created"].endswith("Z") and first["sent"] >= first["created"]
    csv_rows = coopbot(["export", "--format", "csv", "--deliveries"], db).stdout.splitlines()
    assert (
        csv_rows[0]
        == "id,platform,community,kind,recipient,state,created,sent,attempts,message_id,error,"
        "occurrence,occurrence_at,late"
    )
    assert [r.split(",")[3] for r in csv_rows[1:]] == [d["kind"] for d in deliveries]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COOPBOT_DEFAULT_TIMEZONE": "Mars/Base"}, "setting default_timezone:"),
        ({"COOPBOT_EMOJI__COMMIT": "notanemoji"}, "setting emoji.commit:"),
        ({"COOPBOT_DATABASE_URL": "not a url"}, "setting database_url:"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    run = coopbot(["run"], tmp_path / "coop.db", "", **env)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    result = coopbot(["db", "upgrade"], db)
    assert result.returncode == 0 and "up to date" in result.stdout
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master")}
    assert {"community", "member", "action", "commitment", "inbox", "outbox", "audit_log"} <= tables


def test_an_adapter_refusing_its_credentials_stops_start_up_with_one_line(tmp_path: Path) -> None:
    run = coopbot(["run"], tmp_path / "coop.db", "", SLACK_BOT_TOKEN="xoxb-1")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coopbot: Slack: set SLACK_APP_TOKEN")


def test_advancing_the_console_clock_delivers_the_hour_before_reminder_once(
    tmp_path: Path,
) -> None:
    script = """\
alice: /coop task "Fold leaflets" due:"in 2 hours"
alice: /coop join #1
bob: /coop join #1
:advance 50m
:advance 40m
:advance 20m
"""
    run = coopbot(["run"], tmp_path / "coop.db", script)
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    moved = [i for i, line in enumerate(out) if line.startswith("(console) the clock moved on")]
    reminder = "(DM to {}) Reminder: #1 “Fold leaflets” is due in 1 h"
    for who in ("alice", "bob"):
        at = [i for i, line in enumerate(out) if reminder.format(who) in line]
        # Once, printed after the second :advance (1 h 30 min in) and before the third.
        assert len(at) == 1, run.stdout
        assert moved[1] < at[0] < moved[2], run.stdout
    assert "buttons: [Snooze 15 min] !snooze_15m" in run.stdout


def test_files_coopbot_creates_are_readable_by_its_user_only(tmp_path: Path) -> None:
    db = tmp_path / "coop.db"
    run = coopbot(["run"], db, "alice: /coop task Tidy up\n")
    assert run.returncode == 0, run.stderr
    out = tmp_path / "export.json"
    assert coopbot(["export", "--output", str(out)], db).returncode == 0
    made = [db, out] + [p for p in tmp_path.iterdir() if p.name.startswith("coop.db-")]
    assert {p.stat().st_mode & 0o777 for p in made} == {0o600}, made
    # One made more open (by hand, or an older version) is closed up when it is opened.
    db.chmod(0o644)
    out.chmod(0o644)
    assert coopbot(["export", "--output", str(out)], db).returncode == 0
    assert db.stat().st_mode & 0o777 == 0o600
    assert out.stat().st_mode & 0o777 == 0o600
