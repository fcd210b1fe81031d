"""Effects as outbox rows: the lane each keeps its order in, its target and its payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot import codec
from bot.cards import (
    AskForTitle,
    Cause,
    ChannelMessage,
    DirectMessage,
    Dismiss,
    Effect,
    Outgoing,
    PostCard,
    PrivateReply,
    UpdateCard,
)
from bot.queues import DeliveryKind, NewDelivery
from bot.refs import ChannelRef, MemberRef

_KINDS: dict[type[Any], DeliveryKind] = {
    PostCard: DeliveryKind.CARD_POST,
    UpdateCard: DeliveryKind.CARD_EDIT,
    DirectMessage: DeliveryKind.DM,
    ChannelMessage: DeliveryKind.POST,
    PrivateReply: DeliveryKind.REPLY,
    AskForTitle: DeliveryKind.TITLE_PROMPT,
    Dismiss: DeliveryKind.DISMISS,
}


def card_lane(action_id: int) -> str:
    return f"card:{action_id}"


def channel_lane(channel: ChannelRef) -> str:
    community = channel.community
    return f"in:{community.platform}:{community.id}:{channel.id}"


def person_lane(member: MemberRef) -> str:
    community = member.community
    return f"to:{community.platform}:{community.id}:{member.id}"


def deliveries(
    effects: Sequence[Effect], cause: Cause | None = None, occurrence_id: int | None = None
) -> list[NewDelivery]:
    """The outbox rows for `effects`, in order; answers to `cause.actor` use its reply handle.

    When the reply handle awaits an answer and the effects give none, a Dismiss closes it.
    `occurrence_id` marks rows that deliver a reminder occurrence (for the export).
    """
    if occurrence_id is not None:
        return [replace(row, occurrence_id=occurrence_id) for row in deliveries(effects, cause)]
    rows: list[NewDelivery] = []
    reply = cause.reply if cause else None
    answered = False
    for effect in effects:
        if isinstance(effect, PrivateReply) and cause and reply and effect.to == cause.actor:
            rows.append(_row(Outgoing(effect, cause, reply, first=not answered)))
            answered = True
        else:
            rows.append(_row(Outgoing(effect, cause)))
    if cause and reply and reply.awaits_answer and not answered:
        rows.append(_row(Outgoing(Dismiss(cause.actor, cause.channel), cause, reply, first=True)))
    return rows


def notice(cause: Cause, text: str) -> NewDelivery:
    """A private note to whoever caused a send the platform refused (not the first answer)."""
    return _row(Outgoing(PrivateReply(cause.actor, cause.channel, text), cause, cause.reply))


def _row(out: Outgoing) -> NewDelivery:
    effect, kind, payload = out.effect, _KINDS[type(out.effect)], codec.dumps(out)
    if isinstance(effect, PostCard | UpdateCard):
        community = effect.channel.community
        return NewDelivery(
            platform=community.platform,
            community=community.id,
            kind=kind,
            lane=card_lane(effect.action_id),
            target=effect.channel.id,
            payload=payload,
            action_id=effect.action_id,
            # A card has at most one edit waiting: it draws the card as it is when sent.
            coalesce_key=f"edit:{effect.action_id}" if isinstance(effect, UpdateCard) else None,
        )
    if isinstance(effect, ChannelMessage):
        community = effect.channel.community
        return NewDelivery(
            platform=community.platform,
            community=community.id,
            kind=kind,
            lane=channel_lane(effect.channel),
            target=effect.channel.id,
            payload=payload,
        )
    community = effect.to.community
    return NewDelivery(
        platform=community.platform,
        community=community.id,
        kind=kind,
        lane=person_lane(effect.to),
        target=effect.to.id,
        payload=payload,
        # Only cards are drawn from it; on a message it marks one about a sealed drive.
        action_id=getattr(effect, "about", None),
        expires_at=out.reply.expires_at if out.reply else None,
    )


def decode(payload: str) -> Outgoing:
    out = codec.loads(payload)
    assert isinstance(out, Outgoing)
    return out
