"""The inbox and outbox tables' contract, on a real SQLite file and on PostgreSQL: recording
once, claiming under leases, fenced results, lane order and coalesced card edits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bot import codec
from bot.events import CommandInvoked, Inbound
from bot.model import Action, ActionKind
from bot.queues import DeliveryKind, DeliveryState, InboxState, NewDelivery
from bot.refs import ChannelRef, CommunityRef, MemberRef
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)
TEAM = CommunityRef("slack", "T1")


def _engine(url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    upgrade(engine)
    return engine


def _payload(text: str = "join #1") -> str:
    actor = MemberRef(TEAM, "U1", "Ana")
    return codec.dumps(Inbound(CommandInvoked(actor, ChannelRef(TEAM, "C1"), text, "t1")))


def _row(lane: str, kind: DeliveryKind = DeliveryKind.DM, **extra: object) -> NewDelivery:
    return NewDelivery("slack", "T1", kind, lane, "U1", "{}", **extra)  # type: ignore[arg-type]


def test_an_event_is_recorded_once_per_key(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        rows = [("slack:T1:t1", "slack", _payload(), NOW), ("slack:T1:t1", "slack", "x", NOW)]
        first, repeat = uow.inbox.record(rows, "a", NOW + LEASE)
        uow.commit()
    assert first is not None and repeat is None
    with SqlUnitOfWork(engine) as uow:
        assert uow.inbox.record([("slack:T1:t1", "slack", "x", NOW)], "b", NOW) == [None]
        assert uow.inbox.unsettled() == 1


def test_only_an_expired_event_is_taken_over_and_the_old_holder_is_fenced(
    database_url: str,
) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        uow.inbox.record([("slack:T1:t1", "slack", _payload(), NOW)], "a", NOW + LEASE)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.inbox.claim(["slack"], "b", NOW + LEASE / 2, NOW + 2 * LEASE, 10) == []
        assert uow.inbox.claim(["discord"], "b", NOW + 2 * LEASE, NOW + 3 * LEASE, 10) == []
        [held] = uow.inbox.record([("slack:T1:t2", "slack", _payload(), NOW)], "b", NOW)
        assert held is not None  # already expired, but this process is applying it still
        assert [
            e.key for e in uow.inbox.claim(["slack"], "b", NOW + 2 * LEASE, NOW, 10, [held])
        ] == ["slack:T1:t1"]
        uow.session.rollback()
        [taken] = uow.inbox.claim(["slack"], "b", NOW + 2 * LEASE, NOW + 3 * LEASE, 10)
        uow.commit()
    assert taken.attempt == 2 and isinstance(taken.inbound.event, CommandInvoked)
    assert taken.inbound.event.text == "join #1" and taken.received_at == NOW
    with SqlUnitOfWork(engine) as uow:
        stale = type(taken)(taken.id, taken.key, taken.inbound, taken.received_at, 1)
        assert uow.inbox.settle(stale, "a", InboxState.APPLIED, NOW) is False
        assert uow.inbox.settle(taken, "a", InboxState.APPLIED, NOW) is False
        assert uow.inbox.settle(taken, "b", InboxState.APPLIED, NOW) is True
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.inbox.unsettled() == 0
        assert uow.inbox.settle(taken, "b", InboxState.APPLIED, NOW) is False


def test_each_lane_delivers_its_oldest_row_first(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        uow.outbox.enqueue([_row("to:a"), _row("to:b"), _row("to:a"), _row("to:b")], NOW)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        heads = uow.outbox.claim("slack", "p", NOW, NOW + LEASE, 10)
        assert [(e.id, e.lane) for e in heads] == [(1, "to:a"), (2, "to:b")]
        assert uow.outbox.claim("slack", "p", NOW, NOW + LEASE, 10) == []  # behind the heads
        assert uow.outbox.finish(heads[0], "p", DeliveryState.SENT, NOW, "m1")
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert [e.id for e in uow.outbox.claim("slack", "p", NOW, NOW + LEASE, 10)] == [3]
        assert uow.outbox.claim("discord", "p", NOW, NOW + LEASE, 10) == []


def test_a_card_has_at_most_one_edit_waiting(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        action = _action(uow)
        edit = _row("card:1", DeliveryKind.CARD_EDIT, action_id=action, coalesce_key="edit:1")
        uow.outbox.enqueue([edit, edit], NOW)
        uow.outbox.enqueue([edit], NOW)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.outbox.count() == 1
        [claimed] = uow.outbox.claim("slack", "p", NOW, NOW + LEASE, 10)
        # Once its edit is on its way, a later change needs an edit of its own.
        uow.outbox.enqueue([edit, edit], NOW)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.outbox.count() == 2
        assert uow.outbox.count(DeliveryState.PENDING) == 1
        assert claimed.kind is DeliveryKind.CARD_EDIT and claimed.action_id == action


def _action(uow: SqlUnitOfWork) -> int:
    community = uow.community(TEAM)
    creator = uow.member(community, MemberRef(TEAM, "U1", "Ana"))
    action = uow.add_action(Action(community.id, 0, ActionKind.TASK, "T", "T", "C1", creator, NOW))
    assert action.id is not None
    return action.id


def test_a_row_taken_over_after_its_lease_is_rechecked_and_its_old_owner_fenced(
    database_url: str,
) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        uow.outbox.enqueue([_row("to:a")], NOW)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        [first] = uow.outbox.claim("slack", "a", NOW, NOW + LEASE, 10)
        uow.commit()
    assert (first.claim, first.tries, first.recheck, first.first_attempt_at) == (1, 0, False, NOW)
    later = NOW + 2 * LEASE
    with SqlUnitOfWork(engine) as uow:
        assert uow.outbox.claim("slack", "b", NOW + LEASE / 2, later, 10) == []
        [again] = uow.outbox.claim("slack", "b", later, later + LEASE, 10)
        uow.commit()
    # The first send was cut off: it counts as a try, and may have arrived.
    assert (again.claim, again.tries, again.recheck, again.first_attempt_at) == (2, 1, True, NOW)
    with SqlUnitOfWork(engine) as uow:
        assert not uow.outbox.finish(first, "a", DeliveryState.SENT, later, "dup")
        assert not uow.outbox.release(first, "a", later, False)
        assert uow.outbox.finish(again, "b", DeliveryState.SENT, later, "m1")
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        [record] = uow.outbox.records()
    assert (record.state, record.message_id, record.attempts) == ("sent", "m1", 2)
    assert record.sent_at == later and record.recipient == "U1"


def test_a_released_row_waits_until_its_time(database_url: str) -> None:
    engine = _engine(database_url)
    with SqlUnitOfWork(engine) as uow:
        uow.outbox.enqueue([_row("to:a")], NOW)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.outbox.next_due(["slack"]) == NOW
        [entry] = uow.outbox.claim("slack", "a", NOW, NOW + LEASE, 10)
        assert uow.outbox.next_due(["slack"]) == NOW + LEASE  # its lease
        assert uow.outbox.release(entry, "a", NOW + timedelta(seconds=2), True, "429")
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        [waits] = uow.outbox.claim("slack", "a", NOW + timedelta(seconds=2), NOW + LEASE, 10)
        # Only waiting for its turn (pacing) is no try.
        assert uow.outbox.release(waits, "a", NOW + timedelta(seconds=2), True, tried=False)
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        assert uow.outbox.next_due(["slack"]) == NOW + timedelta(seconds=2)
        assert uow.outbox.next_due(["discord"]) is None
        assert uow.outbox.claim("slack", "a", NOW + timedelta(seconds=1), NOW + LEASE, 10) == []
        [again] = uow.outbox.claim("slack", "a", NOW + timedelta(seconds=2), NOW + LEASE, 10)
    assert (again.recheck, again.claim, again.tries) == (True, 3, 1)


def test_concurrent_claimers_take_each_row_once_and_keep_lane_order(database_url: str) -> None:
    engine = _engine(database_url)
    lanes, per_lane = 20, 10
    with SqlUnitOfWork(engine) as uow:
        uow.outbox.enqueue([_row(f"to:{i % lanes}") for i in range(lanes * per_lane)], NOW)
        uow.commit()
    finished: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(owner: str) -> None:
        own = make_engine(database_url)  # a process of its own, as far as the database sees
        idle = 0
        while idle < 3:
            with SqlUnitOfWork(own) as uow:
                entries = uow.outbox.claim("slack", owner, NOW, NOW + LEASE, 3)
                uow.commit()
            idle = 0 if entries else idle + 1
            for entry in entries:
                with SqlUnitOfWork(own) as uow:
                    assert uow.outbox.finish(entry, owner, DeliveryState.SENT, NOW)
                    uow.commit()
                with lock:
                    finished.append((entry.lane, entry.id))

    threads = [threading.Thread(target=work, args=(f"p{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(finished) == lanes * per_lane
    assert len({row_id for _, row_id in finished}) == lanes * per_lane
    for lane in {lane for lane, _ in finished}:
        ids = [row_id for name, row_id in finished if name == lane]
        assert ids == sorted(ids), lane
    with SqlUnitOfWork(engine) as uow:
        assert {r.attempts for r in uow.outbox.records()} == {1}
