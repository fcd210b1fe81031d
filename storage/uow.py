"""The SQL unit of work: the core's store port over SQLModel sessions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    Engine,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, col

from bot.errors import StoreUnavailable
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    CalendarFeed,
    Commitment,
    CommitmentStatus,
    Community,
    Drive,
    Member,
    Role,
    Series,
    SeriesState,
    Via,
)
from bot.pledges import Pledge
from bot.ports import AuditEntry, ExportRow
from bot.refs import CommunityRef, MemberRef
from storage.db import is_transient
from storage.queues import SqlInbox, SqlOutbox
from storage.schedules import SqlSchedules
from storage.tables import (
    ActionRow,
    AuditRow,
    CalendarFeedRow,
    CommitmentRow,
    CommunityRow,
    MemberRow,
    RoleRow,
    SeriesRow,
)

_OPEN_STATUSES = (CommitmentStatus.COMMITTED.value, CommitmentStatus.WAITLISTED.value)
_EXPORT_CHUNK = 500

# The hot paths read columns with SQLAlchemy Core: building ORM objects for every row was
# most of a join's time on a card with many people.
_A: Table = ActionRow.__table__  # type: ignore[attr-defined]
_C: Table = CommitmentRow.__table__  # type: ignore[attr-defined]
_M: Table = MemberRow.__table__  # type: ignore[attr-defined]
_CO: Table = CommunityRow.__table__  # type: ignore[attr-defined]
_R: Table = RoleRow.__table__  # type: ignore[attr-defined]
_SE: Table = SeriesRow.__table__  # type: ignore[attr-defined]
_F: Table = CalendarFeedRow.__table__  # type: ignore[attr-defined]
_MEMBER_COLUMNS = (
    _M.c.id.label("m_id"),
    _M.c.community_id.label("m_community"),
    _M.c.external_id.label("m_ext"),
    _M.c.display_name.label("m_name"),
    _M.c.tz.label("m_tz"),
    _M.c.platform_tz.label("m_ptz"),
)
_COMMITMENT_COLUMNS = (
    _C.c.id.label("c_id"),
    _C.c.action_id,
    _C.c.status,
    _C.c.via,
    _C.c.seq,
    _C.c.at,
    _C.c.amount,
    _C.c.if_others,
    _C.c.if_needs,
    _C.c.checkin,
    _C.c.role.label("c_role"),
    _C.c.confirm_by.label("c_confirm_by"),
)
_ROLE_COLUMNS = (
    _R.c.id.label("r_id"),
    _R.c.position.label("r_position"),
    _R.c.name.label("r_name"),
    _R.c.need.label("r_need"),
    _R.c.emoji.label("r_emoji"),
    _R.c.in_count.label("r_in"),
    _R.c.waiting_count.label("r_waiting"),
)
# A recurring task's series, read with each of its occurrences (a join on its primary key).
_SERIES_COLUMNS = (
    _SE.c.channel_id.label("se_channel"),
    _SE.c.creator_id.label("se_creator"),
    _SE.c.rule.label("se_rule"),
    _SE.c.tz.label("se_tz"),
    _SE.c.carry.label("se_carry"),
    _SE.c.state.label("se_state"),
    _SE.c.created_at.label("se_created"),
    _SE.c.stopped_at.label("se_stopped"),
    _SE.c.remind.label("se_remind"),
)
# An action with its creator and its roles, in one query: a row per role (one without any),
# so a join on a task with roles reads no more statements than on one without.
_ACTION = (
    select(_A, *_MEMBER_COLUMNS, *_ROLE_COLUMNS, *_SERIES_COLUMNS)
    .join(_M, _M.c.id == _A.c.creator_id)
    .outerjoin(_R, _R.c.action_id == _A.c.id)
    .outerjoin(_SE, _SE.c.id == _A.c.series_id)
)
_COMMITMENT = select(*_COMMITMENT_COLUMNS)
_PEOPLE = select(*_COMMITMENT_COLUMNS, *_MEMBER_COLUMNS).join(_M, _M.c.id == _C.c.member_id)


_AUDIT = insert(AuditRow.__table__)  # type: ignore[attr-defined]
_FIND_COMMUNITY = select(_CO.c.id, _CO.c.name).where(
    _CO.c.platform == bindparam("platform"), _CO.c.external_id == bindparam("external_id")
)
_FIND_MEMBER = select(_M.c.id, _M.c.display_name, _M.c.tz, _M.c.platform_tz).where(
    _M.c.community_id == bindparam("community_id"), _M.c.external_id == bindparam("external_id")
)
_ACTION_READ = _ACTION.where(
    _A.c.community_id == bindparam("community_id"), _A.c.number == bindparam("number")
)
# Locked FOR UPDATE OF the action's row only: the creator's member row stays free for others.
_ACTION_BY_NUMBER = _ACTION_READ.with_for_update(of=_A)
_ACTION_BY_MESSAGE = _ACTION.where(
    _A.c.community_id == bindparam("community_id"),
    _A.c.channel_id == bindparam("channel_id"),
    or_(
        _A.c.source_message_id == bindparam("message_id"),
        _A.c.card_message_id == bindparam("message_id"),
    ),
).with_for_update(of=_A)
_NEW_COMMITMENT = insert(_C).returning(_C.c.id)
_ACTION_BY_ID = _ACTION.where(_A.c.id == bindparam("action_id"))
# From the roles (only tasks with roles have any) to their action and community, each on its
# primary key; run once per adapter start.
_OPEN_ROLE_EMOJI = (
    select(_R.c.emoji)
    .distinct()
    .join(_A, _A.c.id == _R.c.action_id)
    .join(_CO, _CO.c.id == _A.c.community_id)
    .where(
        _CO.c.platform == bindparam("platform"),
        _A.c.state == ActionState.OPEN.value,
        _R.c.emoji != "",
    )
)
_LOCKED_ACTION = _ACTION_BY_ID.with_for_update(of=_A)
_COMMITMENT_OF = _COMMITMENT.where(
    _C.c.action_id == bindparam("action_id"), _C.c.member_id == bindparam("member_id")
)


def _saving(table: Table, key: str, *names: str) -> Update:
    """UPDATE `table` SET each of `names` WHERE id = :`key`, built once (building a statement
    on every event cost more than running it)."""
    columns = {name: bindparam(name, type_=table.c[name].type) for name in names}
    return update(table).where(table.c.id == bindparam(key)).values(**columns)


_SAVE_ACTION = _saving(
    _A,
    "action_id",
    "title",
    "body",
    "state",
    "need",
    "due_at",
    "in_count",
    "waiting_count",
    "last_seq",
    "overdue",
    "closes_at",
    "maybe_count",
)
_SAVE_COMMITMENT = _saving(
    _C,
    "commitment_id",
    "status",
    "via",
    "seq",
    "at",
    "amount",
    "if_others",
    "if_needs",
    "checkin",
    "role",
    "confirm_by",
)
_PLEDGES = select(_C.c.member_id, _C.c.amount, _C.c.if_others, _C.c.if_needs).where(
    _C.c.action_id == bindparam("action_id"),
    _C.c.status.in_((CommitmentStatus.COMMITTED.value, CommitmentStatus.DONE.value)),
)
_SAVE_ROLE = (
    update(_R)
    .where(_R.c.id == bindparam("role_id"))
    .values(in_count=bindparam("in_count"), waiting_count=bindparam("waiting"))
)
_SAVE_DRIVE = _saving(_A, "action_id", "due_at", "extended", "tipped_at", "task_number")


def _drive(m: Any) -> Drive:
    return Drive(
        goal=m["goal"] or 1,
        unit=m["unit"],
        sealed=bool(m["sealed"]),
        task_due_at=m["task_due_at"],
        extended=bool(m["extended"]),
        tipped_at=m["tipped_at"],
        task_number=m["task_number"],
    )


def _offsets(text: str) -> tuple[timedelta, ...]:
    """A series' reminder offsets as stored ("86400,3600"; "" for none)."""
    return tuple(timedelta(seconds=int(s)) for s in text.split(",") if s)


def _offsets_text(offsets: tuple[timedelta, ...] | None) -> str | None:
    if offsets is None:
        return None
    return ",".join(str(int(o.total_seconds())) for o in offsets)


def _drive_values(drive: Drive | None) -> dict[str, Any]:
    if drive is None:
        return {}
    return {
        "goal": drive.goal,
        "unit": drive.unit,
        "sealed": drive.sealed,
        "task_due_at": drive.task_due_at,
        "extended": drive.extended,
        "tipped_at": drive.tipped_at,
        "task_number": drive.task_number,
    }


class SqlUnitOfWork:
    """One database transaction; rolls back unless `commit()` was called."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.session = Session(engine, expire_on_commit=False)
        self.inbox = SqlInbox(self.session)
        self.outbox = SqlOutbox(self.session)
        self.schedules = SqlSchedules(self.session, engine.dialect.name, self._members_by_id)
        self._members: dict[int, Member] = {}
        # Each loaded role's counts as read: saving an action writes only the roles that moved.
        self._role_saved: dict[int, tuple[int, int]] = {}

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

    def _member(
        self,
        id_: int,
        community_id: int,
        external_id: str,
        name: str,
        tz: str | None,
        platform_tz: str | None = None,
    ) -> Member:
        member = self._members.get(id_)
        if member is None:
            member = Member(id_, community_id, external_id, name, tz, platform_tz)
            self._members[id_] = member
        return member

    def _member_of(self, row: Row[Any]) -> Member:
        """The member in a row with `_MEMBER_COLUMNS`."""
        m = row._mapping
        return self._member(
            m["m_id"], m["m_community"], m["m_ext"], m["m_name"], m["m_tz"], m["m_ptz"]
        )

    def _members_by_id(self, ids: Iterable[int]) -> dict[int, Member]:
        wanted = set(ids)
        found = {i: self._members[i] for i in wanted if i in self._members}
        missing = wanted - set(found)
        if missing:
            query = select(*_MEMBER_COLUMNS).where(_M.c.id.in_(sorted(missing)))
            for row in self.session.execute(query):
                member = self._member_of(row)
                found[member.id] = member
        return found

    def _action(self, row: Row[Any]) -> Action:
        """An action from a row of `_ACTION` (its columns and its creator's)."""
        m = row._mapping
        creator = self._member_of(row)
        return Action(
            id=m["id"],
            community_id=m["community_id"],
            number=m["number"],
            kind=ActionKind(m["kind"]),
            title=m["title"],
            body=m["body"],
            channel_id=m["channel_id"],
            creator=creator,
            created_at=m["created_at"],
            state=ActionState(m["state"]),
            need=m["need"],
            due_at=m["due_at"],
            source_message_id=m["source_message_id"],
            card_message_id=m["card_message_id"],
            thread_id=m["thread_id"],
            in_count=m["in_count"],
            waiting_count=m["waiting_count"],
            last_seq=m["last_seq"],
            overdue=bool(m["overdue"]),
            closes_at=m["closes_at"],
            maybe_count=m["maybe_count"],
            drive=_drive(m) if m["kind"] == ActionKind.PLEDGE.value else None,
            series=self._series(m, creator) if m["series_id"] is not None else None,
        )

    def _series(self, m: Any, creator: Member) -> Series:
        """The series of an occurrence, from its row's `_SERIES_COLUMNS`."""
        if m["se_creator"] != creator.id:
            creator = self._members_by_id([m["se_creator"]])[m["se_creator"]]
        remind = m["se_remind"]
        return Series(
            id=m["series_id"],
            community_id=m["community_id"],
            channel_id=m["se_channel"],
            creator=creator,
            rule=m["se_rule"],
            tz=m["se_tz"],
            created_at=m["se_created"],
            carry=bool(m["se_carry"]),
            state=SeriesState(m["se_state"]),
            stopped_at=m["se_stopped"],
            remind=_offsets(remind) if remind is not None else None,
        )

    def _commitment(self, row: Row[Any], member: Member) -> Commitment:
        m = row._mapping
        return Commitment(
            id=m["c_id"],
            member=member,
            status=CommitmentStatus(m["status"]),
            via=Via(m["via"]),
            seq=m["seq"],
            at=m["at"],
            amount=m["amount"],
            if_others=m["if_others"],
            if_needs=tuple(int(i) for i in m["if_needs"].split(",") if i),
            checkin=m["checkin"],
            role=m["c_role"],
            confirm_by=m["c_confirm_by"],
        )

    def _actions(self, query: Select[Any], *params: dict[str, Any]) -> list[Action]:
        return [a for a, _ in self._grouped(self.session.execute(query, *params))]

    def _one(self, query: Select[Any], params: dict[str, Any]) -> Action | None:
        found = self._actions(query, params)
        return found[0] if found else None

    def _grouped(self, rows: Iterable[Row[Any]]) -> list[tuple[Action, Row[Any]]]:
        """Actions from rows of `_ACTION` (a row per role), each with its first row."""
        found: dict[int, tuple[Action, Row[Any]]] = {}
        for row in rows:
            m = row._mapping
            if m["id"] not in found:
                found[m["id"]] = (self._action(row), row)
            if m["r_id"] is not None:
                action = found[m["id"]][0]
                action.roles.append(
                    Role(
                        id=m["r_id"],
                        name=m["r_name"],
                        position=m["r_position"],
                        need=m["r_need"],
                        emoji=m["r_emoji"],
                        in_count=m["r_in"],
                        waiting_count=m["r_waiting"],
                    )
                )
                self._role_saved[m["r_id"]] = (m["r_in"], m["r_waiting"])
        for action, _ in found.values():
            action.roles.sort(key=lambda r: r.position)
        return list(found.values())

    # --- the port ---------------------------------------------------------------------------

    def community(self, ref: CommunityRef) -> Community:
        found = self.find_community(ref)
        if found is not None:
            return found
        self._insert_ignoring_conflict(
            CommunityRow, {"platform": ref.platform, "external_id": ref.id, "name": ref.name[:200]}
        )
        found = self.find_community(ref)
        assert found is not None
        return found

    def find_community(self, ref: CommunityRef) -> Community | None:
        row = self.session.execute(
            _FIND_COMMUNITY, {"platform": ref.platform, "external_id": ref.id}
        ).first()
        return Community(row.id, ref.platform, ref.id, row.name) if row else None

    def find_member(self, community: Community, external_id: str) -> Member | None:
        row = self.session.execute(
            _FIND_MEMBER, {"community_id": community.id, "external_id": external_id}
        ).first()
        if row is None:
            return None
        return self._member(
            row.id, community.id, external_id, row.display_name, row.tz, row.platform_tz
        )

    def known_member(self, ref: MemberRef) -> Member | None:
        row = self.session.execute(
            select(*_MEMBER_COLUMNS)
            .join(_CO, _CO.c.id == _M.c.community_id)
            .where(
                _CO.c.platform == ref.community.platform,
                _CO.c.external_id == ref.community.id,
                _M.c.external_id == ref.id,
            )
        ).first()
        return self._member_of(row) if row is not None else None

    def member(self, community: Community, ref: MemberRef) -> Member:
        found = self.find_member(community, ref.id)
        if found is None:
            self._insert_ignoring_conflict(
                MemberRow,
                {
                    "community_id": community.id,
                    "external_id": ref.id,
                    "display_name": ref.display[:200],
                    "platform_tz": ref.tz,
                },
            )
            found = self.find_member(community, ref.id)
            assert found is not None
            return found
        changed: dict[str, Any] = {}
        if ref.name and found.display_name != ref.name[:200]:
            found.display_name = changed["display_name"] = ref.name[:200]
        if ref.tz and found.platform_tz != ref.tz:
            found.platform_tz = changed["platform_tz"] = ref.tz
        if changed:
            self.session.execute(update(_M).where(_M.c.id == found.id).values(**changed))
        return found

    def community_by_id(self, community_id: int) -> Community:
        row = self.session.execute(select(_CO).where(_CO.c.id == community_id)).one()
        return Community(row.id, row.platform, row.external_id, row.name)

    def set_member_tz(self, member: Member, tz: str) -> None:
        self.session.execute(update(_M).where(_M.c.id == member.id).values(tz=tz))
        member.tz = tz

    def add_action(self, action: Action) -> Action:
        # The UPDATE takes the community row's lock, so concurrent creators get distinct numbers.
        number = self.session.execute(
            update(_CO)
            .where(_CO.c.id == action.community_id)
            .values(next_number=_CO.c.next_number + 1)
            .returning(_CO.c.next_number)
        ).scalar_one()
        action.number = number - 1
        action.id = self.session.execute(
            insert(_A)
            .values(
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
                in_count=action.in_count,
                waiting_count=action.waiting_count,
                last_seq=action.last_seq,
                closes_at=action.closes_at,
                maybe_count=action.maybe_count,
                series_id=action.series.id if action.series is not None else None,
                **_drive_values(action.drive),
            )
            .returning(_A.c.id)
        ).scalar_one()
        return action

    def get_action(self, community_id: int, number: int) -> Action | None:
        found = {"community_id": community_id, "number": number}
        return self._one(_ACTION_BY_NUMBER, found)

    def action_by_message(
        self, community_id: int, channel_id: str, message_id: str
    ) -> Action | None:
        found = {"community_id": community_id, "channel_id": channel_id, "message_id": message_id}
        return self._one(_ACTION_BY_MESSAGE, found)

    def action_by_id(self, action_id: int) -> Action | None:
        action = self._one(_ACTION_BY_ID, {"action_id": action_id})
        if action is None:
            return None
        self.load_people([action])
        return action

    def read_action(self, community_id: int, number: int) -> Action | None:
        action = self._one(_ACTION_READ, {"community_id": community_id, "number": number})
        if action is not None:
            self.load_people([action])
        return action

    def load_people(self, actions: Sequence[Action], withdrawn: bool = False) -> None:
        by_id = {a.id: a for a in actions}
        for a in actions:
            a.commitments = []
        if not by_id:
            return
        query = _PEOPLE.where(_C.c.action_id.in_(list(by_id)))
        if not withdrawn:
            query = query.where(_C.c.status != CommitmentStatus.WITHDRAWN.value)
        for row in self.session.execute(query.order_by(_C.c.action_id, _C.c.seq)):
            member = self._member_of(row)
            by_id[row._mapping["action_id"]].commitments.append(self._commitment(row, member))

    def commitment(self, action: Action, member: Member) -> Commitment | None:
        row = self.session.execute(
            _COMMITMENT_OF, {"action_id": action.id, "member_id": member.id}
        ).first()
        return self._commitment(row, member) if row else None

    def first_waiting(self, action: Action, role: str | None = None) -> Commitment | None:
        row = self.session.execute(
            _PEOPLE.where(
                _C.c.action_id == action.id,
                _C.c.role.is_(None) if role is None else _C.c.role == role,
                _C.c.status == CommitmentStatus.WAITLISTED.value,
            )
            .order_by(_C.c.seq)
            .limit(1)
        ).first()
        return self._commitment(row, self._member_of(row)) if row is not None else None

    def save_commitment(self, action: Action, commitment: Commitment) -> None:
        values = {
            "status": commitment.status.value,
            "via": commitment.via.value,
            "seq": commitment.seq,
            "at": commitment.at,
            "amount": commitment.amount,
            "if_others": commitment.if_others,
            "if_needs": ",".join(str(i) for i in commitment.if_needs),
            "checkin": commitment.checkin,
            "role": commitment.role,
            "confirm_by": commitment.confirm_by,
        }
        if commitment.id is not None:
            self.session.execute(_SAVE_COMMITMENT, {"commitment_id": commitment.id, **values})
            return
        new = {"action_id": action.id, "member_id": commitment.member.id, **values}
        commitment.id = self.session.execute(_NEW_COMMITMENT, new).scalar_one()

    def card_shown(self, action_id: int) -> tuple[str | None, str | None]:
        row = self.session.execute(
            select(_A.c.card_message_id, _A.c.card_digest).where(_A.c.id == action_id)
        ).one()
        return row[0], row[1]

    def set_card_shown(self, action_id: int, message_id: str, digest: str) -> None:
        self.session.execute(
            update(_A)
            .where(_A.c.id == action_id)
            .values(card_message_id=message_id, card_digest=digest)
        )

    def save_action(self, action: Action) -> None:
        assert action.id is not None
        values = {
            "action_id": action.id,
            "title": action.title,
            "body": action.body,
            "state": action.state.value,
            "need": action.need,
            "due_at": action.due_at,
            "in_count": action.in_count,
            "waiting_count": action.waiting_count,
            "last_seq": action.last_seq,
            "overdue": action.overdue,  # an edit moving the due time later clears it
            "closes_at": action.closes_at,
            "maybe_count": action.maybe_count,
        }
        self.session.execute(_SAVE_ACTION, values)
        self._save_roles(action)

    def _save_roles(self, action: Action) -> None:
        """Insert an action's new roles; write the counts of those that changed."""
        changed = []
        for role in action.roles:
            counts = (role.in_count, role.waiting_count)
            if role.id is None:
                role.id = self.session.execute(
                    insert(_R)
                    .values(
                        action_id=action.id,
                        position=role.position,
                        name=role.name,
                        need=role.need,
                        emoji=role.emoji,
                        in_count=role.in_count,
                        waiting_count=role.waiting_count,
                    )
                    .returning(_R.c.id)
                ).scalar_one()
            elif self._role_saved.get(role.id) != counts:
                changed.append({"role_id": role.id, "in_count": counts[0], "waiting": counts[1]})
            else:
                continue
            self._role_saved[role.id] = counts
        if changed:
            self.session.execute(_SAVE_ROLE, changed)

    def pledges(self, action: Action) -> list[Pledge]:
        rows = self.session.execute(_PLEDGES, {"action_id": action.id})
        return [
            Pledge(
                r.member_id,
                r.amount,
                r.if_others,
                frozenset(int(i) for i in r.if_needs.split(",") if i),
            )
            for r in rows
        ]

    def save_drive(self, action: Action) -> None:
        """Save what changes on a drive as it runs: its deadline and how it ended."""
        drive = action.drive
        assert action.id is not None and drive is not None
        values = {
            "action_id": action.id,
            "due_at": action.due_at,
            "extended": drive.extended,
            "tipped_at": drive.tipped_at,
            "task_number": drive.task_number,
        }
        self.session.execute(_SAVE_DRIVE, values)

    def locked_action(self, action_id: int) -> Action | None:
        return self._one(_LOCKED_ACTION, {"action_id": action_id})

    def set_overdue(self, action: Action) -> None:
        action.overdue = True
        self.session.execute(update(_A).where(_A.c.id == action.id).values(overdue=True))

    def open_actions(self, community_id: int, channel_id: str | None = None) -> list[Action]:
        query = _ACTION.where(
            _A.c.community_id == community_id, _A.c.state == ActionState.OPEN.value
        )
        if channel_id is not None:
            query = query.where(_A.c.channel_id == channel_id)
        # Soonest due first; those without a due time last (NULLs sort differently by backend).
        order = (_A.c.due_at.is_(None), _A.c.due_at, _A.c.number)
        return self._actions(query.order_by(*order))

    def open_actions_of(self, member: Member) -> list[tuple[Action, Commitment]]:
        query = (
            _ACTION.add_columns(*_COMMITMENT_COLUMNS)
            .join(_C, _C.c.action_id == _A.c.id)
            .where(
                _C.c.member_id == member.id,
                _C.c.status.in_(_OPEN_STATUSES),
                _A.c.state == ActionState.OPEN.value,
            )
            .order_by(_A.c.number)
        )
        return [
            (action, self._commitment(row, member))
            for action, row in self._grouped(self.session.execute(query))
        ]

    def open_role_emoji(self, platform: str) -> set[str]:
        return set(self.session.scalars(_OPEN_ROLE_EMOJI, {"platform": platform}))

    # --- recurring tasks ----------------------------------------------------------------------

    def add_series(self, series: Series, first: Action) -> Series:
        series.id = self.session.execute(
            insert(_SE)
            .values(
                community_id=series.community_id,
                channel_id=series.channel_id,
                creator_id=series.creator.id,
                rule=series.rule,
                tz=series.tz,
                carry=series.carry,
                state=series.state.value,
                created_at=series.created_at,
                stopped_at=series.stopped_at,
                remind=_offsets_text(series.remind),
            )
            .returning(_SE.c.id)
        ).scalar_one()
        self.session.execute(update(_A).where(_A.c.id == first.id).values(series_id=series.id))
        first.series = series
        return series

    def save_series(self, series: Series) -> None:
        self.session.execute(
            update(_SE)
            .where(_SE.c.id == series.id)
            .values(state=series.state.value, stopped_at=series.stopped_at)
        )

    def open_in_series(self, series: Series) -> list[Action]:
        query = _ACTION.where(
            _A.c.series_id == series.id, _A.c.state == ActionState.OPEN.value
        ).order_by(_A.c.number)
        return self._actions(query)

    # --- calendar feeds -----------------------------------------------------------------------

    def dated_commitments(self, member: Member, since: datetime) -> list[tuple[Action, Commitment]]:
        query = (
            _ACTION.add_columns(*_COMMITMENT_COLUMNS)
            .join(_C, _C.c.action_id == _A.c.id)
            .where(
                _C.c.member_id == member.id,
                _C.c.status != CommitmentStatus.WITHDRAWN.value,
                _A.c.kind == ActionKind.TASK.value,
                _A.c.due_at >= since,
            )
            .order_by(_A.c.due_at, _A.c.number)
        )
        return [
            (action, self._commitment(row, member))
            for action, row in self._grouped(self.session.execute(query))
        ]

    def add_feed(self, feed: CalendarFeed, token_hash: str) -> CalendarFeed:
        feed.id = self.session.execute(
            insert(_F)
            .values(
                community_id=feed.community_id,
                member_id=feed.member.id,
                channel_id=feed.channel_id,
                token_hash=token_hash,
                created_at=feed.created_at,
            )
            .returning(_F.c.id)
        ).scalar_one()
        return feed

    def _feeds_of(self, member: Member, channel_id: str | None) -> Any:
        return (
            _F.c.community_id == member.community_id,
            _F.c.member_id == member.id,
            _F.c.channel_id.is_(None) if channel_id is None else _F.c.channel_id == channel_id,
            _F.c.revoked_at.is_(None),
        )

    def active_feed(self, member: Member, channel_id: str | None) -> CalendarFeed | None:
        row = self.session.execute(
            select(_F).where(*self._feeds_of(member, channel_id)).order_by(_F.c.id).limit(1)
        ).first()
        return self._feed(row, member) if row is not None else None

    def revoke_feeds(self, member: Member, channel_id: str | None, now: datetime) -> int:
        done = self.session.execute(
            update(_F)
            .where(*self._feeds_of(member, channel_id))
            .values(revoked_at=now)
            .returning(_F.c.id)
        )
        return len(done.all())

    def feed(self, token_hash: str) -> CalendarFeed | None:
        row = self.session.execute(
            select(_F).where(_F.c.token_hash == token_hash, _F.c.revoked_at.is_(None))
        ).first()
        if row is None or row.member_id is None:
            return None
        member = self._members_by_id([row.member_id])[row.member_id]
        return self._feed(row, member)

    def _feed(self, row: Row[Any], member: Member) -> CalendarFeed:
        return CalendarFeed(
            id=row.id,
            community_id=row.community_id,
            member=member,
            channel_id=row.channel_id,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        nested = self.session.begin_nested()
        try:
            yield
        except BaseException as exc:
            nested.rollback()
            # Members added in the undone part may have had their ids given out again.
            self._members.clear()
            if isinstance(exc, Exception) and is_transient(exc):
                # The whole transaction is to be tried again, not this part answered.
                raise StoreUnavailable(str(getattr(exc, "orig", exc))) from exc
            raise
        nested.commit()

    def audit(self, entry: AuditEntry) -> None:
        values = {
            "community_id": entry.community_id,
            "action_id": entry.action_id,
            "actor_id": entry.actor_id,
            "kind": entry.kind,
            "via": entry.via.value,
            "detail": entry.detail,
            "at": entry.at,
        }
        self.session.execute(_AUDIT, values)

    def audit_log(self, community_id: int) -> list[AuditEntry]:
        rows = self.session.scalars(
            select(AuditRow)
            .where(col(AuditRow.community_id) == community_id)
            .order_by(col(AuditRow.id))
        ).all()
        return [
            AuditEntry(r.community_id, r.kind, Via(r.via), r.at, r.actor_id, r.action_id, r.detail)
            for r in rows
        ]

    def export(self) -> Iterator[ExportRow]:
        communities = {
            r.id: Community(r.id, r.platform, r.external_id, r.name)
            for r in self.session.execute(select(_CO))
        }
        actions = self._actions(_ACTION.order_by(_A.c.community_id, _A.c.number))
        for start in range(0, len(actions), _EXPORT_CHUNK):
            chunk = actions[start : start + _EXPORT_CHUNK]
            self.load_people(chunk, withdrawn=True)
            for action in chunk:
                yield ExportRow(communities[action.community_id], action)

    def count(self, model: type[SQLModel]) -> int:
        """Rows in a table; for tests and health checks."""
        return int(self.session.execute(select(func.count()).select_from(model)).scalar_one())
