"""Which raw reaction events reach the core, and with which event id.

Discord gives a reaction event no id of its own. What identifies a delivery is the gateway
position: within one session every dispatch has its own sequence number, and an event replayed
after a resume carries its original one. So, per (person, message, emoji):

- an event at or before the last position seen in the same session is a replay: dropped, even
  an add replayed after its remove was handled;
- reactions alternate add, remove, add...; an add right after an add (or a remove after a
  remove) is the same change delivered again with a new sequence number: dropped too (the core
  would not double-commit, but the person would get an "already in" DM);
- what passes goes to the core with `gw:<session>:<seq>` as its event id, which the core
  records in the database, so a replay is refused even if this memory forgot the key.

What none of this can tell apart is a stale add delivered in a later session, after its remove,
from a genuine second add: Discord sends no timestamp with reactions.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import discord

from bot.emoji_names import canonical


@dataclass(frozen=True)
class Position:
    """Where a dispatch came on the gateway: its shard's session and sequence number."""

    session: str
    seq: int

    @property
    def event_id(self) -> str:
        return f"gw:{self.session}:{self.seq}"


@dataclass(frozen=True)
class GatewayReaction:
    """A raw reaction event that passed the gate."""

    payload: discord.RawReactionActionEvent
    added: bool
    emoji: str  # canonical form
    event_id: str | None


@dataclass
class _Seen:
    added: bool
    position: Position | None


class ReactionGate:
    """Admits reactions with the configured emoji, once per change, from people (not the bot)."""

    def __init__(self, emoji: tuple[str, ...], memory: int = 100_000) -> None:
        self.emoji = frozenset(emoji)
        self._memory = memory
        self._seen: OrderedDict[tuple[int, int, int, str], _Seen] = OrderedDict()

    def admit(
        self, payload: discord.RawReactionActionEvent, bot_id: int | None, at: Position | None
    ) -> GatewayReaction | None:
        """The reaction to hand to the core, or None; call in gateway order."""
        if payload.guild_id is None or payload.user_id == bot_id or payload.emoji.id is not None:
            return None
        emoji = canonical(payload.emoji.name or "")
        if emoji not in self.emoji:
            return None
        added = payload.event_type == "REACTION_ADD"
        key = (payload.guild_id, payload.user_id, payload.message_id, emoji)
        seen = self._seen.get(key)
        if seen is not None and _replayed(at, seen.position):
            return None
        self._remember(key, _Seen(added, at))
        if seen is not None and seen.added == added:
            return None
        return GatewayReaction(payload, added, emoji, at.event_id if at else None)

    def _remember(self, key: tuple[int, int, int, str], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)


def _replayed(at: Position | None, last: Position | None) -> bool:
    return at is not None and last is not None and at.session == last.session and at.seq <= last.seq
