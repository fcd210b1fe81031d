"""coopbot's Discord reaction path and its resident memory, each against its floor in one run.

Run from the repository root: `python -m benchmarks.discord_paths [--quick]`.

Reactions: the real adapter (CoopBot) on a SQLite file in a temporary directory, connected
to the local fake Discord, is sent one MESSAGE_REACTION_ADD with the commit emoji per person,
as fast as the fake sends them; the clock runs from the first event pushed until every
commitment is in the database. The floor is a bare `discord.Client` with the adapter's
intents, connected to a fake just like it, whose `on_raw_reaction_add` only counts.

Memory: an idle `coopbot run` with the console adapter against a bare python that imports
discord and slack_bolt; and this process after the reaction workload against a fresh process
that runs only the floor's part of it (`--bare-client`, an internal flag).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import discord
from sqlalchemy import Engine

from adapters.console.session import HELP
from adapters.discord.client import intents
from benchmarks.common import Result, as_coopbot_run, memory, rss_mib, table, to_json
from bot import pacing
from bot.config import DiscordSettings, EmojiSettings
from storage.db import make_engine
from storage.tables import CommitmentRow
from storage.uow import SqlUnitOfWork
from tests.discord_support import (
    CHANNEL_ID,
    GUILD_ID,
    TOKEN,
    action_of,
    card_messages,
    interact,
    new_core,
    new_fake,
    running_bot,
    slash,
)
from tests.fakes.discord import (
    FakeDiscord,
    make_user,
    member_payload,
    reaction_add,
    running_client,
)

JSON = dict[str, Any]

REPO = Path(__file__).resolve().parent.parent
FIRST_PERSON_ID = 1600000000000000000
# Short enough to add little to the measured time, long enough to leave the loop to the bot.
POLL_SECONDS = 0.02
# A run that stops making progress has failed (an error in the core, a lost event).
STALL_SECONDS = 60.0
READY_TIMEOUT = 60.0
TARGET_SHARE = 0.10
BARE_IMPORTS = "import sys, discord, slack_bolt; print('ready', flush=True); sys.stdin.read()"
RATE_FLOOR = "bare discord.Client, on_raw_reaction_add only counts"


@dataclass(frozen=True)
class Burst:
    """`people` reactions, spread round-robin over `cards` cards (the same number on each)."""

    people: int
    cards: int

    @property
    def label(self) -> str:
        if self.cards == 1:
            return f"{self.people:,} people on one card"
        return f"{self.people:,} people over {self.cards} cards ({self.people // self.cards} each)"


@dataclass(frozen=True)
class Timed:
    """One burst: seconds from the first event pushed until all were handled, and until the
    fake had sent the last."""

    done: float
    pushed: float


def bursts(quick: bool) -> list[Burst]:
    """The reaction workloads: one card, then the same people spread over many."""
    if quick:
        return [Burst(50, 1), Burst(50, 5)]
    return [Burst(1000, 1), Burst(1000, 100)]


# --- the reaction workload -----------------------------------------------------------------


def crowd(size: int) -> list[JSON]:
    """`size` people, none of them the six named ones of the tests."""
    return [make_user(FIRST_PERSON_ID + i, f"person{i}") for i in range(size)]


def crowded_fake(people: list[JSON]) -> FakeDiscord:
    """new_fake's guild with `people` as members too.

    The fake has no way to add a member, so its guild is added again with the same channels,
    the same members (the bot excepted: the fake adds it by itself) and the crowd.
    """
    fake = new_fake()
    guild = fake.guild_create_payload(GUILD_ID)
    bot_id = str(fake.application_id)
    members = [m for m in guild["members"] if m["user"]["id"] != bot_id]
    fake.add_guild(
        GUILD_ID,
        guild["name"],
        channels=guild["channels"],
        members=members + people,
        owner_id=int(guild["owner_id"]),
    )
    return fake


def reactions(people: list[JSON], messages: list[int], emoji: str) -> list[JSON]:
    """Each person's reaction, to the messages in turn, so that cards interleave."""
    return [
        reaction_add(
            int(person["id"]),
            CHANNEL_ID,
            messages[i % len(messages)],
            GUILD_ID,
            emoji,
            member=member_payload(person),
        )
        for i, person in enumerate(people)
    ]


def push(fake: FakeDiscord, events: list[JSON]) -> tuple[float, float]:
    """Have the fake send `events` one after another; when the first went, and the last.

    Runs in its own thread, so the pace is the fake's and not that of the loop under test.
    """
    began = time.perf_counter()
    for data in events:
        fake.dispatch("MESSAGE_REACTION_ADD", data)
    return began, time.perf_counter()


async def pushed_while(fake: FakeDiscord, events: list[JSON], handled: Awaitable[float]) -> Timed:
    """Push `events` while awaiting `handled` (the time all were handled); a failure of
    either stops both."""
    (began, last), done = await asyncio.gather(asyncio.to_thread(push, fake, events), handled)
    return Timed(done - began, last - began)


class CountingClient(discord.Client):
    """The floor: discord.py reads and parses each event; the handler only counts."""

    def __init__(self, expected: int) -> None:
        super().__init__(intents=intents(DiscordSettings()), guild_ready_timeout=0.1)
        self.expected = expected
        self.seen = 0
        self.finished_at = 0.0
        self.all_seen = asyncio.Event()

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.seen += 1
        if self.seen == self.expected:
            self.finished_at = time.perf_counter()
            self.all_seen.set()

    async def finished(self) -> float:
        await asyncio.wait_for(self.all_seen.wait(), STALL_SECONDS)
        return self.finished_at


async def floor_burst(burst: Burst) -> Timed:
    """The bare client's time for `burst`, on a fresh fake."""
    people = crowd(burst.people)
    with crowded_fake(people) as fake, fake.point_discord_here():
        author = fake.application_id
        targets = [fake.add_message(CHANNEL_ID, f"card {n}", author) for n in range(burst.cards)]
        events = reactions(people, targets, EmojiSettings().canonical()[1])
        client = CountingClient(burst.people)
        async with running_client(client, TOKEN):
            return await pushed_while(fake, events, client.finished())


async def all_stored(read: Engine, expected: int) -> float:
    """When `expected` commitments were in the database; raises once progress stops."""
    last, progressed = -1, time.perf_counter()
    while True:
        with SqlUnitOfWork(read) as uow:
            count = uow.count(CommitmentRow)
        now = time.perf_counter()
        if count >= expected:
            return now
        if count != last:
            last, progressed = count, now
        elif now - progressed > STALL_SECONDS:
            raise RuntimeError(f"{count} of {expected} commitments stored; none for a while")
        await asyncio.sleep(POLL_SECONDS)


async def coopbot_burst(burst: Burst, database: Path) -> Timed:
    """coopbot's time for `burst`: its cards are posted with /coop task first, untimed."""
    people = crowd(burst.people)
    url = f"sqlite:///{database}"
    with crowded_fake(people) as fake:
        core = new_core(url, fake)
        # Reads begin deferred: polling must not take the write lock the bot is waiting for.
        read = make_engine(url, read_only=True)
        try:
            # Cards are edited at Discord's production pace, as in `coopbot run`.
            async with running_bot(core, edit_interval=pacing.DISCORD.edit_interval):
                for n in range(burst.cards):
                    await interact(fake, slash("alice", "task", title=f"Bring a chair {n + 1}"))
                await core.idle()
                as_coopbot_run()
                cards = [int(m["id"]) for m in card_messages(fake)]
                assert len(cards) == burst.cards, f"{len(cards)} of {burst.cards} cards posted"
                events = reactions(people, cards, core.coop.prefs.commit_emoji)
                timed = await pushed_while(fake, events, all_stored(read, burst.people))
            each = burst.people // burst.cards
            for number in range(1, burst.cards + 1):
                statuses = [c.status.value for c in action_of(core, number).commitments]
                assert statuses == ["committed"] * each, f"#{number}: {statuses}"
        finally:
            read.dispose()
            core.engine.dispose()
    return timed


def rate_row(burst: Burst, floor: Timed, coopbot: Timed) -> Result:
    floor_rate, coopbot_rate = burst.people / floor.done, burst.people / coopbot.done
    return Result(
        path=f"Discord raw reaction events, durably committed, {burst.label}",
        floor_label=RATE_FLOOR,
        floor=floor_rate,
        coopbot=coopbot_rate,
        unit="events/s",
        higher_is_better=True,
        target=f">= {TARGET_SHARE:.0%} of the floor",
        met=coopbot_rate >= TARGET_SHARE * floor_rate,
        note=(
            f"all stored {coopbot.done:.2f} s after the first event (fake sent them in "
            f"{coopbot.pushed:.2f} s); the floor saw all in {floor.done:.2f} s "
            f"(sent in {floor.pushed:.2f} s)"
        ),
    )


def floors_only(quick: bool) -> None:
    """The floor's part of the reaction workload, and nothing else (for its memory)."""
    for burst in bursts(quick):
        asyncio.run(floor_burst(burst))


# --- resident memory -----------------------------------------------------------------------


def clean_environment(**settings: str) -> dict[str, str]:
    """This environment without platform credentials or coopbot settings, plus `settings`."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "COOPBOT_"))
    }
    # The child's output is read line by line through a pipe.
    return environ | {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"} | settings


def _read_until(out: IO[str], marker: str) -> None:
    for line in iter(out.readline, ""):
        if marker in line:
            return
    raise RuntimeError(f"the process ended before printing {marker!r}")


def settled_rss(
    argv: list[str], marker: str, settle: float, cwd: Path, env: dict[str, str], probe: str = ""
) -> float:
    """Start `argv`, write `probe` to it, wait until it prints `marker`, let it sit for `settle`
    seconds, then read its resident memory; its input is closed afterwards, which ends it."""
    errors = cwd / "stderr.log"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    # A child that never gets ready is killed, which ends the read below.
    watchdog = threading.Timer(READY_TIMEOUT, proc.kill)
    watchdog.start()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        if probe:
            proc.stdin.write(probe)
            proc.stdin.flush()
        try:
            _read_until(proc.stdout, marker)
        except RuntimeError as err:
            raise RuntimeError(f"{argv}: {err}:\n{errors.read_text()[-2000:]}") from None
        time.sleep(settle)
        rss = rss_mib(proc.pid)
        proc.stdin.close()
        proc.wait(READY_TIMEOUT)
        return rss
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def idle_row(tmp: Path, settle: float) -> Result:
    """`coopbot run` with the console adapter, ready (it answered `:help`) and idle."""
    env = clean_environment(
        COOPBOT_DATABASE_URL=f"sqlite:///{tmp / 'idle.db'}", COOPBOT_ADAPTERS='["console"]'
    )
    coopbot = settled_rss(
        [sys.executable, "-m", "bot.cli", "run"],
        HELP.splitlines()[-1],
        settle,
        tmp,
        env,
        probe=":help\n",
    )
    floor = settled_rss([sys.executable, "-c", BARE_IMPORTS], "ready", settle, tmp, env)
    return memory(
        "Resident memory, idle `coopbot run` (console adapter)",
        "python importing discord and slack_bolt, doing nothing",
        floor,
        coopbot,
        "coopbot loads the console adapter only (not discord or slack_bolt), but also "
        "SQLAlchemy/SQLModel, Alembic and dateparser",
    )


def workload_row(tmp: Path, quick: bool, settle: float) -> Result:
    """This process now (after both the floor's and coopbot's workloads) against a process
    that ran only the floor's."""
    coopbot = rss_mib()
    argv = [sys.executable, "-m", "benchmarks.discord_paths", "--bare-client"]
    floor = settled_rss(
        argv + (["--quick"] if quick else []), "ready", settle, tmp, clean_environment()
    )
    return memory(
        "Resident memory, Discord benchmark process after the reaction workload",
        "fresh process running only the bare discord.py client workload",
        floor,
        coopbot,
        "both hold the fake Discord too; the benchmark process also ran the floor",
    )


# --- the run -------------------------------------------------------------------------------


def run(quick: bool = False) -> list[Result]:
    """Every row, measured now; `quick` only checks that the code runs."""
    settle = 0.2 if quick else 1.0
    results = []
    with tempfile.TemporaryDirectory(prefix="coopbot-bench-") as name:
        tmp = Path(name)
        for i, burst in enumerate(bursts(quick)):
            floor = asyncio.run(floor_burst(burst))
            coopbot = asyncio.run(coopbot_burst(burst, tmp / f"reactions{i}.db"))
            results.append(rate_row(burst, floor, coopbot))
        # Read before anything else runs here, so the row shows what the workload left.
        workload = workload_row(tmp, quick, settle)
        results += [idle_row(tmp, settle), workload]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="small counts: only check it runs")
    parser.add_argument("--bare-client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_client:
        floors_only(args.quick)
        # The parent reads this process's memory now, then closes its input.
        print("ready", flush=True)
        sys.stdin.read()
        return
    results = run(args.quick)
    print(to_json(results) if args.json else table(results))


if __name__ == "__main__":
    main()
