"""coopbot's Slack paths against the bare slack-bolt floor, measured in the same run.

Run from the repository root: `python -m benchmarks.slack_paths [--quick]`. coopbot runs the
real adapter over HTTP on a SQLite file, with Slack's real pacing, against the local fake
Slack; the floor, a bare bolt `AsyncApp` that only acks, runs first in a fresh process of
its own (`benchmarks.slack_floor`), so that each side's resident memory is its own. Both get
the same signed requests from a separate load process. Rows: a reaction burst on one card and
over many cards, the card edits during that burst, `/coop join` at a steady rate (over a few
tasks and on one), and resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.common import (
    Result,
    as_coopbot_run,
    median,
    memory,
    percentile,
    rss_mib,
    table,
    to_json,
)
from benchmarks.slack_floor import (
    Load,
    LoadProcess,
    Signed,
    command_request,
    reaction_request,
)
from tests.fakes.slack import Call, FakeSlack
from tests.slack_support import SIGNING_SECRET, HttpDriver, Rig, make_core, started

ROOT = Path(__file__).resolve().parents[1]
# Slack's pace, as production runs it: a new message per channel and an edit per card a second.
SLACK_PACE = 1.0
HOST = "UHOST"
# Bounds on waiting for coopbot to finish what it was sent, and for the floor's process.
IDLE_SECONDS = 180.0
FLOOR_SECONDS = 600.0
T = TypeVar("T")
_MORE = re.compile(r" and (\d+) more$")
_NOBODY_SHOWN = re.compile(r"^(\d+) people$")


@dataclass(frozen=True)
class Sizes:
    """How big each load is."""

    people: int = 1000
    cards: int = 100
    concurrency: int = 16
    rate: float = 100.0
    seconds: float = 10.0
    tasks: int = 4

    @property
    def requests(self) -> int:
        return round(self.rate * self.seconds)


FULL = Sizes()
QUICK = Sizes(people=60, cards=6, seconds=1.0)


# --- measuring helpers -------------------------------------------------------------------------


@contextmanager
def _warnings() -> Iterator[list[logging.LogRecord]]:
    """Collect what is logged at WARNING and above (instead of printing it amid the table)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def _told(records: Sequence[logging.LogRecord]) -> str:
    if not records:
        return "nothing logged at WARNING"
    return f"{len(records)} warning(s) logged, first: {records[0].getMessage()[:80]!r}"


def people_shown(call: Call) -> int:
    """How many people a card edit shows as in: mentioned, plus "and N more"."""
    blocks = call.json_field("blocks") or []
    for block in blocks:
        text = str((block.get("text") or {}).get("text", ""))
        for line in text.splitlines():
            if line.startswith("*In:* "):
                listed = line.removeprefix("*In:* ")
                if listed == "nobody yet":
                    return 0
                if nobody := _NOBODY_SHOWN.match(listed):
                    return int(nobody[1])
                more = _MORE.search(listed)
                return listed.count("<@") + (int(more[1]) if more else 0)
    return 0


def card_edits(slack: FakeSlack, channel: str, ts: str) -> list[Call]:
    """The edits of the card at `ts` that Slack accepted, oldest first."""
    return [
        c
        for c in slack.calls_to("chat.update")
        if c.params.get("channel") == channel
        and c.params.get("ts") == ts
        and c.status == 200
        and (c.response or {}).get("ok")
    ]


def most_in_a_second(times: Sequence[float]) -> int:
    """The most of `times` that fall in any one-second window [t, t + 1)."""
    ordered = sorted(times)
    return max((sum(t <= u < t + 1.0 for u in ordered) for t in ordered), default=0)


def _ms(values: list[float]) -> str:
    return f"p50 {median(values):.1f} ms, p99 {percentile(values, 0.99):.1f} ms"


# --- coopbot under load --------------------------------------------------------------------------


@asynccontextmanager
async def coopbot(tmp: Path, slack: FakeSlack) -> AsyncIterator[tuple[Rig, str]]:
    """The real adapter in HTTP mode on a fresh SQLite file, paced as production is; yields
    the rig and the URL Slack posts to."""
    slack.set_user(HOST, name="host", tz="Europe/London")
    core = make_core(tmp, slack, "http")
    async with started(
        slack, core, "http", post_interval=SLACK_PACE, edit_interval=SLACK_PACE
    ) as rig:
        assert isinstance(rig.send, HttpDriver)
        as_coopbot_run()
        yield rig, rig.send.url


async def _idle(rig: Rig) -> None:
    await asyncio.wait_for(rig.idle(), IDLE_SECONDS)


async def create_tasks(rig: Rig, channels: Sequence[str]) -> dict[int, tuple[str, str]]:
    """One task per channel (so their cards are posted side by side, not a second apart);
    returns each task's number with its channel and card ts."""
    for k, channel in enumerate(channels):
        answer = await rig.send.command(HOST, f"task Task {k}", channel=channel)
        if answer.status != 200:
            raise RuntimeError(f"creating a task was answered {answer.status}")
    await _idle(rig)
    return {n: (str(a["channel"]), rig.card_ts(n)) for n, a in rig.actions().items()}


def _add_people(slack: FakeSlack, users: Sequence[str]) -> None:
    for user in users:
        slack.set_user(user, name=user.lower(), tz="Europe/London")


def _check_stored(rig: Rig, expected: dict[int, int]) -> None:
    """Sanity: every join the load sent is stored as a commitment (number -> how many)."""
    stored = {n: len(a["commitments"]) for n, a in rig.actions().items()}
    missing = {n: (stored.get(n, 0), want) for n, want in expected.items() if stored.get(n) != want}
    if missing:
        raise RuntimeError(f"joins not all stored (task: stored, sent): {missing}")


@dataclass(frozen=True)
class BurstRun:
    """A reaction burst as the load saw it, when (on the load's clock) the last card showed
    everyone, and each card's accepted edits."""

    load: Load
    done: float
    edits: dict[int, list[Call]]
    warnings: str

    def per_second(self, people: int) -> float:
        return people / (self.done - self.load.began)


async def reaction_burst(
    slack: FakeSlack, tmp: Path, sizes: Sizes, load: LoadProcess, cards: int
) -> BurstRun:
    """`sizes.people` distinct people react with the commit emoji, spread evenly over `cards`
    cards (person i on card i mod `cards`), from `sizes.concurrency` senders."""
    users = [f"UR{i:05}" for i in range(sizes.people)]
    _add_people(slack, users)
    with _warnings() as logged:
        async with coopbot(tmp, slack) as (rig, url):
            emoji = rig.core.settings.emoji.commit
            tasks = await create_tasks(rig, [f"C{k:03}" for k in range(cards)])
            numbers = sorted(tasks)
            on = {u: numbers[i % cards] for i, u in enumerate(users)}
            requests = [reaction_request(SIGNING_SECRET, u, emoji, *tasks[on[u]]) for u in users]
            reacted = await load.burst(url, requests, sizes.concurrency)
            await _idle(rig)
            expected = {n: sum(1 for u in users if on[u] == n) for n in numbers}
            _check_stored(rig, expected)
            edits = {n: card_edits(slack, *tasks[n]) for n in numbers}
    finished = []
    for n, calls in edits.items():
        # The card is drawn from committed rows, so the first edit showing everyone is also
        # the moment every join was stored.
        complete = [c for c in calls if people_shown(c) == expected[n]]
        if not complete:
            raise RuntimeError(f"no edit of card #{n} shows all {expected[n]} people")
        finished.append(reacted.from_fake(complete[0].time))
    return BurstRun(reacted, max(finished), edits, _told(logged))


@dataclass(frozen=True)
class SteadyRun:
    """`/coop join` at a steady rate as the load saw it, and how long from each request
    until its private answer reached Slack (None when none came)."""

    load: Load
    answers: list[float | None]
    warnings: str


def _answer_times(slack: FakeSlack) -> dict[str, float]:
    """When each person's first private answer reached the fake (its clock)."""
    arrived: dict[str, float] = {}
    for call in slack.calls:
        if call.method == "chat.postEphemeral":
            user = str(call.params.get("user"))
        elif call.method == "response_url":
            user = call.path.rsplit("/", 1)[-1]
        else:
            continue
        arrived.setdefault(user, call.time)
    return arrived


async def steady_joins(
    slack: FakeSlack, tmp: Path, sizes: Sizes, load: LoadProcess, tasks: int
) -> SteadyRun:
    """`sizes.requests` distinct people send `/coop join` at `sizes.rate` a second, person i
    joining task i mod `tasks`, each in that task's channel."""
    users = [f"UJ{i:05}" for i in range(sizes.requests)]
    _add_people(slack, users)
    with _warnings() as logged:
        async with coopbot(tmp, slack) as (rig, url):
            made = await create_tasks(rig, [f"C{k:03}" for k in range(tasks)])
            numbers = sorted(made)
            on = {u: numbers[i % tasks] for i, u in enumerate(users)}
            requests: list[Signed] = [
                # A response_url of the fake's own, so an answer sent that way is seen too.
                command_request(
                    SIGNING_SECRET, u, f"join #{on[u]}", made[on[u]][0], slack.response_url(u)
                )
                for u in users
            ]
            joined = await load.steady(url, requests, sizes.rate)
            await _idle(rig)
            _check_stored(rig, {n: sum(1 for u in users if on[u] == n) for n in numbers})
    arrived = _answer_times(slack)
    answers = [
        joined.from_fake(arrived[u]) - s.start if u in arrived else None
        for u, s in zip(users, joined.sent, strict=True)
    ]
    return SteadyRun(joined, answers, _told(logged))


# --- the floor, in a process of its own --------------------------------------------------------


def floor(sizes: Sizes) -> dict[str, Any]:
    """Run `benchmarks.slack_floor` in a fresh interpreter and read back its figures."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.slack_floor",
        f"--people={sizes.people}",
        f"--concurrency={sizes.concurrency}",
        f"--rate={sizes.rate}",
        f"--seconds={sizes.seconds}",
        f"--secret={SIGNING_SECRET}",
    ]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=FLOOR_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"the floor's process failed:\n{done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


# --- the rows ------------------------------------------------------------------------------------


def _burst_rows(
    sizes: Sizes, one: BurstRun, spread: BurstRun, bare: dict[str, Any]
) -> list[Result]:
    people = sizes.people
    one_rate, spread_rate = one.per_second(people), spread.per_second(people)
    floor_rate = float(bare["events_per_second"])
    [edits] = one.edits.values()
    times = [c.time for c in edits]
    busiest = most_in_a_second(times)
    shown = people_shown(edits[-1])
    acking = one.load.acked - one.load.began
    ceiling = people / SLACK_PACE
    return [
        Result(
            path=f"Slack reaction_added over HTTP, {people:,} people on ONE card, committed "
            "and card edited",
            floor_label="bare slack-bolt AsyncApp acking reaction_added",
            floor=floor_rate,
            coopbot=one_rate,
            unit="events/s",
            higher_is_better=True,
            target=">= 50 % of the floor",
            met=one_rate >= 0.5 * floor_rate,
            note=f"{sizes.concurrency} senders; coopbot acked all in {acking:.2f} s "
            f"({people / acking:.0f}/s), card showed all at {one.done - one.load.began:.2f} s;"
            f" floor acked all in {bare['burst_seconds']:.2f} s; with the first edit at once and"
            f" the next {SLACK_PACE:.0f} s later, pacing alone caps this near {ceiling:.0f}/s "
            f"({ceiling / floor_rate:.0%} of the floor); {one.warnings}",
        ),
        Result(
            path=f"The same burst over {len(spread.edits)} cards ({people // len(spread.edits)} "
            "people each)",
            floor_label="coopbot, the one-card burst above",
            floor=one_rate,
            coopbot=spread_rate,
            unit="commits/s",
            higher_is_better=True,
            # An upper bound: one busy card should cost little more than many quiet ones.
            target="<= 1.5x the one-card figure (ratio <= 1.5)",
            met=spread_rate <= 1.5 * one_rate,
            note="ratio here is spread / one card; acked all in "
            f"{spread.load.acked - spread.load.began:.2f} s, every card complete at "
            f"{spread.done - spread.load.began:.2f} s; {spread.warnings}",
        ),
        Result(
            path="Card edits during the one-card burst",
            floor_label="Slack's limit, 1 edit per card per second",
            floor=1.0,
            coopbot=float(busiest),
            unit="edits in any 1 s",
            higher_is_better=False,
            target="<= 1 edit/s per card; last edit shows everyone",
            met=busiest <= 1 and shown == people,
            note=f"{len(edits)} edits over {times[-1] - times[0]:.2f} s; last edit shows "
            f"{shown:,} of {people:,} people",
        ),
    ]


def _steady_rows(sizes: Sizes, name: str, run: SteadyRun, bare: dict[str, Any]) -> list[Result]:
    path = f"/coop join at a steady {sizes.rate:.0f}/s over Slack HTTP for {sizes.seconds:.0f} s, "
    acks = [s.latency * 1000 for s in run.load.sent]
    came = [a * 1000 for a in run.answers if a is not None]
    worst = max(came, default=float("inf"))
    floor_acks = [float(v) for v in bare["ack_ms"]]
    floor_answers = [float(v) for v in bare["answer_ms"]]
    return [
        Result(
            path=path + f"{name}: ack p99",
            floor_label="bare slack-bolt acking the command, same schedule",
            floor=percentile(floor_acks, 0.99),
            coopbot=percentile(acks, 0.99),
            unit="ms",
            higher_is_better=False,
            target="ack p99 < 50 ms",
            met=percentile(acks, 0.99) < 50,
            note=f"coopbot {_ms(acks)}; floor {_ms(floor_acks)}; sends at most "
            f"{run.load.late * 1000:.1f} ms (floor {bare['late_ms']:.1f} ms) behind schedule",
        ),
        Result(
            path=path + f"{name}: request to private answer at Slack, max",
            floor_label="bare slack-bolt posting chat.postEphemeral after its ack",
            floor=max(floor_answers),
            coopbot=worst,
            unit="ms",
            higher_is_better=False,
            target="every answer within 1 s",
            met=len(came) == len(run.answers) and worst <= 1000,
            note=f"{len(came)}/{len(run.answers)} answered; coopbot {_ms(came or [worst])}; "
            f"floor {_ms(floor_answers)}; {run.warnings}",
        ),
    ]


def _memory_row(before: float, after: float, bare: dict[str, Any]) -> Result:
    return memory(
        "Resident memory after the workloads",
        "the bare slack-bolt app's process after its workloads",
        float(bare["rss_mib"]),
        after,
        f"coopbot's process was at {before:.0f} MiB once imported; each process also holds a "
        "fake Slack (the load comes from a third)",
    )


Workload = Callable[[FakeSlack, Path, Sizes, LoadProcess, int], Coroutine[Any, Any, T]]


def _in_fresh_fake(work: Workload[T], sizes: Sizes, load: LoadProcess, count: int) -> T:
    """Run one workload against a fake Slack and a database of its own."""
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        return asyncio.run(work(slack, Path(tmp), sizes, load, count))


def run(quick: bool = False) -> list[Result]:
    """Every row; `quick` runs tiny loads, only to check that the code works."""
    sizes = QUICK if quick else FULL
    # The floor first, alone: the two sides never share the machine's two cores.
    bare = floor(sizes)
    before = rss_mib()
    with LoadProcess() as load:
        one = _in_fresh_fake(reaction_burst, sizes, load, 1)
        spread = _in_fresh_fake(reaction_burst, sizes, load, sizes.cards)
        few = _in_fresh_fake(steady_joins, sizes, load, sizes.tasks)
        single = _in_fresh_fake(steady_joins, sizes, load, 1)
    return [
        *_burst_rows(sizes, one, spread, bare),
        *_steady_rows(sizes, f"{sizes.tasks} tasks", few, bare),
        *_steady_rows(sizes, "all on ONE task", single, bare),
        _memory_row(before, rss_mib(), bare),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="tiny loads, to check the code runs")
    args = parser.parse_args()
    results = run(quick=args.quick)
    print(to_json(results) if args.json else table(results))


if __name__ == "__main__":
    main()
