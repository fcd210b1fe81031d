"""`coopbot export`: every action with its commitments, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.ports import ExportRow

CSV_COLUMNS = (
    "community", "id", "kind", "title", "channel", "creator", "state", "need", "due",
    "created_at", "member", "status", "via", "at",
)  # fmt: skip


def iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, e.g. 2026-11-27T17:00:00Z."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def action_record(row: ExportRow) -> dict[str, Any]:
    a = row.action
    return {
        "community": f"{row.community.platform}:{row.community.external_id}",
        "id": a.number,
        "kind": a.kind.value,
        "title": a.title,
        "body": a.body,
        "channel": a.channel_id,
        "creator": a.creator.external_id,
        "state": a.state.value,
        "need": a.need,
        "due": iso(a.due_at),
        "created_at": iso(a.created_at),
        "commitments": [
            {"member": c.member.external_id, "status": c.status.value, "via": c.via.value,
             "at": iso(c.at)}
            for c in sorted(a.commitments, key=lambda c: c.seq)
        ],
    }  # fmt: skip


def to_json(rows: Iterable[ExportRow]) -> str:
    return json.dumps({"actions": [action_record(r) for r in rows]}, indent=2, ensure_ascii=False)


def to_csv(rows: Iterable[ExportRow]) -> str:
    """One line per commitment; an action nobody has joined gets one line with those empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        record = action_record(row)
        for commitment in record["commitments"] or [{}]:
            writer.writerow(record | commitment)
    return buffer.getvalue()
