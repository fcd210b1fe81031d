"""The application service: a recorded event in, its use case in one transaction, and what it
says written to the outbox in that same transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from bot import failpoints, usecases
from bot.cards import Card, Cause, PrivateReply, card_for
from bot.clock import Clock
from bot.emoji_names import canonical
from bot.errors import CoopError, StoreUnavailable
from bot.events import CommandInvoked, Event, Inbound, ReactionAdded
from bot.outbox import deliveries
from bot.ports import ChatPort, MessageText, UnitOfWorkFactory
from bot.queues import InboxEntry, InboxState
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.threads import Threads, WriteTurns

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong on my side and nothing was changed."


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
        # Events are applied one at a time per process; other processes wait on the database.
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads = Threads("coopbot-apply", 4)

    def attach(self, platform: str, port: ChatPort) -> None:
        """Read from `port` while applying `platform`'s events (names, message texts)."""
        self.ports[platform] = port

    def _serialised(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or loop is not self._loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock

    def enqueued(self) -> None:
        for callback in self.on_enqueued:
            callback()

    # --- applying ---------------------------------------------------------------------------

    async def apply(self, entry: InboxEntry, owner: str) -> bool:
        """Apply a recorded event, once: False when another process holds it now.

        A broken rule becomes a private answer; a busy database raises StoreUnavailable, for
        the caller to try again; anything else is answered with an apology and recorded.
        """
        event = entry.inbound.event
        port = self.ports.get(event.actor.community.platform)
        try:
            if port is not None:
                event = replace(event, actor=await port.member(event.actor))
            text = await self._text_to_track(event, port)
            async with self._serialised():
                return await self.turns.run(self._threads, self._apply, entry, owner, event, text)
        except CoopError as err:
            return await self.turns.run(
                self._threads, self._answer, entry, owner, event, err.message
            )
        except StoreUnavailable:
            raise
        except Exception as err:
            log.exception("failed to handle %r", event)
            return await self.turns.run(
                self._threads,
                self._answer,
                entry,
                owner,
                event,
                SORRY,
                InboxState.FAILED,
                repr(err),
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

    def _apply(self, entry: InboxEntry, owner: str, event: Event, text: MessageText | None) -> bool:
        with self.uow_factory() as uow:
            if not uow.inbox.settle(entry, owner, InboxState.APPLIED, self.delivery_clock.now()):
                return False
            ref = event.actor.community
            community = uow.community(ref)
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
            effects = usecases.apply(turn, event, text)
            cause = Cause(event.actor, turn.channel, entry.inbound.reply)
            uow.outbox.enqueue(deliveries(effects, cause), self.delivery_clock.now())
            failpoints.hold(failpoints.INBOX_BEFORE_COMMIT, type(event).__name__)
            uow.commit()
            return True

    def _answer(
        self,
        entry: InboxEntry,
        owner: str,
        event: Event,
        text: str,
        state: InboxState = InboxState.APPLIED,
        error: str = "",
    ) -> bool:
        """Settle `entry` with nothing changed but a private answer to whoever sent it."""
        now = self.delivery_clock.now()
        with self.uow_factory() as uow:
            if not uow.inbox.settle(entry, owner, state, now, error):
                return False
            channel = channel_of(event)
            cause = Cause(event.actor, channel, entry.inbound.reply)
            reply = PrivateReply(event.actor, channel, text)
            uow.outbox.enqueue(deliveries([reply], cause), now)
            uow.commit()
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
            community = uow.find_community(member.community)
            found = uow.find_member(community, member.id) if community else None
            return [card_for(a) for a in uow.open_actions_of(found)] if found else []

    async def open_cards(self, community: CommunityRef) -> list[Card]:
        """Cards of every open action in `community` (for pickers and autocomplete)."""
        return await self._threads.run(self._open_cards, community)

    def _open_cards(self, community: CommunityRef) -> list[Card]:
        with self.read_factory() as uow:
            found = uow.find_community(community)
            return [card_for(a) for a in uow.open_actions(found.id)] if found else []


def channel_of(event: Event) -> ChannelRef:
    """Where to answer: the command's channel, else the channel of the message acted on."""
    if isinstance(event, CommandInvoked):
        return event.channel
    return event.message.channel
