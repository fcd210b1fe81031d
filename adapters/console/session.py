"""Reads console lines (`alice: +pushpin m1`, `:advance 2h`, ...) and turns them into events."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from datetime import timedelta
from typing import TextIO

from adapters.console.chat import BOT_NAME, PLATFORM, ConsoleChat
from bot import drives, grammar
from bot.core import Core
from bot.errors import CoopError
from bot.events import (
    ButtonPressed,
    CommandInvoked,
    DriveRequested,
    Event,
    Inbound,
    ReactionAdded,
    ReactionRemoved,
)
from bot.refs import MemberRef, MessageRef
from bot.timeparse import parse_duration

HELP = """\
Console syntax (one line each):
  alice: some text          alice posts a message in the current channel
  alice: /coop help         alice runs a command
  alice: +pushpin m1        alice reacts to message m1 (-pushpin removes the reaction)
  alice: !join m2           alice presses the "join" button on card m2 (or a DM's button)
  alice: /coop pledge from:m3 goal:5 deadline:friday
                            alice turns message m3 into a pledge drive
  :channel #ops             the next lines happen in #ops
  :advance 2h               the bot's clock moves on (s, m, h, d, w; e.g. 1h30m)
  :help                     this text"""

_SPEAKER = re.compile(r"^(?P<who>[A-Za-z0-9_.\-]{1,40}):\s?(?P<text>.*)$")
_REACTION = re.compile(r"^(?P<sign>[+-])(?P<emoji>\S+)\s+(?P<message>m\d+)$")
_FROM = re.compile(r"(?:^|\s)from:(?P<message>m\d+)(?=\s|$)")
_BUTTON = re.compile(r"^!(?P<button>[a-z0-9_]+)\s+(?P<message>m\d+)$")


class ConsoleSession:
    """One console conversation: a current channel, people typing, and the bot answering."""

    def __init__(self, core: Core, chat: ConsoleChat, channel: str, admins: list[str]) -> None:
        self.core = core
        self.chat = chat
        self.clock = core.clock
        self.channel = channel
        self.admins = set(admins)

    def _member(self, name: str) -> MemberRef:
        return MemberRef(self.chat.community, name, name, is_admin=name in self.admins)

    async def feed(self, line: str) -> None:
        """Handle one input line."""
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            return
        if line.startswith(":"):
            await self._directive(line[1:].strip())
            return
        match = _SPEAKER.match(line)
        if match is None:
            self.chat.note("Start a line with a name, like `alice: hello`, or try :help.")
            return
        who, text = match["who"], match["text"].strip()
        event = self._event(self._member(who), text)
        if event is not None:
            await self.core.inbox.handle(Inbound(event))
            # The bot's answers are printed before the next line is read.
            await self.core.dispatcher.drain(only=[PLATFORM])

    async def _directive(self, text: str) -> None:
        name, _, arg = text.partition(" ")
        arg = arg.strip()
        if name == "channel" and re.fullmatch(r"#?[a-z0-9_\-]{1,80}", arg):
            self.channel = arg.lstrip("#")
            self.chat.note(f"now in #{self.channel}")
        elif name == "advance" and (delta := _duration(arg)) is not None:
            if delta > MOST_ADVANCE:
                self.chat.note("I move the clock on by at most a year at a time.")
                return
            self.clock.advance(delta)
            self.chat.note(f"the clock moved on {arg}")
            # What fell due meanwhile is printed before the next line is read.
            await self.core.scheduler.tick_now(catch_up=True)
            await self.core.dispatcher.drain(only=[PLATFORM])
        elif name == "help":
            self.chat.out.write(HELP + "\n")
        else:
            self.chat.note(f"I don't know `:{text}`. Try :help.")

    def _event(self, actor: MemberRef, text: str) -> Event | None:
        channel = self.chat.channel(self.channel)
        if text == "/coop" or text.startswith("/coop "):
            command = text[len("/coop") :].strip()
            if _FROM.search(command) and command.lower().startswith("pledge "):
                return self._drive_from(actor, command)
            return CommandInvoked(actor, channel, command)
        if text.startswith("/"):
            self.chat.private(
                actor.display, f"The only command here is /coop. Try `{actor.id}: /coop help`."
            )
            return None
        if (m := _REACTION.match(text)) or (m := _BUTTON.match(text)):
            message = self.chat.messages.get(m["message"])
            if message is None:
                self.chat.private(actor.display, f"There's no message {m['message']}.")
                return None
            ref = MessageRef(self.chat.channel(message.channel), message.id)
            if "button" not in m.groupdict():
                kind = ReactionAdded if m["sign"] == "+" else ReactionRemoved
                return kind(actor, ref, m["emoji"])
            if m["button"] in message.buttons:
                return ButtonPressed(actor, ref, m["button"], message.buttons[m["button"]])
            if message.card_number is None:
                has = " ".join(f"!{name}" for name in message.buttons)
                self.chat.private(
                    actor.display,
                    f"{message.id} has the buttons {has}."
                    if has
                    else f"{message.id} has no buttons.",
                )
                return None
            return ButtonPressed(actor, ref, m["button"], message.card_number)
        self.chat.post(self.channel, actor.id, text)
        return None

    def _drive_from(self, actor: MemberRef, command: str) -> Event | None:
        """`pledge from:m3 goal:5 deadline:friday`: what a platform's "Start a pledge drive"
        form sends, with the console's message number in place of the menu."""
        found = _FROM.search(command)
        assert found is not None
        message = self.chat.messages.get(found["message"])
        if message is None or message.author == BOT_NAME:
            self.chat.private(actor.display, f"There's no message {found['message']} to use.")
            return None
        rest = (command[: found.start()] + command[found.end() :]).strip()
        try:
            options = grammar.parse_options("pledge", rest[len("pledge") :])
            sealed = drives.parse_sealed(str(options.get("sealed", "no")))
        except CoopError as err:
            self.chat.private(actor.display, err.message)
            return None
        ref = MessageRef(self.chat.channel(message.channel), message.id)
        return DriveRequested(
            actor,
            ref,
            message.text,
            goal=str(options.get("goal", "")),
            deadline=str(options.get("deadline", "")),
            unit=str(options.get("unit", "")),
            sealed=sealed,
        )

    async def run(self, lines: TextIO, interactive: bool = False) -> None:
        """Read lines until end of input."""
        if interactive:
            self.chat.out.write("coopbot console — type `alice: hello`, or :help. Ctrl-D quits.\n")
        queue = _read_in_background(lines)
        while line := await queue.get():
            await self.feed(line)


def _read_in_background(lines: TextIO) -> asyncio.Queue[str]:
    """Lines from `lines`, then "" at the end, read by a daemon thread: a read blocked on a
    terminal must not keep the process from exiting when it is told to stop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def put(line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while we were reading
            loop.call_soon_threadsafe(queue.put_nowait, line)

    def read() -> None:
        for line in iter(lines.readline, ""):
            put(line)
        put("")

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return queue


MOST_ADVANCE = timedelta(days=366)


def _duration(text: str) -> timedelta | None:
    """A `:advance` duration, or None when it is none (or beyond what a clock can hold)."""
    if len(text) > 40:
        return None
    try:
        return parse_duration(text)
    except OverflowError:
        return None
