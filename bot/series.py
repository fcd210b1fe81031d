"""Recurring tasks: `every:"saturday 10am"` opens the next occurrence, its own task with its
own card, when the one before is due; `/coop stop #3` ends the series."""

from __future__ import annotations

from bot.cards import Effect
from bot.errors import CoopError
from bot.model import Action
from bot.turn import Turn


def start(turn: Turn, action: Action, every: str | None, carry: str | None) -> None:
    """Make a new task (already added) the first occurrence of a series."""
    if every is not None or carry is not None:
        raise CoopError("every: isn't ready yet.")


def stop(turn: Turn, action: Action) -> list[Effect]:
    raise CoopError("/coop stop isn't ready yet.")
