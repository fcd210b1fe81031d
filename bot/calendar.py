"""Private calendar feeds: a person's commitments, or a channel's tasks, as iCalendar.

`/coop calendar` hands out a link with a random token in it; only the token's SHA-256 hash is
stored, so a link cannot be shown again, only replaced (`reset`). The feed itself is served
by the operator's HTTP listener (bot.ops), which asks `feed_for` for it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

import icalendar

from bot.cards import Effect, progress
from bot.errors import CoopError
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    CalendarFeed,
    Commitment,
    CommitmentStatus,
)
from bot.ports import UnitOfWork
from bot.timeparse import format_local
from bot.turn import Preferences, Turn

PATH = "/calendar/{token}.ics"
PAST = timedelta(days=90)  # how far back a person's feed still shows what they were on
DURATION = timedelta(hours=1)  # a task has a due time, not a length: calendars get an hour
_WORDS = frozenset({"channel", "reset"})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def calendar(turn: Turn, which: str | None) -> list[Effect]:
    """`/coop calendar [channel] [reset]`: the private link, made on first use."""
    words = (which or "").lower().replace(",", " ").split()
    if not set(words) <= _WORDS:
        raise CoopError(
            "Use /coop calendar for your link, /coop calendar channel for this channel's, "
            "and add reset for a new link: /coop calendar reset."
        )
    base = turn.prefs.calendar_url
    if base is None:
        return [
            turn.reply(
                "Calendar links are served by coopbot's HTTP listener, which is off here. "
                "The operator can turn it on with the ops.listen setting (for example "
                "COOPBOT_OPS__LISTEN=0.0.0.0:9464) and set ops.public_url to the address "
                "calendar apps reach it at."
            )
        ]
    channel_id = turn.channel.id if "channel" in words else None
    whose = "this channel's tasks" if channel_id else "what you're signed up for"
    again = "/coop calendar channel reset" if channel_id else "/coop calendar reset"
    if "reset" in words:
        revoked = turn.uow.revoke_feeds(turn.member, channel_id, turn.now)
    else:
        existing = turn.uow.active_feed(turn.member, channel_id)
        if existing is not None:
            made = format_local(existing.created_at, turn.tz)
            return [
                turn.reply(
                    f"You made a calendar link for {whose} on {made}. I keep only a "
                    f"fingerprint of it, so I can't show it again: {again} makes a new one "
                    "(and the old one stops working)."
                )
            ]
        revoked = 0
    token = secrets.token_urlsafe(32)
    feed = CalendarFeed(turn.community.id, turn.member, turn.now, channel_id)
    turn.uow.add_feed(feed, token_hash(token))
    turn.audit("calendar.reset" if revoked else "calendar.created", detail=channel_id or "")
    url = base + PATH.format(token=token)
    old = " The old link no longer works." if revoked else ""
    return [
        turn.reply(
            f"Your private calendar link for {whose}, in {feed.member.zone(turn.prefs.default_tz)}"
            f" time:\n{url}\nAdd it to your calendar app as a subscription (from a URL). "
            f"Anyone with the link can see the feed: keep it to yourself; {again} replaces "
            f"it.{old}"
        )
    ]


# --- the feed ------------------------------------------------------------------------------


def feed_for(uow: UnitOfWork, token: str, prefs: Preferences, now: datetime) -> bytes | None:
    """The iCalendar document of the feed `token` opens; None for an unknown or revoked one."""
    feed = uow.feed(token_hash(token))
    if feed is None:
        return None
    tz = feed.member.zone(prefs.default_tz)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//coopbot//calendar feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-timezone", tz)
    cal.add("x-published-ttl", "PT1H")
    if feed.channel_id is None:
        cal.add("x-wr-calname", f"coopbot: {feed.member.display_name}")
        for action, c in uow.dated_commitments(feed.member, now - PAST):
            cal.add_component(_event(action, tz, c))
    else:
        cal.add("x-wr-calname", f"coopbot: {feed.channel_id}")
        for action in uow.open_actions(feed.community_id, feed.channel_id):
            if action.kind is ActionKind.TASK and action.due_at is not None:
                cal.add_component(_event(action, tz))
    return cal.to_ical()


def _event(action: Action, tz: str, c: Commitment | None = None) -> icalendar.Event:
    """One task as a VEVENT at its due time in `tz`; `c` is the feed owner's commitment."""
    assert action.due_at is not None
    event = icalendar.Event()
    event.add("uid", f"action-{action.id}.community-{action.community_id}@coopbot")
    title = action.title
    if c is not None and c.role:
        title += f" ({c.role})"
    status = "CONFIRMED"
    note = ""
    if c is not None and c.status is CommitmentStatus.WAITLISTED:
        status, note = "TENTATIVE", " You're on the waitlist."
    elif c is not None and c.status is CommitmentStatus.MAYBE:
        status, note = "TENTATIVE", " You said maybe."
    elif c is not None and c.status is CommitmentStatus.DONE:
        note = " Your part is done."
    if action.state is ActionState.CANCELLED:
        status = "CANCELLED"
    event.add("summary", title)
    # In UTC, the zone named beside it (X-WR-TIMEZONE, and the local time in the text): the
    # VTIMEZONE icalendar writes lists each change as an RDATE, which dateutil-based readers
    # (vobject among them) ignore, reading summer times an hour off.
    event.add("dtstart", action.due_at.astimezone(UTC))
    event.add("duration", DURATION)
    event.add("status", status)
    people = progress(action.in_count, action.need)
    event.add(
        "description",
        f"coopbot task #{action.number} in {action.channel_id}, by "
        f"{action.creator.display_name}, due {format_local(action.due_at, tz)}: "
        f"{people}.{note}",
    )
    # No edit time is kept: the latest of its creation and the owner's own change.
    changed = max(action.created_at, c.at) if c is not None else action.created_at
    event.add("last-modified", changed)
    event.add("dtstamp", changed)
    return event
