"""The inbox and outbox tables: recording, claiming under a lease, and fenced results.

A claim is one statement (PostgreSQL adds `FOR UPDATE SKIP LOCKED`, SQLite's write lock does
the same job), and every later write names the owner and attempt it was claimed with, so a
process whose lease ran out can no longer change the row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select
from sqlmodel import Session

from bot import codec
from bot.queues import (
    ACTIVE_STATES,
    DeliveryKind,
    DeliveryRecord,
    DeliveryState,
    InboxEntry,
    InboxState,
    NewDelivery,
    OutboxEntry,
)
from storage.tables import ActionRow, InboxRow, OccurrenceRow, OutboxRow, UTCDateTime

_inbox = InboxRow.__table__  # type: ignore[attr-defined]
_outbox = OutboxRow.__table__  # type: ignore[attr-defined]
_CARD_KINDS = (DeliveryKind.CARD_POST.value, DeliveryKind.CARD_EDIT.value)
_ACTIVE = [s.value for s in ACTIVE_STATES]


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _locking(session: Session, query: Select[Any]) -> Select[Any]:
    """Rows another transaction is claiming are skipped rather than waited for."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


# Built once: every event settles its entry, and building the statement cost more than
# running it.
_SETTLE = (
    update(_inbox)
    .where(
        _inbox.c.id == bindparam("entry_id"),
        _inbox.c.owner == bindparam("held_by"),
        _inbox.c.attempts == bindparam("attempt"),
        _inbox.c.state == InboxState.APPLYING.value,
    )
    .values(
        state=bindparam("state", type_=_inbox.c.state.type),
        applied_at=bindparam("applied_at", type_=_inbox.c.applied_at.type),
        lease_until=None,
        error=bindparam("error", type_=_inbox.c.error.type),
    )
    .returning(_inbox.c.id)
)


class SqlInbox:
    """Inbound events: recorded once per key, applied by whoever holds them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        entries: Sequence[tuple[str, str, str, datetime]],
        owner: str,
        lease_until: datetime,
    ) -> list[int | None]:
        """Insert (key, platform, payload, received_at) rows held by `owner`; the id of each,
        or None for a key recorded before (a retried delivery)."""
        if not entries:
            return []
        rows = [
            {
                "key": key,
                "platform": platform,
                "payload": payload,
                "state": InboxState.APPLYING.value,
                "owner": owner,
                "attempts": 1,
                "lease_until": lease_until,
                "received_at": received_at,
                "error": "",
            }
            for key, platform, payload, received_at in entries
        ]
        # One statement for the batch; only the rows it inserted come back.
        stmt = (
            _insert(self.session)(_inbox)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(_inbox.c.id, _inbox.c.key)
        )
        inserted = {r.key: r.id for r in self.session.execute(stmt)}
        ids: list[int | None] = []
        for key, *_ in entries:
            # A key given twice in one batch is recorded once, for the first.
            ids.append(inserted.pop(key, None))
        return ids

    def claim(
        self,
        platforms: Iterable[str],
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        busy: Sequence[int] = (),
    ) -> list[InboxEntry]:
        """Take over recorded events whose holder's lease ran out, oldest first; not those
        in `busy`, which this process is still applying."""
        query = select(_inbox.c.id).where(
            _inbox.c.state == InboxState.APPLYING.value,
            _inbox.c.lease_until < now,
            _inbox.c.platform.in_(list(platforms)),
        )
        if busy:
            query = query.where(_inbox.c.id.not_in(list(busy)))
        pick = _locking(self.session, query.order_by(_inbox.c.id).limit(limit))
        stmt = (
            update(_inbox)
            .where(_inbox.c.id.in_(pick.scalar_subquery()))
            .values(owner=owner, attempts=_inbox.c.attempts + 1, lease_until=lease_until)
            .returning(
                _inbox.c.id,
                _inbox.c.key,
                _inbox.c.payload,
                _inbox.c.received_at,
                _inbox.c.attempts,
            )
        )
        rows = self.session.execute(stmt).all()
        return sorted(
            (
                InboxEntry(r.id, r.key, codec.loads(r.payload), r.received_at, r.attempts)
                for r in rows
            ),
            key=lambda e: e.id,
        )

    def settle(
        self, entry: InboxEntry, owner: str, state: InboxState, now: datetime, error: str = ""
    ) -> bool:
        """Mark `entry` applied or failed; False when its lease was lost to another process."""
        values = {
            "entry_id": entry.id,
            "held_by": owner,
            "attempt": entry.attempt,
            "state": state.value,
            "applied_at": now,
            "error": error[:2000],
        }
        return self.session.execute(_SETTLE, values).first() is not None

    def extend(self, ids: Sequence[int], owner: str, lease_until: datetime) -> None:
        if ids:
            self.session.execute(
                update(_inbox)
                .where(_inbox.c.id.in_(list(ids)), _inbox.c.owner == owner)
                .where(_inbox.c.state == InboxState.APPLYING.value)
                .values(lease_until=lease_until)
            )

    def prune(self, before: datetime, limit: int) -> int:
        """Forget up to `limit` settled events received before `before`; how many."""
        old = (
            select(_inbox.c.id)
            .where(_inbox.c.received_at < before, _inbox.c.state != InboxState.APPLYING.value)
            .limit(limit)
        )
        return _deleted(self.session, _inbox, old)

    def unsettled(self) -> int:
        """Recorded events not applied yet (for tests, health checks and shutdown logs)."""
        query = select(func.count()).where(_inbox.c.state == InboxState.APPLYING.value)
        return int(self.session.execute(query).scalar_one())


# Built once per dialect, plain and ignoring a conflict: every change enqueues rows.
_ENQUEUE = {
    pg: (make(_outbox), make(_outbox).on_conflict_do_nothing())
    for pg, make in ((True, postgresql.insert), (False, sqlite.insert))
}


def _deleted(session: Session, table: Any, ids: Select[Any]) -> int:
    # Ids first, then one DELETE: both databases do it by primary key, and neither needs
    # DELETE ... LIMIT (which PostgreSQL lacks).
    found = list(session.execute(ids).scalars())
    if found:
        session.execute(table.delete().where(table.c.id.in_(found)))
    return len(found)


class SqlOutbox:
    """Outgoing messages: enqueued with their change, claimed lane by lane, fenced results."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._enqueue = _ENQUEUE[session.get_bind().dialect.name == "postgresql"]

    def enqueue(self, deliveries: Iterable[NewDelivery], now: datetime) -> None:
        for d in deliveries:
            values = {
                "platform": d.platform,
                "community": d.community,
                "kind": d.kind.value,
                "lane": d.lane,
                "target": d.target[:64],
                "action_id": d.action_id,
                "payload": d.payload,
                "state": DeliveryState.PENDING.value,
                "claims": 0,
                "attempts": 0,
                "maybe_sent": False,
                "not_before": now,
                "created_at": now,
                "expires_at": d.expires_at,
                "error": "",
                "coalesce_key": d.coalesce_key,
                "occurrence_id": d.occurrence_id,
            }
            # With a coalesce key: a pending edit of this card may exist already, and it will
            # draw the latest state, so this one is dropped.
            self.session.execute(self._enqueue[d.coalesce_key is not None], values)

    def claim(
        self, platform: str, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxEntry]:
        """Claim up to `limit` due rows, each the oldest undelivered row of its lane.

        A row still `sending` after its lease ran out is taken over too, marked for a check
        against the platform first: its earlier attempt may have been delivered.
        """
        due = or_(
            and_(_outbox.c.state == DeliveryState.PENDING.value, _outbox.c.not_before <= now),
            and_(_outbox.c.state == DeliveryState.SENDING.value, _outbox.c.lease_until < now),
        )
        was_sending = _outbox.c.state == DeliveryState.SENDING.value
        pick = _locking(
            self.session,
            select(_outbox.c.id)
            .where(_outbox.c.platform == platform, _outbox.c.state.in_(_ACTIVE), due)
            .where(~_behind_another())
            .order_by(_outbox.c.id)
            .limit(limit),
        )
        stmt = (
            update(_outbox)
            .where(_outbox.c.id.in_(pick.scalar_subquery()))
            .values(
                state=DeliveryState.SENDING.value,
                owner=owner,
                claims=_outbox.c.claims + 1,
                lease_until=lease_until,
                coalesce_key=None,
                first_attempt_at=func.coalesce(_outbox.c.first_attempt_at, now),
                # Evaluated on the row as it was: an expired `sending` was a send cut off,
                # which may have gone out.
                attempts=_outbox.c.attempts + case((was_sending, 1), else_=0),
                maybe_sent=case((was_sending, True), else_=_outbox.c.maybe_sent),
            )
            .returning(*_outbox.c)
        )
        rows = self.session.execute(stmt).all()
        return sorted((_entry(r) for r in rows), key=lambda e: e.id)

    def next_due(self, platforms: Iterable[str]) -> datetime | None:
        """When the soonest row of `platforms` that heads its lane becomes due (or its lease
        runs out); rows behind another wait for it, not for the clock."""
        soonest = func.min(
            case(
                (_outbox.c.state == DeliveryState.PENDING.value, _outbox.c.not_before),
                else_=_outbox.c.lease_until,
            )
        )
        query = select(type_coerce(soonest, UTCDateTime())).where(
            _outbox.c.platform.in_(list(platforms)),
            _outbox.c.state.in_(_ACTIVE),
            ~_behind_another(),
        )
        value: datetime | None = self.session.execute(query).scalar()
        return value

    def _fenced(self, entry: OutboxEntry, owner: str, **values: Any) -> bool:
        stmt = (
            update(_outbox)
            .where(
                _outbox.c.id == entry.id,
                _outbox.c.owner == owner,
                _outbox.c.claims == entry.claim,
                _outbox.c.state == DeliveryState.SENDING.value,
            )
            .values(**values)
            .returning(_outbox.c.id)
        )
        return self.session.execute(stmt).first() is not None

    def finish(
        self,
        entry: OutboxEntry,
        owner: str,
        state: DeliveryState,
        now: datetime,
        message_id: str | None = None,
        error: str = "",
        tried: bool = True,
    ) -> bool:
        """Record how `entry` ended (`tried`: a send was made); False when the lease was
        lost, and nothing is written."""
        return self._fenced(
            entry,
            owner,
            attempts=_outbox.c.attempts + int(tried),
            state=state.value,
            sent_at=now if state is DeliveryState.SENT else None,
            lease_until=None,
            message_id=message_id[:64] if message_id else None,
            error=error[:2000],
        )

    def release(
        self,
        entry: OutboxEntry,
        owner: str,
        not_before: datetime,
        maybe_sent: bool,
        error: str = "",
        tried: bool = True,
    ) -> bool:
        """Put `entry` back to try again at `not_before` (`tried`: after a send that did not
        succeed; not when it only waits its turn); False when the lease was lost."""
        return self._fenced(
            entry,
            owner,
            attempts=_outbox.c.attempts + int(tried),
            state=DeliveryState.PENDING.value,
            not_before=not_before,
            lease_until=None,
            maybe_sent=maybe_sent,
            error=error[:2000],
        )

    def extend(self, ids: Sequence[int], owner: str, lease_until: datetime) -> None:
        if ids:
            self.session.execute(
                update(_outbox)
                .where(_outbox.c.id.in_(list(ids)), _outbox.c.owner == owner)
                .where(_outbox.c.state == DeliveryState.SENDING.value)
                .values(lease_until=lease_until)
            )

    def prune(self, before: datetime, limit: int) -> int:
        """Forget up to `limit` finished deliveries created before `before`; how many.

        Deliveries of reminder occurrences are kept: they are the record of what went out.
        """
        old = (
            select(_outbox.c.id)
            .where(
                _outbox.c.created_at < before,
                _outbox.c.state.not_in(_ACTIVE),
                _outbox.c.occurrence_id.is_(None),
            )
            .limit(limit)
        )
        return _deleted(self.session, _outbox, old)

    def records(self) -> Iterator[DeliveryRecord]:
        occurrence = OccurrenceRow.__table__  # type: ignore[attr-defined]
        action = ActionRow.__table__  # type: ignore[attr-defined]
        rows = self.session.execute(
            select(
                _outbox,
                occurrence.c.at.label("occurrence_at"),
                occurrence.c.state.label("occurrence_state"),
                action.c.sealed.label("sealed"),
            )
            .outerjoin(occurrence, occurrence.c.id == _outbox.c.occurrence_id)
            .outerjoin(action, action.c.id == _outbox.c.action_id)
            .order_by(_outbox.c.id)
        )
        for r in rows:
            # A message about a sealed drive would tell who pledged by whom it went to.
            hidden = bool(r.sealed) and r.kind not in _CARD_KINDS
            yield DeliveryRecord(
                id=r.id,
                platform=r.platform,
                community=r.community,
                kind=r.kind,
                recipient="(sealed)" if hidden else r.target,
                state=r.state,
                created_at=r.created_at,
                sent_at=r.sent_at,
                attempts=r.attempts,
                message_id=r.message_id,
                error=r.error,
                occurrence_id=r.occurrence_id,
                occurrence_at=r.occurrence_at,
                late=None if r.occurrence_id is None else r.occurrence_state == "late",
            )

    def backlog(self) -> list[tuple[str, int, datetime]]:
        """Per platform: how many deliveries are not yet made, and the oldest one's time."""
        query = (
            select(_outbox.c.platform, func.count(), func.min(_outbox.c.created_at))
            .where(_outbox.c.state.in_(_ACTIVE))
            .group_by(_outbox.c.platform)
        )
        return [(p, int(n), t) for p, n, t in self.session.execute(query)]

    def count(self, *states: DeliveryState) -> int:
        query = select(func.count()).select_from(_outbox)
        if states:
            query = query.where(_outbox.c.state.in_([s.value for s in states]))
        return int(self.session.execute(query).scalar_one())


def _behind_another() -> Any:
    """The row is not the oldest undelivered one of its lane."""
    older = _outbox.alias("older")
    return exists().where(
        older.c.lane == _outbox.c.lane,
        # Written out, not bound: only then can SQLite and PostgreSQL see that the partial
        # index on active rows (ix_outbox_active_lane) answers it.
        text("older.state IN ('pending', 'sending')"),
        older.c.id < _outbox.c.id,
    )


def _entry(r: Any) -> OutboxEntry:
    return OutboxEntry(
        id=r.id,
        platform=r.platform,
        community=r.community,
        kind=DeliveryKind(r.kind),
        lane=r.lane,
        target=r.target,
        payload=r.payload,
        action_id=r.action_id,
        claim=r.claims,
        tries=r.attempts,
        recheck=bool(r.maybe_sent),
        created_at=r.created_at,
        first_attempt_at=r.first_attempt_at,
        expires_at=r.expires_at,
    )
