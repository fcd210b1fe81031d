"""Cards, direct messages with buttons, the App Home tab and the pledge drive form as Block
Kit, within Slack's size limits. Every word from the core is shown through `text.inert`; the
bot's own formatting (bold titles, mentions built from ids, dates) is added around it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.slack.surface import DRIVE_FORM, button_action_id
from adapters.slack.text import inert, trim
from bot.cards import Button, Card, DriveView, Person
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
HEADER_LIMIT = 150
PLACEHOLDER_LIMIT = 150
MODAL_TITLE_LIMIT = 24  # a modal's title and its submit and close buttons
LABEL_LIMIT = 2000  # an input's label and hint
_PEOPLE_LIMIT = 900  # three people lists and a progress bar fit in one section

_STATE_LABELS = {
    "closed": "completed",
    "cancelled": "cancelled",
    "tipped": "tipped",
    "failed": "failed",
}
# The drive form's inputs; each input block and its element share the name.
GOAL, DEADLINE, UNIT, SEALED = "goal", "deadline", "unit", "sealed"


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
    """A card: title, who made it and when it is due, progress, who is in, and its buttons."""
    about, lines = _drive_text(card, card.drive) if card.drive is not None else _task_text(card)
    blocks: list[Block] = [
        _section(f"{_title_line(card)}\n{about}"),
        _section("\n".join(lines)),
    ]
    if card.buttons:
        blocks.append(_actions(f"coop_card_{card.number}", card.buttons))
    return blocks[:MESSAGE_BLOCK_LIMIT]


def _task_text(card: Card) -> tuple[str, list[str]]:
    about = f"Created by <@{card.creator.id}>"
    if due := _due(card):
        about += f" · {due}"
    progress = f"{card.progress_bar()} {inert(card.progress)}".strip()
    people = [progress, f"*In:* {mentions(card.committed)}"]
    if card.done:
        people.append(f"*Done:* {mentions(card.done)}")
    if card.waitlist:
        people.append(f"*Waitlist:* {mentions(card.waitlist)}")
    return about, people


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
    waiting = any(p.id == member_id for p in card.waitlist)
    due = _due(card)
    line = inert(card.progress) + (f" · {due}" if due else "")
    return line + ("\nYou're on the waitlist" if waiting else "\nYou're in")


def _actions(block_id: str, buttons: Sequence[Button]) -> Block:
    """A row of buttons; each comes back as `coop_<name>` with the button's number as value."""
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            {
                "type": "button",
                "action_id": button_action_id(button.name),
                "value": str(button.number),
                "text": _plain(button.label, BUTTON_LABEL_LIMIT) | {"emoji": True},
                **({"style": "primary"} if button.name == "join" else {}),
            }
            for button in buttons[:ACTIONS_LIMIT]
        ],
    }


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": trim(text, SECTION_TEXT_LIMIT)}}
