"""Plain text as Slack mrkdwn that shows that text and nothing more: the one escaping function
every Slack renderer puts people's and the core's words through.

Only people and channels stay mentionable. Links show their address, broadcasts notify nobody,
and what people type cannot open Slack's formatting. Text for plain_text objects (button
labels, modal titles, headers) is shown as it is and must not come here: it only needs `trim`.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"

# An address Slack links: kept whole, so it still works when clicked.
_URL = r"(?:https?://|mailto:)[^\s<>|]+"
_TOKEN = re.compile(
    # People and channels as Slack writes them in what people type; the name after `|` is
    # dropped: anyone can write any name there.
    r"<@(?P<person>[A-Z0-9]+)(?:\|[^<>]*)?>"
    r"|<#(?P<channel>[A-Z0-9]+)(?:\|[^<>]*)?>"
    # A link, maybe with a label that would hide its address.
    rf"|<(?P<link>{_URL})(?:\|(?P<label>[^<>]*))?>"
    # A bare address, without the punctuation or formatting mark that ends a sentence.
    rf"|(?P<url>\b{_URL}(?<![.,;:!?)\]'\"*_~`]))"
    r"|(?P<broadcast>@(?:here|channel|everyone)\b)"
    r"|(?m:^(?P<indent>[ \t]*)>)"
    r"|(?P<mark>[*_~`])"
    r"|(?P<special>[<>&])"
)
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def inert(text: str, limit: int | None = None) -> str:
    """`text` as mrkdwn that shows it as written, at most `limit` characters (cut between
    escapes, never inside one)."""
    pieces: list[tuple[str, bool]] = []  # (mrkdwn, whether it may be cut)
    at = 0
    for match in _TOKEN.finditer(text):
        pieces += [(text[at : match.start()], True), (_shown(match), False)]
        at = match.end()
    pieces.append((text[at:], True))
    return _fit(pieces, limit)


def _shown(match: re.Match[str]) -> str:
    if match["person"]:
        return f"<@{match['person']}>"
    if match["channel"]:
        return f"<#{match['channel']}>"
    if match["link"]:
        link = _link(match["link"])
        label = (match["label"] or "").strip()
        bare = match["link"].split(":", 1)[1].removeprefix("//")
        # Slack labels the addresses it links itself with the address as typed.
        return link if label in ("", match["link"], bare) else f"{link} ({inert(label)})"
    if match["url"]:
        return _link(match["url"])
    if match["broadcast"]:
        return f"@{ZWSP}{match['broadcast'][1:]}"
    if match["indent"] is not None:
        return f"{match['indent']}{ZWSP}&gt;"
    if match["mark"]:
        # Slack has no escape for its formatting marks, but opens formatting only after a word
        # boundary and closes it only before one; U+200B is none, so a mark between two can
        # neither open formatting nor close the bot's own (`*#3 title*`).
        return f"{ZWSP}{match['mark']}{ZWSP}"
    return _ENTITIES[match["special"]]


def _link(url: str) -> str:
    """A link that shows its own address; inside `<>` no formatting mark counts."""
    return f"<{url.replace('&', '&amp;')}>"


def _fit(pieces: list[tuple[str, bool]], limit: int | None) -> str:
    whole = "".join(piece for piece, _ in pieces)
    if limit is None or len(whole) <= limit:
        return whole
    kept, room = [], limit - 1  # one for the ellipsis
    for piece, cuttable in pieces:
        if len(piece) > room:
            if cuttable:
                kept.append(piece[:room])
            break
        kept.append(piece)
        room -= len(piece)
    return "".join(kept) + "…"
