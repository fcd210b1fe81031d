"""Neutral references to where things happen: communities, members, channels, messages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CommunityRef:
    """A Slack workspace, a Discord guild or the console."""

    platform: str
    id: str
    name: str = field(default="", compare=False)


@dataclass(frozen=True)
class MemberRef:
    """A person in a community, as the platform identifies them."""

    community: CommunityRef
    id: str
    name: str = field(default="", compare=False)
    is_admin: bool = field(default=False, compare=False)
    # The zone the platform reports for this person; their own `/coop tz` overrides it.
    tz: str | None = field(default=None, compare=False)

    @property
    def display(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class ChannelRef:
    """A channel (or DM conversation) in a community."""

    community: CommunityRef
    id: str
    name: str = field(default="", compare=False)


@dataclass(frozen=True)
class MessageRef:
    """A message in a channel; `thread_id` is the thread parent when the message is a reply."""

    channel: ChannelRef
    id: str
    thread_id: str | None = None
