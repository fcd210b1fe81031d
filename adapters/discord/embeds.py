"""Cards (tasks and pledge drives) as embeds, within Discord's limits; everything on them
that the core wrote is made inert (see text.py)."""

from __future__ import annotations

from datetime import datetime

import discord
import emoji as emoji_data

from adapters.discord.text import fit, inert
from bot.cards import Card, DriveView, Person, RoleView
from bot.emoji_names import canonical, is_known

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_LIMIT = 25
EMBED_LIMIT = 6000
# Discord's emoji set lags Unicode's: emoji of a later version than this are kept off
# components and reactions, where Discord refuses one it lacks (the whole message with it).
DISCORD_EMOJI_VERSION = 15.0
# Fields besides the roles': people in without a role, and the maybes.
_OTHER_FIELDS = 2

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
    if card.signup_closed:
        when = f" {timestamp(card.closes_at, 'f')}" if card.closes_at else ""
        lines.append(f"🔒 Sign-up closed{when}")
    elif card.closes_at and card.state == "open":
        lines.append(f"Sign-up closes {timestamp(card.closes_at, 'f')}")
    if card.repeats:
        lines.append(f"🔁 Repeats {inert(card.repeats)}")
    lines.append(f"{card.progress_bar()} **{inert(card.progress)}**".strip())
    embed = _embed(card, lines)
    fields = _role_fields(card) if card.roles else _people_fields(card)
    if card.maybe:
        fields.append((f"Maybe ({len(card.maybe)})", [("", card.maybe)]))
    _add_fields(embed, fields)
    embed.set_footer(text=card.state.capitalize())
    return embed


# A field: its name and its lists of people, each with a label ("" for none).
Field = tuple[str, list[tuple[str, tuple[Person, ...]]]]


def _people_fields(card: Card) -> list[Field]:
    fields: list[Field] = [("In", [("", card.committed)])]
    if card.done:
        fields.append(("Done", [("", card.done)]))
    if card.waitlist:
        fields.append(("Waitlist", [("", card.waitlist)]))
    return fields


def _role_fields(card: Card) -> list[Field]:
    """A field per role (its emoji, name and progress; who is in, done, waiting), then whoever
    is in without a role. Past Discord's 25 fields, the last roles are only counted."""
    shown = card.roles[: FIELDS_LIMIT - _OTHER_FIELDS]
    fields = [(role_heading(role), _role_people(role)) for role in shown]
    if hidden := card.roles[len(shown) :]:
        fields.pop()
        more = ", ".join(f"{r.name} {r.progress}" for r in (shown[-1], *hidden))
        fields.append((f"{len(hidden) + 1} more roles", [(more, ())]))
    in_roles = {p for role in card.roles for p in (*role.committed, *role.done)}
    if others := tuple(p for p in (*card.committed, *card.done) if p not in in_roles):
        fields.append(("In (no role)", [("", others)]))
    return fields


def role_heading(role: RoleView) -> str:
    """ "🚗 driver · 1/2 in": a role's field name, with its emoji when Discord draws it."""
    emoji = drawn_emoji(role.emoji)
    return f"{emoji} {role.name} · {role.progress}" if emoji else f"{role.name} · {role.progress}"


def drawn_emoji(name_or_char: str) -> str | None:
    """The emoji character Discord draws for a role's emoji; None for a name it does not
    know (a custom Slack emoji, say), which would show as text or be refused."""
    return canonical(name_or_char) if name_or_char and is_known(name_or_char) else None


def component_emoji(name_or_char: str) -> str | None:
    """A role's emoji as Discord takes it on a component or as a reaction: fully qualified,
    and from an emoji version Discord has (it refuses the whole message over a newer one, so
    those are left off)."""
    char = drawn_emoji(name_or_char)
    if char is None:
        return None
    for spelling in (char + "\ufe0f", char):
        data = emoji_data.EMOJI_DATA.get(spelling)
        if data is not None and data["status"] == emoji_data.STATUS["fully_qualified"]:
            return spelling if data["E"] <= DISCORD_EMOJI_VERSION else None
    return None


def _role_people(role: RoleView) -> list[tuple[str, tuple[Person, ...]]]:
    lists = [("", role.committed)]
    if role.done:
        lists.append(("Done", role.done))
    if role.waitlist:
        lists.append(("Waitlist", role.waitlist))
    return lists


def _add_fields(embed: discord.Embed, fields: list[Field]) -> None:
    """`fields` on `embed`, their people cut so that all of it stays within the embed's 6,000
    characters: each field gets an even share of what the title, description and footer
    leave (at most 1,024)."""
    names = [fit(name, FIELD_NAME_LIMIT, links=False) for name, _ in fields]
    footer = len("Cancelled")  # the longest state the footer names
    used = len(embed.title or "") + len(embed.description or "") + footer
    room = EMBED_LIMIT - used - sum(len(n) for n in names)
    share = min(FIELD_VALUE_LIMIT, room // max(1, len(fields)))
    for name, (_, lists) in zip(names, fields, strict=True):
        embed.add_field(name=name, value=_field_value(lists, share), inline=False)


def _field_value(lists: list[tuple[str, tuple[Person, ...]]], limit: int) -> str:
    """Lists of people, one a line ("Waitlist: <@1>, <@2>"), each in an even share of
    `limit`; a label alone (no people) is a line of text."""
    lines: list[str] = []
    each = (limit - len(lists) + 1) // len(lists)  # less the line breaks
    for label, persons in lists:
        if not persons and label:
            lines.append(fit(label, each))
            continue
        prefix = f"{label}: " if label else ""
        lines.append(prefix + people(persons, each - len(prefix)))
    return "\n".join(lines)


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
