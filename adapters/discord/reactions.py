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

Which emoji pass: the configured ones (track, join, done) anywhere; on the bot's own messages
(its cards; Discord names the author on adds) any emoji Discord draws, since a task's roles
each have one; and, adds or removes anywhere, the emoji roles are known to use (the default
palette, the emoji of open tasks' roles read at start-up, and every role emoji on a card drawn
since). A role made through another process is known here from the next card with it drawn
here (see Coop.role_emoji): until then a removal of its own emoji (`driver:2:car`) from a
tracked message is not seen, Discord saying nothing about the message with a removal.

What none of this can tell apart is a stale add delivered in a later session, after its remove,
from a genuine second add: Discord sends no timestamp with reactions.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import discord

from bot.emoji_names import canonical, is_known


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
    """Admits reactions with the configured emoji, or a role's, once per change, from people
    (not the bot)."""

    def __init__(
        self, emoji: tuple[str, ...], memory: int = 100_000, roles: Iterable[str] = ()
    ) -> None:
        self.emoji = frozenset(emoji)
        self.role_emoji = {canonical(e) for e in roles}
        self._memory = memory
        self._seen: OrderedDict[tuple[int, int, int, str], _Seen] = OrderedDict()

    def admit(
        self, payload: discord.RawReactionActionEvent, bot_id: int | None, at: Position | None
    ) -> GatewayReaction | None:
        """The reaction to hand to the core, or None; call in gateway order."""
        if payload.guild_id is None or payload.user_id == bot_id or payload.emoji.id is not None:
            return None
        emoji = canonical(payload.emoji.name or "")
        added = payload.event_type == "REACTION_ADD"
        if not self._wanted(payload, emoji, added, bot_id):
            return None
        key = (payload.guild_id, payload.user_id, payload.message_id, emoji)
        seen = self._seen.get(key)
        if seen is not None and _replayed(at, seen.position):
            return None
        self._remember(key, _Seen(added, at))
        if seen is not None and seen.added == added:
            return None
        return GatewayReaction(payload, added, emoji, at.event_id if at else None)

    def learn(self, emoji: Iterable[str]) -> None:
        """Emoji roles use (from a card being drawn): their reactions pass, anywhere."""
        self.role_emoji.update(canonical(e) for e in emoji if e)

    def _wanted(
        self, payload: discord.RawReactionActionEvent, emoji: str, added: bool, bot_id: int | None
    ) -> bool:
        if emoji in self.emoji or emoji in self.role_emoji:
            return True
        own = bot_id is not None and payload.message_author_id == bot_id
        return added and own and is_known(emoji)

    def _remember(self, key: tuple[int, int, int, str], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)


def _replayed(at: Position | None, last: Position | None) -> bool:
    return at is not None and last is not None and at.session == last.session and at.seq <= last.seq
