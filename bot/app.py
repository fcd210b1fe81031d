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
        # Events are applied and delivered one at a time per process so that card edits arrive
        # in the order their changes were made; other processes are serialised by the database.
        self._lock = asyncio.Lock()

    async def handle(self, event: Event, chat: ChatPort) -> None:
        """Apply `event` and deliver what it says; errors become private replies."""
        async with self._lock:
            try:
                text = await self._text_to_track(event, chat)
                effects = await asyncio.to_thread(self._apply, event, text)
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
            await asyncio.to_thread(self._record_card, effect, posted)
        elif isinstance(effect, UpdateCard):
            await chat.update_card(effect.message, effect.card)
        elif isinstance(effect, DirectMessage):
            await chat.send_dm(effect.to, effect.text)
        else:
            await chat.reply_private(effect.to, effect.channel, effect.text)

    def _record_card(self, effect: PostCard, posted: MessageRef) -> None:
        with self.uow_factory() as uow:
            action = uow.get_action(effect.community_id, effect.card.number)
            if action is not None:
                action.card_message_id = posted.id
                uow.save_action(action)
                uow.commit()


def _channel_of(event: Event) -> ChannelRef:
    """Where to answer: the command's channel, else the channel of the message acted on."""
    if isinstance(event, CommandInvoked):
        return event.channel
    return event.message.channel
