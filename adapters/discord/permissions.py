"""The channel permissions the bot uses, each for a reason, and a check before posting."""

from __future__ import annotations

import discord

BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,  # see channels, their reactions and interactions
    send_messages=True,  # post task cards
    send_messages_in_threads=True,  # post task cards when the tracked message is in a thread
    embed_links=True,  # cards are embeds
    read_message_history=True,  # reply to the tracked message, read its text, react to cards
    add_reactions=True,  # put the commit emoji under each new card, ready to click
)

_TO_POST = ("view_channel", "embed_links", "read_message_history")


def missing_to_post(permissions: discord.Permissions, in_thread: bool) -> list[str]:
    """Names of the permissions the bot lacks to post a card in a channel (or thread)."""
    send = "send_messages_in_threads" if in_thread else "send_messages"
    needed = [_TO_POST[0], send, *_TO_POST[1:]]
    return [name for name in needed if not getattr(permissions, name)]


def describe(names: list[str]) -> str:
    """`["embed_links"]` -> "Embed Links"."""
    return ", ".join(name.replace("_", " ").title() for name in names)
