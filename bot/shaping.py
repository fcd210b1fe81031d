"""Shaping a task after it is posted: `/coop edit` (and the Edit form), and roles with their
own counts and waitlists."""

from __future__ import annotations

from bot.cards import Effect
from bot.errors import CoopError
from bot.events import EditRequested
from bot.model import Action
from bot.turn import Turn


def set_roles(turn: Turn, action: Action, roles: str | None) -> None:
    """Give a new task (already added) the roles of `roles:"driver:2, cook:4, setup"`."""
    if roles is not None:
        raise CoopError("roles: isn't ready yet.")


def edit(turn: Turn, action: Action, options: dict[str, str], ready: object) -> list[Effect]:
    """`/coop edit #3 title:… need:… due:… closes:…`."""
    raise CoopError("/coop edit isn't ready yet.")


def edit_form(turn: Turn, event: EditRequested, ready: object) -> list[Effect]:
    """The Edit form, as a platform sent it."""
    raise CoopError("Editing isn't ready yet.")
