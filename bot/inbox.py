"""The way in: what an adapter is about to acknowledge is recorded first, then applied once.

Recording batches whatever arrives together into one transaction. An acknowledgement waits
for its record at most `ack_wait` seconds: a slow database never makes a platform give up on
the bot, and an event acknowledged before it was recorded is logged as such and recorded as
soon as the database lets it. Applying happens at once; what a crashed or stopped process
recorded but did not apply is taken over when its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import codec
from bot.app import Coop
from bot.clock import Clock
from bot.errors import StoreUnavailable
from bot.events import Inbound
from bot.metrics import Metrics, kind, verb
from bot.ports import UnitOfWorkFactory
from bot.queues import InboxEntry
from bot.threads import Threads

log = logging.getLogger(__name__)
# One line per event applied: its own logger, so a terminal chat can keep it quiet.
events_log = logging.getLogger("bot.events")

_BATCH = 200
# Pruning: how often (seconds of polling) and how many rows of each table per transaction.
_PRUNE_EVERY = 60.0
_PRUNE_BATCH = 1000


@dataclass
class _Arrival:
    inbound: Inbound
    key: str
    payload: str
    received_at: datetime
    recorded: asyncio.Future[bool]
    since: float  # the event loop's time at arrival, for the apply latency


class Inbox:
    """Records inbound events durably and applies each exactly once through `coop`."""

    def __init__(
        self,
        coop: Coop,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        owner: str,
        lease: float = 10.0,
        ack_wait: float = 1.5,
        poll: float = 1.0,
        keep: float = 24 * 3600.0,
    ) -> None:
        self.coop = coop
        self.turns = coop.turns
        self.uow_factory = uow_factory
        self.clock = clock
        self.owner = owner
        self.lease = timedelta(seconds=lease)
        self.ack_wait = ack_wait
        self.poll = poll
        self.keep = timedelta(seconds=keep)
        self._arrivals: list[_Arrival] = []
        self._writer: asyncio.Task[None] | None = None
        self._applying: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        # Recording has a thread of its own: an acknowledgement waits for it, and nothing
        # else (an apply or a claim stuck behind a lock) may take that thread.
        self._recording = Threads("coopbot-inbox", 1)
        self._threads = Threads("coopbot-sweep", 2)
        self.metrics = Metrics()

    # --- taking events in --------------------------------------------------------------------

    async def receive(self, inbound: Inbound) -> None:
        """Record `inbound` and have it applied; returns once it is recorded (a repeat of an
        event recorded before is dropped), or after `ack_wait` seconds when the database is slow."""
        arrival = self._arrival(inbound)
        self.metrics.event(self.metrics.received, inbound.event)
        self._arrivals.append(arrival)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="inbox-writer")
        try:
            await asyncio.wait_for(asyncio.shield(arrival.recorded), self.ack_wait)
        except TimeoutError:
            log.warning(
                "acknowledging %s before it is recorded: the database is slow; it is kept in "
                "memory until it is, and lost if this process dies first",
                arrival.key,
            )
        # The adapter acknowledges as soon as this returns.
        self.metrics.event(self.metrics.acked, inbound.event)

    async def handle(self, inbound: Inbound) -> None:
        """Record and apply `inbound`, waiting for both (the console and tests)."""
        arrival = self._arrival(inbound)
        self.metrics.event(self.metrics.received, inbound.event)
        [entry_id] = await self._record([arrival])
        if entry_id is None:
            self.metrics.event(self.metrics.deduplicated, inbound.event)
        else:
            await self._apply(self._entry(arrival, entry_id), arrival.since)

    def _arrival(self, inbound: Inbound) -> _Arrival:
        ref = inbound.event.actor.community
        key = inbound.key or f"{ref.platform}:{ref.id}:local:{uuid.uuid4().hex}"
        loop = asyncio.get_running_loop()
        payload = codec.dumps(inbound)
        return _Arrival(
            inbound, key, payload, self.coop.clock.now(), loop.create_future(), loop.time()
        )

    @staticmethod
    def _entry(arrival: _Arrival, entry_id: int) -> InboxEntry:
        return InboxEntry(entry_id, arrival.key, arrival.inbound, arrival.received_at, 1)

    async def _write(self) -> None:
        """Record what arrived, a batch per transaction, until nothing is waiting."""
        while self._arrivals:
            batch, self._arrivals = self._arrivals[:_BATCH], self._arrivals[_BATCH:]
            ids = await self._record(batch)
            # Acknowledgements first: they wait on these, and applying can follow.
            for arrival, entry_id in zip(batch, ids, strict=True):
                if not arrival.recorded.done():
                    arrival.recorded.set_result(entry_id is not None)
            for arrival, entry_id in zip(batch, ids, strict=True):
                if entry_id is None:
                    self.metrics.event(self.metrics.deduplicated, arrival.inbound.event)
                else:
                    self._start(self._entry(arrival, entry_id), arrival.since)

    async def _record(self, batch: list[_Arrival]) -> list[int | None]:
        """Insert `batch`, waiting out a busy database for as long as it takes."""
        rows = [
            (a.key, a.inbound.event.actor.community.platform, a.payload, a.received_at)
            for a in batch
        ]
        delay = 0.2
        while True:
            try:
                # Urgent: acknowledgements wait on it; applying and sending can wait.
                return await self.turns.run(self._recording, self._insert, rows, urgent=True)
            except StoreUnavailable as err:
                log.warning("cannot record %d event(s) yet (%s); trying again", len(rows), err)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)

    def _insert(self, rows: list[tuple[str, str, str, datetime]]) -> list[int | None]:
        with self.uow_factory() as uow:
            lease_until = self.clock.now() + self.lease
            ids = uow.inbox.record(rows, self.owner, lease_until)
            uow.commit()
            return ids

    # --- applying -----------------------------------------------------------------------------

    def _start(self, entry: InboxEntry, since: float | None = None) -> None:
        task = asyncio.create_task(self._apply(entry, since), name=f"apply-{entry.id}")
        self._applying[entry.id] = task
        task.add_done_callback(lambda _: self._applying.pop(entry.id, None))

    async def _apply(self, entry: InboxEntry, since: float | None = None) -> None:
        """Apply `entry`, trying again for as long as the database is unavailable; `since`:
        when it arrived (else it was recorded by a process before, and taken over now)."""
        loop = asyncio.get_running_loop()
        since = loop.time() if since is None else since
        delay = 0.2
        while True:
            try:
                applied = await self.coop.apply(entry, self.owner)
                break
            except StoreUnavailable as err:
                log.warning("cannot apply %s yet (%s); trying again", entry.key, err)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
        if applied:
            self.coop.enqueued()
            self._applied(entry, loop.time() - since)
        else:
            log.info("%s was taken over by another process", entry.key)

    def _applied(self, entry: InboxEntry, seconds: float) -> None:
        event = entry.inbound.event
        self.metrics.event(self.metrics.applied, event)
        community = event.actor.community
        self.metrics.apply_seconds.labels(community.platform).observe(seconds)
        if not events_log.isEnabledFor(logging.INFO):
            return
        # One line per event: what an operator searches by (its key, where, what, how long);
        # never what anyone typed.
        what, action = kind(event), verb(event)
        events_log.info(
            "applied %s %s (%s, %.0f ms)",
            what,
            entry.key,
            action,
            seconds * 1000,
            extra={
                "event": entry.key,
                "kind": what,
                "community": f"{community.platform}:{community.id}",
                "action": action,
                "latency_ms": round(seconds * 1000, 1),
            },
        )

    # --- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until `stop()`: take over events left by processes that stopped or lost their
        lease, and renew the leases on those this process is applying."""
        self._stopping = False
        beat = self.lease.total_seconds() / 3
        since_beat = beat
        since_prune = _PRUNE_EVERY
        while not self._stopping:
            try:
                await self.sweep()
                if since_beat >= beat:
                    await self.turns.run(self._threads, self._extend, list(self._applying))
                    since_beat = 0.0
                if since_prune >= _PRUNE_EVERY:
                    await self.prune()
                    since_prune = 0.0
            except StoreUnavailable as err:
                log.warning("cannot look for unapplied events (%s)", err)
            await asyncio.sleep(self.poll)
            since_beat += self.poll
            since_prune += self.poll

    def stop(self) -> None:
        self._stopping = True

    async def prune(self) -> int:
        """Forget events and deliveries older than `keep`, a batch at a time (each batch its
        own short transaction); how many rows in all.

        A platform retries an event within minutes (Slack), or replays it on a resumed
        gateway session; `keep` (a day by default) is far longer, so a retry still finds its
        event, and the tables stay the size of a day's traffic.
        """
        removed = 0
        while True:
            events, sent = await self.turns.run(self._threads, self._prune_batch)
            removed += events + sent
            if max(events, sent) < _PRUNE_BATCH:
                return removed

    def _prune_batch(self) -> tuple[int, int]:
        with self.uow_factory() as uow:
            events = uow.inbox.prune(self.coop.clock.now() - self.keep, _PRUNE_BATCH)
            sent = uow.outbox.prune(self.coop.delivery_clock.now() - self.keep, _PRUNE_BATCH)
            uow.commit()
        return events, sent

    async def sweep(self) -> int:
        """Claim recorded events whose holder's lease ran out and apply them; how many."""
        platforms = list(self.coop.ports)
        if not platforms:
            return 0
        busy = list(self._applying)
        entries = await self.turns.run(self._threads, self._claim, platforms, busy)
        for entry in entries:
            log.info("applying %s, recorded before but not applied", entry.key)
            self._start(entry)
        return len(entries)

    def _claim(self, platforms: list[str], busy: list[int]) -> list[InboxEntry]:
        now = self.clock.now()
        with self.uow_factory() as uow:
            lease_until = now + self.lease
            entries = uow.inbox.claim(platforms, self.owner, now, lease_until, _BATCH, busy)
            uow.commit()
            return entries

    def _extend(self, ids: list[int]) -> None:
        if ids:
            with self.uow_factory() as uow:
                uow.inbox.extend(ids, self.owner, self.clock.now() + self.lease)
                uow.commit()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything received so far is recorded and applied; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._writer is not None and not self._writer.done() or self._applying:
            pending: set[asyncio.Task[None]] = set(self._applying.values())
            if self._writer is not None and not self._writer.done():
                pending.add(self._writer)
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                log.warning(
                    "stopping with %d event(s) not applied; they are applied on the next start",
                    len(self._applying) + len(self._arrivals),
                )
                return False
            await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        return True

    @property
    def busy(self) -> bool:
        return bool(self._arrivals or self._applying) or (
            self._writer is not None and not self._writer.done()
        )
