"""The one `/coop` command grammar every adapter shares: specs, help text and parsing."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from enum import StrEnum

from bot import inputs
from bot.errors import CoopError

MAX_TITLE = 200
MAX_NEED = 1000
MAX_AMOUNT = 1_000_000
MAX_UNIT = 40
MAX_ID = 999_999_999  # action, reminder and occurrence numbers: nine digits
MAX_ROLES = 10
MAX_ROLE_NAME = 40


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
    max_length: int | None = None

    @property
    def limit(self) -> int:
        """The most characters its value may have; longer is refused before it is parsed."""
        return self.max_length or _LIMITS[self.kind]


@dataclass(frozen=True)
class Subcommand:
    name: str
    summary: str
    positional: Param | None = None
    options: tuple[Param, ...] = ()
    example: str = ""

    def option(self, name: str) -> Param:
        return next(o for o in self.options if o.name == name)

    @property
    def usage(self) -> str:
        parts = [f"/coop {self.name}"]
        if self.positional:
            p = self.positional
            parts.append(f"<{p.name}>" if p.required else f"[{p.name}]")
        parts += [f"[{o.name}:<{o.kind.value}>]" for o in self.options]
        return " ".join(parts)


# Long enough for anything meant, short enough that no parser is ever slow on it.
_LIMITS = {
    ParamKind.TEXT: 100,
    ParamKind.ACTION_ID: 20,
    ParamKind.INTEGER: 20,
    ParamKind.WHEN: 100,
    ParamKind.TIMEZONE: 64,
    ParamKind.COMMAND: 40,
}

_ID = Param("id", ParamKind.ACTION_ID, "The action number, like #3")
_FOR = Param("for", ParamKind.TEXT, "Admins: someone else, e.g. for:@ana (they are told)", False)

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
            Param(
                "roles",
                ParamKind.TEXT,
                'Kinds of helper, each with its own count: "driver:2, cook:4, setup"',
                False,
                max_length=300,
            ),
            Param("closes", ParamKind.WHEN, 'When sign-up closes, e.g. "friday 6pm"', False),
            Param(
                "every",
                ParamKind.TEXT,
                'Repeat: "saturday 10am", "mon,thu 18:00", or day/week/month at due: (the first)',
                False,
            ),
            Param("carry", ParamKind.TEXT, "With every:, yes keeps who is in on the next", False),
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
                "unit",
                ParamKind.TEXT,
                "Count an amount instead of people: hours, EUR, ...",
                False,
                max_length=MAX_UNIT,
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
            Param("role", ParamKind.TEXT, "On a task with roles: which, e.g. role:cook", False),
            _FOR,
        ),
        "/coop join #3",
    ),
    Subcommand(
        "maybe",
        "Say you might come: shown apart, never takes a place",
        _ID,
        example="/coop maybe #3",
    ),
    Subcommand("leave", "Withdraw from an action", _ID, (_FOR,), "/coop leave #3"),
    Subcommand("done", "Mark your part of an action done", _ID, example="/coop done #3"),
    Subcommand("close", "Complete an action (creator or admin)", _ID, example="/coop close #3"),
    Subcommand("cancel", "Cancel an action (creator or admin)", _ID, example="/coop cancel #3"),
    Subcommand(
        "edit",
        "Change a task's title, need, due time or cut-off (creator or admin)",
        _ID,
        (
            Param("title", ParamKind.TEXT, "The new title", False, max_length=MAX_TITLE),
            Param("need", ParamKind.TEXT, "How many people, or none for no limit", False),
            Param("due", ParamKind.WHEN, "The new due time, or none", False),
            Param("closes", ParamKind.WHEN, "When sign-up closes, or none", False),
        ),
        '/coop edit #3 need:6 due:"sunday 11am"',
    ),
    Subcommand(
        "handoff",
        "Offer your place to someone; they accept or decline",
        Param(
            "offer",
            ParamKind.TEXT,
            "The action and who: #3 @ana (or #3 accept, #3 decline)",
        ),
        example="/coop handoff #3 @ana",
    ),
    Subcommand(
        "stop",
        "End a recurring task's series (creator or admin)",
        _ID,
        example="/coop stop #3",
    ),
    Subcommand(
        "calendar",
        "Your private calendar link; “channel”: this channel's (anyone may); “reset”: a new link",
        Param("which", ParamKind.TEXT, "channel, reset or channel reset", required=False),
        example="/coop calendar",
    ),
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
            # Room for whom it is for (a platform's mention) besides the text itself.
            max_length=MAX_TITLE + 100,
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
        "Your reminders; “cancel R7” cancels one",
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
# `word:value` where the word could be an option's name (URLs and times are not).
_OPTION_LIKE = re.compile(r"^(?P<key>[^\W\d_][\w-]{0,19}):(?P<value>.*)$", re.DOTALL)
_SCHEMES = frozenset({"http", "https", "mailto", "tel", "ftp"})


@dataclass(frozen=True)
class Token:
    """A word of a command line; `quoted` when it began with a quote (never an option)."""

    text: str
    quoted: bool = False


def option_like(word: str) -> bool:
    """Whether `word` would be read as an option (`need:3`, `colour:red`) unless quoted."""
    match = _OPTION_LIKE.match(word)
    return match is not None and bool(match["value"]) and match["key"].lower() not in _SCHEMES


def tokenize(text: str) -> list[str]:
    """Split on white space; double quotes (straight or curly) group words, even after `key:`.

    Apostrophes are left alone so that titles like "Let's meet" need no quoting. A quote
    that is never closed runs to the end (see `tokens` for the strict reading).
    """
    return [t.text for t in _split(text, strict=False)]


def tokens(text: str) -> list[Token]:
    """The words of a command line; a quote that is never closed is a CoopError."""
    return _split(text, strict=True)


def _split(text: str, strict: bool) -> list[Token]:
    found: list[Token] = []
    current: list[str] = []
    quoted = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            if current:
                found.append(Token("".join(current), quoted))
                current, quoted = [], False
        elif ch in _QUOTES and (not current or current[-1] == ":"):
            close = text.find(_QUOTES[ch], i + 1)
            if close < 0:
                close = text.find('"', i + 1)  # phones mix curly and straight quotes
            if close < 0 and strict:
                raise _unclosed(text, i)
            quoted = quoted or not current
            end = n if close < 0 else close
            current.append(text[i + 1 : end])
            i = end
        else:
            current.append(ch)
        i += 1
    if current:
        found.append(Token("".join(current), quoted))
    return found


def _unclosed(text: str, at: int) -> CoopError:
    before, after = text[:at].strip(), text[at + 1 :].strip()
    name = before.split(maxsplit=1)[0].lower() if before else ""
    spec = SUBCOMMANDS.get(name)
    example = f" For example: {spec.example}" if spec and spec.example else ""
    return CoopError(
        f"The quote {text[at]} before “{_shown(after, 40)}” is never closed, so I can't tell "
        f"where that text ends. Close it with {_QUOTES[text[at]]}.{example}"
    )


def _shown(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def parse_action_id(raw: str) -> int:
    digits = inputs.number(raw.strip().removeprefix("#").strip())
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 9:
        raise CoopError(
            f"“{_shown(raw, 40)}” isn't an action number. Use the number on the card, like #3."
        )
    return int(digits)


def _parse_int(param: Param, raw: str) -> int:
    try:
        value = inputs.integer(raw)
    except ValueError:
        raise CoopError(
            f"{param.name}: must be a whole number, like {param.name}:3 (got “{_shown(raw, 40)}”)."
        ) from None
    low, high = param.min_value, param.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        raise CoopError(f"{param.name}: must be between {low} and {high} (got {value}).")
    return value


def parse(text: str) -> ParsedCommand:
    """Parse the text after `/coop`; raises CoopError with a helpful message."""
    words = tokens(inputs.line(text).strip())
    if not words:
        return ParsedCommand("help")
    name = words[0].text.lower()
    spec = SUBCOMMANDS.get(name)
    if spec is None:
        near = difflib.get_close_matches(name, SUBCOMMANDS, n=1)
        hint = f"Did you mean /coop {near[0]}? " if near else ""
        raise CoopError(
            f"I don't know the command “{_shown(words[0].text, 40)}”. {hint}"
            f"Try one of: {', '.join(SUBCOMMANDS)} — or /coop help."
        )
    options, rest = _options(spec, words[1:])
    return ParsedCommand(name, _positional(spec, inputs.one_line(" ".join(rest)).strip()), options)


def parse_options(name: str, text: str) -> dict[str, str | int]:
    """Only the `name:value` options of `/coop <name>`, as a form sends them; other words
    are refused."""
    spec = SUBCOMMANDS[name]
    options, words = _options(spec, tokens(inputs.line(text).strip()))
    if words:
        raise CoopError(
            f"I don't know “{_shown(' '.join(words), 40)}” here. For example: {spec.example}"
        )
    return options


def _options(spec: Subcommand, words: list[Token]) -> tuple[dict[str, str | int], list[str]]:
    """The options among `words` and the other words; a repeated option, or one that is not
    this command's, is a CoopError showing what was understood."""
    by_name = {o.name: o for o in spec.options}
    options: dict[str, str | int] = {}
    rest: list[str] = []
    for word in words:
        match = None if word.quoted else _OPTION_LIKE.match(word.text)
        if match is None or match["value"].startswith("//") or match["key"].lower() in _SCHEMES:
            rest.append(word.text)
            continue
        key, raw = match["key"].lower(), match["value"]
        option = by_name.get(key)
        if option is None and not raw:
            rest.append(word.text)  # "Agenda: ..." is a word of the title
            continue
        if option is None:
            raise _unknown(spec, match["key"], options, rest)
        if option.name in options:
            raise CoopError(
                f"{option.name}: is given twice (“{_shown(str(options[option.name]), 30)}” and "
                f"“{_shown(raw, 30)}”): give it once. For example: {spec.example}"
            )
        if len(raw) > option.limit:
            raise CoopError(
                f"{option.name}: is {len(raw):,} characters long; the limit is {option.limit}. "
                f"For example: {spec.example}"
            )
        value = inputs.field(f"{option.name}:", raw, option.limit, spec.example)
        if not value:
            raise CoopError(f"{option.name}: needs a value, like {spec.example}")
        if option.kind is ParamKind.INTEGER:
            options[option.name] = _parse_int(option, value)
        else:
            options[option.name] = value
    return options, rest


def _unknown(
    spec: Subcommand, key: str, options: dict[str, str | int], rest: list[str]
) -> CoopError:
    """An option this command doesn't have: what was understood, and what was likely meant."""
    own = [o.name for o in spec.options]
    elsewhere = [s.name for s in GRAMMAR if key.lower() in {o.name for o in s.options}]
    near = difflib.get_close_matches(key.lower(), own, n=1, cutoff=0.6)
    understood = " ".join(
        [
            f"/coop {spec.name}",
            *rest[:6],
            *(f"{k}:{_shown(str(v), 20)}" for k, v in options.items()),
        ]
    )
    if near:
        hint = f"Did you mean {near[0]}:?"
    elif elsewhere:
        hint = f"{key.lower()}: is an option of /coop {elsewhere[0]}, not of /coop {spec.name}."
    else:
        hint = (
            f"/coop {spec.name} takes {', '.join(o + ':' for o in own)}."
            if own
            else f"/coop {spec.name} takes no options."
        )
    return CoopError(
        f"I don't know the option “{_shown(key, 20)}:”. {hint} So far I read: {understood}. "
        f"If it's part of the text, put the text in quotes. For example: {spec.example}"
    )


def _positional(spec: Subcommand, raw: str) -> str | int | None:
    param = spec.positional
    if param is None:
        if raw:
            raise CoopError(f"/coop {spec.name} takes no arguments. Usage: {spec.usage}")
        return None
    if raw and not inputs.visible(raw):
        raise CoopError(f"That {param.name} has nothing visible in it. For example: {spec.example}")
    if not raw:
        if param.required:
            raise CoopError(
                f"/coop {spec.name} needs a {param.name}. Usage: {spec.usage}\n"
                f"For example: {spec.example}"
            )
        return None
    if param.kind is ParamKind.ACTION_ID:
        return parse_action_id(raw)
    limit = param.max_length or (MAX_TITLE if param.kind is ParamKind.TEXT else param.limit)
    if len(raw) > limit:
        shorter = "Put the short version in the title." if param.kind is ParamKind.TEXT else ""
        noun = "reminder" if param.name == "what" else param.name
        raise CoopError(
            f"That {noun} is {len(raw):,} characters long; the limit is {limit}. {shorter}"
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
