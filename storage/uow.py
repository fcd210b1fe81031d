"""The SQL unit of work: the core's store port over SQLModel sessions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, col, select

from bot.errors import StoreUnavailable
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    Commitment,
    CommitmentStatus,
    Community,
    Member,
    Via,
)
from bot.ports import AuditEntry, ExportRow
from bot.refs import CommunityRef, MemberRef
from storage.db import is_transient
from storage.queues import SqlInbox, SqlOutbox
from storage.tables import (
    ActionRow,
    AuditRow,
    CommitmentRow,
    CommunityRow,
    MemberRow,
)

_OPEN_STATUSES = (CommitmentStatus.COMMITTED.value, CommitmentStatus.WAITLISTED.value)


class SqlUnitOfWork:
    """One database transaction; rolls back unless `commit()` was called."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = Session(engine, expire_on_commit=False)
        self.inbox = SqlInbox(self.session)
        self.outbox = SqlOutbox(self.session)
        self._members: dict[int, Member] = {}
        # The session only holds weak references: keep loaded commitment rows for saving.
        self._commitment_rows: dict[int, CommitmentRow] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
            self.session.close()
        except DBAPIError:
            if exc is None:
                raise
        if exc is not None and is_transient(exc):
            # The core retries these; it knows nothing of SQLAlchemy's exceptions.
            raise StoreUnavailable(str(getattr(exc, "orig", exc))) from exc

    def commit(self) -> None:
        self.session.commit()

    # --- helpers ----------------------------------------------------------------------------

    def _insert_ignoring_conflict(self, model: type[SQLModel], values: dict[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING; True when a row was inserted."""
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        table = model.__table__  # type: ignore[attr-defined]
        stmt = insert(table).values(**values).on_conflict_do_nothing()
        # RETURNING rather than rowcount, which psycopg does not report for this statement.
        returning = stmt.returning(*table.primary_key.columns)
        return self.session.execute(returning).first() is not None

    def _member_from_row(self, row: MemberRow) -> Member:
        assert row.id is not None
        member = self._members.get(row.id)
        if member is None:
            member = Member(row.id, row.community_id, row.external_id, row.display_name, row.tz)
            self._members[row.id] = member
        return member

    def _member_by_id(self, member_id: int) -> Member:
        if member_id not in self._members:
            row = self.session.get(MemberRow, member_id)
            assert row is not None
            self._member_from_row(row)
        return self._members[member_id]

    def _action_from_row(self, row: ActionRow) -> Action:
        assert row.id is not None
        # One query for the commitments and their members: a big task has hundreds.
        commitments = self.session.exec(
            select(CommitmentRow, MemberRow)
            .join(MemberRow, col(MemberRow.id) == col(CommitmentRow.member_id))
            .where(CommitmentRow.action_id == row.id)
        ).all()
        return Action(
            id=row.id,
            community_id=row.community_id,
            number=row.number,
            kind=ActionKind(row.kind),
            title=row.title,
            body=row.body,
            channel_id=row.channel_id,
            creator=self._member_by_id(row.creator_id),
            created_at=row.created_at,
            state=ActionState(row.state),
            need=row.need,
            due_at=row.due_at,
            source_message_id=row.source_message_id,
            card_message_id=row.card_message_id,
            thread_id=row.thread_id,
            commitments=[
                Commitment(
                    id=c.id,
                    member=self._member_from_row(m),
                    status=CommitmentStatus(c.status),
                    via=Via(c.via),
                    seq=c.seq,
                    at=c.at,
                )
                for c, m in self._keep(commitments)
            ],
        )

    def _keep(
        self, rows: Sequence[tuple[CommitmentRow, MemberRow]]
    ) -> Sequence[tuple[CommitmentRow, MemberRow]]:
        for crow, _ in rows:
            assert crow.id is not None
            self._commitment_rows[crow.id] = crow
        return rows

    def _one_action(self, *where: Any) -> Action | None:
        row = self.session.exec(select(ActionRow).where(*where).with_for_update()).first()
        return self._action_from_row(row) if row else None

    # --- the port ---------------------------------------------------------------------------

    def community(self, ref: CommunityRef) -> Community:
        where = (CommunityRow.platform == ref.platform, CommunityRow.external_id == ref.id)
        row = self.session.exec(select(CommunityRow).where(*where)).first()
        if row is None:
            self._insert_ignoring_conflict(
                CommunityRow,
                {"platform": ref.platform, "external_id": ref.id, "name": ref.name[:200]},
            )
            row = self.session.exec(select(CommunityRow).where(*where)).one()
        assert row.id is not None
        return Community(row.id, row.platform, row.external_id, row.name)

    def find_community(self, ref: CommunityRef) -> Community | None:
        where = (CommunityRow.platform == ref.platform, CommunityRow.external_id == ref.id)
        row = self.session.exec(select(CommunityRow).where(*where)).first()
        if row is None:
            return None
        assert row.id is not None
        return Community(row.id, row.platform, row.external_id, row.name)

    def find_member(self, community: Community, external_id: str) -> Member | None:
        where = (MemberRow.community_id == community.id, MemberRow.external_id == external_id)
        row = self.session.exec(select(MemberRow).where(*where)).first()
        return self._member_from_row(row) if row else None

    def member(self, community: Community, ref: MemberRef) -> Member:
        where = (MemberRow.community_id == community.id, MemberRow.external_id == ref.id)
        row = self.session.exec(select(MemberRow).where(*where)).first()
        if row is None:
            self._insert_ignoring_conflict(
                MemberRow,
                {
                    "community_id": community.id,
                    "external_id": ref.id,
                    "display_name": ref.display[:200],
                },
            )
            row = self.session.exec(select(MemberRow).where(*where)).one()
        elif ref.name and row.display_name != ref.name[:200]:
            row.display_name = ref.name[:200]
            self.session.add(row)
        member = self._member_from_row(row)
        member.display_name = row.display_name
        return member

    def set_member_tz(self, member: Member, tz: str) -> None:
        row = self.session.get(MemberRow, member.id)
        assert row is not None
        row.tz = member.tz = tz
        self.session.add(row)

    def add_action(self, action: Action) -> Action:
        # The UPDATE takes the community row's lock, so concurrent creators get distinct numbers.
        number = self.session.execute(
            update(CommunityRow)
            .where(col(CommunityRow.id) == action.community_id)
            .values(next_number=CommunityRow.next_number + 1)
            .returning(col(CommunityRow.next_number))
        ).scalar_one()
        action.number = number - 1
        row = ActionRow(
            community_id=action.community_id,
            number=action.number,
            kind=action.kind.value,
            title=action.title,
            body=action.body,
            channel_id=action.channel_id,
            creator_id=action.creator.id,
            state=action.state.value,
            need=action.need,
            due_at=action.due_at,
            created_at=action.created_at,
            source_message_id=action.source_message_id,
            card_message_id=action.card_message_id,
            thread_id=action.thread_id,
        )
        self.session.add(row)
        self.session.flush()
        action.id = row.id
        return action

    def get_action(self, community_id: int, number: int) -> Action | None:
        return self._one_action(ActionRow.community_id == community_id, ActionRow.number == number)

    def action_by_message(
        self, community_id: int, channel_id: str, message_id: str
    ) -> Action | None:
        return self._one_action(
            ActionRow.community_id == community_id,
            ActionRow.channel_id == channel_id,
            or_(
                col(ActionRow.source_message_id) == message_id,
                col(ActionRow.card_message_id) == message_id,
            ),
        )

    def action_by_id(self, action_id: int) -> Action | None:
        row = self.session.get(ActionRow, action_id)
        return self._action_from_row(row) if row else None

    def card_shown(self, action_id: int) -> tuple[str | None, str | None]:
        row = self.session.execute(
            select(col(ActionRow.card_message_id), col(ActionRow.card_digest)).where(
                col(ActionRow.id) == action_id
            )
        ).one()
        return row[0], row[1]

    def set_card_shown(self, action_id: int, message_id: str, digest: str) -> None:
        self.session.execute(
            update(ActionRow)
            .where(col(ActionRow.id) == action_id)
            .values(card_message_id=message_id, card_digest=digest)
        )

    def save_action(self, action: Action) -> None:
        row = self.session.get(ActionRow, action.id)
        assert row is not None and action.id is not None
        row.title, row.body, row.state = action.title, action.body, action.state.value
        row.need, row.due_at = action.need, action.due_at
        self.session.add(row)
        added: list[tuple[Commitment, CommitmentRow]] = []
        for c in action.commitments:
            crow = None
            if c.id is not None:
                crow = self._commitment_rows.get(c.id) or self.session.get(CommitmentRow, c.id)
            values = (c.status.value, c.via.value, c.seq, c.at)
            if crow is None:
                crow = CommitmentRow(
                    action_id=action.id, member_id=c.member.id, status="", via="", seq=0, at=c.at
                )
                added.append((c, crow))
            elif (crow.status, crow.via, crow.seq, crow.at) == values:
                continue
            crow.status, crow.via, crow.seq, crow.at = values
            self.session.add(crow)
        # One flush for the lot, then the new rows have their ids.
        self.session.flush()
        for c, crow in added:
            assert crow.id is not None
            c.id = crow.id
            self._commitment_rows[crow.id] = crow

    def open_actions(self, community_id: int, channel_id: str | None = None) -> list[Action]:
        query = select(ActionRow).where(
            ActionRow.community_id == community_id, ActionRow.state == ActionState.OPEN.value
        )
        if channel_id is not None:
            query = query.where(ActionRow.channel_id == channel_id)
        rows = self.session.exec(query.order_by(col(ActionRow.number))).all()
        return [self._action_from_row(r) for r in rows]

    def open_actions_of(self, member: Member) -> list[Action]:
        rows = self.session.exec(
            select(ActionRow)
            .join(CommitmentRow, col(CommitmentRow.action_id) == col(ActionRow.id))
            .where(
                CommitmentRow.member_id == member.id,
                col(CommitmentRow.status).in_(_OPEN_STATUSES),
                ActionRow.state == ActionState.OPEN.value,
            )
            .order_by(col(ActionRow.number))
        ).all()
        return [self._action_from_row(r) for r in rows]

    def audit(self, entry: AuditEntry) -> None:
        self.session.add(
            AuditRow(
                community_id=entry.community_id,
                action_id=entry.action_id,
                actor_id=entry.actor_id,
                kind=entry.kind,
                via=entry.via.value,
                detail=entry.detail,
                at=entry.at,
            )
        )

    def audit_log(self, community_id: int) -> list[AuditEntry]:
        rows = self.session.exec(
            select(AuditRow).where(AuditRow.community_id == community_id).order_by(col(AuditRow.id))
        ).all()
        return [
            AuditEntry(r.community_id, r.kind, Via(r.via), r.at, r.actor_id, r.action_id, r.detail)
            for r in rows
        ]

    def export(self) -> Iterator[ExportRow]:
        communities = {
            r.id: Community(r.id, r.platform, r.external_id, r.name)
            for r in self.session.exec(select(CommunityRow)).all()
            if r.id is not None
        }
        rows = self.session.exec(
            select(ActionRow).order_by(col(ActionRow.community_id), col(ActionRow.number))
        )
        for row in rows.all():
            yield ExportRow(communities[row.community_id], self._action_from_row(row))

    def count(self, model: type[SQLModel]) -> int:
        """Rows in a table; for tests and health checks."""
        return int(self.session.exec(select(func.count()).select_from(model)).one())
