"""A real `coopbot run` in a subprocess, against the local fakes, for tests that stop or kill
it: its log is read as it is written, and waits are on what it logs, never on the clock."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Engine, text

from bot.model import Schedule, ScheduleKind, Target
from bot.refs import MemberRef
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import Call, FakeSlack, sign, slash_command_payload
from tests.slack_support import SIGNING_SECRET, TEAM, http_body

REPO = Path(__file__).resolve().parent.parent


class BotProcess:
    """`coopbot run` with `env` on top of a clean environment; its log goes to a file.
    `typed`: its standard input is a pipe that `type` writes the console's lines to."""

    def __init__(
        self, tmp_path: Path, env: dict[str, str], name: str = "bot", typed: bool = False
    ) -> None:
        self.env = env
        self.typed = typed
        self.log_path = tmp_path / f"{name}.log"
        self.cwd = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self, **extra: str) -> BotProcess:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
        environ = {k: v for k, v in environ.items() if not k.startswith("COOPBOT_")}
        environ |= {
            "PYTHONPATH": str(REPO),
            "COOPBOT_LOG_LEVEL": "INFO",
            "COOPBOT_OPS__LISTEN": "127.0.0.1:0",
        }
        environ |= self.env | extra
        # Each run appends: what a killed run logged stays readable after the restart.
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            env=environ,
            cwd=self.cwd,
            stdin=subprocess.PIPE if self.typed else subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        """What the current run has logged so far."""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            return f.read().decode(errors="replace")

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        """Wait until the current run logged `pattern` (a regex) `count` times."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.findall(pattern, self.log())
            if len(found) >= count:
                return found
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"coopbot exited ({self.proc.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} x{count} not logged in {timeout}s:\n{self.log()}"
                )
            time.sleep(0.02)

    def type(self, *lines: str) -> None:
        """Lines for the console to read, as if typed."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write("".join(f"{line}\n" for line in lines).encode())
        self.proc.stdin.flush()

    def end_input(self) -> None:
        """The end of the console's input: it stops once it has handled what it read."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, like a power cut or the OOM killer."""
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()


@contextmanager
def bot_process(
    tmp_path: Path, env: dict[str, str], name: str = "bot", typed: bool = False
) -> Iterator[BotProcess]:
    bot = BotProcess(tmp_path, env, name, typed)
    try:
        yield bot
    finally:
        bot.stop()


def slack_http_env(slack: FakeSlack, database_url: str, **settings: str) -> dict[str, str]:
    """Settings for serving one workspace over HTTP on a free port, against `slack`."""
    return {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "COOPBOT_DATABASE_URL": database_url,
        "COOPBOT_SLACK__MODE": "http",
        "COOPBOT_SLACK__HTTP_HOST": "127.0.0.1",
        "COOPBOT_SLACK__HTTP_PORT": "0",
        "COOPBOT_SLACK__API_BASE_URL": slack.base_url,
        # A killed process's work is taken over after this long.
        "COOPBOT_DELIVERY__LEASE_SECONDS": "2",
        "COOPBOT_DELIVERY__POLL_SECONDS": "0.2",
    } | settings


def slack_port(bot: BotProcess) -> int:
    [port] = bot.wait_for_log(r"serving /slack/events on port (\d+)")
    return int(port)


async def post_signed(
    session: aiohttp.ClientSession, port: int, kind: str, payload: dict[str, Any]
) -> int | None:
    """Send one signed Slack request; its HTTP status, or None when it was not answered."""
    body, content_type = http_body(kind, payload)
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": content_type}
    try:
        url = f"http://127.0.0.1:{port}/slack/events"
        async with session.post(url, data=body.encode(), headers=headers) as answer:
            await answer.read()
            return answer.status
    except (aiohttp.ClientError, OSError):
        return None


async def command(port: int, user: str, text: str, channel: str = "C1") -> int | None:
    """`user` types `/coop <text>`; the HTTP status it got, or None."""
    async with aiohttp.ClientSession() as session:
        payload = slash_command_payload(text, user, channel)
        return await post_signed(session, port, "slash_commands", payload)


async def join_burst(
    bot: BotProcess, port: int, users: list[str], after: int, sig: signal.Signals
) -> dict[str, int | None]:
    """Every one of `users` sends `/coop join #1` at once; `sig` goes to the bot as soon as
    `after` of them were acknowledged. How each was answered (None: not at all)."""
    answers: dict[str, int | None] = {}
    async with aiohttp.ClientSession() as session:

        async def join(user: str) -> None:
            payload = slash_command_payload("join #1", user, "C1")
            answers[user] = await post_signed(session, port, "slash_commands", payload)
            if sum(status == 200 for status in answers.values()) == after:
                bot.signal(sig)

        await asyncio.gather(*(join(user) for user in users))
    return answers


def exported(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """`coopbot export` of the database, as a real operator would run it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COOPBOT_")}
    environ |= {"COOPBOT_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "export"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# --- reminders seeded as rows, and what reached Slack -------------------------------------------

REMINDER_CREATOR = "UHOST"  # who made the channel reminders


@dataclass(frozen=True)
class Due:
    """A one-off reminder to seed: a DM to the person `to`, or a post in `channel`."""

    text: str
    at: datetime
    to: str | None = None
    channel: str | None = None


def seed_reminders(database_url: str, reminders: Sequence[Due]) -> list[int]:
    """Write `reminders` straight into the schedule table of workspace T1, as if they had
    been made with /coop remind while the bot ran; their schedule ids."""
    engine = make_engine(database_url)
    upgrade(engine)
    with SqlUnitOfWork(engine) as uow:
        community = uow.community(TEAM)
        people = {}
        for user in {r.to or REMINDER_CREATOR for r in reminders}:
            people[user] = uow.member(community, MemberRef(TEAM, user, user.lower()))
        ids = []
        for r in reminders:
            person = people[r.to or REMINDER_CREATOR]
            schedule = uow.schedules.add(
                Schedule(
                    community_id=community.id,
                    kind=ScheduleKind.REMIND,
                    tz="UTC",
                    created_at=datetime.now(UTC),
                    next_at=r.at,
                    text=r.text,
                    target=Target.MEMBER if r.to else Target.CHANNEL,
                    creator=person,
                    to_member=person if r.to else None,
                    channel_id=r.channel,
                )
            )
            assert schedule.id is not None
            ids.append(schedule.id)
        uow.commit()
    engine.dispose()
    return ids


def accepted_posts(slack: FakeSlack) -> list[Call]:
    """The chat.postMessage calls Slack accepted (not those it rate-limited or refused)."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.status == 200 and (c.response or {}).get("ok")
    ]


def delivery_key(call: Call) -> str:
    """The delivery key coopbot tagged a post with, in its message metadata."""
    return str(call.json_field("metadata")["event_payload"]["key"])


def posted_once(posts: Sequence[Call]) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """How often each delivery key, and each (channel, text), was accepted."""
    keys = Counter(delivery_key(c) for c in posts)
    where = Counter((str(c.params["channel"]), str(c.params["text"])) for c in posts)
    return keys, where


def occurrences(database_url: str) -> list[Any]:
    """Every row of the occurrence table (schedule_id, at, state, late_seconds, fired_by)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            query = "select schedule_id, at, state, late_seconds, fired_by from occurrence"
            return list(conn.execute(text(query + " order by schedule_id")).all())
    finally:
        engine.dispose()


def _unfinished(engine: Engine) -> tuple[int, int]:
    """(occurrences recorded, deliveries not done) in the bot's database."""
    with engine.connect() as conn:
        fired = conn.execute(text("select count(*) from occurrence")).scalar_one()
        left = conn.execute(
            text("select count(*) from outbox where state in ('pending', 'sending')")
        ).scalar_one()
    return int(fired), int(left)


def wait_until_delivered(
    database_url: str,
    slack: FakeSlack,
    bots: Sequence[BotProcess],
    fired: int,
    posts: int,
    timeout: float = 90.0,
) -> None:
    """Until at least `fired` occurrences are recorded, Slack accepted at least `posts`
    messages and no delivery is left to do (so no further post can come), while every bot
    in `bots` runs; the caller checks the exact numbers."""
    deadline = time.monotonic() + timeout
    engine = make_engine(database_url)
    try:
        while True:
            state = _unfinished(engine)
            done = len(accepted_posts(slack))
            if state[0] >= fired and state[1] == 0:
                # Every occurrence's rows are written with it: none left means none to come.
                assert done >= posts, f"all delivered, yet Slack accepted {done} of {posts}"
                return
            for bot in bots:
                assert bot.proc is not None and bot.proc.poll() is None, bot.log()
            assert time.monotonic() < deadline, (
                f"after {timeout}s: (occurrences, deliveries left) {state}, {done} posts "
                f"accepted; wanted ({fired}, 0), {posts}"
            )
            time.sleep(0.1)
    finally:
        engine.dispose()
