"""Group commit: events that arrive together are applied in one transaction, each still
deduplicated, audited and answered on its own; one that fails undoes only its own writes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from bot import usecases
from bot.app import Job, take_group
from bot.events import CommandInvoked, Inbound
from bot.model import Via
from bot.queues import InboxEntry
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.threads import Threads, WriteTurns
from storage.tables import InboxRow, OutboxRow
from tests.harness import START, RecordingChat, TestBot

TEAM = CommunityRef("test", "T1")


@contextmanager
def counting_commits(bot: TestBot) -> Iterator[list[int]]:
    commits: list[int] = []

    def count(_conn: object) -> None:
        commits.append(1)

    event.listen(bot.engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(bot.engine, "commit", count)


def command(bot: TestBot, who: str, line: str, event_id: str | None = None) -> Inbound:
    return Inbound(CommandInvoked(bot.member(who), bot.channel(), line, event_id))


async def as_one_group(
    bot: TestBot, inbounds: list[Inbound], retries: tuple[Inbound, ...] = ()
) -> list[int]:
    """Record and prepare `inbounds` with their group held (and `retries`, repeats of them,
    meanwhile), then let them go together; returns the commits the group took."""
    async with bot.coop.holding_groups() as until:
        handled = asyncio.gather(*(bot.inbox.handle(i) for i in inbounds))
        await until(len(inbounds))
        for retry in retries:
            await bot.inbox.handle(retry)  # recorded as a repeat: dropped, never applied
    with counting_commits(bot) as commits:
        await handled
    return commits


def inbox_states(bot: TestBot) -> list[tuple[str, str]]:
    with bot.engine.connect() as conn:
        rows = conn.execute(text("SELECT key, state FROM inbox ORDER BY id")).all()
    return [(r[0], r[1]) for r in rows]


def test_events_that_arrive_together_share_one_transaction(database_url: str) -> None:
    bot = TestBot(database_url)
    bot.say("alice", 'task "Set up chairs" need:2')
    bot.say("alice", 'task "Bring snacks"')
    inbounds = [
        command(bot, "bob", "join #1", "e-bob"),
        command(bot, "carol", "join #1", "e-carol"),
        command(bot, "dave", "join #1", "e-dave"),  # full by now: the waitlist
        command(bot, "erin", "join #9", "e-erin"),  # no such action: an answer, no change
        command(bot, "frank", "join #2", "e-frank"),
    ]
    retry = command(bot, "frank", "join #2", "e-frank")  # Slack's retry of the same event
    commits = asyncio.run(as_one_group(bot, inbounds, (retry,)))
    bot.deliver()

    assert len(commits) == 1, "five events, one transaction"
    assert bot.statuses(1) == {"bob": "committed", "carol": "committed", "dave": "waitlisted"}
    assert bot.statuses(2) == {"frank": "committed"}
    assert "You're in on #1" in bot.chat.last_private("bob")
    assert "number 1 on the waitlist" in bot.chat.last_private("dave")
    assert "There's no action #9" in bot.chat.last_private("erin")
    assert len(bot.chat.of("private", "frank")) == 1, "the retry was dropped, not applied"
    states = {k.rsplit(":", 1)[-1]: v for k, v in inbox_states(bot)}
    assert {k: v for k, v in states.items() if k.startswith("e-")} == {
        "e-bob": "applied",
        "e-carol": "applied",
        "e-dave": "applied",
        "e-erin": "applied",
        "e-frank": "applied",
    }
    with bot.coop.uow_factory() as uow:
        kinds = [e.kind for e in uow.audit_log(1)]
    assert kinds.count("commitment.committed") == 3 and kinds.count("commitment.waitlisted") == 1


def test_a_failing_event_undoes_only_its_own_writes(database_url: str) -> None:
    bot = TestBot(database_url)
    bot.say("alice", 'task "Set up chairs"')
    bot.say("alice", 'task "Bring snacks"')
    # A row no version of the bot writes: reading #2 fails inside carol's event.
    with bot.engine.begin() as conn:
        conn.execute(text("UPDATE action SET state = 'bogus' WHERE number = 2"))
    inbounds = [
        command(bot, "bob", "join #1", "e-bob"),
        command(bot, "carol", "join #2", "e-carol"),
        command(bot, "dave", "join #1", "e-dave"),
    ]
    commits = asyncio.run(as_one_group(bot, inbounds))
    bot.deliver()

    assert len(commits) == 1
    assert bot.statuses(1) == {"bob": "committed", "dave": "committed"}
    assert "something went wrong" in bot.chat.last_private("carol")
    assert "You're in on #1" in bot.chat.last_private("dave")
    with bot.coop.uow_factory() as uow:
        assert uow.count(InboxRow) == 5
        kinds = [e.kind for e in uow.audit_log(1)]
    # Two tasks created and two joins: nothing of carol's.
    assert kinds == ["task.created"] * 2 + ["commitment.committed"] * 2
    with bot.engine.connect() as conn:
        state, error = conn.execute(
            text("SELECT state, error FROM inbox WHERE key LIKE :key"), {"key": "%-carol"}
        ).one()
        carol = conn.execute(text("SELECT count(*) FROM member WHERE external_id = 'carol'"))
        assert carol.scalar_one() == 0, "the member row her event made was undone with it"
    assert state == "failed" and "bogus" in error


class SlowLookups(RecordingChat):
    """A chat whose first lookup of one person hangs until let go (a slow users.info)."""

    def __init__(self, slow: str) -> None:
        super().__init__()
        self.slow = slow
        self.gate = asyncio.Event()
        self.asked: list[str] = []

    async def member(self, ref: MemberRef) -> MemberRef:
        self.asked.append(ref.id)
        if ref.id == self.slow and self.asked.count(ref.id) == 1:
            await self.gate.wait()
        return ref


def test_events_are_applied_in_the_order_they_arrived(sqlite_url: str) -> None:
    chat = SlowLookups("alice")
    bot = TestBot(sqlite_url, chat=chat)
    bot.coop.prepare_hold = 30.0  # far longer than this test takes: order is never given up

    async def scenario() -> None:
        async with bot.coop.holding_groups() as until:
            task = asyncio.ensure_future(bot.inbox.handle(command(bot, "alice", "task Chairs")))
            join = asyncio.ensure_future(bot.inbox.handle(command(bot, "bob", "join #1")))
            await until(1)  # bob's join is ready first, alice's task is not
            chat.gate.set()
            await until(2)
        await asyncio.gather(task, join)

    asyncio.run(scenario())
    bot.deliver()
    assert bot.statuses(1) == {"bob": "committed"}, bot.chat.last_private("bob")


def test_a_slow_platform_lookup_holds_up_nobody_else(sqlite_url: str) -> None:
    chat = SlowLookups("bob")
    bot = TestBot(sqlite_url, chat=chat)
    bot.coop.prepare_hold = 0.05

    async def scenario() -> None:
        await bot.inbox.handle(command(bot, "alice", 'task "Set up chairs"'))
        bobs = [
            asyncio.ensure_future(bot.inbox.handle(command(bot, "bob", "join #1"))),
            asyncio.ensure_future(bot.inbox.handle(command(bot, "bob", "leave #1"))),
        ]
        # Carol's join is applied and answered while bob's first lookup is still out; bob's
        # leave, ready long since, waits for his join.
        await bot.inbox.handle(command(bot, "carol", "join #1"))
        await bot.dispatcher.drain()
        assert not any(b.done() for b in bobs)
        assert "You're in on #1" in chat.last_private("carol")
        chat.gate.set()
        await asyncio.gather(*bobs)

    asyncio.run(scenario())
    assert bot.statuses(1) == {"bob": "withdrawn", "carol": "committed"}


def test_a_group_is_the_prepared_front_of_the_line() -> None:
    def job(who: str, prepared: bool, since: float = 0.0) -> Job:
        inbound = Inbound(CommandInvoked(MemberRef(TEAM, who), ChannelRef(TEAM, "c"), "list"))
        entry = InboxEntry(1, who, inbound, START, 1)
        return Job(entry, "me", inbound.event, prepared=prepared, since=since)

    ana, bo, cy, ana2 = job("ana", False), job("bo", True), job("cy", True), job("ana", True)
    line = [ana, bo, cy, ana2]
    # Ana's event is still being prepared: nothing passes it until its hold runs out.
    assert take_group(line, now=0.1, hold=0.5) == ([], pytest.approx(0.4))
    # Then the others go, in order, but not ana's own later event.
    assert take_group(line, now=0.6, hold=0.5) == ([bo, cy], None)
    ana.prepared = True
    assert take_group(line, now=0.6, hold=0.5) == ([ana, bo, cy, ana2], None)
    assert take_group(line, now=0.6, hold=0.5, most=2) == ([ana, bo], None)


def test_events_to_apply_alone_are_groups_of_one() -> None:
    def job(who: str) -> Job:
        inbound = Inbound(CommandInvoked(MemberRef(TEAM, who), ChannelRef(TEAM, "c"), "list"))
        return Job(InboxEntry(1, who, inbound, START, 1), "me", inbound.event, prepared=True)

    ana, bo, cy = job("ana"), job("bo"), job("cy")
    ana.alone = bo.alone = True  # their group's commit failed: each is retried on its own
    assert take_group([ana, bo, cy], now=0.0, hold=0.5) == ([ana], None)
    assert take_group([bo, cy], now=0.0, hold=0.5) == ([bo], None)
    assert take_group([cy, ana], now=0.0, hold=0.5) == ([cy], None)


def test_old_events_and_deliveries_are_pruned_and_recent_retries_still_dropped(
    database_url: str,
) -> None:
    bot = TestBot(database_url)
    bot.say("alice", "task Chairs", event_id="old")
    bot.clock.advance(timedelta(hours=23))
    bot.say("bob", "join #1", event_id="recent")
    bot.clock.advance(timedelta(hours=2))  # "old" is 25 hours old now, "recent" 2
    with bot.coop.uow_factory() as uow:
        assert (uow.count(InboxRow), uow.count(OutboxRow)) == (2, 3)
    assert asyncio.run(bot.inbox.prune()) == 2  # the old event and its card's post
    with bot.coop.uow_factory() as uow:
        assert (uow.count(InboxRow), uow.count(OutboxRow)) == (1, 2)
    # Slack's retry of the recent event is still known, and dropped.
    assert bot.say("bob", "join #1", event_id="recent") == []
    assert bot.statuses(1) == {"bob": "committed"}


def test_recording_an_event_goes_before_other_waiting_writes() -> None:
    turns, threads = WriteTurns(fair=True), Threads("test-turns", 3)
    order: list[str] = []
    holding = threading.Event()

    def write(name: str) -> None:
        if name == "first":
            holding.wait()
        order.append(name)

    async def scenario() -> None:
        first = asyncio.ensure_future(turns.run(threads, write, "first"))
        await asyncio.sleep(0)  # first has the turn
        later = [
            asyncio.ensure_future(turns.run(threads, write, "apply")),
            asyncio.ensure_future(turns.run(threads, write, "claim")),
            asyncio.ensure_future(turns.run(threads, write, "record", urgent=True)),
        ]
        cancelled = asyncio.ensure_future(turns.run(threads, write, "gone"))
        await asyncio.sleep(0)
        cancelled.cancel()  # a writer that gives up waiting leaves the line
        holding.set()
        await asyncio.gather(first, *later)

    asyncio.run(scenario())
    assert order == ["first", "record", "apply", "claim"]


def test_times_are_read_before_the_turn_not_in_it(sqlite_url: str) -> None:
    bot = TestBot(sqlite_url)
    event = CommandInvoked(bot.member("alice"), bot.channel(), 'task Chairs due:"in 2 hours"')
    ready = usecases.prepare(event, lambda member_id: None, bot.coop.prefs, START)
    assert ready.due_at == START + timedelta(hours=2) and ready.due_tz == "UTC"
    # In the turn, what was read is used as it is: the text is not parsed again (this text
    # could not be).
    with bot.coop.uow_factory() as uow:
        community = uow.community(event.actor.community)
        turn = usecases.Turn(
            uow, bot.coop.prefs, START, event.actor, event.channel, community,
            uow.member(community, event.actor), Via.COMMAND,
        )  # fmt: skip
        usecases.create_task(turn, "Chairs", None, "not a time at all", ready)
        uow.commit()
    with bot.coop.uow_factory() as uow:
        action = uow.get_action(community.id, 1)
        assert action is not None and action.due_at == START + timedelta(hours=2)
