"""Plain-text rendering of cards, for the console and for text fallbacks."""

from __future__ import annotations

from bot.cards import Card, DriveView, Person, RoleView
from bot.timeparse import format_local


def names(people: tuple[Person, ...]) -> str:
    return ", ".join(p.name for p in people) or "nobody yet"


def card_lines(card: Card, tz_name: str = "UTC") -> list[str]:
    """The card as a few lines of text; `tz_name` is the zone due times are shown in."""
    if card.drive is not None:
        return drive_lines(card, card.drive, tz_name)
    lines = [f"#{card.number} {card.title}  [{card.state}]", f"by {card.creator.name}"]
    if card.due_at:
        overdue = "OVERDUE: was " if card.overdue else ""
        lines.append(f"{overdue}due {format_local(card.due_at, tz_name)}")
    bar = card.progress_bar()
    lines.append(f"{bar} {card.progress}".strip())
    if card.roles:  # who is in, role by role
        lines += [role_line(r, card.confirming) for r in card.roles]
    else:
        lines.append(f"in: {names(_marked(card.committed, card.confirming))}")
        if card.done:
            lines.append(f"done: {names(card.done)}")
        if card.waitlist:
            lines.append(f"waitlist: {names(card.waitlist)}")
    if card.maybe:
        lines.append(f"maybe: {names(card.maybe)}")
    if card.signup_closed:
        lines.append("sign-up closed")
    elif card.closes_at and card.state == "open":
        lines.append(f"sign-up closes {format_local(card.closes_at, tz_name)}")
    if card.repeats:
        lines.append(f"repeats {card.repeats}")
    if card.buttons:
        lines.append("buttons: " + " ".join(f"[{b.label}]" for b in card.buttons))
    return lines


def role_line(role: RoleView, confirming: tuple[Person, ...] = ()) -> str:
    """ "🚗 driver 1/2: Ana · done: Cy · waitlist: Bo"; who has yet to confirm is marked."""
    line = f"{role.emoji} {role.name} {role.count}".lstrip()
    if role.committed or not role.done:
        line += f": {names(_marked(role.committed, confirming))}"
    if role.done:
        line += f" · done: {names(role.done)}"
    if role.waitlist:
        line += f" · waitlist: {names(role.waitlist)}"
    return line


def _marked(people: tuple[Person, ...], confirming: tuple[Person, ...]) -> tuple[Person, ...]:
    return tuple(Person(p.id, f"{p.name} (confirming)") if p in confirming else p for p in people)


def card_text(card: Card, tz_name: str = "UTC") -> str:
    return "\n".join(card_lines(card, tz_name))


def drive_lines(card: Card, drive: DriveView, tz_name: str) -> list[str]:
    """A pledge drive's card: progress of the group whose conditions hold, and time left."""
    kind = "sealed pledge drive" if drive.sealed else "pledge drive"
    lines = [f"#{card.number} {card.title}  [{kind}, {card.state}]", f"by {card.creator.name}"]
    lines.append(f"{drive.progress_bar()} {drive.progress}")
    if drive.conditional:
        more = f"{drive.conditional} more conditional"
        if drive.conditional_people:
            more += f": {names(drive.conditional_people)}"
        lines.append(more)
    closes = format_local(drive.deadline_at, tz_name)
    if card.state == "open":
        left = f" ({drive.time_left})" if drive.time_left else ""
        lines.append(f"sign-up closes {closes}{left}")
    elif card.state == "failed":
        lines.append(f"closed {closes} without reaching its goal")
    if card.committed:
        lines.append(f"in: {names(card.committed)}")
    elif note := drive.sealed_note(card.state):
        lines.append(note[0].lower() + note[1:])
    if drive.task_number is not None:
        lines.append(f"tipped: now task #{drive.task_number}")
        if drive.did or drive.didnt:
            lines.append(f"did it: {drive.did} · didn't: {drive.didnt}")
    if card.buttons:
        lines.append("buttons: " + " ".join(f"[{b.label}]" for b in card.buttons))
    return lines
