"""Neutral events, references and effects as JSON, for the inbox and outbox tables."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import datetime
from typing import Any

from bot import cards, events, refs

# Every dataclass that may appear in a stored event or delivery, by its type tag.
_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        refs.CommunityRef,
        refs.MemberRef,
        refs.ChannelRef,
        refs.MessageRef,
        events.ReplyHandle,
        events.CommandInvoked,
        events.ReactionAdded,
        events.ReactionRemoved,
        events.ButtonPressed,
        events.MessageTracked,
        events.TitleGiven,
        events.DriveRequested,
        events.EditRequested,
        events.Inbound,
        cards.Button,
        cards.RoleView,
        cards.ChannelMessage,
        cards.PostCard,
        cards.UpdateCard,
        cards.DirectMessage,
        cards.PrivateReply,
        cards.AskForTitle,
        cards.Dismiss,
        cards.Cause,
        cards.Outgoing,
    )
}


def to_data(value: Any) -> Any:
    """`value` (dataclasses from the list above, in dicts, lists or alone) as JSON data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if _TYPES.get(type(value).__name__) is not type(value):
            raise TypeError(f"{type(value).__name__} is not registered in bot.codec")
        data = {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **data}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    return value


def from_data(data: Any, expected: Any = Any) -> Any:
    """The inverse of `to_data`; `expected` is the field's type, for datetimes."""
    if isinstance(data, dict) and "type" in data:
        cls, hints = _TYPES[data["type"]], _HINTS[data["type"]]
        return cls(**{k: from_data(v, hints[k]) for k, v in data.items() if k != "type"})
    if isinstance(data, dict):
        return {k: from_data(v) for k, v in data.items()}
    if isinstance(data, str) and _is_datetime(expected):
        return datetime.fromisoformat(data)
    if isinstance(data, list):
        return tuple(from_data(v) for v in data)
    return data


def dumps(value: Any) -> str:
    return json.dumps(to_data(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    return from_data(json.loads(text))


_HINTS = {name: typing.get_type_hints(cls) for name, cls in _TYPES.items()}


def _is_datetime(expected: Any) -> bool:
    if expected is datetime:
        return True
    if isinstance(expected, types.UnionType) or typing.get_origin(expected) is typing.Union:
        return datetime in typing.get_args(expected)
    return False
