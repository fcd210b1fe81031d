"""Cards (tasks and pledge drives) as embeds, within Discord's limits; everything on them
that the core wrote is made inert (see text.py)."""

from __future__ import annotations

from datetime import datetime

import discord

from adapters.discord.text import fit, inert
from bot.cards import Card, DriveView, Person

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
EMBED_LIMIT = 6000

_COLOURS = {
    "open": discord.Colour.blurple(),
    "closed": discord.Colour.green(),
    "cancelled": discord.Colour.dark_grey(),
    "tipped": discord.Colour.green(),
    "failed": discord.Colour.dark_grey(),
}
OVERDUE_COLOUR = discord.Colour.orange()


def mention(person: Person) -> str:
    """`<@id>`: Discord shows each reader the name they know; embeds never ping."""
    return f"<@{person.id}>" if person.id.isdigit() else inert(person.name)


def people(persons: tuple[Person, ...], limit: int = FIELD_VALUE_LIMIT) -> str:
    """Mentions separated by commas, ending in "and N more" when they do not fit."""
    if not persons:
        return "nobody yet"
    shown: list[str] = []
    length = 0
    for i, person in enumerate(persons):
        text = mention(person)
        rest = len(persons) - i - 1
        # Keep room for the "and N more" that follows if the next one does not fit.
        tail = len(f" and {rest} more") if rest else 0
        if length + 2 + len(text) + tail > limit:
            return ", ".join(shown) + f" and {len(persons) - len(shown)} more"
        shown.append(text)
        length += 2 + len(text)
    return ", ".join(shown)


def timestamp(when: datetime, style: str = "F") -> str:
    """The moment in each reader's own time zone, absolute (`style` F: with the weekday, f:
    without) and relative."""
    unix = int(when.timestamp())
    return f"<t:{unix}:{style}> (<t:{unix}:R>)"


def embed_title(card: Card) -> str:
    """ "#12 Paint the shed": embed titles draw markdown but no links."""
    number = f"#{card.number} "
    return number + fit(card.title, TITLE_LIMIT - len(number), links=False)


def _embed(card: Card, lines: list[str]) -> discord.Embed:
    return discord.Embed(
        title=embed_title(card), description="\n".join(lines), colour=_colour(card)
    )


def card_embed(card: Card) -> discord.Embed:
    """A card as an embed. Its description is never cut (a cut could break its markdown): made
    of a few short lines and at most FIELD_VALUE_LIMIT of people, it stays far below
    DESCRIPTION_LIMIT."""
    if card.drive is not None:
        return drive_embed(card, card.drive)
    lines = [f"by {mention(card.creator)}"]
    if card.due_at:
        due = f"due {timestamp(card.due_at)}"
        lines.append(f"⚠️ **Overdue**: was {due}" if card.overdue else due)
    lines.append(f"{card.progress_bar()} **{inert(card.progress)}**".strip())
    embed = _embed(card, lines)
    embed.add_field(name="In", value=people(card.committed), inline=False)
    if card.done:
        embed.add_field(name="Done", value=people(card.done), inline=False)
    if card.waitlist:
        embed.add_field(name="Waitlist", value=people(card.waitlist), inline=False)
    embed.set_footer(text=card.state.capitalize())
    return embed


def drive_embed(card: Card, drive: DriveView) -> discord.Embed:
    """A pledge drive: progress of the group whose conditions hold, who else is conditional,
    when sign-up closes and, once it tipped, the task it became. A sealed drive names nobody
    until it tips (its card has no people then)."""
    kind = "Sealed pledge drive" if drive.sealed else "Pledge drive"
    # The unit is typed by people and sits inside the bold.
    progress = inert(drive.progress)
    lines = [f"{kind} by {mention(card.creator)}", f"{drive.progress_bar()} **{progress}**"]
    if drive.conditional:
        more = f"{drive.conditional:,} more conditional"
        if drive.conditional_people:
            more += ": " + people(drive.conditional_people, FIELD_VALUE_LIMIT)
        lines.append(more)
    if card.state == "open":
        lines.append(f"Sign-up closes {timestamp(drive.deadline_at, 'f')}")
    elif card.state == "failed":
        lines.append(f"Closed {timestamp(drive.deadline_at, 'f')} without reaching its goal")
    if note := drive.sealed_note(card.state):
        lines.append(f"🔒 {inert(note)}")
    if drive.task_number is not None:
        lines.append(f"🎉 Tipped! Now task #{drive.task_number}")
        if drive.did or drive.didnt:
            lines.append(f"Did it: {drive.did:,} · Didn't: {drive.didnt:,}")
    embed = _embed(card, lines)
    if card.committed:
        embed.add_field(name="In", value=people(card.committed), inline=False)
    embed.set_footer(text=card.state.capitalize())
    return embed


def _colour(card: Card) -> discord.Colour:
    if card.overdue:
        return OVERDUE_COLOUR
    return _COLOURS.get(card.state, discord.Colour.default())
