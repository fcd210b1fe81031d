"""`coopbot export`: every action with its commitments, every reminder (and nudge, digest and
due time) with each of its occurrences, and every delivery the bot made or is about to make,
as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.model import ActionState, Commitment
from bot.ports import ExportRow, ScheduleRecord
from bot.queues import DeliveryRecord

DELIVERY_COLUMNS = (
    "id", "platform", "community", "kind", "recipient", "state", "created", "sent", "attempts",
    "message_id", "error", "occurrence", "occurrence_at", "late",
)  # fmt: skip
OCCURRENCE_COLUMNS = (
    "community", "schedule", "reminder", "kind", "target", "text", "rule", "tz",
    "occurrence", "due", "fired", "state", "late_seconds",
)  # fmt: skip
CSV_COLUMNS = (
    "community", "id", "kind", "title", "channel", "creator", "state", "need", "due",
    "created_at", "member", "status", "via", "at", "role", "closes", "confirm_by",
)  # fmt: skip


def iso(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, e.g. 2026-11-27T17:00:00Z."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


SEALED = "(sealed)"  # who pledged to a sealed drive that has not tipped


def _commitment_record(c: Commitment, hidden: bool, drive: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "member": SEALED if hidden else c.member.external_id,
        "status": c.status.value,
        "via": c.via.value,
        "at": iso(c.at),
    }
    if c.role is not None:
        record["role"] = c.role
    if c.confirm_by is not None:  # promoted close to the due time, not confirmed yet
        record["confirm_by"] = iso(c.confirm_by)
    if drive:
        record["amount"] = c.amount
        record["if_others"] = c.if_others
        # Whom a condition names is a pledger's name too.
        record["if_people"] = len(c.if_needs) if hidden else list(c.if_needs)
        record["checkin"] = c.checkin
    return record


def action_record(row: ExportRow) -> dict[str, Any]:
    a = row.action
    d = a.drive
    # A sealed drive names nobody until it tips, and never if it fails.
    hidden = d is not None and d.sealed and a.state is not ActionState.TIPPED
    commitments = sorted(a.commitments, key=lambda c: c.seq)
    if hidden:
        commitments = sorted(commitments, key=lambda c: (c.status.value, c.amount))
    record = {
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
        "commitments": [_commitment_record(c, hidden, d is not None) for c in commitments],
    }
    if a.closes_at is not None:
        record["closes"] = iso(a.closes_at)
    if a.maybe_count:  # who: the commitments with status "maybe"
        record["maybes"] = a.maybe_count
    if a.roles:
        record["roles"] = [
            {"name": r.name, "need": r.need, "emoji": r.emoji, "in": r.in_count,
             "waiting": r.waiting_count}
            for r in a.roles
        ]  # fmt: skip
    if d is not None:
        record["drive"] = {
            "goal": d.goal, "unit": d.unit, "sealed": d.sealed, "deadline": iso(a.due_at),
            "task_due": iso(d.task_due_at), "extended": d.extended,
            "tipped_at": iso(d.tipped_at), "task": d.task_number,
        }  # fmt: skip
    if a.series is not None:  # an occurrence of a recurring task; the rule as stored
        s = a.series
        record["series"] = {
            "id": s.id, "rule": s.rule, "tz": s.tz, "carry": s.carry, "state": s.state.value,
            "created_at": iso(s.created_at), "stopped_at": iso(s.stopped_at),
        }  # fmt: skip
    return record


def delivery_record(d: DeliveryRecord) -> dict[str, Any]:
    return {
        "id": d.id,
        "platform": d.platform,
        "community": d.community,
        "kind": d.kind,
        "recipient": d.recipient,
        "state": d.state,
        "created": iso(d.created_at),
        "sent": iso(d.sent_at),
        "attempts": d.attempts,
        "message_id": d.message_id,
        "error": d.error,
        "occurrence": d.occurrence_id,
        "occurrence_at": iso(d.occurrence_at),
        "late": d.late,
    }


def schedule_record(r: ScheduleRecord) -> dict[str, Any]:
    s = r.schedule
    target = {
        "member": s.to_member.external_id if s.to_member else None,
        "channel": s.channel_id,
        "action": s.action_id,
    }
    return {
        "community": r.community,
        "schedule": s.id,
        "reminder": s.label if s.number is not None else None,
        "kind": s.kind.value,
        "state": s.state.value,
        "target": s.target.value if s.target else None,
        "to": target.get(s.target.value) if s.target else None,
        "creator": s.creator.external_id if s.creator else None,
        "text": s.text,
        "rule": s.rule,
        "tz": s.tz,
        "next_at": iso(s.next_at),
        "created_at": iso(s.created_at),
        "occurrences": [
            {"id": o.id, "due": iso(o.at), "fired": iso(o.fired_at), "state": o.state.value,
             "late_seconds": o.late_seconds}
            for o in r.occurrences
        ],
    }  # fmt: skip


def to_json(
    rows: Iterable[ExportRow],
    deliveries: Iterable[DeliveryRecord] = (),
    schedules: Iterable[ScheduleRecord] = (),
) -> str:
    document = {
        "actions": [action_record(r) for r in rows],
        "reminders": [schedule_record(s) for s in schedules],
        "deliveries": [delivery_record(d) for d in deliveries],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def deliveries_csv(deliveries: Iterable[DeliveryRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=DELIVERY_COLUMNS)
    writer.writeheader()
    for d in deliveries:
        writer.writerow(delivery_record(d))
    return buffer.getvalue()


def occurrences_csv(schedules: Iterable[ScheduleRecord]) -> str:
    """One line per occurrence of every reminder, nudge, digest and due time."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=OCCURRENCE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for s in schedules:
        record = schedule_record(s)
        for o in record["occurrences"]:
            writer.writerow(record | {"occurrence": o["id"]} | o)
    return buffer.getvalue()


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
