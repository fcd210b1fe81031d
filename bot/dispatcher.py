"""The one way out: delivers the outbox through each platform's chat port.

Rows are claimed under a lease, each the oldest undelivered row of its lane, so a card's post
and its edits, and everything for one person, arrive in order while other lanes go ahead.
Cards are drawn as they are when sent. The result of a send is written fenced by owner and
claim: a process that lost its lease (paused, partitioned) writes nothing, and whoever took
the row over asks the platform what arrived before sending again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot import failpoints
from bot.cards import (
    AskForTitle,
    Card,
    ChannelMessage,
    DirectMessage,
    Dismiss,
    Outgoing,
    PostCard,
    PrivateReply,
    UpdateCard,
    card_for,
)
from bot.clock import Clock
from bot.errors import StoreUnavailable
from bot.metrics import Metrics
from bot.outbox import decode, notice
from bot.pacing import Pacing
from bot.ports import (
    ChatPort,
    Delivery,
    RateLimited,
    Refused,
    Unavailable,
    UnitOfWorkFactory,
)
from bot.queues import DeliveryKind, DeliveryState, NewDelivery, OutboxEntry
from bot.refs import MessageRef
from bot.threads import Threads, WriteTurns

log = logging.getLogger(__name__)

# What reaches a person as a new message (and so is refused when they take none).
_TO_PEOPLE = (DeliveryKind.DM, DeliveryKind.TITLE_PROMPT)
_REMEMBERED = 10_000  # pacing entries kept before old ones are forgotten
_BATCH = 200


@dataclass(frozen=True)
class _Finish:
    state: DeliveryState
    message_id: str | None = None
    error: str = ""
    # A card sent: (action id, its message id, what it shows), kept with the action.
    card_shown: tuple[int, str, str] | None = None
    notice: NewDelivery | None = None
    tried: bool = True  # a send was made (not: expired, skipped, refused beforehand)


@dataclass(frozen=True)
class _Release:
    not_before: datetime
    maybe_sent: bool
    error: str = ""
    tried: bool = True  # a send was made (not: only waiting for its turn)
    reason: str = ""  # why it failed for now, for the metrics (rate_limited, unavailable, ...)


_Result = tuple[OutboxEntry, "_Finish | _Release", "asyncio.Future[bool]"]


def _prune(times: dict[Any, datetime], before: datetime) -> None:
    if len(times) > _REMEMBERED:
        for key in [k for k, t in times.items() if t < before]:
            del times[key]


@dataclass(frozen=True)
class _Drawn:
    """A card as the action is now; `shown` is the digest of what its message shows."""

    card: Card
    digest: str
    message_id: str | None
    shown: str | None


def digest(card: Card) -> str:
    return hashlib.sha1(repr(card).encode(), usedforsecurity=False).hexdigest()


@dataclass
class _Platform:
    port: ChatPort
    pacing: Pacing
    flights: dict[int, asyncio.Task[None]] = field(default_factory=dict)


class Dispatcher:
    """Claims due outbox rows, sends them through their platform's port, records the result.

    `owner` names this process in leases; `lease` is how long a claim lasts without renewal
    (renewed while a send is in flight); `poll` is how often to look for rows other
    processes left. Time comes from `clock`, so tests move it by hand; cards are drawn as
    of `card_clock` (the bot's now).
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        read_factory: UnitOfWorkFactory,
        clock: Clock,
        owner: str,
        lease: float = 10.0,
        poll: float = 1.0,
        max_attempts: int = 12,
        turns: WriteTurns | None = None,
        card_clock: Clock | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        # Cards say how long a drive has left in the bot's time, which the console's
        # :advance moves; pacing and leases keep to `clock`.
        self.card_clock = card_clock or clock
        self.turns = turns or WriteTurns(fair=False)
        self.read_factory = read_factory
        self.clock = clock
        self.owner = owner
        self.lease = timedelta(seconds=lease)
        self.poll = poll
        self.max_attempts = max_attempts
        self._platforms: dict[str, _Platform] = {}
        # Pacing: the next free place in each bucket's line, the places rows wait with, and
        # when each bucket may send next (after the last send, or a rate limit).
        self._next_slot: dict[Hashable, datetime] = {}
        self._held_slot: dict[int, datetime] = {}
        self._earliest: dict[Hashable, datetime] = {}
        self._unreachable: dict[tuple[str, str], datetime] = {}
        self._due: datetime | None = None
        self._threads = Threads("coopbot-outbox", 8)
        self._results: list[_Result] = []
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._rounds = asyncio.Lock()
        self.metrics = Metrics()

    # --- wiring --------------------------------------------------------------------------

    def attach(self, platform: str, port: ChatPort, pacing: Pacing) -> None:
        """Deliver `platform`'s rows through `port`, paced by `pacing`."""
        self._platforms[platform] = _Platform(port, pacing)
        self.kick()

    def kick(self) -> None:
        """Something was enqueued or finished: look for due rows now."""
        if self._loop is not None:
            self._wake.set()

    def _bind(self) -> None:
        # Events and locks belong to one event loop; tests run several loops in a row.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._wake, self._rounds = loop, asyncio.Event(), asyncio.Lock()

    # --- running -------------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver until `stop()`; what is in flight then is left to `drain` or `flush`."""
        self._bind()
        self._stopping = False
        beat = asyncio.create_task(self._heartbeat(), name="outbox-leases")
        try:
            while not self._stopping:
                self._wake.clear()
                claimed = await self.round()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._pause(claimed))
        finally:
            beat.cancel()

    def stop(self) -> None:
        self._stopping = True
        self.kick()

    def _pause(self, claimed: int) -> float:
        """Seconds until the next look: when the soonest row falls due, at most `poll`."""
        if claimed:
            return 0.0
        if self._due is None:
            return self.poll
        due_in = (self._due - self.clock.now()).total_seconds()
        # Due but not claimed: it waits behind a send in flight, whose end kicks us.
        return self.poll if due_in <= 0 else min(self.poll, due_in)

    async def round(self, only: Iterable[str] | None = None) -> int:
        """Claim what is due for each platform (up to its free concurrency) and start sending."""
        self._bind()
        async with self._rounds:
            names = [p for p in self._platforms if only is None or p in set(only)]
            try:
                self._due = await self._threads.run(self._next_due, names)
            except StoreUnavailable as err:
                log.warning("cannot read the outbox (%s); trying again shortly", err)
                return 0
            # Now, after the read: a row that fell due while it ran is claimed in this round
            # (else it waited a poll, with nothing in flight to kick the next round sooner).
            now = self.clock.now()
            if self._due is None or self._due > now:
                return 0
            started = 0
            for name in names:
                platform = self._platforms.get(name)
                if platform is None:
                    continue
                free = platform.pacing.concurrency - len(platform.flights)
                if free <= 0:
                    continue
                try:
                    entries = await self.turns.run(self._threads, self._claim, name, free, now)
                except StoreUnavailable as err:
                    log.warning("cannot claim deliveries (%s); trying again shortly", err)
                    continue
                for entry in entries:
                    task = asyncio.create_task(self._deliver(entry, platform))
                    platform.flights[entry.id] = task
                started += len(entries)
            return started

    async def drain(self, timeout: float | None = None, only: Iterable[str] | None = None) -> bool:
        """Send everything due now and wait for it; False when `timeout` ran out first."""
        names = list(only) if only is not None else None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            started = await self.round(names)
            flights = self._flights(names)
            if not flights:
                if started == 0:
                    return True
                continue
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(flights, timeout=left, return_when=asyncio.FIRST_COMPLETED)

    async def settle(self, timeout: float | None = None) -> bool:
        """Deliver until no row is left, waiting out pacing and retries, for at most `timeout`
        seconds; False when rows are left (they go out on a later run)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0 or not await self.drain(left):
                return False
            if self._due is None:
                return True
            wait = max(0.0, (self._due - self.clock.now()).total_seconds())
            if deadline is not None and wait > deadline - loop.time():
                return False
            # Never sleep long: a row due later may become due sooner when another finishes.
            await asyncio.sleep(min(wait, self.poll) or 0.01)

    async def flush(self, timeout: float) -> bool:
        """On the way out: send what falls due within `timeout` (paced posts too).

        What is still in flight then is left as it is: its lease runs out and the next start
        asks the platform about it before sending again.
        """
        done = await self.settle(timeout)
        if not done:
            log.warning(
                "stopping with %d delivery(ies) in flight; the rest stays queued for the "
                "next start",
                self.in_flight,
            )
        return done

    def _flights(self, only: list[str] | None) -> set[asyncio.Task[None]]:
        return {
            task
            for name, platform in self._platforms.items()
            if only is None or name in only
            for task in platform.flights.values()
        }

    @property
    def in_flight(self) -> int:
        return sum(len(p.flights) for p in self._platforms.values())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            ids = [i for p in self._platforms.values() for i in p.flights]
            if ids:
                try:
                    await self.turns.run(self._threads, self._extend, ids)
                except StoreUnavailable as err:
                    log.warning("could not renew delivery leases: %s", err)

    # --- one delivery --------------------------------------------------------------------

    async def _deliver(self, entry: OutboxEntry, platform: _Platform) -> None:
        try:
            result = await self._attempt(entry, platform)
            self._count(entry, result)
            await self._record(entry, result)
        except Exception:
            log.exception("delivery %d (%s) failed unexpectedly", entry.id, entry.kind.value)
        finally:
            platform.flights.pop(entry.id, None)
            self.kick()

    def _count(self, entry: OutboxEntry, result: _Finish | _Release) -> None:
        """Count a send that was made, or one that will never be (failed, expired)."""
        m, kind = self.metrics, entry.kind.value
        if isinstance(result, _Release):
            if result.reason:
                m.delivery_failures.labels(entry.platform, kind, result.reason).inc()
        elif result.state is DeliveryState.SENT:
            m.deliveries.labels(entry.platform, kind).inc()
        elif result.state is DeliveryState.FAILED:
            reason = "refused" if result.tried else "given_up"
            m.delivery_failures.labels(entry.platform, kind, reason).inc()
        elif result.state is DeliveryState.EXPIRED:
            m.delivery_failures.labels(entry.platform, kind, "expired").inc()

    async def _attempt(self, entry: OutboxEntry, platform: _Platform) -> _Finish | _Release:
        now = self.clock.now()
        if entry.expires_at is not None and now >= entry.expires_at:
            return _Finish(DeliveryState.EXPIRED, error="too late to answer", tried=False)
        if entry.tries >= self.max_attempts:
            return _Finish(
                DeliveryState.FAILED, error=f"gave up after {entry.tries} tries", tried=False
            )
        out = decode(entry.payload)
        if self._refuses(entry, out, now):
            refused = "the recipient refused messages recently"
            return _Finish(DeliveryState.FAILED, error=refused, tried=False)
        drawn: _Drawn | None = None
        if entry.kind in (DeliveryKind.CARD_POST, DeliveryKind.CARD_EDIT):
            assert entry.action_id is not None
            drawn = await self._threads.run(self._draw, entry.action_id)
            if drawn is None:
                return _Finish(DeliveryState.SKIPPED, error="the action is gone", tried=False)
            if entry.kind is DeliveryKind.CARD_EDIT:
                if drawn.message_id is None:
                    skip = "the card was never posted"
                    return _Finish(DeliveryState.SKIPPED, error=skip, tried=False)
                if not entry.recheck and drawn.digest == drawn.shown:
                    # Its changes went out with an edit before it, drawn later than they were.
                    skip = "nothing new to show"
                    return _Finish(DeliveryState.SKIPPED, error=skip, tried=False)
        bucket = platform.pacing.bucket(entry)
        if bucket is not None:
            slot = self._slot(entry.id, bucket[0], bucket[1], now)
            if slot > now:
                return _Release(slot, entry.recheck, tried=False)
        delivery = Delivery(entry.key, entry.recheck, entry.first_attempt_at)
        await failpoints.reached(failpoints.OUTBOX_BEFORE_SEND, entry.kind.value)
        try:
            result = await self._send(entry, out, drawn, platform.port, delivery)
        except RateLimited as err:
            # From when the answer came, not from when the send began.
            until = self.clock.now() + timedelta(seconds=err.retry_after)
            if bucket is not None:
                self._pause_bucket(bucket[0], until)
            log.info("delivery %d rate limited; again in %.1f s", entry.id, err.retry_after)
            self.metrics.rate_limited.labels(entry.platform, err.route).inc()
            return _Release(until, entry.recheck, str(err), reason="rate_limited")
        except Unavailable as err:
            again = now + self._backoff(entry.tries + 1)
            log.warning("delivery %d failed for now (%s); trying again", entry.id, err)
            return _Release(again, entry.recheck or err.maybe_sent, str(err), reason="unavailable")
        except Refused as err:
            if err.unreachable:
                pause = timedelta(seconds=platform.pacing.unreachable_pause)
                self._unreachable[(entry.platform, entry.target)] = now + pause
            log.info("delivery %d refused: %s", entry.id, err)
            told = notice(out.cause, err.notice) if err.notice and out.cause else None
            return _Finish(DeliveryState.FAILED, error=str(err), notice=told)
        except Exception as err:
            # Unknown: it may have reached the platform, so check there before sending again.
            log.exception("delivery %d failed", entry.id)
            return _Release(now + self._backoff(entry.tries + 1), True, repr(err), reason="error")
        finally:
            if bucket is not None:
                # The pace counts from when the platform answered: the request may have
                # reached it late (a busy connection pool, a busy process), not when it began.
                after = self.clock.now() + timedelta(seconds=bucket[1])
                self._pause_bucket(bucket[0], after)
        await failpoints.reached(failpoints.OUTBOX_AFTER_SEND, entry.kind.value)
        return result

    async def _send(
        self,
        entry: OutboxEntry,
        out: Outgoing,
        drawn: _Drawn | None,
        port: ChatPort,
        d: Delivery,
    ) -> _Finish:
        effect = out.effect
        sent = DeliveryState.SENT
        if isinstance(effect, PostCard):
            assert drawn is not None and entry.action_id is not None
            posted = await port.post_card(d, effect.channel, drawn.card, effect.reply_to)
            shown = (entry.action_id, posted.id, drawn.digest)
            return _Finish(sent, posted.id, card_shown=shown)
        if isinstance(effect, UpdateCard):
            assert drawn is not None and drawn.message_id is not None
            message = MessageRef(effect.channel, drawn.message_id)
            await port.update_card(d, message, drawn.card)
            assert entry.action_id is not None
            shown = (entry.action_id, drawn.message_id, drawn.digest)
            return _Finish(sent, drawn.message_id, card_shown=shown)
        if isinstance(effect, DirectMessage):
            return _Finish(sent, await port.send_dm(d, effect.to, effect.text, effect.buttons))
        if isinstance(effect, ChannelMessage):
            return _Finish(sent, await port.post_message(d, effect.channel, effect.text))
        if isinstance(effect, PrivateReply):
            card = None
            if effect.shows is not None:
                current = await self._threads.run(self._draw, effect.shows)
                # A copy for one reader: its buttons would act on a message that is not the card.
                card = (
                    replace(current.card, buttons=(), editable=False)
                    if current is not None
                    else None
                )
            await port.reply_private(
                d, effect.to, effect.channel, effect.text, out.reply, out.first, card=card
            )
            return _Finish(sent)
        if isinstance(effect, AskForTitle):
            asked = await port.ask_for_title(
                d, effect.to, effect.message, effect.number, effect.title
            )
            return _Finish(sent, asked)
        assert isinstance(effect, Dismiss) and out.reply is not None
        await port.dismiss(d, effect.to, effect.channel, out.reply)
        return _Finish(sent)

    def _refuses(self, entry: OutboxEntry, out: Outgoing, now: datetime) -> bool:
        """Whether the recipient refused a message lately, so this one would be refused too."""
        to_person = entry.kind in _TO_PEOPLE or (
            entry.kind is DeliveryKind.REPLY and out.reply is None
        )
        until = self._unreachable.get((entry.platform, entry.target))
        if until is not None and until <= now:
            del self._unreachable[(entry.platform, entry.target)]
            return False
        return to_person and until is not None

    def _slot(self, entry_id: int, bucket: Hashable, interval: float, now: datetime) -> datetime:
        """When `entry_id` may go in `bucket`: now, or the later time to come back at.

        A bucket lets one message go per `interval`, and none while a rate limit lasts;
        those that must wait keep their place in line.
        """
        self._forget_the_past(now)
        step = timedelta(seconds=interval)
        earliest = self._earliest.get(bucket, now)
        place = self._held_slot.pop(entry_id, None)
        if place is None:
            place = max(now, self._next_slot.get(bucket, now))
            self._next_slot[bucket] = place + step
        if max(place, earliest) <= now:
            self._earliest[bucket] = now + step
            return now
        self._held_slot[entry_id] = max(place, earliest)
        return self._held_slot[entry_id]

    def _pause_bucket(self, bucket: Hashable, until: datetime) -> None:
        self._earliest[bucket] = max(self._earliest.get(bucket, until), until)

    def _forget_the_past(self, now: datetime) -> None:
        """Drop pacing state nobody waits on any more (rows taken over elsewhere, channels
        gone quiet), so a long-running process does not grow."""
        cutoff = now - timedelta(minutes=5)
        _prune(self._earliest, cutoff)
        _prune(self._next_slot, cutoff)
        _prune(self._held_slot, cutoff)

    @staticmethod
    def _backoff(attempt: int) -> timedelta:
        return timedelta(seconds=min(300, 2 ** min(attempt, 9)))

    async def _record(self, entry: OutboxEntry, result: _Finish | _Release) -> None:
        """Write the result with others that finished meanwhile, in one transaction; the
        delivery holds its lane until then."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._results.append((entry, result, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_results(), name="outbox-results")
        if not await done:
            log.warning(
                "delivery %d: this process lost its lease; another one has taken it over",
                entry.id,
            )

    async def _write_results(self) -> None:
        while self._results:
            batch, self._results = self._results[:_BATCH], self._results[_BATCH:]
            kept = await self._write_waiting_out_a_busy_store(batch)
            for (_, _, done), ok in zip(batch, kept, strict=True):
                done.set_result(ok)

    async def _write_waiting_out_a_busy_store(self, batch: list[_Result]) -> list[bool]:
        """Keep trying while the leases still hold; after that the rows are taken over and
        checked against the platform anyway."""
        give_up = asyncio.get_running_loop().time() + self.lease.total_seconds()
        delay = 0.2
        while True:
            try:
                return await self.turns.run(self._threads, self._write, batch)
            except StoreUnavailable as err:
                if asyncio.get_running_loop().time() > give_up:
                    log.error("could not record %d delivery result(s): %s", len(batch), err)
                    return [False] * len(batch)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

    # --- database (worker threads) ------------------------------------------------------

    def _next_due(self, platforms: list[str]) -> datetime | None:
        if not platforms:
            return None
        with self.read_factory() as uow:
            return uow.outbox.next_due(platforms)

    def _claim(self, platform: str, limit: int, now: datetime) -> list[OutboxEntry]:
        with self.uow_factory() as uow:
            entries = uow.outbox.claim(platform, self.owner, now, now + self.lease, limit)
            uow.commit()
            return entries

    def _extend(self, ids: list[int]) -> None:
        with self.uow_factory() as uow:
            uow.outbox.extend(ids, self.owner, self.clock.now() + self.lease)
            uow.commit()

    def _draw(self, action_id: int) -> _Drawn | None:
        with self.read_factory() as uow:
            action = uow.action_by_id(action_id)
            if action is None:
                return None
            message_id, shown = uow.card_shown(action_id)
            card = card_for(action, self.card_clock.now())
            return _Drawn(card, digest(card), message_id, shown)

    def _write(self, batch: list[_Result]) -> list[bool]:
        now = self.clock.now()
        kept: list[bool] = []
        with self.uow_factory() as uow:
            for entry, result, _ in batch:
                if isinstance(result, _Release):
                    ok = uow.outbox.release(
                        entry,
                        self.owner,
                        result.not_before,
                        result.maybe_sent,
                        result.error,
                        result.tried,
                    )
                else:
                    ok = uow.outbox.finish(
                        entry,
                        self.owner,
                        result.state,
                        now,
                        result.message_id,
                        result.error,
                        result.tried,
                    )
                    if ok and result.card_shown is not None:
                        uow.set_card_shown(*result.card_shown)
                    if ok and result.notice is not None:
                        uow.outbox.enqueue([result.notice], now)
                kept.append(ok)
            uow.commit()
        return kept
