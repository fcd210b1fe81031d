"""Rows of the inbox (events coming in) and the outbox (messages going out), as the store
hands them to the core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.events import Inbound


class InboxState(StrEnum):
    APPLYING = "applying"  # recorded; its owner applies it, or anyone once the lease ran out
    APPLIED = "applied"
    FAILED = "failed"


@dataclass(frozen=True)
class InboxEntry:
    """A recorded inbound event, claimed by this process as attempt number `attempt`."""

    id: int
    key: str
    inbound: Inbound
    received_at: datetime
    attempt: int


class DeliveryKind(StrEnum):
    CARD_POST = "card_post"
    CARD_EDIT = "card_edit"
    DM = "dm"
    POST = "post"  # a message in a channel that is not a card
    REPLY = "reply"
    TITLE_PROMPT = "title_prompt"
    DISMISS = "dismiss"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed under a lease; the platform may or may not have it yet
    SENT = "sent"
    FAILED = "failed"  # the platform refused it for good, or it kept failing
    EXPIRED = "expired"  # too late to be useful (an ephemeral answer past its handle)
    SKIPPED = "skipped"  # nothing to send (a card edit with nothing new to show)


ACTIVE_STATES = (DeliveryState.PENDING, DeliveryState.SENDING)


@dataclass(frozen=True)
class NewDelivery:
    """A message to send, written in the same transaction as the change that caused it.

    Rows in one `lane` go out one at a time in order (a card's post and edits; everything for
    one person); `target` is the channel or person, for pacing; a second pending row with the
    same `coalesce_key` is not added (the pending card edit already shows the latest state).
    """

    platform: str
    community: str
    kind: DeliveryKind
    lane: str
    target: str
    payload: str
    action_id: int | None = None
    expires_at: datetime | None = None
    coalesce_key: str | None = None
    occurrence_id: int | None = None  # the reminder occurrence it delivers, if any


@dataclass(frozen=True)
class OutboxEntry:
    """A claimed delivery: `claim` numbers this claim (results are fenced by it), `tries` is
    how many sends were tried before, and `recheck` means one of them may have arrived."""

    id: int
    platform: str
    community: str
    kind: DeliveryKind
    lane: str
    target: str
    payload: str
    action_id: int | None
    claim: int
    tries: int
    recheck: bool
    created_at: datetime
    first_attempt_at: datetime
    expires_at: datetime | None

    @property
    def key(self) -> str:
        """The id the platform sees (Slack message metadata, a Discord nonce of <= 25 chars)."""
        return f"coop-{self.id}"


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivery as `coopbot export` lists it."""

    id: int
    platform: str
    community: str
    kind: str
    recipient: str
    state: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    message_id: str | None
    error: str
    # For reminders, nudges and digests: the occurrence it delivers, when that was due, and
    # whether it went out late (after downtime).
    occurrence_id: int | None = None
    occurrence_at: datetime | None = None
    late: bool | None = None
