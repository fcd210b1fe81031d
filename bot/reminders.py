"""Reminders, snoozes, digests and a task's schedule: the use cases that create schedules.

What happens when one falls due is in bot.occurrences; the alarm clock in bot.scheduler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import inputs, recurrence
from bot.cards import Effect
from bot.errors import CoopError
from bot.grammar import MAX_TITLE
from bot.model import (
    Action,
    Member,
    Schedule,
    ScheduleKind,
    ScheduleState,
    Target,
)
from bot.refs import ChannelRef, MemberRef
from bot.timeparse import format_local, parse_duration, parse_when
from bot.turn import Turn, label, require_open

MAX_OFFSETS = 5
MAX_OFFSET = timedelta(days=60)
SNOOZES = {
    "snooze_15m": timedelta(minutes=15),
    "snooze_1h": timedelta(hours=1),
    "snooze_tomorrow": timedelta(days=1),
}
# `<@U123>`, `<@U123|ana>` (Slack), `<@123>`, `<@!123>` (Discord), `@ana` (console).
PERSON = re.compile(r"^(?:<@!?(?P<id>[A-Za-z0-9]+)(?:\|[^>]*)?>|@(?P<name>[A-Za-z0-9_.\-]{1,40}))$")
_CHANNEL = re.compile(
    r"^(?:<#(?P<id>[A-Za-z0-9]+)(?:\|[^>]*)?>|#(?P<name>[a-z0-9_\-]*[a-z_\-][a-z0-9_\-]*))$"
)
_ACTION = re.compile(r"^#(?P<number>\d{1,9})$")
TARGETS = "me, @someone, #channel or #3 (everyone on action 3)"


# --- parsing -------------------------------------------------------------------------------


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """`remind:"2h,15m"` as offsets before a due time, longest first; `none` as none."""
    if text.strip().lower() in ("none", "no", "off"):
        return ()
    offsets: set[timedelta] = set()
    for part in re.split(r"[,\s]+", text.strip().lower()):
        if not part:
            continue
        offset = parse_duration(part)
        if offset is None:
            raise CoopError(
                f"remind: “{part[:20]}” isn't a time before the due time. "
                'Use something like remind:"1d,2h,15m", or remind:none.'
            )
        if not timedelta(minutes=1) <= offset <= MAX_OFFSET:
            raise CoopError("remind: each time must be between 1 minute and 60 days before.")
        offsets.add(offset)
    if len(offsets) > MAX_OFFSETS:
        raise CoopError(f"remind: at most {MAX_OFFSETS} reminders per task.")
    return tuple(sorted(offsets, reverse=True))


@dataclass(frozen=True)
class Whom:
    """Who a reminder is for, as typed: `kind` is me, person, channel or action."""

    kind: str
    value: str = ""


def shown_person(typed: str) -> str:
    """Whom a mention names, as an error may say it: the id of `<@123>` (a mention would be
    drawn as "unknown user"), else what was typed."""
    m = PERSON.match(typed.strip())
    return (m["id"] or f"@{m['name']}") if m else typed.strip()[:40]


def parse_whom(word: str) -> Whom:
    if word.lower() in ("me", "myself"):
        return Whom("me")
    if m := PERSON.match(word):
        return Whom("person", m["id"] or m["name"])
    if m := _ACTION.match(word):
        return Whom("action", m["number"])
    if m := _CHANNEL.match(word):
        return Whom("channel", m["id"] or m["name"])
    raise CoopError(
        f"“{word[:40]}” isn't someone I can remind. Start with {TARGETS}, e.g. "
        '/coop remind me "Water the plants" when:"9am".'
    )


def split_what(what: str) -> tuple[Whom, str]:
    """`me Water the plants` as (whom, text)."""
    word, _, text = what.strip().partition(" ")
    whom = parse_whom(word)
    text = " ".join(text.split())
    if not inputs.visible(text):
        raise CoopError(
            "What should the reminder say? For example: "
            '/coop remind me "Water the plants" when:"9am".'
        )
    if len(text) > MAX_TITLE:
        raise CoopError(
            f"That reminder is {len(text):,} characters long; the limit is {MAX_TITLE}. "
            "Put the details in a message, and remind people of it."
        )
    return whom, text


def to_find(whom: Whom) -> tuple[str | None, str | None]:
    """What to look up on the platform before the turn: the person (id) or the channel (id
    or name) a reminder is for."""
    return (
        whom.value if whom.kind == "person" else None,
        whom.value if whom.kind == "channel" else None,
    )


def human(delta: timedelta) -> str:
    """A duration in words: "2 h", "1 h 30 min", "15 min", "3 days"."""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes >= 2 * 24 * 60:
        return f"{round(minutes / (24 * 60))} days"
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


# --- a task's schedule ---------------------------------------------------------------------


def schedule_task(turn: Turn, action: Action, offsets: tuple[timedelta, ...] | None) -> None:
    """What happens around a task's due time: reminders before it to who is in (`offsets`,
    else the defaults), the card turning overdue, a nudge if it is short of people, and the
    "did it happen?" check afterwards."""
    due = action.due_at
    if due is None:
        return
    prefs = turn.prefs

    def add(kind: ScheduleKind, at: datetime) -> None:
        if at > turn.now:
            schedule_action(turn, action, kind, at, turn.member)

    for offset in prefs.task_offsets if offsets is None else offsets:
        add(ScheduleKind.TASK, due - offset)
    add(ScheduleKind.DUE, due)
    if action.need and prefs.short_before:
        add(ScheduleKind.SHORT, due - prefs.short_before)
    if prefs.checkin_after:
        add(ScheduleKind.CHECKIN, due + prefs.checkin_after)
    if prefs.maybe_ask_before:
        # Fires whether or not anyone said maybe yet: whoever has by then is asked. A task
        # due sooner than that asks half-way to its due time, not never.
        ask = due - prefs.maybe_ask_before
        add(ScheduleKind.MAYBE, ask if ask > turn.now else turn.now + (due - turn.now) / 2)


def schedule_action(
    turn: Turn, action: Action, kind: ScheduleKind, at: datetime, creator: Member
) -> None:
    """Something to happen to `action` at `at` (for everyone on it), in the actor's zone."""
    turn.uow.schedules.add(
        Schedule(
            community_id=turn.community.id,
            kind=kind,
            tz=turn.tz,
            created_at=turn.now,
            next_at=at,
            creator=creator,
            action_id=action.id,
            channel_id=action.channel_id,
            target=Target.ACTION,
        )
    )


# --- /coop remind --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """A time read before the turn (`at`, in `tz`), and the person or channel a reminder is
    for, as the platform knows them (None: not found in this community)."""

    at: datetime | None = None
    tz: str | None = None
    person: MemberRef | None = None
    channel: ChannelRef | None = None


def remind(
    turn: Turn,
    what: str,
    when: str | None,
    every: str | None,
    on: str | None,
    read: Reading,
) -> list[Effect]:
    whom, text = split_what(what)
    to: Member | None = None
    action: Action | None = None
    channel_id: str | None = None
    if whom.kind == "me":
        to, target, tz = turn.member, Target.MEMBER, turn.tz
    elif whom.kind == "person":
        if read.person is None:
            raise CoopError(
                f"I can't find {whom.value[:40]} here. You can remind people of this "
                "workspace or server only."
            )
        to = turn.uow.member(turn.community, read.person)
        target, tz = Target.MEMBER, to.zone(turn.prefs.default_tz)
    elif whom.kind == "action":
        action = turn.action(int(whom.value))
        require_open(action)
        target, tz, channel_id = Target.ACTION, turn.tz, action.channel_id
    else:
        if read.channel is None:
            raise CoopError(
                f"I can't find the channel {whom.value[:40]} here. Pick it from the list as "
                "you type #, in a channel of this workspace or server."
            )
        target, tz, channel_id = Target.CHANNEL, turn.tz, read.channel.id
    if turn.uow.schedules.active_count(turn.member) >= turn.prefs.max_reminders:
        raise CoopError(
            f"You have {turn.prefs.max_reminders} active reminders, the most one person may "
            "have. Cancel some first: /coop reminders shows them."
        )
    first = _first(turn, when, every, read, tz)
    rule = recurrence.make_rule(every, first, tz, on) if every else None
    if rule is not None:
        found = recurrence.next_after(rule, tz, first - timedelta(seconds=1))
        assert found is not None  # make_rule checked that it repeats
        first = found
    schedule = turn.uow.schedules.add(
        Schedule(
            community_id=turn.community.id,
            kind=ScheduleKind.REMIND,
            tz=tz,
            created_at=turn.now,
            next_at=first,
            text=text,
            target=target,
            creator=turn.member,
            to_member=to,
            channel_id=channel_id,
            action_id=action.id if action else None,
            rule=rule,
        )
    )
    turn.audit("reminder.created", action, f"{schedule.label}: {text}")
    who = {
        "me": "you",
        "person": to.display_name if to else "",
        "action": f"everyone on #{whom.value}",
        "channel": _channel(channel_id or ""),
    }[whom.kind]
    repeat = f", then {recurrence.describe(rule)}" if rule else ""
    return [
        turn.reply(
            f"Okay, I'll remind {who} “{text}” on {format_local(first, tz)}{repeat}. "
            f"That's {schedule.label}: /coop reminders cancel {schedule.label} cancels it."
        )
    ]


def _channel(channel_id: str) -> str:
    return (
        f"<#{channel_id}>" if channel_id[:1].isupper() or channel_id.isdigit() else f"#{channel_id}"
    )


def _first(turn: Turn, when: str | None, every: str | None, read: Reading, tz: str) -> datetime:
    if when:
        if read.at is not None and read.tz == tz:
            return read.at
        return parse_when(when, tz, turn.now, turn.prefs.horizon, turn.prefs.languages)
    if every and len(every.split()) == 5:
        return turn.now + timedelta(minutes=1)  # a cron expression says when by itself
    raise CoopError('When should I remind? Add when:, like when:"friday 9am" or when:"in 2 hours".')


# --- /coop reminders -----------------------------------------------------------------------

# "cancel R7" as typed; "R7" alone where the platform asks for it in a field named cancel.
_CANCEL = re.compile(r"^(?:cancel\s+)?#?r?(\d{1,9})$", re.IGNORECASE)


def reminders(turn: Turn, arg: str | None) -> list[Effect]:
    if arg:
        m = _CANCEL.match(" ".join(arg.split()))
        if m is None:
            raise CoopError("Use /coop reminders to list yours, or /coop reminders cancel R7.")
        return _cancel(turn, int(m[1]))
    listed = turn.uow.schedules.listed(turn.member)
    missed = turn.uow.schedules.missed(turn.member, turn.now - timedelta(days=7))
    if not listed and not missed:
        return [
            turn.reply(
                "You have no reminders. Make one with "
                '/coop remind me "Water the plants" when:"9am".'
            )
        ]
    lines = ["Your reminders:"] if listed else []
    for s in listed:
        assert s.next_at is not None
        repeat = f", {recurrence.describe(s.rule)}" if s.rule else ""
        lines.append(
            f"{s.label} “{s.text}” {_to_whom(turn, s)} — next {format_local(s.next_at, turn.tz)}"
            f"{repeat}"
        )
    if missed:
        lines.append("Missed while I was offline (too late to send):")
        lines += [f"{s.label} “{s.text}” was due {format_local(o.at, turn.tz)}" for s, o in missed]
    return [turn.reply("\n".join(lines))]


def _to_whom(turn: Turn, s: Schedule) -> str:
    if s.target is Target.MEMBER and s.to_member is not None:
        return "for you" if s.to_member.id == turn.member.id else f"for {s.to_member.display_name}"
    if s.target is Target.CHANNEL and s.channel_id:
        return f"in {_channel(s.channel_id)}"
    return "for everyone on the action"


def _cancel(turn: Turn, number: int) -> list[Effect]:
    s = turn.uow.schedules.by_number(turn.community.id, number)
    if s is None or s.kind is not ScheduleKind.REMIND:
        raise CoopError(f"There's no reminder R{number} here. /coop reminders lists yours.")
    mine = s.creator is not None and s.creator.id == turn.member.id
    if not mine and not turn.actor.is_admin:
        maker = s.creator.display_name if s.creator else "its creator"
        raise CoopError(f"Only {maker} (who made R{number}) or an admin can cancel it.")
    if s.state is not ScheduleState.ACTIVE:
        raise CoopError(f"R{number} is {s.state.value} already.")
    s.state, s.next_at = ScheduleState.CANCELLED, None
    turn.uow.schedules.save(s)
    turn.audit("reminder.cancelled", detail=f"{s.label}: {s.text}")
    return [turn.reply(f"Cancelled {s.label} “{s.text}”.")]


# --- snooze and check-in buttons -----------------------------------------------------------


def snooze(turn: Turn, occurrence_id: int, button: str) -> list[Effect]:
    found = turn.uow.schedules.occurrence(occurrence_id)
    if found is None or found[0].community_id != turn.community.id:
        raise CoopError("I can't find that reminder any more.")
    schedule, occurrence = found
    if schedule.to_member is not None and schedule.to_member.id != turn.member.id:
        raise CoopError("That reminder isn't yours to snooze.")
    if schedule.to_member is None:
        # Sent to everyone on an action: theirs if they are on it.
        action = turn.uow.action_by_id(schedule.action_id) if schedule.action_id else None
        if action is None or turn.uow.commitment(action, turn.member) is None:
            raise CoopError("That reminder isn't yours to snooze.")
    tz = turn.tz
    earlier = turn.uow.schedules.snoozed(occurrence_id, turn.member)
    if earlier is not None and earlier.next_at is not None:
        return [turn.reply(f"Already snoozed until {format_local(earlier.next_at, tz)}.")]
    if earlier is not None:
        return [turn.reply("You snoozed that one already.")]
    if button == "snooze_tomorrow":
        at = _same_time_tomorrow(turn.now, tz)
    else:
        at = turn.now + SNOOZES[button]
    # A task's reminder comes back as that task's, for this person: said afresh when it
    # fires, and gone with the task (like a reminder for everyone on an action).
    snoozed = turn.uow.schedules.add(
        Schedule(
            community_id=turn.community.id,
            kind=schedule.kind,
            tz=tz,
            created_at=turn.now,
            next_at=at,
            text=schedule.text,
            target=Target.MEMBER,
            creator=turn.member,
            to_member=turn.member,
            action_id=schedule.action_id,
            channel_id=schedule.channel_id,
            snooze_of=occurrence.id,
        )
    )
    turn.audit("reminder.snoozed", detail=f"occurrence {occurrence_id} until {at.isoformat()}")
    named = f" ({snoozed.label})" if snoozed.number is not None else ""
    return [turn.reply(f"Snoozed until {format_local(at, tz)}{named}.")]


def _same_time_tomorrow(now: datetime, tz: str) -> datetime:
    """The same wall-clock time tomorrow (23 or 25 hours away across a change)."""
    zone = ZoneInfo(tz)
    tomorrow = now.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    return tomorrow.replace(tzinfo=zone).astimezone(UTC)


def checkin_not_done(turn: Turn, action: Action) -> list[Effect]:
    """The "not done" answer to "did it happen?": noted, and the task stays open."""
    require_open(action)
    turn.audit("checkin.not_done", action)
    return [
        turn.reply(
            f"Thanks for letting me know. {label(action)} stays open; "
            f"{action.creator.display_name} can close or cancel it."
        )
    ]


# --- /coop digest --------------------------------------------------------------------------

_DIGESTS = {"daily": "day", "day": "day", "weekday": "weekday", "weekdays": "weekday"}
_DIGESTS_OFF = ("off", "stop", "none")
DIGEST_AT = "9am"


def digest_wanted(how: object) -> bool:
    """Whether `/coop digest <how>` sets a digest (so it has a time to read)."""
    return isinstance(how, str) and how.strip().lower() not in _DIGESTS_OFF


def digest(turn: Turn, how: str, at: str | None, on: str | None, read: Reading) -> list[Effect]:
    how = how.strip().lower()
    existing = turn.uow.schedules.digest(turn.community.id, turn.channel.id)
    if how in _DIGESTS_OFF:
        if existing is None:
            return [turn.reply("There's no digest in this channel.")]
        _end(turn, existing)
        return [turn.reply("Okay, no more digests here.")]
    every = _DIGESTS.get(how) or ("week" if how in ("weekly", "week") else None)
    if every is None:
        raise CoopError("Use /coop digest daily, weekday or weekly (with at: and on:), or off.")
    if on is not None and every != "week":
        raise CoopError("on: goes with weekly, like /coop digest weekly on:mon.")
    tz = turn.tz
    first = (
        read.at
        if read.at is not None and read.tz == tz
        else parse_when(at or DIGEST_AT, tz, turn.now, turn.prefs.horizon, turn.prefs.languages)
    )
    rule = recurrence.make_rule(every, first, tz, on or ("mon" if every == "week" else None))
    found = recurrence.next_after(rule, tz, first - timedelta(seconds=1))
    assert found is not None
    if existing is not None:
        _end(turn, existing)
    turn.uow.schedules.add(
        Schedule(
            community_id=turn.community.id,
            kind=ScheduleKind.DIGEST,
            tz=tz,
            created_at=turn.now,
            next_at=found,
            target=Target.CHANNEL,
            creator=turn.member,
            channel_id=turn.channel.id,
            rule=rule,
        )
    )
    turn.audit("digest.set", detail=rule)
    return [
        turn.reply(
            f"I'll post a summary of this channel's open actions {recurrence.describe(rule)} "
            f"({tz}). The first one: {format_local(found, tz)}."
        )
    ]


def _end(turn: Turn, schedule: Schedule) -> None:
    schedule.state, schedule.next_at = ScheduleState.CANCELLED, None
    turn.uow.schedules.save(schedule)
    turn.audit("digest.off", detail=schedule.rule or "")
