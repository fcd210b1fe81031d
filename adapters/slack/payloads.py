"""Slack payloads as the core's neutral events: the one place that reads Slack's JSON."""

from __future__ import annotations

import json
from typing import Any

from adapters.slack.blocks import DEADLINE, GOAL, SEALED, UNIT
from adapters.slack.directory import Workspace
from adapters.slack.surface import BUTTON_ACTION
from bot.events import (
    ButtonPressed,
    CommandInvoked,
    DriveRequested,
    MessageTracked,
    ReactionAdded,
    ReactionRemoved,
)
from bot.refs import ChannelRef, MemberRef, MessageRef

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
    DM with the bot; None when the action is not ours or its value is not a number."""
    action = (body.get("actions") or [{}])[0]
    match = BUTTON_ACTION.match(str(action.get("action_id", "")))
    value = str(action.get("value", ""))
    if match is None or not value.isdigit():
        return None
    container = body.get("container") or {}
    channel_id = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = str(container.get("message_ts") or (body.get("message") or {}).get("ts"))
    message = MessageRef(
        ChannelRef(ws.community, str(channel_id)), ts, _thread(body.get("message") or {}, ts)
    )
    return ButtonPressed(actor, message, match[1], int(value), body.get("trigger_id"))


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
