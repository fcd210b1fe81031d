"""Slack payloads as the core's neutral events: the one place that reads Slack's JSON."""

from __future__ import annotations

import json
from typing import Any

from adapters.slack.blocks import CLOSES, DEADLINE, DUE, GOAL, NEED, SEALED, TITLE, UNIT
from adapters.slack.directory import Workspace
from adapters.slack.surface import BUTTON_ACTION, CARD_MENU, JOIN_AS
from bot.events import (
    ButtonPressed,
    CommandInvoked,
    DriveRequested,
    EditRequested,
    MessageTracked,
    ReactionAdded,
    ReactionRemoved,
)
from bot.refs import ChannelRef, MemberRef, MessageRef
from bot.shaping import NONE_WORDS

Payload = dict[str, Any]


def unescape(text: str) -> str:
    """Slack's text with its three escapes undone, so "Q&amp;A" is stored as "Q&A".

    Mentions and links (`<@U123|ana>`) stay as Slack wrote them; `text.inert` shows all of it
    as text again, mentions of people and channels aside.
    """
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def reaction_name(raw: str) -> str:
    """A reaction's short name without its skin tone (`raised_hand::skin-tone-3`)."""
    return raw.split("::", 1)[0]


def _thread(message: Payload, ts: str) -> str | None:
    """The thread a message is a reply in; None for a top-level message or a thread parent."""
    thread = message.get("thread_ts")
    return str(thread) if thread and thread != ts else None


def actor_of(body: Payload) -> tuple[str, str]:
    """The id and (fallback) name of whoever sent a command, event or interaction."""
    if "event" in body:
        return str(body["event"]["user"]), ""
    if "user_id" in body:
        return str(body["user_id"]), str(body.get("user_name") or "")
    user = body.get("user") or {}
    return str(user["id"]), str(user.get("name") or user.get("username") or "")


def command_event(body: Payload, ws: Workspace, actor: MemberRef) -> CommandInvoked:
    channel = ChannelRef(ws.community, str(body["channel_id"]), str(body.get("channel_name", "")))
    # The trigger id is unique per invocation and kept on a Socket Mode redelivery.
    text = unescape(str(body.get("text") or ""))
    return CommandInvoked(actor, channel, text, body.get("trigger_id"))


def reaction_event(
    body: Payload, ws: Workspace, actor: MemberRef
) -> ReactionAdded | ReactionRemoved | None:
    """A reaction on a message; None for reactions on files and other items."""
    event = body["event"]
    item = event.get("item") or {}
    if item.get("type") != "message":
        return None
    message = MessageRef(ChannelRef(ws.community, str(item["channel"])), str(item["ts"]))
    kind = ReactionAdded if event["type"] == "reaction_added" else ReactionRemoved
    return kind(actor, message, reaction_name(str(event["reaction"])), body.get("event_id"))


def button_event(body: Payload, ws: Workspace, actor: MemberRef) -> ButtonPressed | None:
    """A press of one of our buttons, on a card in a channel or on a message in the person's
    DM with the bot, or a role picked in a card's "Join as…" select (the join button with
    that role as its choice); None when the action is not ours or its value is not ours."""
    action = (body.get("actions") or [{}])[0]
    action_id = str(action.get("action_id", ""))
    choice = ""
    if action_id == JOIN_AS:
        # `<number>:<role>`: the role's name may hold anything but comes after the number.
        value, _, choice = _selected(action).partition(":")
        name = "join" if choice else None
    else:
        match = BUTTON_ACTION.match(action_id)
        value, name = str(action.get("value", "")), match[1] if match else None
    if name is None or not value.isdigit():
        return None
    message = _message_of(body, ws)
    return ButtonPressed(actor, message, name, int(value), body.get("trigger_id"), choice)


def _selected(action: Payload) -> str:
    """The value of the option picked in a select or overflow menu."""
    return str((action.get("selected_option") or {}).get("value") or "")


def _message_of(body: Payload, ws: Workspace) -> MessageRef:
    """The message an interaction happened on."""
    container = body.get("container") or {}
    channel_id = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = str(container.get("message_ts") or (body.get("message") or {}).get("ts"))
    return MessageRef(
        ChannelRef(ws.community, str(channel_id)), ts, _thread(body.get("message") or {}, ts)
    )


def menu_item(body: Payload, ws: Workspace) -> tuple[str, int, MessageRef] | None:
    """The item picked in a card's overflow menu (`edit`), the card's number and message;
    None when it is not our menu or not one of its values."""
    action = (body.get("actions") or [{}])[0]
    if action.get("action_id") != CARD_MENU:
        return None
    item, _, number = _selected(action).partition(":")
    if not item or not number.isdigit():
        return None
    return item, int(number), _message_of(body, ws)


def shortcut_message(body: Payload, ws: Workspace) -> tuple[MessageRef, str]:
    """The message a message shortcut was used on, and its text (the payload carries it)."""
    source = body.get("message") or {}
    ts = str(source.get("ts") or body["message_ts"])
    channel = ChannelRef(ws.community, str(body["channel"]["id"]), body["channel"].get("name", ""))
    return MessageRef(channel, ts, _thread(source, ts)), unescape(str(source.get("text") or ""))


def shortcut_event(body: Payload, ws: Workspace, actor: MemberRef) -> MessageTracked:
    """The "Track as task" message shortcut."""
    message, text = shortcut_message(body, ws)
    return MessageTracked(actor, message, text, body.get("trigger_id"))


def drive_form_event(body: Payload, ws: Workspace, actor: MemberRef) -> DriveRequested:
    """The submitted "Start a pledge drive" form (see blocks.drive_form); the core checks
    the fields as typed."""
    view = body["view"]
    about = json.loads(view["private_metadata"])
    channel = ChannelRef(ws.community, str(about["channel"]))
    message = MessageRef(channel, str(about["ts"]), about.get("thread_ts"))
    values = (view.get("state") or {}).get("values") or {}

    def typed(name: str) -> str:
        return str((values.get(name) or {}).get(name, {}).get("value") or "")

    ticked = (values.get(SEALED) or {}).get(SEALED, {}).get("selected_options") or ()
    return DriveRequested(
        actor,
        message,
        str(about["text"]),
        goal=typed(GOAL),
        deadline=typed(DEADLINE),
        unit=typed(UNIT),
        sealed=any(option.get("value") == SEALED for option in ticked),
        # A view is submitted once (it closes), and a redelivery carries the same id.
        event_id=str(view["id"]),
    )


def edit_form_event(body: Payload, ws: Workspace, actor: MemberRef) -> EditRequested:
    """The submitted Edit form (see blocks.edit_form): a field as it was filled in changes
    nothing (None), and so does an empty due time or cut-off; an emptied need, or "none",
    clears (""); the core checks the rest."""
    view = body["view"]
    about = json.loads(view["private_metadata"])
    values = (view.get("state") or {}).get("values") or {}

    def typed(name: str) -> str:
        return str((values.get(name) or {}).get(name, {}).get("value") or "").strip()

    def changed(name: str, was: str | None = None) -> str | None:
        now = typed(name)
        if now.lower() in NONE_WORDS:  # as in `/coop edit due:none`
            return "" if was != "" else None
        if not now:
            # An emptied need means no limit; an empty due time or cut-off means unchanged.
            return "" if was else None
        return None if now == was else now

    title = typed(TITLE)
    return EditRequested(
        actor,
        ChannelRef(ws.community, str(about["channel"])),
        int(about["number"]),
        title=None if not title or title == about.get("title") else title,
        need=changed(NEED, str(about.get("need") or "")),
        due=changed(DUE),
        closes=changed(CLOSES),
        # A view is submitted once (it closes), and a redelivery carries the same id.
        event_id=str(view["id"]),
    )
