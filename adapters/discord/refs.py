"""Discord guilds, members, channels and messages as the core's neutral references."""

from __future__ import annotations

import discord

from bot.refs import ChannelRef, CommunityRef, MemberRef, MessageRef

PLATFORM = "discord"


def community_ref(guild_id: int, guild: discord.Guild | None = None) -> CommunityRef:
    return CommunityRef(PLATFORM, str(guild_id), (guild.name if guild else None) or "")


def member_ref(
    community: CommunityRef,
    user: discord.abc.User | None,
    user_id: int,
    permissions: discord.Permissions | None = None,
) -> MemberRef:
    """A member; without `user` (a removed reaction) the stored display name is kept."""
    is_admin = bool(permissions and (permissions.manage_guild or permissions.administrator))
    name = user.display_name if user is not None else ""
    return MemberRef(community, str(user_id), name, is_admin=is_admin)


def channel_ref(community: CommunityRef, channel_id: int, name: str = "") -> ChannelRef:
    return ChannelRef(community, str(channel_id), name)


def message_ref(community: CommunityRef, channel_id: int, message_id: int) -> MessageRef:
    return MessageRef(channel_ref(community, channel_id), str(message_id))


def jump_url(message: MessageRef) -> str:
    """The link that opens `message` in Discord."""
    guild = message.channel.community.id
    return f"https://discord.com/channels/{guild}/{message.channel.id}/{message.id}"
