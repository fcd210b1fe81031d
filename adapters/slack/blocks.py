"""Cards, direct messages with buttons and the App Home tab as Block Kit, within Slack's
size limits."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.slack.surface import button_action_id
from bot.cards import Button, Card, Person

Block = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
MESSAGE_TEXT_LIMIT = 40_000
ACTIONS_LIMIT = 25  # elements in one actions block
BUTTON_LABEL_LIMIT = 75
_PEOPLE_LIMIT = 900  # three people lists and a progress bar fit in one section

# Slack markup people type (mentions, links) is kept; other <, > and & are escaped, and
# broadcasts (@channel, @here, user groups) are shown without notifying anyone.
_MARKUP = re.compile(
    r"(?P<keep><[@#][A-Z0-9]+(?:\|[^<>]*)?>|<(?:https?|mailto):[^<>\s]+>|&(?:amp|lt|gt);)"
    r"|(?P<broadcast><!(?P<name>[^<>]*)>)"
    r"|(?P<escape>[<>&])"
)
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
_STATE_LABELS = {"closed": "completed", "cancelled": "cancelled"}


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn(text: str, limit: int = SECTION_TEXT_LIMIT) -> str:
    """Text from people or the core as safe mrkdwn, at most `limit` characters."""

    def replace(match: re.Match[str]) -> str:
        if match["keep"]:
            return match["keep"]
        if match["broadcast"]:
            return f"&lt;!{match['name']}&gt;"
        return _ENTITIES[match["escape"]]

    return trim(_MARKUP.sub(replace, text), limit)


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
    title = f"~{mrkdwn(card.title, 400)}~" if card.state == "cancelled" else mrkdwn(card.title, 400)
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
    return mrkdwn(f"#{card.number} {card.title} — {card.progress}{suffix}")


def card_blocks(card: Card) -> list[Block]:
    """A task card: title, creator and due time, progress, who is in, and its buttons."""
    about = f"Created by <@{card.creator.id}>"
    if due := _due(card):
        about += f" · {due}"
    people = [f"{card.progress_bar()} {card.progress}".strip(), f"*In:* {mentions(card.committed)}"]
    if card.done:
        people.append(f"*Done:* {mentions(card.done)}")
    if card.waitlist:
        people.append(f"*Waitlist:* {mentions(card.waitlist)}")
    blocks: list[Block] = [
        _section(f"{_title_line(card)}\n{about}"),
        _section("\n".join(people)),
    ]
    if card.buttons:
        blocks.append(_actions(f"coop_card_{card.number}", card.buttons))
    return blocks[:MESSAGE_BLOCK_LIMIT]


def dm_blocks(text: str, buttons: Sequence[Button]) -> list[Block]:
    """A direct message with buttons under it: `text` as mrkdwn, then the buttons."""
    return [_section(mrkdwn(text)), _actions("coop_dm", buttons)]


def home_view(cards: Sequence[Card], member_id: str) -> Block:
    """The App Home tab: the open tasks `member_id` is in or waiting for."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your commitments"}}
    ]
    if not cards:
        blocks.append(
            _section(
                "You have no open commitments. React ✋ on a task, press *Join* on its card, "
                "or use `/coop join #3`."
            )
        )
    room = VIEW_BLOCK_LIMIT - len(blocks) - 1  # one block left for "and N more"
    for card in cards[:room]:
        waiting = any(p.id == member_id for p in card.waitlist)
        due = _due(card)
        line = card.progress + (f" · {due}" if due else "")
        status = "You're on the waitlist" if waiting else "You're in"
        blocks.append(_section(f"{_title_line(card)}\n{line}\n{status}"))
    if len(cards) > room:
        more = f"…and {len(cards) - room} more. `/coop mine` lists them all."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"type": "home", "blocks": blocks}


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
                "text": {
                    "type": "plain_text",
                    "text": trim(button.label, BUTTON_LABEL_LIMIT),
                    "emoji": True,
                },
                **({"style": "primary"} if button.name == "join" else {}),
            }
            for button in buttons[:ACTIONS_LIMIT]
        ],
    }


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": trim(text, SECTION_TEXT_LIMIT)}}
