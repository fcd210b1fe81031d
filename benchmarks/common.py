"""What every benchmark reports: one path, measured against its floor in the same run."""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Result:
    """One row of the table: `coopbot` and `floor` in `unit`; `target` says what is wanted.

    `higher_is_better` decides which way the ratio is taken: the ratio is always coopbot's
    share of the floor's performance (1.0 = as good as the floor, 0.5 = half as good).
    `met` is None where the row is only reported (memory) rather than held to a target.
    """

    path: str
    floor_label: str
    floor: float
    coopbot: float
    unit: str
    higher_is_better: bool
    target: str
    met: bool | None
    note: str = ""

    @property
    def ratio(self) -> float:
        if self.higher_is_better:
            return self.coopbot / self.floor if self.floor else 0.0
        return self.floor / self.coopbot if self.coopbot else 0.0


def memory(path: str, floor_label: str, floor: float, coopbot: float, note: str) -> Result:
    """A resident-memory row, in MiB: reported beside its floor, held to no target."""
    return Result(path, floor_label, floor, coopbot, "MiB", False, "reported", None, note)


_tuned = False


def as_coopbot_run() -> None:
    """Set the garbage collector as `coopbot run` does once it has started: once per process,
    as there (freezing again would keep an earlier workload's objects from ever being
    collected, and the memory figures would show it)."""
    global _tuned
    if not _tuned:
        from bot.wiring import steady_gc

        steady_gc()
        _tuned = True


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mib(pid: int | None = None) -> float:
    """Resident memory now of `pid` (this process by default), in MiB, from /proc."""
    path = f"/proc/{pid or os.getpid()}/status"
    with open(path, encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    # Not Linux: the peak is the best there is.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def to_json(results: Sequence[Result]) -> str:
    return json.dumps([asdict(r) for r in results])


def from_json(text: str) -> list[Result]:
    return [Result(**row) for row in json.loads(text)]


def table(results: Sequence[Result]) -> str:
    """The rows as one plain-text table; each row's note on the line below it."""
    head = ("path", "coopbot", "floor", "ratio", "target", "met")
    rows = [
        (
            r.path,
            f"{r.coopbot:,.2f} {r.unit}",
            f"{r.floor:,.2f} {r.unit}",
            f"{r.ratio:.3f}",
            r.target,
            {True: "yes", False: "NO", None: "-"}[r.met],
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(head, widths, strict=True))]
    for r, row in zip(results, rows, strict=True):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        lines.append(f"    floor: {r.floor_label}" + (f"; {r.note}" if r.note else ""))
    return "\n".join(lines)
