"""The channel permissions the bot uses, each for a reason, and a check before posting."""

from __future__ import annotations

import discord

BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,  # see channels, their reactions and interactions
    send_messages=True,  # post task cards, reminders and digests
    send_messages_in_threads=True,  # post task cards when the tracked message is in a thread
    embed_links=True,  # cards are embeds
    read_message_history=True,  # reply to the tracked message, read its text, react to cards
    add_reactions=True,  # put the commit emoji under each new card, ready to click
)

# A card is an embed in reply to the tracked message; a plain message needs neither.
_FOR_CARDS = ("embed_links", "read_message_history")


def missing_to_post(
    permissions: discord.Permissions, in_thread: bool, card: bool = True
) -> list[str]:
    """Names of the permissions the bot lacks to post a card (or, with `card` False, a plain
    message) in a channel or thread."""
    send = "send_messages_in_threads" if in_thread else "send_messages"
    needed = ["view_channel", send, *(_FOR_CARDS if card else ())]
    return [name for name in needed if not getattr(permissions, name)]


def describe(names: list[str]) -> str:
    """`["embed_links"]` -> "Embed Links"."""
    return ", ".join(name.replace("_", " ").title() for name in names)


def cannot_post(channel_id: str, missing: list[str], what: str) -> str:
    """Why the bot cannot post `what` ("cards") in a channel, and who can fix it."""
    return (
        f"I can't post {what} in <#{channel_id}>: I'm missing the {describe(missing)} "
        "permission there. A server admin can grant it in the channel's settings "
        "(Permissions), then try again."
    )
