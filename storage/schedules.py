"""The schedule and occurrence tables, inside a unit of work (the core's ScheduleStore)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from bot.model import (
    Member,
    Occurrence,
    OccurrenceState,
    Schedule,
    ScheduleKind,
    ScheduleState,
    Target,
)
from bot.ports import ScheduleRecord
from storage.tables import CommunityRow, MemberRow, OccurrenceRow, ScheduleRow

_S: Table = ScheduleRow.__table__  # type: ignore[attr-defined]
_O: Table = OccurrenceRow.__table__  # type: ignore[attr-defined]
_M: Table = MemberRow.__table__  # type: ignore[attr-defined]
_CO: Table = CommunityRow.__table__  # type: ignore[attr-defined]
_ACTIVE = ScheduleState.ACTIVE.value
_PEOPLES = (ScheduleKind.REMIND.value,)

# Due rows, oldest first. On PostgreSQL each process locks the rows it takes and skips those
# another has locked, so several processes share a burst instead of queueing behind one.
_DUE = (
    select(_S)
    .where(_S.c.state == _ACTIVE, _S.c.next_at <= bindparam("now"))
    .order_by(_S.c.next_at, _S.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_NEXT_DUE = select(func.min(_S.c.next_at)).where(_S.c.state == _ACTIVE)
_SAVE = (
    update(_S)
    .where(_S.c.id == bindparam("schedule_id"))
    .values(
        next_at=bindparam("next_at", type_=_S.c.next_at.type),
        last_at=bindparam("last_at", type_=_S.c.last_at.type),
        state=bindparam("state"),
    )
)

MemberLoader = Callable[[Iterable[int]], dict[int, Member]]


class SqlSchedules:
    """Schedules and their occurrences; `members` loads members by id (the unit of work's,
    so one person is one object in a transaction)."""

    def __init__(self, session: Session, dialect: str, members: MemberLoader) -> None:
        self.session = session
        self.dialect = dialect
        self.members = members
        # The soonest time anything added in this transaction is due (to set the alarm by).
        self.earliest: datetime | None = None

    def _schedules(self, rows: Iterable[Row[Any]]) -> list[Schedule]:
        rows = list(rows)
        ids = {r.creator_id for r in rows} | {r.to_member_id for r in rows}
        people = self.members(i for i in ids if i is not None)
        return [
            Schedule(
                id=r.id,
                community_id=r.community_id,
                number=r.number,
                kind=ScheduleKind(r.kind),
                state=ScheduleState(r.state),
                target=Target(r.target) if r.target else None,
                creator=people.get(r.creator_id) if r.creator_id else None,
                to_member=people.get(r.to_member_id) if r.to_member_id else None,
                channel_id=r.channel_id,
                action_id=r.action_id,
                text=r.text,
                rule=r.rule,
                tz=r.tz,
                next_at=r.next_at,
                last_at=r.last_at,
                created_at=r.created_at,
                snooze_of=r.snooze_of,
            )
            for r in rows
        ]

    def add(self, schedule: Schedule) -> Schedule:
        if schedule.next_at is not None and (
            self.earliest is None or schedule.next_at < self.earliest
        ):
            self.earliest = schedule.next_at
        if schedule.kind is ScheduleKind.REMIND:
            # The UPDATE takes the community row's lock: concurrent reminders get distinct numbers.
            schedule.number = (
                self.session.execute(
                    update(_CO)
                    .where(_CO.c.id == schedule.community_id)
                    .values(next_reminder=_CO.c.next_reminder + 1)
                    .returning(_CO.c.next_reminder)
                ).scalar_one()
                - 1
            )
        schedule.id = self.session.execute(
            insert(_S)
            .values(
                community_id=schedule.community_id,
                number=schedule.number,
                kind=schedule.kind.value,
                state=schedule.state.value,
                target=schedule.target.value if schedule.target else None,
                creator_id=schedule.creator.id if schedule.creator else None,
                to_member_id=schedule.to_member.id if schedule.to_member else None,
                channel_id=schedule.channel_id,
                action_id=schedule.action_id,
                text=schedule.text,
                rule=schedule.rule,
                tz=schedule.tz,
                next_at=schedule.next_at,
                last_at=schedule.last_at,
                created_at=schedule.created_at,
                snooze_of=schedule.snooze_of,
            )
            .returning(_S.c.id)
        ).scalar_one()
        return schedule

    def due(self, now: datetime, limit: int) -> list[Schedule]:
        return self._schedules(self.session.execute(_DUE, {"now": now, "limit": limit}))

    def next_due(self) -> datetime | None:
        return self.session.execute(_NEXT_DUE).scalar_one_or_none()

    def save(self, schedule: Schedule) -> None:
        self.session.execute(
            _SAVE,
            {
                "schedule_id": schedule.id,
                "next_at": schedule.next_at,
                "last_at": schedule.last_at,
                "state": schedule.state.value,
            },
        )

    def occur(self, occurrence: Occurrence) -> bool:
        insert_ = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = (
            insert_(_O)
            .values(
                schedule_id=occurrence.schedule_id,
                at=occurrence.at,
                fired_at=occurrence.fired_at,
                state=occurrence.state.value,
                late_seconds=occurrence.late_seconds,
                fired_by=occurrence.fired_by,
            )
            .on_conflict_do_nothing()
            .returning(_O.c.id)
        )
        occurrence.id = self.session.execute(stmt).scalar_one_or_none()
        return occurrence.id is not None

    def set_state(self, occurrence: Occurrence) -> None:
        self.session.execute(
            update(_O).where(_O.c.id == occurrence.id).values(state=occurrence.state.value)
        )

    def by_number(self, community_id: int, number: int) -> Schedule | None:
        query = (
            select(_S)
            .where(_S.c.community_id == community_id, _S.c.number == number)
            .with_for_update()
        )
        found = self._schedules(self.session.execute(query))
        return found[0] if found else None

    def _peoples(self, member: Member) -> Any:
        return and_(
            _S.c.kind.in_(_PEOPLES),
            or_(_S.c.creator_id == member.id, _S.c.to_member_id == member.id),
        )

    def listed(self, member: Member) -> list[Schedule]:
        query = (
            select(_S)
            .where(self._peoples(member), _S.c.state == _ACTIVE)
            .order_by(_S.c.next_at, _S.c.id)
        )
        return self._schedules(self.session.execute(query))

    def missed(self, member: Member, since: datetime) -> list[tuple[Schedule, Occurrence]]:
        query = (
            select(_S, _O.c.id.label("o_id"), _O.c.at.label("o_at"), _O.c.fired_at)
            .join(_O, _O.c.schedule_id == _S.c.id)
            .where(
                self._peoples(member),
                _O.c.state == OccurrenceState.MISSED.value,
                _O.c.fired_at >= since,
            )
            .order_by(_O.c.at)
        )
        rows = list(self.session.execute(query))
        return [
            (s, Occurrence(s.id or 0, r.o_at, r.fired_at, OccurrenceState.MISSED, id=r.o_id))
            for s, r in zip(self._schedules(rows), rows, strict=True)
        ]

    def active_count(self, member: Member) -> int:
        query = select(func.count()).where(
            _S.c.kind.in_(_PEOPLES), _S.c.creator_id == member.id, _S.c.state == _ACTIVE
        )
        return int(self.session.execute(query).scalar_one())

    def cancel_for_action(self, action_id: int) -> None:
        # A series opens its next occurrence even when this one closed or was cancelled early.
        self.session.execute(
            update(_S)
            .where(
                _S.c.action_id == action_id,
                _S.c.state == _ACTIVE,
                _S.c.kind != ScheduleKind.SERIES.value,
            )
            .values(state=ScheduleState.CANCELLED.value, next_at=None)
        )

    def of_action(self, action_id: int, kind: ScheduleKind) -> list[Schedule]:
        query = select(_S).where(
            _S.c.action_id == action_id, _S.c.kind == kind.value, _S.c.state == _ACTIVE
        )
        return self._schedules(self.session.execute(query.with_for_update()))

    def all_of_action(self, action_id: int) -> list[Schedule]:
        query = select(_S).where(_S.c.action_id == action_id, _S.c.state == _ACTIVE)
        return self._schedules(self.session.execute(query.order_by(_S.c.id).with_for_update()))

    def move(self, schedule: Schedule, at: datetime | None) -> None:
        if at is None:
            schedule.state, schedule.next_at = ScheduleState.CANCELLED, None
        else:
            schedule.next_at = at
            if self.earliest is None or at < self.earliest:
                self.earliest = at  # sooner than the alarm may be set for
        self.save(schedule)

    def occurrence(self, occurrence_id: int) -> tuple[Schedule, Occurrence] | None:
        row = self.session.execute(select(_O).where(_O.c.id == occurrence_id)).first()
        if row is None:
            return None
        found = self._schedules(self.session.execute(select(_S).where(_S.c.id == row.schedule_id)))
        state = OccurrenceState(row.state)
        occurrence = Occurrence(
            row.schedule_id, row.at, row.fired_at, state, row.late_seconds, row.id
        )
        return found[0], occurrence

    def snoozed(self, occurrence_id: int, member: Member) -> Schedule | None:
        query = select(_S).where(_S.c.snooze_of == occurrence_id, _S.c.to_member_id == member.id)
        found = self._schedules(self.session.execute(query))
        return found[0] if found else None

    def digest(self, community_id: int, channel_id: str) -> Schedule | None:
        query = (
            select(_S)
            .where(
                _S.c.community_id == community_id,
                _S.c.channel_id == channel_id,
                _S.c.kind == ScheduleKind.DIGEST.value,
                _S.c.state == _ACTIVE,
            )
            .with_for_update()
        )
        found = self._schedules(self.session.execute(query))
        return found[0] if found else None

    def records(self) -> Iterator[ScheduleRecord]:
        communities = {
            r.id: f"{r.platform}:{r.external_id}"
            for r in self.session.execute(select(_CO.c.id, _CO.c.platform, _CO.c.external_id))
        }
        occurrences: dict[int, list[Occurrence]] = {}
        for r in self.session.execute(select(_O).order_by(_O.c.schedule_id, _O.c.at)):
            occurrences.setdefault(r.schedule_id, []).append(
                Occurrence(
                    r.schedule_id,
                    r.at,
                    r.fired_at,
                    OccurrenceState(r.state),
                    r.late_seconds,
                    r.id,
                    r.fired_by,
                )
            )
        rows = self.session.execute(select(_S).order_by(_S.c.id))
        for schedule in self._schedules(rows):
            assert schedule.id is not None
            yield ScheduleRecord(
                communities[schedule.community_id], schedule, occurrences.get(schedule.id, [])
            )
