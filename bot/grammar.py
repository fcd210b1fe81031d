"""The one `/coop` command grammar every adapter shares: specs, help text and parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.errors import CoopError

MAX_TITLE = 200
MAX_NEED = 1000
MAX_AMOUNT = 1_000_000


class ParamKind(StrEnum):
    TEXT = "text"
    ACTION_ID = "action_id"
    INTEGER = "integer"
    WHEN = "when"
    TIMEZONE = "timezone"
    COMMAND = "command"


@dataclass(frozen=True)
class Param:
    """A positional argument (`title`, `id`) or a `name:value` option (`need:3`)."""

    name: str
    kind: ParamKind
    description: str
    required: bool = True
    min_value: int | None = None
    max_value: int | None = None


@dataclass(frozen=True)
class Subcommand:
    name: str
    summary: str
    positional: Param | None = None
    options: tuple[Param, ...] = ()
    example: str = ""

    @property
    def usage(self) -> str:
        parts = [f"/coop {self.name}"]
        if self.positional:
            p = self.positional
            parts.append(f"<{p.name}>" if p.required else f"[{p.name}]")
        parts += [f"[{o.name}:<{o.kind.value}>]" for o in self.options]
        return " ".join(parts)


_ID = Param("id", ParamKind.ACTION_ID, "The action number, like #3")

GRAMMAR: tuple[Subcommand, ...] = (
    Subcommand(
        "task",
        "Create a task and post its card here",
        Param("title", ParamKind.TEXT, "What needs doing"),
        (
            Param("need", ParamKind.INTEGER, "How many people are needed", False, 1, MAX_NEED),
            Param("due", ParamKind.WHEN, 'When it is due, e.g. "friday 5pm"', False),
            Param(
                "remind",
                ParamKind.TEXT,
                'When to remind who is in, before it is due: "2h,15m", or none',
                False,
            ),
        ),
        '/coop task "Clean the park" need:4 due:"saturday 10am"',
    ),
    Subcommand(
        "pledge",
        "Start a pledge drive: people pledge, and it happens only if enough do",
        Param("title", ParamKind.TEXT, "What everyone would do"),
        (
            Param(
                "goal",
                ParamKind.INTEGER,
                "How many people (or, with unit:, how much)",
                False,
                1,
                MAX_AMOUNT,
            ),
            Param("deadline", ParamKind.WHEN, 'When sign-up closes, e.g. "friday 5pm"', False),
            Param(
                "unit", ParamKind.TEXT, "Count an amount instead of people: hours, EUR, ...", False
            ),
            Param("sealed", ParamKind.TEXT, "yes: only counts show until it tips", False),
            Param("due", ParamKind.WHEN, "When the thing itself is to be done, if known", False),
        ),
        '/coop pledge "Plant 50 trees" goal:10 deadline:"friday 5pm"',
    ),
    Subcommand(
        "join",
        "Commit to an action, or pledge to a drive",
        _ID,
        (
            Param(
                "amount",
                ParamKind.INTEGER,
                "On a drive with a unit: how much you pledge",
                False,
                1,
                MAX_AMOUNT,
            ),
            Param(
                "if",
                ParamKind.TEXT,
                "On a drive: only if 3 others are in (if:3), or ana is (if:@ana)",
                False,
            ),
        ),
        "/coop join #3",
    ),
    Subcommand("leave", "Withdraw from an action", _ID, example="/coop leave #3"),
    Subcommand("done", "Mark your part of an action done", _ID, example="/coop done #3"),
    Subcommand("close", "Complete an action (creator or admin)", _ID, example="/coop close #3"),
    Subcommand("cancel", "Cancel an action (creator or admin)", _ID, example="/coop cancel #3"),
    Subcommand("list", "Open actions in this channel", example="/coop list"),
    Subcommand("mine", "Your open commitments", example="/coop mine"),
    Subcommand("show", "Show one action", _ID, example="/coop show #3"),
    Subcommand(
        "extend",
        "Move a pledge drive's deadline later, once (creator or admin)",
        _ID,
        (Param("deadline", ParamKind.WHEN, 'The new deadline, e.g. "next friday"', False),),
        '/coop extend #3 deadline:"next friday"',
    ),
    Subcommand(
        "remind",
        "Remind me, someone, a channel or everyone on an action",
        Param(
            "what",
            ParamKind.TEXT,
            'Who (me, @someone, #channel or #3) and what, e.g. me "Water the plants"',
        ),
        (
            Param("when", ParamKind.WHEN, 'When, e.g. "friday 9am" or "in 2 hours"', False),
            Param("every", ParamKind.TEXT, "Repeat: day, weekday, week, month or cron", False),
            Param("on", ParamKind.TEXT, "With every:week, the days, e.g. mon,thu", False),
        ),
        '/coop remind me "Water the plants" when:"9am" every:weekday',
    ),
    Subcommand(
        "reminders",
        "Your reminders; `cancel R7` cancels one",
        Param("cancel", ParamKind.TEXT, "A reminder to cancel, like R7", required=False),
        example="/coop reminders cancel R7",
    ),
    Subcommand(
        "digest",
        "A regular summary of open actions in this channel",
        Param("how", ParamKind.TEXT, "daily, weekday, weekly or off"),
        (
            Param("at", ParamKind.WHEN, 'The time of day, e.g. "9am" (default)', False),
            Param("on", ParamKind.TEXT, "With weekly, the day, e.g. mon", False),
        ),
        '/coop digest weekday at:"9am"',
    ),
    Subcommand(
        "tz",
        "Set your time zone",
        Param("zone", ParamKind.TIMEZONE, "An IANA time zone like Europe/Berlin"),
        example="/coop tz Europe/Berlin",
    ),
    Subcommand(
        "help",
        "Show help",
        Param("command", ParamKind.COMMAND, "A subcommand to explain", required=False),
        example="/coop help task",
    ),
)

SUBCOMMANDS: dict[str, Subcommand] = {s.name: s for s in GRAMMAR}


@dataclass(frozen=True)
class ParsedCommand:
    name: str
    positional: str | int | None = None
    options: dict[str, str | int] = field(default_factory=dict)


_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c"}


def tokenize(text: str) -> list[str]:
    """Split on white space; double quotes (straight or curly) group words, even after `key:`.

    Apostrophes are left alone so that titles like "Let's meet" need no quoting.
    """
    tokens: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            if current:
                tokens.append("".join(current))
                current = []
        elif ch in _QUOTES and (not current or current[-1] == ":"):
            close = text.find(_QUOTES[ch], i + 1)
            if close < 0:
                close = text.find('"', i + 1)  # phones mix curly and straight quotes
            end = n if close < 0 else close
            current.append(text[i + 1 : end])
            i = end
        else:
            current.append(ch)
        i += 1
    if current:
        tokens.append("".join(current))
    return tokens


def parse_action_id(raw: str) -> int:
    digits = raw.strip().removeprefix("#")
    if not digits.isdigit() or len(digits) > 9:
        raise CoopError(
            f"“{raw[:40]}” isn't an action number. Use the number on the card, like #3."
        )
    return int(digits)


def _parse_int(param: Param, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise CoopError(
            f"{param.name}: must be a whole number, like {param.name}:3 (got “{raw[:40]}”)."
        ) from None
    low, high = param.min_value, param.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        raise CoopError(f"{param.name}: must be between {low} and {high} (got {value}).")
    return value


def parse(text: str) -> ParsedCommand:
    """Parse the text after `/coop`; raises CoopError with a helpful message."""
    tokens = tokenize(text.strip())
    if not tokens:
        return ParsedCommand("help")
    name = tokens[0].lower()
    spec = SUBCOMMANDS.get(name)
    if spec is None:
        raise CoopError(
            f"I don't know the command “{tokens[0][:40]}”. "
            f"Try one of: {', '.join(SUBCOMMANDS)} — or /coop help."
        )
    options, words = _options(spec, tokens[1:])
    return ParsedCommand(name, _positional(spec, " ".join(words).strip()), options)


def parse_options(name: str, text: str) -> dict[str, str | int]:
    """Only the `name:value` options of `/coop <name>`, as a form sends them; other words
    are refused."""
    spec = SUBCOMMANDS[name]
    options, words = _options(spec, tokenize(text.strip()))
    if words:
        raise CoopError(f"I don't know “{' '.join(words)[:40]}” here. For example: {spec.example}")
    return options


def _options(spec: Subcommand, tokens: list[str]) -> tuple[dict[str, str | int], list[str]]:
    by_name = {o.name: o for o in spec.options}
    options: dict[str, str | int] = {}
    words: list[str] = []
    for token in tokens:
        key, sep, value = token.partition(":")
        option = by_name.get(key.lower()) if sep else None
        if option is None:
            words.append(token)
            continue
        if not value.strip():
            raise CoopError(f"{option.name}: needs a value, like {spec.example}")
        if option.kind is ParamKind.INTEGER:
            options[option.name] = _parse_int(option, value.strip())
        else:
            options[option.name] = value.strip()
    return options, words


def _positional(spec: Subcommand, raw: str) -> str | int | None:
    param = spec.positional
    if param is None:
        if raw:
            raise CoopError(f"/coop {spec.name} takes no arguments. Usage: {spec.usage}")
        return None
    if not raw:
        if param.required:
            raise CoopError(
                f"/coop {spec.name} needs a {param.name}. Usage: {spec.usage}\n"
                f"For example: {spec.example}"
            )
        return None
    if param.kind is ParamKind.ACTION_ID:
        return parse_action_id(raw)
    if param.kind is ParamKind.TEXT and len(raw) > MAX_TITLE:
        raise CoopError(
            f"That {param.name} is {len(raw):,} characters long; the limit is {MAX_TITLE}. "
            "Put the short version in the title."
        )
    return raw


def help_text(command: str | None = None) -> str:
    """General help, or the detail of one subcommand."""
    if command:
        spec = SUBCOMMANDS.get(command.lower().removeprefix("/coop ").strip())
        if spec is None:
            raise CoopError(f"There's no /coop {command[:40]}. Try /coop help.")
        lines = [f"{spec.usage}", spec.summary + "."]
        params = ([spec.positional] if spec.positional else []) + list(spec.options)
        lines += [f"  {p.name}: {p.description}" for p in params]
        lines.append(f"Example: {spec.example}")
        return "\n".join(lines)
    lines = ["coopbot turns chat into things people do together. Commands:"]
    lines += [f"  {s.usage} — {s.summary}" for s in GRAMMAR]
    return "\n".join(lines)
