"""The application service: events in, use cases in a transaction, effects out to the chat."""

from __future__ import annotations

import asyncio
import logging

from bot import usecases
from bot.cards import (
    Card,
    DirectMessage,
    Effect,
    PostCard,
    PrivateReply,
    UpdateCard,
    card_for,
)
from bot.clock import Clock
from bot.emoji_names import canonical
from bot.errors import CoopError
from bot.events import CommandInvoked, Event, ReactionAdded
from bot.ports import ChatPort, UnitOfWorkFactory
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef

log = logging.getLogger(__name__)


class Coop:
    """Handles neutral events from any adapter against one store."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, prefs: usecases.Preferences
    ) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        self.prefs = prefs
        # Events are applied one at a time per process (other processes are serialised by the
        # database); what they say about one card is delivered in that order, while slow sends
        # for other cards (Slack paces posts per channel) go ahead meanwhile.
        self._lock = asyncio.Lock()
        self._card_order = CardOrder()

    async def handle(self, event: Event, chat: ChatPort) -> None:
        """Apply `event` and deliver what it says; errors become private replies."""
        turn = self._card_order.no_turn
        try:
            text = await self._text_to_track(event, chat)
            async with self._lock:
                effects = await asyncio.to_thread(self._apply, event, text)
                turn = self._card_order.take_turn(event.actor.community, effects)
        except CoopError as err:
            effects = [PrivateReply(event.actor, _channel_of(event), err.message)]
        except Exception:
            log.exception("failed to handle %r", event)
            effects = [
                PrivateReply(
                    event.actor,
                    _channel_of(event),
                    "Sorry, something went wrong on my side and nothing was changed.",
                )
            ]
        async with turn:
            await self.deliver(effects, chat)

    async def _text_to_track(self, event: Event, chat: ChatPort) -> str | None:
        """Fetch the text of a message reacted to with the track emoji, unless already tracked."""
        if not isinstance(event, ReactionAdded) or canonical(event.emoji) != self.prefs.track_emoji:
            return None
        if await asyncio.to_thread(self._is_tracked, event):
            return ""
        text = await chat.fetch_message_text(event.message)
        if text is None:
            raise CoopError("I can't read that message, so I can't track it.")
        return text

    def _is_tracked(self, event: ReactionAdded) -> bool:
        with self.uow_factory() as uow:
            community = uow.community(event.actor.community)
            return uow.action_by_message(community.id, event.message.id) is not None

    async def commitments_of(self, member: MemberRef) -> list[Card]:
        """Cards of the open actions `member` is in or waiting for (for home screens)."""
        return await asyncio.to_thread(self._commitments_of, member)

    def _commitments_of(self, member: MemberRef) -> list[Card]:
        with self.uow_factory() as uow:
            community = uow.community(member.community)
            return [card_for(a) for a in uow.open_actions_of(uow.member(community, member))]

    async def open_cards(self, community: CommunityRef) -> list[Card]:
        """Cards of every open action in `community` (for pickers and autocomplete)."""
        return await asyncio.to_thread(self._open_cards, community)

    def _open_cards(self, community: CommunityRef) -> list[Card]:
        with self.uow_factory() as uow:
            return [card_for(a) for a in uow.open_actions(uow.community(community).id)]

    def _apply(self, event: Event, text: str | None) -> list[Effect]:
        with self.uow_factory() as uow:
            now = self.clock.now()
            ref = event.actor.community
            if event.event_id and not uow.claim_event(
                f"{ref.platform}:{ref.id}:{event.event_id}", now
            ):
                return []
            community = uow.community(ref)
            turn = usecases.Turn(
                uow=uow,
                prefs=self.prefs,
                now=now,
                actor=event.actor,
                channel=_channel_of(event),
                community=community,
                member=uow.member(community, event.actor),
                via=usecases.via_of(event),
            )
            effects = usecases.apply(turn, event, text)
            uow.commit()
            return effects

    async def deliver(self, effects: list[Effect], chat: ChatPort) -> None:
        """Send effects in order; a failed send is logged and does not stop the rest."""
        for effect in effects:
            try:
                await self._deliver_one(effect, chat)
            except Exception:
                log.exception("failed to deliver %r", effect)

    async def _deliver_one(self, effect: Effect, chat: ChatPort) -> None:
        if isinstance(effect, PostCard):
            posted = await chat.post_card(effect.channel, effect.card, effect.reply_to)
            current = await asyncio.to_thread(self._record_card, effect, posted)
            # Changes made while the card was on its way found no card to edit: catch up.
            if current is not None and current != effect.card:
                await chat.update_card(posted, current)
        elif isinstance(effect, UpdateCard):
            await chat.update_card(effect.message, effect.card)
        elif isinstance(effect, DirectMessage):
            await chat.send_dm(effect.to, effect.text)
        else:
            await chat.reply_private(effect.to, effect.channel, effect.text)

    def _record_card(self, effect: PostCard, posted: MessageRef) -> Card | None:
        """Remember where the card went; returns the action's card as it is now."""
        with self.uow_factory() as uow:
            action = uow.get_action(effect.community_id, effect.card.number)
            if action is None:
                return None
            action.card_message_id = posted.id
            uow.save_action(action)
            uow.commit()
            return card_for(action)


class _Turn:
    """One event's place in the delivery order of a card: waits for the events before it."""

    def __init__(self, previous: asyncio.Future[None] | None, mine: asyncio.Future[None] | None):
        self.previous, self.mine = previous, mine

    async def __aenter__(self) -> None:
        if self.previous is not None:
            await asyncio.shield(self.previous)

    async def __aexit__(self, *exc: object) -> None:
        if self.mine is not None and not self.mine.done():
            self.mine.set_result(None)


class CardOrder:
    """Hands out turns per card, in the order events were applied."""

    no_turn = _Turn(None, None)

    def __init__(self) -> None:
        self._last: dict[tuple[str, str, int], asyncio.Future[None]] = {}

    def take_turn(self, community: CommunityRef, effects: list[Effect]) -> _Turn:
        """Call while applying is locked, so turns follow the order of the changes."""
        numbers = {e.card.number for e in effects if isinstance(e, PostCard | UpdateCard)}
        if not numbers:
            return self.no_turn
        key = (community.platform, community.id, min(numbers))
        previous = self._last.get(key)
        mine = asyncio.get_running_loop().create_future()
        mine.add_done_callback(lambda done: self._forget(key, done))
        self._last[key] = mine
        return _Turn(previous, mine)

    def _forget(self, key: tuple[str, str, int], done: asyncio.Future[None]) -> None:
        if self._last.get(key) is done:
            del self._last[key]


def _channel_of(event: Event) -> ChannelRef:
    """Where to answer: the command's channel, else the channel of the message acted on."""
    if isinstance(event, CommandInvoked):
        return event.channel
    return event.message.channel
