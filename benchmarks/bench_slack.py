"""The Slack adapter under a burst: real slack-bolt, the local fake Slack, a real SQLite file.

Run by hand from the repository root: `python -m benchmarks.bench_slack [--people 200]
[--mode socket|http]`. One task is created, then `people` members each send `/coop join #1`
as fast as the driver can; it reports how quickly each command was acknowledged (Slack's
deadline is 3 s) and how long until every join was stored and the card edits were sent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Literal, cast

from tests.fakes.slack import FakeSlack
from tests.slack_support import make_core, started


async def burst(slack: FakeSlack, tmp: Path, mode: Literal["socket", "http"], people: int) -> None:
    for i in range(people):
        slack.set_user(f"U{i:04}", name=f"user{i}", tz="Europe/London")
    core = make_core(tmp, slack, mode)
    async with started(slack, core, mode) as rig:
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
    ms = sorted(d.latency * 1000 for d in deliveries)
    assert len(statuses) == people, "every join must be stored"
    print(
        f"{mode:6} {people} joins: acks median {statistics.median(ms):6.1f} ms, "
        f"p95 {ms[int(len(ms) * 0.95)]:6.1f} ms, max {ms[-1]:6.1f} ms; "
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
