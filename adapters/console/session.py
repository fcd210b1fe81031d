"""Reads console lines (`alice: +pushpin m1`, `:advance 2h`, ...) and turns them into events."""

from __future__ import annotations

import re
from datetime import timedelta

from adapters.console.chat import BOT_NAME, PLATFORM, ConsoleChat, member_id, typed_name
from adapters.console.terminal import Lines
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
  "Ana Lopez": hello        names with spaces go in quotes; mention her as @"Ana Lopez"
                            or @Ana_Lopez (her id)
  alice: /coop help         alice runs a command
  alice: +pushpin m1        alice reacts to message m1 (-pushpin removes the reaction)
  alice: !join m2           alice presses the "join" button on card m2 (or a DM's button)
  alice: !join:cook m2      on a task with roles, alice joins it as a cook
  alice: /coop pledge from:m3 goal:5 deadline:friday
                            alice turns message m3 into a pledge drive
  :channel #ops             the next lines happen in #ops (the prompt shows where you are)
  :advance 2h               the bot's clock moves on (s, m, h, d, w; e.g. 1h30m)
  :help                     this text
Message numbers go on from the last run's: a new message never takes an old number."""

_NAME = r"[A-Za-z0-9_.\-]"
_SPEAKER = re.compile(rf"^(?P<who>{_NAME}{{1,40}}):\s?(?P<text>.*)$")
# Straight or curly quotes, either way round: what a keyboard or a phone puts there.
_QUOTE = '"\u201c\u201d'
_QUOTED = re.compile(rf"^[{_QUOTE}](?P<who>[^{_QUOTE}]{{1,60}})[{_QUOTE}]:\s?(?P<text>.*)$")
_SPACED = re.compile(rf"^(?P<who>[^:{_QUOTE}]{{1,60}}):\s?(?P<text>.*)$")
# A name with spaces: words of name characters, at most 40 characters in all.
_WORDS = re.compile(rf"(?=.{{1,40}}$){_NAME}+(?: {_NAME}+)*")
_QUOTED_MENTION = re.compile(rf"@[{_QUOTE}](?P<who>[^{_QUOTE}]{{1,60}})[{_QUOTE}]")
_REACTION = re.compile(r"^(?P<sign>[+-])(?P<emoji>\S+)\s+(?P<message>m\d+)$")
_FROM = re.compile(r"(?:^|\s)from:(?P<message>m\d+)(?=\s|$)")
# `!join m2`, or with a choice (a task's role): `!join:cook m2`, `!join:"line cook" m2`.
_BUTTON = re.compile(
    r'^!(?P<button>[a-z0-9_]+)(?::(?:"(?P<quoted>[^"]{1,40})"|(?P<choice>[^\s"]{1,40})))?'
    r"\s+(?P<message>m\d+)$"
)


class ConsoleSession:
    """One console conversation: a current channel, people typing, and the bot answering."""

    def __init__(self, core: Core, chat: ConsoleChat, channel: str, admins: list[str]) -> None:
        self.core = core
        self.chat = chat
        self.clock = core.clock
        self.channel = channel
        # `console.admins` may name people as typed ("Ana Lopez") or by id (Ana_Lopez).
        self.admins = {member_id(name) for name in admins}

    def _member(self, name: str) -> MemberRef:
        ref_id = member_id(name)
        self.chat.names[ref_id] = name
        return MemberRef(self.chat.community, ref_id, name, is_admin=ref_id in self.admins)

    @property
    def prompt(self) -> str:
        return f"#{self.channel}> "

    async def feed(self, line: str) -> None:
        """Handle one input line."""
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            return
        if line.startswith(":"):
            await self._directive(line[1:].strip())
            return
        speaker = _speaker(line)
        if speaker is None:
            spaced = _SPACED.match(line)
            if spaced and (name := _spaced_name(spaced["who"])) and " " in name:
                said = spaced["text"].strip()[:60] or "hello"
                self.chat.note(f'names with spaces go in quotes: "{name}": {said}')
            else:
                self.chat.note("Start a line with a name, like `alice: hello`, or try :help.")
            return
        who, text = speaker
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
            command = _QUOTED_MENTION.sub(self._mention, text[len("/coop") :].strip())
            if _FROM.search(command) and command.lower().startswith("pledge "):
                return self._drive_from(actor, command)
            return CommandInvoked(actor, channel, command)
        if text.startswith("/"):
            self.chat.private(
                actor.display,
                f"The only command here is /coop. Try `{typed_name(actor.display)}: /coop help`.",
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
            choice = " ".join((m["quoted"] or m["choice"] or "").split())
            if m["button"] in message.buttons:
                number = message.buttons[m["button"]]
                return ButtonPressed(actor, ref, m["button"], number, choice=choice)
            if message.card_number is None:
                has = " ".join(f"!{name}" for name in message.buttons)
                self.chat.private(
                    actor.display,
                    f"{message.id} has the buttons {has}."
                    if has
                    else f"{message.id} has no buttons.",
                )
                return None
            return ButtonPressed(actor, ref, m["button"], message.card_number, choice=choice)
        self.chat.post(self.channel, actor.display, text)
        return None

    def _mention(self, match: re.Match[str]) -> str:
        """`@"Ana Lopez"` as the mention the core reads, `@Ana_Lopez`, her name kept as
        written (she may not have typed yet: shown as her id otherwise); left as typed when
        it is no name."""
        name = _spaced_name(match["who"])
        if name is None:
            return match[0]
        ref_id = member_id(name)
        self.chat.names.setdefault(ref_id, name)
        return f"@{ref_id}"

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

    async def run(self, lines: Lines) -> None:
        """Handle lines until the end of input; a person typing is prompted with the channel
        the next line goes to."""
        if lines.interactive:
            self.chat.out.write("coopbot console — type `alice: hello`, or :help. Ctrl-D quits.\n")
        self.chat.typing = lines.typing
        try:
            while line := await lines.read(self.prompt):
                await self.feed(line)
        finally:
            lines.close()


def _speaker(line: str) -> tuple[str, str] | None:
    """(name, text) of `alice: text` or `"Ana Lopez": text`, else None."""
    if match := _SPEAKER.match(line):
        return match["who"], match["text"].strip()
    if (match := _QUOTED.match(line)) and (name := _spaced_name(match["who"])):
        return name, match["text"].strip()
    return None


def _spaced_name(text: str) -> str | None:
    """`text` as a name that may have spaces (runs of them count as one), or None."""
    name = " ".join(text.split())
    return name if _WORDS.fullmatch(name) else None


MOST_ADVANCE = timedelta(days=366)


def _duration(text: str) -> timedelta | None:
    """A `:advance` duration, or None when it is none (or beyond what a clock can hold)."""
    if len(text) > 40:
        return None
    try:
        return parse_duration(text)
    except OverflowError:
        return None
