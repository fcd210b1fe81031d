"""Places changing hands: a promotion close to the due time that must be confirmed in time,
and `/coop handoff #3 @ana`, a place offered to a named person."""

from __future__ import annotations

from bot.cards import DirectMessage, Effect
from bot.errors import CoopError
from bot.model import Action, Commitment
from bot.turn import Turn, label


def promoted(turn: Turn, action: Action, commitment: Commitment) -> list[Effect]:
    """What happens when `commitment` was just moved off the waitlist into a place."""
    return [
        DirectMessage(
            turn.member_ref(commitment.member),
            f"Good news: a spot opened on {label(action)} and you're in now.",
        )
    ]


def offer(turn: Turn, text: str) -> list[Effect]:
    """`/coop handoff #3 @ana`, `/coop handoff #3 accept` or `decline`."""
    raise CoopError("/coop handoff isn't ready yet.")


def answer(turn: Turn, action: Action, button: str) -> list[Effect]:
    """A DM button: confirm / confirm_no (a promotion), handoff_yes / handoff_no (an offer)."""
    raise CoopError("That button isn't ready yet.")
