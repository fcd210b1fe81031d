"""Each platform's sending limits, in one place, for the one dispatcher that uses them.

The frameworks already handle some of it: discord.py waits out Discord's per-route buckets
and global limit by itself, and slack-sdk retries rate-limited reads. What they do not know
is the per-channel pace Slack asks of new messages, how often one card may be edited, and
which recipients refuse messages; that is here.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from bot.queues import DeliveryKind, OutboxEntry

# Kinds that create a message in the target's channel (a DM channel for people).
_NEW_MESSAGES = (
    DeliveryKind.CARD_POST,
    DeliveryKind.POST,
    DeliveryKind.DM,
    DeliveryKind.TITLE_PROMPT,
)


@dataclass(frozen=True)
class Pacing:
    """How one platform may be sent to.

    `post_interval`: seconds between new messages in one channel (Slack: about one a second).
    `edit_interval`: seconds between edits of one card; changes in between are shown together.
    `concurrency`: sends in flight at once (1 keeps a strict order across lanes).
    `unreachable_pause`: seconds not to message someone who refused a message (Discord counts
    every refused request towards its ban on bots that make too many).
    """

    post_interval: float = 0.0
    edit_interval: float = 0.0
    concurrency: int = 16
    unreachable_pause: float = 0.0

    def bucket(self, entry: OutboxEntry) -> tuple[Hashable, float] | None:
        """Which paced bucket `entry` counts against, and that bucket's interval."""
        if entry.kind in _NEW_MESSAGES and self.post_interval > 0:
            return ("post", entry.platform, entry.community, entry.target), self.post_interval
        if entry.kind is DeliveryKind.CARD_EDIT and self.edit_interval > 0:
            return ("edit", entry.lane), self.edit_interval
        return None


SLACK = Pacing(post_interval=1.0, edit_interval=1.0)
DISCORD = Pacing(edit_interval=1.0, unreachable_pause=3600.0)
# The console prints in the order things happened.
CONSOLE = Pacing(concurrency=1)
