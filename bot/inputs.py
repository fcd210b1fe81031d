"""What people type, checked before anything parses it: Unicode normalised, control and
direction-override characters refused, invisible text refused, lengths bounded."""

from __future__ import annotations

import re
import unicodedata

from bot.errors import CoopError

MAX_LINE = 4000  # a whole /coop line; Slack sends at most 4,000 characters, Discord 6,000

# Characters that show nothing: a text made only of these (and spaces) says nothing.
_INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u2060\u2061\u2062\u2063\u2064\u206a\u206b\u206c\u206d\u206e\u206f\u2800\u3164"
    "\ufeff\uffa0"
)
# Embeddings, overrides and isolates reorder the text around them: a title could show
# "gpj.exe" as "exe.jpg" in the bot's voice. The marks (LRM, RLM, ALM) stay: they are what
# right-to-left writers use.
_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES = "\t\n\r"


def _refused(ch: str) -> bool:
    if ch in _SPACES:
        return False
    return ch in _REORDERING or unicodedata.category(ch) in ("Cc", "Cs")


def _named(ch: str) -> str:
    return f"U+{ord(ch):04X}" + (f" {unicodedata.name(ch)}" if unicodedata.name(ch, "") else "")


def line(text: str, limit: int = MAX_LINE) -> str:
    """A command line as typed, NFC-normalised; CoopError for control characters, text that
    reorders itself, and lines longer than `limit`."""
    if len(text) > limit:
        raise CoopError(
            f"That command is {len(text):,} characters long; the limit is {limit:,}. "
            "Put the details in a message and track it instead."
        )
    text = unicodedata.normalize("NFC", text)
    for ch in text:
        if _refused(ch):
            raise CoopError(
                f"Your text has a hidden control character ({_named(ch)}) in it, so I left "
                "everything as it was. Type it again without it."
            )
    return text


_BREAKS = re.compile(r"[\t\n\r\v\f\u2028\u2029]+")


def one_line(text: str) -> str:
    """Line breaks and tabs as single spaces: titles and option values are one line."""
    return _BREAKS.sub(" ", text)


def visible(text: str) -> bool:
    """Whether `text` shows anything: not only spaces, zero-width characters and marks."""
    for ch in text:
        if ch.isspace() or ch in _INVISIBLE:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Mn", "Me", "Zs", "Zl", "Zp"):
            continue
        return True
    return False


def field(name: str, text: str, limit: int, example: str) -> str:
    """One field of a form or option (`due:`, a unit, a title): NFC, checked like a line,
    bounded by `limit` before any parser sees it, and not invisible."""
    if len(text) > limit:
        raise CoopError(
            f"{name} is {len(text):,} characters long; the limit is {limit:,}. "
            f"For example: {example}"
        )
    text = one_line(line(text, limit)).strip()
    if text and not visible(text):
        raise CoopError(f"{name} has nothing visible in it. For example: {example}")
    return text


def printable(text: str) -> str:
    """Text from a platform (a message, a display name) made safe to keep: NFC, with control
    and reordering characters dropped (a NUL cannot be stored in PostgreSQL)."""
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if not _refused(ch))


def first_line(text: str) -> str:
    """The first line of a message with something visible on it, made printable."""
    for row in printable(text).splitlines():
        if visible(row):
            return " ".join(row.split())
    return ""


def integer(text: str) -> int:
    """A whole number as typed (`1,000`, `３`, `-2`); ValueError when it is none."""
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    digits = number(digits.replace(",", ""))
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(text)
    return int(sign + digits)


def number(text: str) -> str:
    """Digits as the person meant them: full-width and other compatibility forms (３, ①, ²)
    read as ASCII; anything else is returned as it was, for the caller to refuse."""
    folded = unicodedata.normalize("NFKC", text)
    if folded and all(unicodedata.decimal(ch, None) is not None for ch in folded):
        return "".join(str(unicodedata.decimal(ch)) for ch in folded)
    return text


_YES, _NO = frozenset({"yes", "y", "true", "on", "1"}), frozenset({"no", "n", "false", "off", "0"})


def yes_no(raw: str, refusal: str) -> bool:
    """A yes/no option (`sealed:yes`, `carry:no`); CoopError(`refusal`) for anything else."""
    word = raw.strip().lower()
    if word in _YES | _NO:
        return word in _YES
    raise CoopError(refusal)
