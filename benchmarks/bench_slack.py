"""The Slack adapter under a burst: real slack-bolt, the local fake Slack, a real SQLite file.

Run by hand from the repository root: `python -m benchmarks.bench_slack [--people 200]
[--mode socket|http]`. One task is created, then `people` members each send `/coop join #1`
as fast as the driver can; it reports how quickly each command was acknowledged (Slack's
deadline is 3 s; each is recorded in the inbox before its ack), how long from each change's
commit until Slack had its answer (the outbox rows' created and sent times), and how long
until every join was stored and every answer and card edit sent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal, cast

from storage.uow import SqlUnitOfWork
from tests.fakes.slack import FakeSlack
from tests.slack_support import make_core, started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def burst(slack: FakeSlack, tmp: Path, mode: Literal["socket", "http"], people: int) -> None:
    for i in range(people):
        slack.set_user(f"U{i:04}", name=f"user{i}", tz="Europe/London")
    core = make_core(tmp, slack, mode)
    # Slack's pace, as in production: a card is edited at most once a second.
    async with started(slack, core, mode, post_interval=1.0, edit_interval=1.0) as rig:
        await rig.send.command("U0000", f"task Big event need:{people // 2}")
        await rig.idle()
        start = time.perf_counter()
        deliveries = await asyncio.gather(
            *(rig.send.command(f"U{i:04}", "join #1") for i in range(people))
        )
        acked = time.perf_counter() - start
        await rig.idle()
        done = time.perf_counter() - start
        statuses = rig.statuses(1)
        with SqlUnitOfWork(core.engine) as uow:
            answers = [r for r in uow.outbox.records() if r.kind == "reply"]
    ms = [d.latency * 1000 for d in deliveries]
    assert len(statuses) == people, "every join must be stored"
    assert all(r.sent_at for r in answers) and len(answers) == people
    waited = [(r.sent_at - r.created_at).total_seconds() * 1000 for r in answers if r.sent_at]
    print(
        f"{mode:6} {people} joins: acks median {statistics.median(ms):6.1f} ms, "
        f"p95 {percentile(ms, 0.95):6.1f} ms, p99 {percentile(ms, 0.99):6.1f} ms, "
        f"max {max(ms):6.1f} ms; commit to answer sent median "
        f"{statistics.median(waited):6.1f} ms, p99 {percentile(waited, 0.99):6.1f} ms; "
        f"all acked in {acked:5.2f} s, all stored and sent in {done:5.2f} s "
        f"({people / done:5.0f} joins/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--mode", choices=("socket", "http"), default="socket")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        mode = cast(Literal["socket", "http"], args.mode)
        asyncio.run(burst(slack, Path(tmp), mode, args.people))


if __name__ == "__main__":
    main()
