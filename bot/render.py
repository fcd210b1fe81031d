"""Plain-text rendering of cards, for the console and for text fallbacks."""

from __future__ import annotations

from bot.cards import Card, Person
from bot.timeparse import format_local


def names(people: tuple[Person, ...]) -> str:
    return ", ".join(p.name for p in people) or "nobody yet"


def card_lines(card: Card, tz_name: str = "UTC") -> list[str]:
    """The card as a few lines of text; `tz_name` is the zone due times are shown in."""
    lines = [f"#{card.number} {card.title}  [{card.state}]", f"by {card.creator.name}"]
    if card.due_at:
        overdue = "OVERDUE: was " if card.overdue else ""
        lines.append(f"{overdue}due {format_local(card.due_at, tz_name)}")
    bar = card.progress_bar()
    lines.append(f"{bar} {card.progress}".strip())
    lines.append(f"in: {names(card.committed)}")
    if card.done:
        lines.append(f"done: {names(card.done)}")
    if card.waitlist:
        lines.append(f"waitlist: {names(card.waitlist)}")
    if card.buttons:
        lines.append("buttons: " + " ".join(f"[{b.label}]" for b in card.buttons))
    return lines


def card_text(card: Card, tz_name: str = "UTC") -> str:
    return "\n".join(card_lines(card, tz_name))
