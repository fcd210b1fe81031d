"""The application service: recorded events in, each one's use case and what it says written
to the outbox in one transaction, with the others that arrived together (group commit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot import failpoints, usecases
from bot.cards import Card, Cause, PrivateReply, card_for
from bot.clock import Clock
from bot.emoji_names import canonical
from bot.errors import CoopError, StoreUnavailable
from bot.events import (
    CommandInvoked,
    DriveRequested,
    EditRequested,
    Event,
    Inbound,
    ReactionAdded,
)
from bot.inputs import printable
from bot.outbox import deliveries
from bot.ports import ChatPort, MessageText, UnitOfWork, UnitOfWorkFactory
from bot.queues import InboxEntry, InboxState
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.threads import Threads, WriteTurns
from bot.usecases import Prepared

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on my side and nothing was changed."

# Group commit: a group is whatever is ready when the one before it is done (events arriving
# during a transaction go together in the next), at most GROUP_MAX; GROUP_WINDOW is how long
# a group waits for more before it starts (none: one turn of the event loop, so a lone event
# is not made to wait and a burst still groups).
GROUP_WINDOW = 0.0
GROUP_MAX = 100
PREPARE_HOLD = 0.5


@dataclass
class Job:
    """One recorded event on its way through a group: what was prepared for it, or the
    answer it gets instead of a change."""

    entry: InboxEntry
    owner: str
    event: Event
    ready: Prepared = field(default_factory=lambda: Prepared())
    answer: str | None = None
    state: InboxState = InboxState.APPLIED
    error: str = ""
    alone: bool = False
    prepared: bool = False
    since: float = 0.0
    done: asyncio.Future[bool] | None = None

    @property
    def sender(self) -> tuple[str, str, str]:
        actor = self.entry.inbound.event.actor
        return actor.community.platform, actor.community.id, actor.id

    def fail(self, err: Exception) -> None:
        self.answer, self.state, self.error = SORRY, InboxState.FAILED, repr(err)

    def settle(self, outcome: bool | BaseException) -> None:
        assert self.done is not None
        if self.done.done():
            return
        if isinstance(outcome, BaseException):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)


class Coop:
    """Applies neutral events from any adapter against one store.

    `clock` is the bot's notion of now (the console and tests move it); `delivery_clock`
    stamps outbox rows, which the dispatcher compares with real time.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        prefs: usecases.Preferences,
        read_factory: UnitOfWorkFactory | None = None,
        delivery_clock: Clock | None = None,
        turns: WriteTurns | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.turns = turns or WriteTurns(fair=False)
        self.read_factory = read_factory or uow_factory
        self.clock = clock
        self.delivery_clock = delivery_clock or clock
        self.prefs = prefs
        self.ports: dict[str, ChatPort] = {}
        # Called after anything was written to the outbox (the dispatcher's kick).
        self.on_enqueued: list[Callable[[], None]] = []
        # Called with the soonest due time of schedules a group added (the alarm clock's).
        self.on_scheduled: list[Callable[[datetime], None]] = []
        # Events are applied a group at a time per process; other processes wait on the
        # database.
        self._line: list[Job] = []
        self._grouper: asyncio.Task[None] | None = None
        self._held: asyncio.Event | None = None
        self._signal: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        # How long an event still being prepared keeps later ones waiting (see apply).
        self.prepare_hold = PREPARE_HOLD
        self._threads = Threads("coopbot-apply", 4)

    def attach(self, platform: str, port: ChatPort) -> None:
        """Read from `port` while applying `platform`'s events (names, message texts)."""
        self.ports[platform] = port

    def enqueued(self) -> None:
        for callback in self.on_enqueued:
            callback()

    # --- applying ---------------------------------------------------------------------------

    async def apply(self, entry: InboxEntry, owner: str) -> bool:
        """Apply a recorded event, once: False when another process holds it now.

        A broken rule becomes a private answer; a busy database raises StoreUnavailable, for
        the caller to try again; anything else is answered with an apology and recorded.
        Whatever can be done before the event's turn (asking the platform who someone is,
        reading a message, parsing the command and its times) is done first, so nothing slow
        holds up the events applied with and after it for longer than `prepare_hold`.
        """
        job = self._arrived(Job(entry, owner, entry.inbound.event))
        try:
            port = self.ports.get(job.event.actor.community.platform)
            if port is not None:
                job.event = replace(job.event, actor=await port.member(job.event.actor))
            actor = job.event.actor
            # A display name is the platform's text: kept without control characters.
            job.event = replace(job.event, actor=replace(actor, name=printable(actor.name)))
            text = await self._text_to_track(job.event, port)
            if isinstance(job.event, CommandInvoked):
                person, channel = await self._look_up(job.event, port)
                if person is not None:
                    person = replace(person, name=printable(person.name))
                job.ready = await self._threads.run(self._prepare, job.event, entry, text, person)
                job.ready = replace(job.ready, channel=channel)
            elif isinstance(job.event, DriveRequested | EditRequested):  # times read first
                job.ready = await self._threads.run(self._prepare, job.event, entry, text, None)
            else:
                job.ready = Prepared(text=text)  # nothing to parse: no thread hop
        except CoopError as err:
            job.answer = err.message
        except StoreUnavailable:
            self._forget(job)
            raise
        except Exception as err:
            log.exception("failed to prepare %s", _described(job))
            job.fail(err)
        except BaseException:
            self._forget(job)
            raise
        try:
            return await self._prepared(job)
        except StoreUnavailable:
            raise
        except Exception as err:
            # The change itself could not be written: say so, and record why.
            log.exception("failed to handle %s", _described(job))
            retry = self._arrived(Job(entry, owner, job.event))
            retry.fail(err)
            return await self._prepared(retry)

    def _prepare(
        self,
        event: Event,
        entry: InboxEntry,
        text: MessageText | None,
        person: MemberRef | None,
    ) -> Prepared:
        def stored_tz(member_id: str) -> str | None:
            with self.read_factory() as uow:
                member = uow.known_member(MemberRef(event.actor.community, member_id))
                return member.tz if member else None

        ready = usecases.prepare(event, stored_tz, self.prefs, entry.received_at, person)
        return replace(ready, text=text)

    async def _look_up(
        self, event: CommandInvoked, port: ChatPort | None
    ) -> tuple[MemberRef | None, ChannelRef | None]:
        """Whom or where a reminder is for, as the platform knows them (None: not here)."""
        person, channel = usecases.to_find(event)
        if port is None:
            return None, None
        community = event.actor.community
        return (
            await port.find_member(community, person) if person else None,
            await port.find_channel(community, channel) if channel else None,
        )

    async def _text_to_track(self, event: Event, port: ChatPort | None) -> MessageText | None:
        """The message a track reaction is on, unless it is tracked already."""
        if not isinstance(event, ReactionAdded) or canonical(event.emoji) != self.prefs.track_emoji:
            return None
        if await self._threads.run(self._is_tracked, event):
            return MessageText("")
        read = await port.read_message(event.message) if port is not None else None
        if read is None:
            raise CoopError("I can't read that message, so I can't track it.")
        return read

    def _is_tracked(self, event: ReactionAdded) -> bool:
        with self.read_factory() as uow:
            community = uow.find_community(event.actor.community)
            message = event.message
            return community is not None and (
                uow.action_by_message(community.id, message.channel.id, message.id) is not None
            )

    # --- group commit -------------------------------------------------------------------------
    #
    # Events wait in the order they arrived. A group is the run of prepared events at the
    # front of that line, so events are applied in the order they came, and those that come
    # together share one transaction. An event still being prepared holds the line for at
    # most `prepare_hold` seconds; then the others go first, except its sender's later ones.

    @property
    def _changed(self) -> asyncio.Event:
        """Set when an event in line is prepared or leaves it (one per event loop: tests run
        several loops in a row)."""
        loop = asyncio.get_running_loop()
        if self._signal is None or self._signal[0] is not loop:
            self._signal = (loop, asyncio.Event())
        return self._signal[1]

    def _arrived(self, job: Job) -> Job:
        job.since = asyncio.get_running_loop().time()
        job.done = asyncio.get_running_loop().create_future()
        self._line.append(job)
        if self._grouper is None or self._grouper.done():
            self._grouper = asyncio.create_task(self._apply_groups(), name="apply-groups")
        return job

    def _forget(self, job: Job) -> None:
        if job in self._line:
            self._line.remove(job)
        self._changed.set()

    async def _prepared(self, job: Job) -> bool:
        assert job.done is not None
        job.prepared = True
        self._changed.set()
        return await job.done

    @asynccontextmanager
    async def holding_groups(self) -> AsyncIterator[Callable[[int], Awaitable[None]]]:
        """Let events gather without applying any until the block ends (for tests that need
        a group of a known size, which timing alone cannot promise); the block gets a
        function that waits until `n` events are prepared and waiting."""
        held = self._held = asyncio.Event()

        async def until(n: int) -> None:
            while sum(job.prepared for job in self._line) < n:
                self._changed.clear()
                await self._changed.wait()

        try:
            yield until
        finally:
            self._held = None
            held.set()

    async def _apply_groups(self) -> None:
        """One group at a time (this is what serialises events in a process): wait a moment
        for the rest of a burst, apply up to GROUP_MAX events, settle their futures."""
        while self._line:
            await asyncio.sleep(GROUP_WINDOW)
            if self._held is not None:
                await self._held.wait()
            now = asyncio.get_running_loop().time()
            group, wait = take_group(self._line, now, self.prepare_hold)
            for job in group:
                self._line.remove(job)
            if not group:
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            try:
                results, earliest = await self.turns.run(self._threads, self._apply_group, group)
            except StoreUnavailable as err:
                for job in group:
                    job.settle(err)
                continue
            except Exception as err:
                if len(group) == 1:
                    group[0].settle(err)
                    continue
                # Not one event's fault that savepoints could undo (the commit itself
                # failed): apply each on its own, so only the one to blame fails.
                log.warning(
                    "a group of %d events failed (%r); applying each alone", len(group), err
                )
                for job in group:
                    job.alone = True
                self._line[:0] = group
                continue
            if earliest is not None:
                for callback in self.on_scheduled:
                    callback(earliest)
            for job, applied in zip(group, results, strict=True):
                job.settle(applied)

    def _apply_group(self, group: list[Job]) -> tuple[list[bool], datetime | None]:
        """Apply a group in one transaction; whether each was applied (not another
        process's), and when the soonest schedule it added is due."""
        with self.uow_factory() as uow:
            results = [self._apply_one(uow, job) for job in group]
            for job, applied in zip(group, results, strict=True):
                if applied and job.answer is None:
                    failpoints.hold(failpoints.INBOX_BEFORE_COMMIT, type(job.event).__name__)
            uow.commit()
            return results, uow.schedules.earliest

    def _apply_one(self, uow: UnitOfWork, job: Job) -> bool:
        """Apply one event of a group in a savepoint of its own: a rule it breaks, or a bug,
        undoes its own writes and none of the others'."""
        if job.answer is None:
            try:
                with uow.savepoint():
                    return self._change(uow, job)
            except CoopError as err:
                job.answer = err.message
            except StoreUnavailable:
                raise
            except Exception as err:
                log.exception("failed to handle %s", _described(job))
                job.fail(err)
        with uow.savepoint():
            return self._answer(uow, job)

    def _change(self, uow: UnitOfWork, job: Job) -> bool:
        entry, event = job.entry, job.event
        if not uow.inbox.settle(entry, job.owner, InboxState.APPLIED, self.delivery_clock.now()):
            return False
        community = uow.community(event.actor.community)
        turn = usecases.Turn(
            uow=uow,
            prefs=self.prefs,
            # The moment it happened, even when applied after a restart.
            now=entry.received_at,
            actor=event.actor,
            channel=channel_of(event),
            community=community,
            member=uow.member(community, event.actor),
            via=usecases.via_of(event),
        )
        effects = usecases.apply(turn, event, job.ready)
        cause = Cause(event.actor, turn.channel, entry.inbound.reply)
        uow.outbox.enqueue(deliveries(effects, cause), self.delivery_clock.now())
        return True

    def _answer(self, uow: UnitOfWork, job: Job) -> bool:
        """Settle the job's entry with nothing changed but a private answer to its sender."""
        assert job.answer is not None
        now = self.delivery_clock.now()
        if not uow.inbox.settle(job.entry, job.owner, job.state, now, job.error):
            return False
        event = job.event
        channel = channel_of(event)
        cause = Cause(event.actor, channel, job.entry.inbound.reply)
        reply = PrivateReply(event.actor, channel, job.answer)
        uow.outbox.enqueue(deliveries([reply], cause), now)
        return True

    async def tell(self, inbound: Inbound, text: str) -> None:
        """Answer an event privately without applying it (an adapter's own refusal)."""
        event = inbound.event
        channel = channel_of(event)
        cause = Cause(event.actor, channel, inbound.reply)
        rows = deliveries([PrivateReply(event.actor, channel, text)], cause)

        def write() -> None:
            with self.uow_factory() as uow:
                uow.outbox.enqueue(rows, self.delivery_clock.now())
                uow.commit()

        await self.turns.run(self._threads, write)
        self.enqueued()

    # --- queries ----------------------------------------------------------------------------

    async def commitments_of(self, member: MemberRef) -> list[Card]:
        """Cards of the open actions `member` is in or waiting for (for home screens)."""
        return await self._threads.run(self._commitments_of, member)

    def _commitments_of(self, member: MemberRef) -> list[Card]:
        with self.read_factory() as uow:
            found = uow.known_member(member)
            if found is None:
                return []
            actions = [a for a, _ in uow.open_actions_of(found)]
            uow.load_people(actions)
            return [card_for(a, self.clock.now()) for a in actions]

    async def open_cards(self, community: CommunityRef) -> list[Card]:
        """Cards of every open action in `community` (for pickers and autocomplete)."""
        return await self._threads.run(self._open_cards, community)

    def _open_cards(self, community: CommunityRef) -> list[Card]:
        with self.read_factory() as uow:
            found = uow.find_community(community)
            if found is None:
                return []
            actions = uow.open_actions(found.id)
            uow.load_people(actions)
            return [card_for(a, self.clock.now()) for a in actions]

    async def card(self, community: CommunityRef, number: int) -> Card | None:
        """The card of action `number` in `community`, whatever its state; None when there
        is no such action (for filling in a form: one action, not every open one)."""
        return await self._threads.run(self._card, community, number)

    def _card(self, community: CommunityRef, number: int) -> Card | None:
        with self.read_factory() as uow:
            found = uow.find_community(community)
            action = uow.read_action(found.id, number) if found is not None else None
            return card_for(action, self.clock.now()) if action is not None else None

    async def role_emoji(self, platform: str) -> set[str]:
        """The emoji of the roles of open tasks on `platform`, canonical (for the adapters'
        reaction filters, as they start)."""
        # Read once as an adapter starts, then added to as it draws cards, rather than asked
        # per reaction: Discord's gate decides synchronously, in gateway order, so it cannot
        # wait on the database, and a busy channel's reactions then cost no query at all. The
        # price: a role made and drawn by another process passes here only from the next
        # card with it this process draws, or its next start.
        return await self._threads.run(self._role_emoji, platform)

    def _role_emoji(self, platform: str) -> set[str]:
        with self.read_factory() as uow:
            return {canonical(e) for e in uow.open_role_emoji(platform)}


def _described(job: Job) -> str:
    """An event in a log line: its kind and delivery key, not who did it or what they typed
    (operators' logs are read by others; who pledged to a sealed drive is nobody's business)."""
    return f"{type(job.event).__name__} {job.entry.key}"


def take_group(
    line: list[Job], now: float, hold: float, most: int = GROUP_MAX
) -> tuple[list[Job], float | None]:
    """The next group from the front of `line`, and, when an event still being prepared
    stopped it, how long until that event may be passed (`hold` after it arrived). An event
    marked `alone` is a group by itself."""
    group: list[Job] = []
    passed: set[tuple[str, str, str]] = set()
    for job in line:
        if len(group) == most:
            break
        if job.alone and job.prepared and job.sender not in passed:
            # To be applied on its own (its group's commit failed): a group of one.
            return (group, None) if group else ([job], None)
        if not job.prepared:
            left = job.since + hold - now
            if left > 0:
                return group, left
            passed.add(job.sender)
        elif job.sender not in passed:
            group.append(job)
    return group, None


def channel_of(event: Event) -> ChannelRef:
    """Where to answer: the command's channel, else the channel of the message acted on."""
    if isinstance(event, CommandInvoked | EditRequested):
        return event.channel
    return event.message.channel
