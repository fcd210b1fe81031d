"""Private calendar feeds: a person's commitments, or a channel's tasks, as iCalendar."""

from __future__ import annotations

from bot.cards import Effect
from bot.errors import CoopError
from bot.turn import Turn


def calendar(turn: Turn, which: str | None) -> list[Effect]:
    """`/coop calendar [channel] [reset]`: the private link, made on first use."""
    raise CoopError("/coop calendar isn't ready yet.")
