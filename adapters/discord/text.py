"""Plain text as Discord markdown that shows exactly that text, and text cut to Discord's limits.

Every string the core hands over (titles, names, DM texts, replies, announcements) is plain
text. `inert` is the one way it becomes markdown: every formatting character is escaped, so
nothing typed can turn bold, code, a heading, a quote, a spoiler or a masked link
(`[label](url)`, which would show only its label); a link stays a link, shown as itself;
people, channels and custom emoji may be mentioned, but `@everyone`, `@here` and role
mentions are shown, never parsed. Where Discord shows text as it is (button labels, modal
titles, footers, autocomplete choices) it is only `shorten`ed.
"""

from __future__ import annotations

import re
import unicodedata

CONTENT_LIMIT = 2000
ELLIPSIS = "…"

# What Discord reads as markup wherever it stands.
_ALWAYS = frozenset("\\*_~`|[]")
# Where str.splitlines ends a line: a marker after any of them may start a heading or a list.
_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")
# Mentions of one person, a channel or a custom emoji: kept, so they show as Discord draws them.
_KEPT = re.compile(r"<@!?\d{1,20}>|<#\d{1,20}>|<a?:[A-Za-z0-9_]{2,32}:\d{1,20}>")
_URL = re.compile(r"https?://[^\s<>]+", re.IGNORECASE)
_SCHEMES = ("http://", "https://")
# A zero-width space after the @ shows the mention as typed and stops Discord from parsing it.
_BROADCAST = re.compile(r"@(everyone|here|&)", re.IGNORECASE)
# Closing brackets ending a URL belong to it only when it opened them (a Wikipedia title does).
_PAIRS = {")": "(", "]": "[", "}": "{"}
# Punctuation after a link ends the sentence, or the quotes around it (the core quotes titles
# in “...”), rather than the link.
_TRAILING = ".,:;!?'\"”’»›…"
_ZWSP = "\u200b"


def inert(text: str, links: bool = True) -> str:
    """`text` as Discord markdown showing exactly `text`. With `links` (wherever Discord draws
    links: message content, embed descriptions and field values) a URL is kept whole, in
    `<...>`, so it works and unfurls no preview; without (embed titles), it is text too, its
    `://` escaped so that it never turns into a link cut short."""
    return "".join(rendered for _, rendered in _units(text, links))


def fit(text: str, limit: int, links: bool = True) -> str:
    """`inert(text)` in at most `limit` characters: cut where an escape or a link is whole,
    ending in "…"."""
    rendered = inert(text, links)
    if len(rendered) <= limit:
        return rendered
    return _longest(text, limit, links, ELLIPSIS)[0]


def chunks(text: str, limit: int = CONTENT_LIMIT) -> list[str]:
    """`inert(text)` split into messages of at most `limit` characters, at line ends where
    possible; each part is markdown of its own (a part that starts mid-line is escaped as the
    start of a message it is)."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while line:
            rendered = inert(line)
            if len(current) + len(rendered) <= limit:
                current += rendered
                break
            if current:
                parts.append(current)
                current = ""
                continue
            head, line = _split(line, limit)
            parts.append(head)
    if current or not parts:
        parts.append(current)
    return [p.rstrip("\n") or _ZWSP for p in parts]


def shorten(text: str, limit: int) -> str:
    """Text for a place Discord shows as it is, cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _split(line: str, limit: int) -> tuple[str, str]:
    """The start of `line` rendered in at most `limit` characters, and the rest, unrendered."""
    head, cut = _longest(line, limit, links=True)
    if not cut:
        # A link longer than a message: its text, cut anywhere.
        head, cut = _longest(line, limit, links=False)
    return head, line[cut:]


def _longest(text: str, limit: int, links: bool, tail: str = "") -> tuple[str, int]:
    """The longest start of `text`, cut between two of its units, that is at most `limit`
    characters rendered with `tail` after it: the rendering, and where the cut is.

    Rendered on its own, a start can need an escape more than inside the whole text (a `#`
    that ends it), so it is rendered again and shortened while it is too long."""
    cuts = [0]
    length = len(tail)
    for source, rendered in _units(text, links):
        length += len(rendered)
        if length > limit:
            break
        cuts.append(cuts[-1] + len(source))
    while True:
        cut = cuts.pop()
        head = inert(text[:cut] + tail, links)
        if len(head) <= limit or not cuts:
            return head, cut


def _units(text: str, links: bool) -> list[tuple[str, str]]:
    """`text` as (source, rendered) pieces, each whole: an escaped character, a kept mention or
    a link. Cutting between two never leaves a dangling backslash or half a link."""
    units: list[tuple[str, str]] = []
    at_line_start = True
    i = 0
    while i < len(text):
        c = text[i]
        kept = _KEPT.match(text, i) if c == "<" else None
        url = _url(text, i) if links and c in "hH" else ""
        if kept:
            units.append((kept[0], kept[0]))
            i, at_line_start = kept.end(), False
            continue
        if url:
            units.append((url, f"<{_BROADCAST.sub(_shown, url)}>"))
            i, at_line_start = i + len(url), False
            continue
        if at_line_start and _starts_block(text, i):
            units.append((c, "\\" + c))
        elif at_line_start and c.isdigit() and (n := _numbered(text, i)):
            # "1. " starts a numbered list: the digits stay, the dot is escaped.
            units.append((text[i:n], text[i:n]))
            units.append((text[n], "\\" + text[n]))
            i, at_line_start = n + 1, False
            continue
        elif c in _ALWAYS or (c == "<" and _opens_angle(text, i)) or _scheme_colon(text, i):
            units.append((c, "\\" + c))
        elif c == "@" and (broadcast := _BROADCAST.match(text, i)):
            # Whole, so that no cut parts the zero-width space from the word it stops.
            units.append((broadcast[0], _shown(broadcast)))
            i, at_line_start = broadcast.end(), False
            continue
        else:
            units.append((c, c))
        if c in _BREAKS:
            at_line_start = True
        elif not _blank(c):
            at_line_start = False
        i += 1
    return units


def _shown(broadcast: re.Match[str]) -> str:
    return f"@{_ZWSP}{broadcast[1]}"


def _url(text: str, i: int) -> str:
    """The link starting at `i`, without the punctuation that ends a sentence after it."""
    found = _URL.match(text, i)
    if found is None:
        return ""
    url = found[0]
    while url and (
        url[-1] in _TRAILING
        or (url[-1] in _PAIRS and url.count(url[-1]) > url.count(_PAIRS[url[-1]]))
    ):
        url = url[:-1]
    return url if url.lower() not in _SCHEMES else ""


def _scheme_colon(text: str, i: int) -> bool:
    """The colon of an `http://` or `https://` shown as text, which must not become a link."""
    return (
        text[i] == ":"
        and text.startswith("//", i + 1)
        and text[max(0, i - 5) : i].lower().endswith(("http", "https"))
    )


def _starts_block(text: str, i: int) -> bool:
    """Whether the character at `i`, first on its line, makes the line a quote (`>`, `>>>`),
    a heading (`#`, `##`, `###`), subtext (`-#`) or a list item (`-`, `+`; `*` is always
    escaped)."""
    c = text[i]
    if c == ">":
        return True
    if c == "#":
        n = i
        while n < len(text) and text[n] == "#":
            n += 1
        return n == len(text) or text[n].isspace()
    if c in "-+":
        after = text[i + 1 : i + 2]
        return not after or after.isspace() or after == "#"
    return False


def _numbered(text: str, i: int) -> int:
    """Where the dot (or parenthesis) is, if `text` at `i` is a numbered item ("12. "); else 0."""
    n = i
    while n < len(text) and text[n].isdigit():
        n += 1
    if n < len(text) and text[n] in ".)" and (n + 1 == len(text) or text[n + 1].isspace()):
        return n
    return 0


def _opens_angle(text: str, i: int) -> bool:
    """A `<` that Discord could read as the start of a mention, a command, a timestamp or a
    link (`<@&1>`, `</coop:1>`, `<t:0>`, `<https://...>`) when it is not one that is kept."""
    after = text[i + 1 : i + 2]
    return bool(after) and not after.isspace()


def _blank(c: str) -> bool:
    """Characters that leave a line's first marker still first: spaces and invisible ones."""
    return c.isspace() or unicodedata.category(c) in ("Cf", "Zs")
