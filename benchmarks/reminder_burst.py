"""A thousand reminders due at once, against Slack's pace: how close to its floor they arrive.

Run by hand from the repository root:
`python -m benchmarks.reminder_burst [--quick] [--postgres URL] [--json]`. 1,000 channel
reminders (`--quick`: 100), spread evenly over 20 channels, are written to the schedule table
all due at one moment a few seconds ahead; a real `coopbot run` (Slack HTTP mode, production
settings) is started before that moment, against the local fake Slack holding every channel to
one accepted `chat.postMessage` a second and answering 429 with Retry-After beyond it. Timed:
from the moment they fell due to the last post Slack accepted. The floor is Slack's pace alone:
50 posts a channel at one a second. On a SQLite file, and on PostgreSQL when given (its
database is emptied).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from benchmarks.bench_delivery import empty
from benchmarks.common import Result, table, to_json
from storage.db import make_engine
from tests.fakes.slack import Call, FakeSlack
from tests.process_support import (
    Due,
    accepted_posts,
    bot_process,
    posted_once,
    seed_reminders,
    slack_http_env,
    wait_until_delivered,
)

SLACK_PACE = 1.0  # what the fake allows a channel: one accepted post a second
TARGET = 1.10  # within 10 % of the floor
# How far ahead of now the burst falls due: the bot starts and arms its alarm meanwhile.
LEAD_SECONDS = 8.0
DONE_SECONDS = 300.0
SERVING = r"serving /slack/events on port \d+"
RATE_LIMITED = r"delivery \d+ rate limited"


@dataclass(frozen=True)
class Sizes:
    reminders: int = 1000
    channels: int = 20

    @property
    def per_channel(self) -> int:
        return self.reminders // self.channels


FULL = Sizes()
QUICK = Sizes(reminders=100)


@dataclass(frozen=True)
class Burst:
    """One burst as the fake Slack saw it, on the wall clock (seconds after the due time)."""

    database: str
    sizes: Sizes
    first_post: float
    last_post: float
    fired: float  # the last reminder's message written to the outbox
    claims: float  # claims per outbox row, on average
    gaps: list[float]  # between consecutive accepted posts in one channel
    refused: int  # 429s Slack answered
    logged_limited: int  # rate limits the bot logged
    twice: int  # posts accepted more than once (by key, or by channel and text)
    missing: int
    started: float  # the bot was serving this long before the due time


def _posts_by_channel(posts: list[Call]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for c in posts:
        times[str(c.params["channel"])].append(c.time)
    return {channel: sorted(t) for channel, t in times.items()}


def _outbox_figures(url: str) -> tuple[datetime, float]:
    """When the last reminder's message was written to the outbox (all fired by then), and
    how often a row was claimed on average (a row its channel's pace held back is claimed
    again when its turn comes)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = text("select max(created_at), avg(claims) from outbox")
            last, claims = conn.execute(query).one()
    finally:
        engine.dispose()
    # SQLite hands the column back as text, PostgreSQL as an aware datetime.
    at = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
    return (at if at.tzinfo else at.replace(tzinfo=UTC)), float(claims)


def burst(url: str, sizes: Sizes, tmp: Path) -> Burst:
    """Seed the burst, start `coopbot run` before it falls due, wait until all is sent."""
    empty(url)
    channels = [f"C{k:03d}" for k in range(sizes.channels)]
    due = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
    reminders = [
        Due(f"Put the bins out {i}", due, channel=channels[i % sizes.channels])
        for i in range(sizes.reminders)
    ]
    seed_reminders(url, reminders)
    with FakeSlack() as slack:
        slack.limit_posts_per_channel(SLACK_PACE)
        # Production's delivery settings, not the crash tests' short leases and polls.
        env = slack_http_env(
            slack,
            url,
            COOPBOT_DELIVERY__LEASE_SECONDS="10",
            COOPBOT_DELIVERY__POLL_SECONDS="1",
            COOPBOT_LOG_LEVEL="INFO",
        )
        with bot_process(tmp, env, "burst") as bot:
            bot.start()
            bot.wait_for_log(SERVING, timeout=LEAD_SECONDS)
            started = due.timestamp() - time.time()
            wait_until_delivered(
                url, slack, [bot], sizes.reminders, sizes.reminders, timeout=DONE_SECONDS
            )
            logged = len(re.findall(RATE_LIMITED, bot.log()))
        posts = accepted_posts(slack)
        refused = sum(c.status == 429 for c in slack.calls_to("chat.postMessage"))
    # The fake stamps calls with this process's monotonic clock: put them on the wall clock.
    wall = time.time() - time.monotonic()
    since_due = [c.time + wall - due.timestamp() for c in posts]
    keys, where = posted_once(posts)
    by_channel = _posts_by_channel(posts)
    fired, claims = _outbox_figures(url)
    gaps = [b - a for times in by_channel.values() for a, b in zip(times, times[1:], strict=False)]
    return Burst(
        database=make_url(url).get_backend_name(),
        sizes=sizes,
        first_post=min(since_due),
        last_post=max(since_due),
        fired=(fired - due).total_seconds(),
        claims=claims,
        gaps=gaps,
        refused=refused,
        logged_limited=logged,
        twice=sum(n - 1 for n in keys.values()) + sum(n - 1 for n in where.values()),
        missing=sizes.reminders - len(keys),
        started=started,
    )


def rows(b: Burst) -> list[Result]:
    floor = b.sizes.per_channel * SLACK_PACE
    once = b.twice == 0 and b.missing == 0
    mean_gap = statistics.fmean(b.gaps)
    return [
        Result(
            path=f"{b.sizes.reminders:,} reminders due at once over {b.sizes.channels} channels, "
            f"{b.database}: due -> last post Slack accepted",
            floor_label=f"Slack's pace alone: {b.sizes.per_channel} posts a channel at "
            f"{SLACK_PACE:.0f}/s (strictly the last can come {floor - SLACK_PACE:.0f} s after "
            "the first)",
            floor=floor,
            coopbot=b.last_post,
            unit="s",
            higher_is_better=False,
            target="within 10 % of the floor; each sent once",
            met=once and b.last_post <= TARGET * floor,
            note=f"{b.twice} twice, {b.missing} missing; first post {b.first_post:.2f} s after "
            f"the due time, the last one fired (written to the outbox) at {b.fired:.2f} s; "
            f"{b.refused} 429s from Slack ({b.logged_limited} logged); bot serving "
            f"{b.started:.1f} s before the due time",
        ),
        Result(
            path=f"  the same, {b.database}: gap between two posts in one channel, mean",
            floor_label=f"Slack's pace, {SLACK_PACE:.0f} s",
            floor=SLACK_PACE,
            coopbot=mean_gap,
            unit="s",
            higher_is_better=False,
            target="reported",
            met=None,
            note=f"median {statistics.median(b.gaps):.3f} s, max {max(b.gaps):.3f} s over "
            f"{len(b.gaps)} gaps; {sum(g > 1.5 for g in b.gaps)} gaps over 1.5 s; each row "
            f"claimed {b.claims:.2f} times on average",
        ),
    ]


def run(quick: bool = False, postgres: str | None = None) -> list[Result]:
    sizes = QUICK if quick else FULL
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        results += rows(burst(f"sqlite:///{Path(tmp) / 'burst.db'}", sizes, Path(tmp)))
    if postgres:
        with tempfile.TemporaryDirectory() as tmp:
            results += rows(burst(postgres, sizes, Path(tmp)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="100 reminders: check it runs")
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be emptied")
    args = parser.parse_args()
    results = run(args.quick, args.postgres)
    print(to_json(results) if args.json else table(results))


if __name__ == "__main__":
    main()
