"""Who may sign up and how: maybes, the sign-up cut-off, and admins acting for others."""

from __future__ import annotations

from datetime import datetime

from bot.cards import Effect
from bot.errors import CoopError
from bot.model import Action
from bot.turn import Turn


def closes(turn: Turn, closes_at: datetime | None, due_at: datetime | None) -> datetime | None:
    """A new task's cut-off, checked (in the future, not after its due time)."""
    if closes_at is not None:
        raise CoopError("closes: isn't ready yet.")
    return None


def maybe(turn: Turn, action: Action) -> list[Effect]:
    """`/coop maybe #3` or the Maybe button."""
    raise CoopError("Maybe isn't ready yet.")
