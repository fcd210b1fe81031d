"""Every benchmark against its floor, measured side by side in one run; one table.

Run by hand from the repository root: `python -m benchmarks [--quick] [--postgres URL]
[--runs 3]`. Each path is measured `runs` times (coopbot and its floor each time) and the
table shows the medians; `--quick` uses tiny loads, only to check that everything runs.
The PostgreSQL database given is emptied.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from dataclasses import replace

from benchmarks.common import Result, from_json, table


def machine() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        models = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    return (
        f"{len(models)} × {models[0] if models else platform.processor()}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def medians(runs: list[list[Result]]) -> list[Result]:
    """Row by row, the run whose ratio is the median, with the floor measured beside it."""
    merged = []
    for rows in zip(*runs, strict=True):
        middle = sorted(rows, key=lambda r: r.ratio)[len(rows) // 2]
        others = ", ".join(f"{r.ratio:.3f}" for r in rows)
        merged.append(replace(middle, note=f"{middle.note} (ratios of {len(rows)} runs: {others})"))
    return merged


def measured(module: str, *options: str) -> list[Result]:
    """One run of `benchmarks.<module>` in a fresh interpreter: every memory figure is then
    that of a process that ran one suite once, as a bot process would."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", "--json", *options],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.{module} failed:\n{done.stderr[-3000:]}")
    # The rows are the last line; a suite may say what it is doing before them.
    return from_json(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny loads: only check it runs")
    parser.add_argument("--postgres", help="a PostgreSQL URL whose database may be emptied")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    quick = ["--quick"] if args.quick else []
    postgres = ["--postgres", args.postgres] if args.postgres else []
    suites = [
        ("slack_paths", quick),
        ("discord_paths", quick),
        ("store_paths", quick + postgres),
        ("reminder_burst", quick + postgres),
    ]
    results: list[Result] = []
    for module, options in suites:
        results += medians([measured(module, *options) for _ in range(args.runs)])
    print(machine())
    print(table(results))


if __name__ == "__main__":
    main()
