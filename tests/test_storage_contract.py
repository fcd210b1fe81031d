"""The store port's contract, run on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import partial

from bot.model import Action, ActionKind, ActionState, Commitment, CommitmentStatus, Member, Via
from bot.ports import AuditEntry
from bot.refs import CommunityRef, MemberRef
from storage.db import make_engine
from storage.migrate import current_revision, upgrade
from storage.tables import ActionRow, CommunityRow, MemberRow
from storage.uow import SqlUnitOfWork

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TEAM = CommunityRef("slack", "T1", "Team")


def _engine(url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    upgrade(engine)
    return engine


def _new_task(uow: SqlUnitOfWork, title: str = "Sweep", need: int | None = None) -> Action:
    community = uow.community(TEAM)
    creator = uow.member(community, MemberRef(TEAM, "U1", "Ana"))
    return uow.add_action(
        Action(community.id, 0, ActionKind.TASK, title, title, "C1", creator, NOW, need=need)
    )


def _join(uow: SqlUnitOfWork, action: Action, member: Member, via: Via = Via.COMMAND) -> Commitment:
    """What the join use case does to the store: the joiner's commitment and the counts."""
    commitment = action.join(member, uow.commitment(action, member), via, NOW)
    assert commitment is not None
    uow.save_commitment(action, commitment)
    uow.save_action(action)
    return commitment


def test_migrations_are_idempotent_and_reach_head(database_url: str) -> None:
    engine = _engine(database_url)
    upgrade(engine)
    assert current_revision(engine) == "0008"


def test_community_and_member_are_created_once_and_names_refresh(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        first = uow.community(TEAM)
        assert uow.community(TEAM).id == first.id
        uow.member(first, MemberRef(TEAM, "U1", "Ana"))
        renamed = uow.member(first, MemberRef(TEAM, "U1", "Ana B."))
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.count(CommunityRow) == 1 and uow.count(MemberRow) == 1
        assert (
            uow.member(first, MemberRef(TEAM, "U1")).display_name
            == "Ana B."
            == renamed.display_name
        )


def test_uncommitted_work_is_rolled_back(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        _new_task(uow)
    with SqlUnitOfWork(engine) as uow:
        assert uow.count(ActionRow) == 0


def test_actions_are_numbered_per_community_and_round_trip(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        a = _new_task(uow, "One", need=2)
        b = _new_task(uow, "Two")
        other = uow.community(CommunityRef("discord", "G1"))
        zoe = uow.member(other, MemberRef(CommunityRef("discord", "G1"), "Z"))
        c = uow.add_action(Action(other.id, 0, ActionKind.TASK, "T", "T", "C", zoe, NOW))
        _join(uow, a, uow.member(uow.community(TEAM), MemberRef(TEAM, "U2", "Bo")), Via.BUTTON)
        a.due_at = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
        uow.save_action(a)
        assert a.id is not None
        uow.set_card_shown(a.id, "1700000000.000100", "digest")
        uow.commit()
    assert (a.number, b.number, c.number) == (1, 2, 1)
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.get_action(a.community_id, 1)
        assert loaded is not None
        assert loaded.due_at == datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
        assert (loaded.in_count, loaded.waiting_count, loaded.last_seq) == (1, 0, 1)
        assert loaded.commitments == [], "people are loaded only when asked for"
        uow.load_people([loaded])
        assert [(x.member.external_id, x.status, x.via) for x in loaded.commitments] == [
            ("U2", CommitmentStatus.COMMITTED, Via.BUTTON)
        ]
        by_card = uow.action_by_message(a.community_id, "C1", "1700000000.000100")
        assert by_card is not None and by_card.number == 1
        assert uow.card_shown(a.id) == ("1700000000.000100", "digest")
        assert uow.action_by_message(a.community_id, "C1", "nope") is None
        # Slack's ts is unique only within a channel.
        assert uow.action_by_message(a.community_id, "C2", "1700000000.000100") is None


def test_open_actions_filter_by_channel_state_and_member(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        one, two = _new_task(uow, "One"), _new_task(uow, "Two")
        community = uow.community(TEAM)
        bo = uow.member(community, MemberRef(TEAM, "U2", "Bo"))
        _join(uow, one, bo)
        _join(uow, two, bo)
        two.state = ActionState.CLOSED
        uow.save_action(two)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        community = uow.community(TEAM)
        assert [a.title for a in uow.open_actions(community.id, "C1")] == ["One"]
        assert uow.open_actions(community.id, "C2") == []
        bo = uow.member(community, MemberRef(TEAM, "U2"))
        [(mine, commitment)] = uow.open_actions_of(bo)
        assert mine.title == "One" and mine.in_count == 1
        assert commitment.status is CommitmentStatus.COMMITTED and commitment.member == bo


def test_audit_log_appends_in_order(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        action = _new_task(uow)
        for kind in ("task.created", "commitment.committed"):
            uow.audit(AuditEntry(action.community_id, kind, Via.COMMAND, NOW, 1, action.id, "x"))
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        log = uow.audit_log(action.community_id)
        assert [e.kind for e in log] == ["task.created", "commitment.committed"]
        assert log[0].at == NOW and log[0].via is Via.COMMAND


def test_concurrent_creators_get_distinct_numbers(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        _new_task(uow)  # the community and member exist before the race
        uow.commit()
    numbers: list[int] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        barrier.wait()
        for _ in range(5):
            with SqlUnitOfWork(make_engine(database_url)) as uow:
                numbers.append(_new_task(uow).number)
                uow.commit()

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(2, 22))


def test_concurrent_joins_never_overfill(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        action = _new_task(uow, need=1)
        community = uow.community(TEAM)
        for i in range(6):
            uow.member(community, MemberRef(TEAM, f"P{i}"))
        uow.commit()
    barrier = threading.Barrier(6)

    def join(i: int) -> None:
        barrier.wait()
        with SqlUnitOfWork(make_engine(database_url)) as uow:
            community = uow.community(TEAM)
            loaded = uow.get_action(community.id, action.number)
            assert loaded is not None
            _join(uow, loaded, uow.member(community, MemberRef(TEAM, f"P{i}")), Via.REACTION)
            uow.commit()

    threads = [threading.Thread(target=join, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.get_action(action.community_id, action.number)
        assert loaded is not None
        # The counts agree with the rows: every join saw the one before it.
        assert (loaded.in_count, loaded.waiting_count, loaded.last_seq) == (1, 5, 6)
        uow.load_people([loaded])
        statuses = sorted(c.status.value for c in loaded.commitments)
        assert statuses == ["committed"] + ["waitlisted"] * 5
        assert sorted(c.seq for c in loaded.commitments) == [1, 2, 3, 4, 5, 6]


def test_saving_again_or_from_another_unit_of_work_never_duplicates(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        action = _new_task(uow, need=1)
        community = uow.community(TEAM)
        ana, bo = (uow.member(community, MemberRef(TEAM, u)) for u in ("U1", "U2"))
        _join(uow, action, ana)
        second = _join(uow, action, bo)
        uow.save_commitment(action, second)
        uow.save_action(action)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        loaded = uow.get_action(action.community_id, action.number)
        assert loaded is not None
        current = uow.commitment(loaded, ana)
        assert current is not None
    with SqlUnitOfWork(engine) as other:  # objects from an earlier unit of work
        promoted = loaded.leave(current, Via.COMMAND, NOW, partial(other.first_waiting, loaded))
        assert promoted is not None and promoted.member.external_id == "U2"
        other.save_commitment(loaded, current)
        other.save_commitment(loaded, promoted)
        other.save_action(loaded)
        other.commit()
    with SqlUnitOfWork(engine) as uow:
        final = uow.get_action(action.community_id, action.number)
        assert final is not None
        assert (final.in_count, final.waiting_count, final.last_seq) == (1, 0, 2)
        uow.load_people([final], withdrawn=True)
        assert sorted((c.member.external_id, c.status.value) for c in final.commitments) == [
            ("U1", "withdrawn"),
            ("U2", "committed"),
        ]


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    from sqlalchemy import text

    with make_engine(sqlite_url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 15000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = _engine(database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
