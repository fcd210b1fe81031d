"""The console's chat: messages kept in memory, printed as lines; implements the chat port."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from bot.cards import Button, Card
from bot.events import ReplyHandle
from bot.ports import Delivery, MessageText
from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef
from bot.render import card_lines

BOT_NAME = "coopbot"
PLATFORM = "console"


@dataclass
class ConsoleMessage:
    id: str
    channel: str
    author: str
    text: str
    card_number: int | None = None
    # A DM's buttons: name -> the number pressing it sends.
    buttons: dict[str, int] = field(default_factory=dict)


def dm_channel(member_id: str) -> str:
    """The console's name for a person's DM with the bot."""
    return f"dm-{member_id}"


def member_id(name: str) -> str:
    """A person's id from their name as typed: `Ana Lopez` is `Ana_Lopez`, so that it can be
    mentioned (`@Ana_Lopez`) where a mention ends at a space."""
    return "_".join(name.split())


def _nothing_typed() -> str:
    return ""


class ConsoleChat:
    """Keeps every message of the session and prints what the bot does.

    Messages are numbered on from `after` (see adapters.console.numbering).
    """

    def __init__(self, out: TextIO, community: CommunityRef, tz_name: str, after: int = 0) -> None:
        self.out = out
        self.community = community
        self.tz_name = tz_name
        self.messages: dict[str, ConsoleMessage] = {}
        # Names as people were written this session, by id ("Ana_Lopez" -> "Ana Lopez").
        self.names: dict[str, str] = {}
        # What a person is typing at the prompt (adapters.console.terminal), "" if nothing.
        self.typing: Callable[[], str] = _nothing_typed
        self._count = after

    def _print(self, text: str) -> None:
        typed = self.typing()
        # Printed while someone types: above their line, which is drawn again under it.
        self.out.write(("\r\x1b[K" if typed else "") + text + "\n" + typed)
        self.out.flush()

    def _next_id(self) -> str:
        self._count += 1
        return f"m{self._count}"

    def channel(self, name: str) -> ChannelRef:
        return ChannelRef(self.community, name, f"#{name}")

    def post(self, channel: str, author: str, text: str) -> ConsoleMessage:
        """A person's message: stored and echoed."""
        message = ConsoleMessage(self._next_id(), channel, author, text)
        self.messages[message.id] = message
        self._print(f"[{message.id}] {author}: {text}")
        return message

    def _print_card(self, header: str, card: Card) -> None:
        self._print(header)
        for line in card_lines(card, self.tz_name):
            self._print(f"    {line}")
        if card.roles and any(b.name == "join" for b in card.buttons):
            # The console's stand-in for the platforms' "Join as…" menu.
            picks = " ".join(f"!join:{typed_name(r.name)}" for r in card.roles)
            self._print(f"    join as: {picks}")

    # --- the chat port ----------------------------------------------------------------------

    async def member(self, ref: MemberRef) -> MemberRef:
        return ref

    async def find_member(self, community: CommunityRef, external_id: str) -> MemberRef | None:
        """Everyone typing in the console is in its one community. Whom a mention names is
        shown as written when they wrote this session (no name: the one stored stays)."""
        if community != self.community:
            return None
        return MemberRef(community, external_id, self.names.get(external_id, ""))

    async def find_channel(self, community: CommunityRef, raw: str) -> ChannelRef | None:
        """Any channel name is a console channel (lines go there with `:channel`)."""
        return self.channel(raw) if community == self.community else None

    async def read_message(self, message: MessageRef) -> MessageText | None:
        found = self.messages.get(message.id)
        return MessageText(found.text) if found else None

    async def post_card(
        self, d: Delivery, channel: ChannelRef, card: Card, reply_to: MessageRef | None
    ) -> MessageRef:
        message = ConsoleMessage(self._next_id(), channel.id, BOT_NAME, card.title, card.number)
        self.messages[message.id] = message
        where = f" (reply to {reply_to.id})" if reply_to else ""
        self._print_card(f"[{message.id}] {BOT_NAME}{where}:", card)
        return MessageRef(channel, message.id)

    async def update_card(self, d: Delivery, message: MessageRef, card: Card) -> None:
        self._print_card(f"[{message.id} edited]", card)

    async def send_dm(
        self, d: Delivery, to: MemberRef, text: str, buttons: tuple[Button, ...] = ()
    ) -> str | None:
        message = ConsoleMessage(
            self._next_id(),
            dm_channel(to.id),
            BOT_NAME,
            text,
            buttons={b.name: b.number for b in buttons},
        )
        self.messages[message.id] = message
        first, *rest = text.splitlines() or [""]
        self._print(f"[{message.id}] (DM to {to.display}) {first}")
        for line in rest:
            self._print(f"    {line}")
        if buttons:
            self._print("    buttons: " + " ".join(f"[{b.label}] !{b.name}" for b in buttons))
        return message.id

    async def post_message(self, d: Delivery, channel: ChannelRef, text: str) -> str | None:
        message = ConsoleMessage(self._next_id(), channel.id, BOT_NAME, text)
        self.messages[message.id] = message
        first, *rest = text.splitlines() or [""]
        self._print(f"[{message.id}] {BOT_NAME} in #{channel.id}: {first}")
        for line in rest:
            self._print(f"    {line}")
        return message.id

    async def reply_private(
        self,
        d: Delivery,
        to: MemberRef,
        channel: ChannelRef,
        text: str,
        reply: ReplyHandle | None,
        first: bool,
        card: Card | None = None,
    ) -> None:
        self.private(to.display, text)

    async def ask_for_title(
        self, d: Delivery, to: MemberRef, message: MessageRef, number: int, title: str
    ) -> str | None:
        return await self.send_dm(d, to, f"Give #{number} “{title}” a title with /coop.")

    async def dismiss(
        self, d: Delivery, to: MemberRef, channel: ChannelRef, reply: ReplyHandle
    ) -> None:
        """Nothing waits for an answer in a terminal."""

    def private(self, name: str, text: str) -> None:
        """Print a reply only `name` would see; further lines indented."""
        first, *rest = text.splitlines() or [""]
        self._print(f"(only {name} sees) {first}")
        for line in rest:
            self._print(f"    {line}")

    def note(self, text: str) -> None:
        """A line from the console itself, not from the bot."""
        self._print(f"(console) {text}")


def typed_name(name: str) -> str:
    """A name as typed at the console (quoted when it has a space): a person's at the start
    of a line, a role's after `!join:`."""
    return f'"{name}"' if " " in name else name
