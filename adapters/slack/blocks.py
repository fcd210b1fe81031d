"""Cards, direct messages with buttons, the App Home tab and the pledge drive form as Block
Kit, within Slack's size limits. Every word from the core is shown through `text.inert`; the
bot's own formatting (bold titles, mentions built from ids, dates) is added around it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.slack.surface import (
    CARD_MENU,
    DRIVE_FORM,
    EDIT_FORM,
    EDIT_ITEM,
    JOIN_AS,
    button_action_id,
)
from adapters.slack.text import inert, trim
from bot import grammar
from bot.cards import Button, Card, DriveView, Person, RoleView
from bot.drives import MAX_UNIT
from bot.refs import MessageRef

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
MESSAGE_TEXT_LIMIT = 40_000
ACTIONS_LIMIT = 25  # elements in one actions block
PRIVATE_METADATA_LIMIT = 3000
# Lengths of plain_text objects, which show their text as it is (it never goes through inert).
BUTTON_LABEL_LIMIT = 75
OPTION_LIMIT = 75
OPTION_VALUE_LIMIT = 150
SELECT_OPTIONS_LIMIT = 100
HEADER_LIMIT = 150
PLACEHOLDER_LIMIT = 150
MODAL_TITLE_LIMIT = 24  # a modal's title and its submit and close buttons
LABEL_LIMIT = 2000  # an input's label and hint
_PEOPLE_LIMIT = 900  # three people lists and a progress bar fit in one section
# What a section of people lists holds besides the lists: labels, counts, a progress bar.
_LABELS_ROOM = 300
_ROLE_NAME_SHOWN = 60

_STATE_LABELS = {
    "closed": "completed",
    "cancelled": "cancelled",
    "tipped": "tipped",
    "failed": "failed",
}
# The drive form's inputs; each input block and its element share the name.
GOAL, DEADLINE, UNIT, SEALED = "goal", "deadline", "unit", "sealed"
# The Edit form's, named as /coop edit's options.
TITLE, NEED, DUE, CLOSES = "title", "need", "due", "closes"


def due_text(when: datetime) -> str:
    """A date Slack shows in each reader's own time zone (UTC where it cannot)."""
    fallback = when.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def mentions(people: Sequence[Person], limit: int = _PEOPLE_LIMIT) -> str:
    """`<@U1>, <@U2> and 3 more`, at most `limit` characters."""
    if not people:
        return "nobody yet"
    shown = ""
    for i, person in enumerate(people):
        longer = f"{shown}, <@{person.id}>" if shown else f"<@{person.id}>"
        after = len(people) - i - 1
        if len(longer) + (len(f" and {after} more") if after else 0) > limit:
            return f"{shown} and {len(people) - i} more" if shown else f"{len(people)} people"
        shown = longer
    return shown


def _title_line(card: Card) -> str:
    state = _STATE_LABELS.get(card.state)
    title = inert(card.title, 400)
    if card.state == "cancelled":
        title = f"~{title}~"
    return f"*#{card.number} {title}*" + (f"  _({state})_" if state else "")


def _due(card: Card) -> str:
    """When the card is due, or that it is overdue; "" when it has no due time."""
    if card.overdue:
        return "⚠️ *Overdue*" + (f" — was due {due_text(card.due_at)}" if card.due_at else "")
    return f"due {due_text(card.due_at)}" if card.due_at else ""


def card_fallback(card: Card) -> str:
    """The plain text of a card, for notifications and clients without blocks."""
    state = _STATE_LABELS.get(card.state) or ("overdue" if card.overdue else None)
    suffix = f" ({state})" if state else ""
    return inert(f"#{card.number} {card.title} — {card.progress}{suffix}", SECTION_TEXT_LIMIT)


def card_blocks(card: Card) -> list[Block]:
    """A card: title, who made it and when it is due, progress, who is in (by role, when it
    has roles), and its buttons (Join as a select of the roles) and Edit menu."""
    about, lines = _drive_text(card, card.drive) if card.drive is not None else _task_text(card)
    blocks: list[Block] = [
        _section(f"{_title_line(card)}\n{about}"),
        _section("\n".join(lines)),
    ]
    if card.drive is None and card.roles:
        blocks.append(_section("\n".join(_role_lines(card.roles))))
    if card.buttons or card.editable:
        blocks.append(_card_actions(card))
    return blocks[:MESSAGE_BLOCK_LIMIT]


def _task_text(card: Card) -> tuple[str, list[str]]:
    about = f"Created by <@{card.creator.id}>"
    if due := _due(card):
        about += f" · {due}"
    shape = []
    if card.signup_closed:
        shape.append("🚫 Sign-up closed")
    elif card.closes_at is not None and card.state == "open":
        shape.append(f"Sign-up closes {due_text(card.closes_at)}")
    if card.repeats:
        shape.append(f"🔁 Repeats {inert(card.repeats, 200)}")
    if shape:
        about += "\n" + " · ".join(shape)
    progress = f"{card.progress_bar()} {inert(card.progress)}".strip()
    # With roles, who is in and waiting is shown role by role (in their own section).
    lists: list[tuple[str, tuple[Person, ...]]] = [] if card.roles else [("In", card.committed)]
    if card.done and not card.roles:
        lists.append(("Done", card.done))
    if card.waitlist and not card.roles:
        lists.append(("Waitlist", card.waitlist))
    if card.maybe:
        lists.append(("Maybe", card.maybe))
    room = _list_room(len(lists))
    people = [progress] + [f"*{name}:* {mentions(who, room)}" for name, who in lists]
    return about, people


def _list_room(lists: int) -> int:
    """How long each of `lists` people lists sharing one section may be."""
    return min(_PEOPLE_LIMIT, (SECTION_TEXT_LIMIT - _LABELS_ROOM) // max(1, lists))


def role_emoji(emoji: str) -> str:
    """A role's emoji as mrkdwn: a character as it is, a (custom) short name as `:name:`."""
    if not emoji:
        return ""
    if emoji.isascii():
        name = "".join(ch for ch in emoji if ch.isalnum() or ch in "_-+'")
        return f":{name}:" if name else ""
    return inert(emoji, 20)


def _role_lines(roles: tuple[RoleView, ...]) -> list[str]:
    """`🚗 *driver* 1/2: <@U1> · waitlist: <@U2>`, one line per role."""
    lists = sum(1 + bool(r.done) + bool(r.waitlist) for r in roles)
    # Every role's line has its name and count besides its lists.
    room = min(
        _PEOPLE_LIMIT,
        (SECTION_TEXT_LIMIT - len(roles) * (_ROLE_NAME_SHOWN + 60)) // max(1, lists),
    )
    lines = []
    for role in roles:
        emoji = role_emoji(role.emoji)
        name = inert(role.name, _ROLE_NAME_SHOWN)
        line = f"{emoji} *{name}*" if emoji else f"*{name}*"
        line += f" {role.count}: {mentions(role.committed, room)}"
        if role.done:
            line += f" · done: {mentions(role.done, room)}"
        if role.waitlist:
            line += f" · waitlist: {mentions(role.waitlist, room)}"
        lines.append(line)
    return lines


def _drive_text(card: Card, drive: DriveView) -> tuple[str, list[str]]:
    """A pledge drive's progress (of the group whose conditions hold), deadline, and who is
    in: nobody is named on a sealed drive that has not tipped (its card has no people)."""
    kind = "Sealed pledge drive" if drive.sealed else "Pledge drive"
    lines = [f"{drive.progress_bar()} {inert(drive.progress)}"]
    if drive.conditional:
        more = f"{drive.conditional:,} more conditional"
        if drive.conditional_people:
            more += f": {mentions(drive.conditional_people)}"
        lines.append(more)
    closes = due_text(drive.deadline_at)
    if card.state == "open":
        left = f" · {inert(drive.time_left)}" if drive.time_left else ""
        lines.append(f"Sign-up closes {closes}{left}")
    elif card.state == "failed":
        lines.append(f"Closed {closes} without reaching its goal")
    if note := drive.sealed_note(card.state):
        lines.append(f"🔒 {inert(note)}")
    if drive.task_number is not None:
        lines.append(f"🎉 Now task #{drive.task_number}")
        if drive.did or drive.didnt:
            lines.append(f"Did it: {drive.did:,} · Didn't: {drive.didnt:,}")
    if card.committed:
        lines.append(f"*In:* {mentions(card.committed)}")
    return f"{kind} by <@{card.creator.id}>", lines


def drive_form(message: MessageRef, text: str) -> Block:
    """The form "Start a pledge drive" opens over `message`; the message rides along in the
    view's private metadata, to come back with the submission."""
    preview = inert(" ".join(text.split()), 300) or "_(no text)_"
    return {
        "type": "modal",
        "callback_id": DRIVE_FORM,
        "title": _plain("Start a pledge drive", MODAL_TITLE_LIMIT),
        "submit": _plain("Start", MODAL_TITLE_LIMIT),
        "close": _plain("Cancel", MODAL_TITLE_LIMIT),
        "private_metadata": form_metadata(message, text),
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"From: {preview}"}]},
            _input(
                GOAL,
                "Goal",
                {"type": "number_input", "is_decimal_allowed": False, "min_value": "1"},
                hint="How many people it takes, or how much of the unit",
            ),
            _input(
                DEADLINE,
                "Sign-up deadline",
                _text_input("friday 5pm"),
                hint="When pledging closes, like “friday 5pm” or “in 3 days”",
            ),
            _input(
                UNIT,
                "Unit",
                _text_input("hours, EUR… (empty: count people)", MAX_UNIT),
                optional=True,
            ),
            _input(
                SEALED,
                "Sealed",
                {
                    "type": "checkboxes",
                    "options": [
                        {
                            "text": _plain("Only counts show until it tips", OPTION_LIMIT),
                            "value": SEALED,
                        }
                    ],
                },
                optional=True,
            ),
        ],
    }


def edit_form(card: Card, channel_id: str) -> Block:
    """The form a card's Edit menu item opens: title and need filled in as they are, due time
    and cut-off left empty (empty keeps them, "none" clears them). What it edits, and what it
    showed, ride along in the private metadata."""
    limits = {name: grammar.SUBCOMMANDS["edit"].option(name).limit for name in (NEED, DUE)}
    need = str(card.need) if card.need else ""
    title_input = _text_input("Saturday market stall", grammar.MAX_TITLE) | {
        "initial_value": card.title
    }
    need_input = _text_input("3", limits[NEED]) | ({"initial_value": need} if need else {})

    # Shown in mrkdwn (a context block), where Slack writes dates in each reader's zone.
    due = f"due {due_text(card.due_at)}" if card.due_at else "no due time"
    closes = f"sign-up closes {due_text(card.closes_at)}" if card.closes_at else "no cut-off"
    keep = "Leave empty to keep it as it is; type “none” to remove it"
    now = f"*#{card.number} {inert(card.title, 300)}*: now {due} · {closes}"

    about = {"channel": channel_id, "number": card.number, "title": card.title, "need": need}
    # A title is at most grammar.MAX_TITLE characters: this fits Slack's 3,000 with room.
    metadata = json.dumps(about, ensure_ascii=False)
    return {
        "type": "modal",
        "callback_id": EDIT_FORM,
        "title": _plain(f"Edit #{card.number}", MODAL_TITLE_LIMIT),
        "submit": _plain("Save", MODAL_TITLE_LIMIT),
        "close": _plain("Cancel", MODAL_TITLE_LIMIT),
        "private_metadata": metadata,
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": now}]},
            _input(TITLE, "Title", title_input),
            _input(
                NEED,
                "People needed",
                need_input,
                hint="How many people it takes; leave empty for no limit",
                optional=True,
            ),
            _input(
                DUE,
                "Due",
                _text_input("sunday 11am", limits[DUE]),
                hint=keep,
                optional=True,
            ),
            _input(
                CLOSES,
                "Sign-up closes",
                _text_input("saturday 8am", grammar.SUBCOMMANDS["edit"].option(CLOSES).limit),
                hint=keep,
                optional=True,
            ),
        ],
    }


def form_metadata(message: MessageRef, text: str) -> str:
    """The message a form is about, as private metadata; its text is cut to fit Slack's
    limit (the drive's title is its first line)."""

    def encode(kept: str) -> str:
        fields = {"channel": message.channel.id, "ts": message.id, "thread_ts": message.thread_id}
        return json.dumps(fields | {"text": kept}, ensure_ascii=False)

    if len(encoded := encode(text)) <= PRIVATE_METADATA_LIMIT:
        return encoded
    # The longest beginning that fits (escapes make the encoding longer than the text).
    low, high = 0, min(len(text), PRIVATE_METADATA_LIMIT)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encode(text[:middle])) <= PRIVATE_METADATA_LIMIT:
            low = middle
        else:
            high = middle - 1
    return encode(text[:low])


def _text_input(placeholder: str, max_length: int | None = None) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "placeholder": _plain(placeholder, PLACEHOLDER_LIMIT),
    }
    if max_length is not None:
        element["max_length"] = max_length
    return element


def _plain(text: str, limit: int) -> Block:
    """Text Slack shows as it is: only cut to `limit`."""
    return {"type": "plain_text", "text": trim(text, limit)}


def _input(
    name: str, label: str, element: Block, *, hint: str | None = None, optional: bool = False
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": name,
        "label": _plain(label, LABEL_LIMIT),
        "element": {**element, "action_id": name},
        "optional": optional,
    }
    if hint is not None:
        block["hint"] = _plain(hint, LABEL_LIMIT)
    return block


def dm_blocks(text: str, buttons: Sequence[Button]) -> list[Block]:
    """A direct message with buttons under it: `text`, then the buttons."""
    return [_section(inert(text, SECTION_TEXT_LIMIT)), _actions("coop_dm", buttons)]


def home_view(cards: Sequence[Card], member_id: str) -> Block:
    """The App Home tab: the open tasks `member_id` is in or waiting for, and their pledges."""
    blocks: list[Block] = [{"type": "header", "text": _plain("Your commitments", HEADER_LIMIT)}]
    if not cards:
        blocks.append(
            _section(
                "You have no open commitments. React ✋ on a task, press *Join* on its card, "
                "or use `/coop join #3`."
            )
        )
    room = VIEW_BLOCK_LIMIT - len(blocks) - 1  # one block left for "and N more"
    for card in cards[:room]:
        blocks.append(_section(f"{_title_line(card)}\n{_home_lines(card, member_id)}"))
    if len(cards) > room:
        more = f"…and {len(cards) - room} more. `/coop mine` lists them all."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"type": "home", "blocks": blocks}


def _home_lines(card: Card, member_id: str) -> str:
    """How a card looks on the Home tab, under its title."""
    if card.drive is not None:
        left = f" · {inert(card.drive.time_left)}" if card.drive.time_left else ""
        closes = f"sign-up closes {due_text(card.drive.deadline_at)}{left}"
        return f"{inert(card.progress)} · {closes}\nYou've pledged"

    def among(people: Sequence[Person]) -> bool:
        return any(p.id == member_id for p in people)

    due = _due(card)
    line = inert(card.progress) + (f" · {due}" if due else "")
    role = next((r for r in card.roles if among((*r.committed, *r.done, *r.waitlist))), None)
    as_role = f" as {inert(role.name, _ROLE_NAME_SHOWN)}" if role is not None else ""
    if among(card.maybe):
        return line + "\nYou said maybe"
    if among(card.waitlist):
        return line + f"\nYou're on the waitlist{as_role}"
    return line + f"\nYou're in{as_role}"


def _actions(block_id: str, buttons: Sequence[Button]) -> Block:
    """A row of buttons; each comes back as `coop_<name>` with the button's number as value."""
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [_button(button) for button in buttons[:ACTIONS_LIMIT]],
    }


_PRIMARY = {"join", "confirm", "handoff_yes"}


def _button(button: Button) -> Block:
    return {
        "type": "button",
        "action_id": button_action_id(button.name),
        "value": str(button.number),
        "text": _plain(button.label, BUTTON_LABEL_LIMIT) | {"emoji": True},
        **({"style": "primary"} if button.name in _PRIMARY else {}),
    }


def _card_actions(card: Card) -> Block:
    """A card's buttons, Join as a select of the roles on a task with roles, then its menu."""
    room = ACTIONS_LIMIT - (1 if card.editable else 0)
    elements = [
        _join_select(card, button) if button.name == "join" and card.roles else _button(button)
        for button in card.buttons[:room]
    ]
    if card.editable:
        elements.append(
            {
                "type": "overflow",
                "action_id": CARD_MENU,
                "options": [_option("✏️ Edit", f"{EDIT_ITEM}:{card.number}")],
            }
        )
    return {"type": "actions", "block_id": f"coop_card_{card.number}", "elements": elements}


def _join_select(card: Card, join: Button) -> Block:
    """ "Join as…": one option per role, `<number>:<role>`, with the role's progress."""
    options, values = [], set()
    for role in card.roles:
        value = f"{join.number}:{role.name}"
        # A role whose name does not fit an option's value is still joined with `role:`.
        if len(value) > OPTION_VALUE_LIMIT or value in values:
            continue
        values.add(value)
        emoji = role_emoji(role.emoji)
        count = role.count if role.need else role.progress
        full = ", full" if role.full else ""
        options.append(_option(f"{emoji} {role.name} ({count}{full})".strip(), value))
    if not options:  # a select needs one; the button makes the core ask which role
        return _button(join)
    return {
        "type": "static_select",
        "action_id": JOIN_AS,
        "placeholder": _plain(f"{join.label} as…", PLACEHOLDER_LIMIT) | {"emoji": True},
        "options": options[:SELECT_OPTIONS_LIMIT],
    }


def _option(text: str, value: str) -> Block:
    return {"text": _plain(text, OPTION_LIMIT) | {"emoji": True}, "value": value}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": trim(text, SECTION_TEXT_LIMIT)}}
