"""The dispatcher on its own, with a manual clock: leases, take-overs, fencing, pacing, rate
limits, refusals and expiry."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from bot.cards import Button, Card
from bot.dispatcher import Dispatcher
from bot.events import CommandInvoked, ReplyHandle
from bot.pacing import Pacing
from bot.ports import Delivery, RateLimited, Refused, Unavailable
from bot.refs import ChannelRef, MemberRef, MessageRef
from storage.uow import SqlUnitOfWork
from tests.harness import RecordingChat, TestBot

LEASE = timedelta(seconds=10)


@dataclass
class ScriptedChat(RecordingChat):
    """Records every delivery it is handed; `failures` are raised by the next posts and DMs."""

    deliveries: list[Delivery] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def _attempt(self, d: Delivery) -> None:
        self.deliveries.append(d)
        if self.hold is not None:
            await self.hold.wait()
        if self.failures:
            raise self.failures.pop(0)

    async def post_card(
        self, d: Delivery, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        await self._attempt(d)
        return await super().post_card(d, channel, card, reply_to)

    async def send_dm(
        self, d: Delivery, to: MemberRef, text: str, buttons: tuple[Button, ...] = ()
    ) -> str | None:
        await self._attempt(d)
        return await super().send_dm(d, to, text, buttons)


def bot_with(sqlite_url: str, chat: ScriptedChat, pacing: Pacing | None = None) -> TestBot:
    bot = TestBot(sqlite_url, chat=chat)
    bot.dispatcher.attach("test", chat, pacing or Pacing(concurrency=1))
    return bot


def other_process(bot: TestBot, owner: str, chat: RecordingChat) -> Dispatcher:
    """A second process on the same database, with its own view of the platform."""
    engine = bot.engine

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine)

    dispatcher = Dispatcher(uow, uow, bot.clock, owner)
    dispatcher.attach("test", chat, Pacing(concurrency=1))
    return dispatcher


def record(bot: TestBot) -> list[tuple[str, str, int, str | None]]:
    with SqlUnitOfWork(bot.engine) as uow:
        return [(r.kind, r.state, r.attempts, r.message_id) for r in uow.outbox.records()]


def test_a_send_cut_off_by_a_crash_is_checked_by_whoever_takes_it_over(sqlite_url: str) -> None:
    chat = ScriptedChat()
    bot = bot_with(sqlite_url, chat)
    asyncio.run(bot.inbox.handle(_command(bot, "alice", "task Paint")))
    with SqlUnitOfWork(bot.engine) as uow:  # a process claims the post, then dies
        [claimed] = uow.outbox.claim("test", "dead", bot.clock.now(), bot.clock.now() + LEASE, 5)
        uow.commit()
    assert bot.deliver() == []  # its lease still holds
    bot.clock.advance(LEASE + timedelta(seconds=1))
    [posted] = bot.deliver()
    [d] = chat.deliveries
    assert (d.key, d.recheck, d.first_attempt_at) == (claimed.key, True, claimed.first_attempt_at)
    assert posted.kind == "post" and record(bot) == [("card_post", "sent", 2, "m1")]


def test_a_process_that_lost_its_lease_writes_nothing(sqlite_url: str) -> None:
    held = ScriptedChat(hold=asyncio.Event())
    bot = bot_with(sqlite_url, held)
    taker = ScriptedChat()

    async def scenario() -> None:
        await bot.inbox.handle(_command(bot, "alice", "task Paint"))
        stuck = asyncio.create_task(bot.dispatcher.drain())
        while not held.deliveries:
            await asyncio.sleep(0)
        # The first process is paused past its lease; another takes the post over.
        bot.clock.advance(LEASE + timedelta(seconds=1))
        assert await other_process(bot, "taker", taker).drain()
        assert record(bot) == [("card_post", "sent", 2, "m1")]
        assert held.hold is not None
        held.hold.set()  # the first wakes up: its send completes, its result is refused
        await stuck

    asyncio.run(scenario())
    assert record(bot) == [("card_post", "sent", 2, "m1")]
    assert [d.recheck for d in taker.deliveries] == [True]
    with SqlUnitOfWork(bot.engine) as uow:
        [action] = [row.action for row in uow.export()]
    assert action.card_message_id == "m1"  # the taker's, not the paused process's


def test_posts_in_one_channel_are_paced_and_wait_for_their_turn(sqlite_url: str) -> None:
    chat = ScriptedChat()
    bot = bot_with(sqlite_url, chat, Pacing(post_interval=1.0))
    assert [s.kind for s in bot.say("alice", "task One")] == ["post"]
    assert bot.say("alice", "task Two") == []  # one post a second in this channel
    assert [s.kind for s in bot.say("alice", "task Elsewhere", channel="ops")] == ["post"]
    bot.clock.advance(timedelta(milliseconds=500))
    assert bot.deliver() == []
    bot.clock.advance(timedelta(milliseconds=500))
    assert [s.text for s in bot.deliver()] == ["Two"]


def test_a_rate_limited_send_waits_as_asked_and_holds_up_no_other_lane(sqlite_url: str) -> None:
    chat = ScriptedChat(failures=[RateLimited(5.0)])
    bot = bot_with(sqlite_url, chat, Pacing(post_interval=1.0))
    assert bot.say("alice", "task One") == []
    assert [s.text for s in bot.say("alice", "task Two", channel="ops")] == ["Two"]
    bot.clock.advance(timedelta(seconds=4))
    assert bot.deliver() == []
    bot.clock.advance(timedelta(seconds=1))
    assert [s.text for s in bot.deliver()] == ["One"]
    # A 429 means Slack or Discord did nothing: no need to look before sending again.
    assert [d.recheck for d in chat.deliveries] == [False, False, False]


def test_a_failure_that_may_have_reached_the_platform_is_checked_then_given_up(
    sqlite_url: str,
) -> None:
    chat = ScriptedChat(failures=[Unavailable("timeout")] * 20)
    bot = bot_with(sqlite_url, chat)
    bot.dispatcher.max_attempts = 3
    bot.say("alice", "task One")
    for _ in range(4):
        bot.clock.advance(timedelta(minutes=10))
        bot.deliver()
    assert [d.recheck for d in chat.deliveries] == [False, True, True]
    assert record(bot) == [("card_post", "failed", 3, None)]


def test_someone_who_refused_a_dm_gets_none_for_a_while(sqlite_url: str) -> None:
    chat = ScriptedChat()
    bot = bot_with(sqlite_url, chat, Pacing(unreachable_pause=3600))
    bot.say("alice", "task Drive need:1")
    bot.say("bob", "join #1")
    bot.say("carol", "join #1")
    chat.failures = [Refused("50007: Cannot send messages to this user", unreachable=True)]
    bot.say("bob", "leave #1")  # carol is promoted: refused
    bot.say("alice", "cancel #1")  # carol is told: not even tried
    assert len([d for d in chat.deliveries]) == 2  # the card post and the refused DM
    assert [(k, s) for k, s, _, _ in record(bot) if k == "dm"] == [
        ("dm", "failed"),
        ("dm", "failed"),
    ]
    bot.clock.advance(timedelta(hours=1, seconds=1))
    bot.say("alice", "task Again need:1")
    bot.say("dave", "join #2")
    bot.say("carol", "join #2")
    bot.say("dave", "leave #2")  # carol is promoted again, and DMed: her pause is over
    assert [s.to for s in chat.of("dm")] == ["carol"]


def test_an_answer_too_late_for_its_handle_is_dropped(sqlite_url: str) -> None:
    chat = ScriptedChat()
    bot = bot_with(sqlite_url, chat)
    expires = bot.clock.now() + timedelta(minutes=15)
    handle = ReplyHandle("interaction", "app:token", expires)
    event = CommandInvoked(bot.member("bob"), bot.channel(), "list")
    bot.clock.advance(timedelta(minutes=16))  # as if the process were down all that time
    assert bot.handle(event, reply=handle) == []
    assert record(bot) == [("reply", "expired", 0, None)]


def test_a_refusal_with_a_notice_is_told_to_whoever_caused_it(sqlite_url: str) -> None:
    chat = ScriptedChat(failures=[Refused("not_in_channel", notice="I'm not in that channel.")])
    bot = bot_with(sqlite_url, chat)
    sent = bot.say("alice", "task Plan the party")
    assert [(s.kind, s.to, s.text) for s in sent] == [
        ("private", "alice", "I'm not in that channel.")
    ]
    assert [(k, s) for k, s, _, _ in record(bot)] == [("card_post", "failed"), ("reply", "sent")]


def _command(bot: TestBot, who: str, text: str):  # type: ignore[no-untyped-def]
    from bot.events import Inbound

    return Inbound(CommandInvoked(bot.member(who), bot.channel(), text))


def test_an_edit_is_skipped_only_when_the_card_shows_it_already_whoever_sent_it(
    sqlite_url: str,
) -> None:
    chat = ScriptedChat()
    bot = bot_with(sqlite_url, chat)
    bot.say("alice", "task One")  # this process posts the card: "0 in"
    asyncio.run(bot.inbox.handle(_command(bot, "bob", "join #1")))
    elsewhere = RecordingChat()
    asyncio.run(other_process(bot, "elsewhere", elsewhere).drain())  # another edits: "1 in"
    assert [s.card.progress for s in elsewhere.of("update") if s.card] == ["1 in"]
    # Back to "0 in", as this process last drew it; the card shows "1 in", so it is edited.
    edits = [s.card.progress for s in bot.say("bob", "leave #1") if s.kind == "update" and s.card]
    assert edits == ["0 in"]
