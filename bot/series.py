"""Recurring tasks: `every:"saturday 10am"` opens the next occurrence, its own task with its
own card, when the one before is due; `/coop stop #3` ends the series.

The rule is a bot.recurrence rule read in the creator's zone, so an occurrence stays at the
same wall-clock time across daylight-saving changes. Each occurrence has one SERIES schedule
row at its due time: the next one opens when that row fires (a row, so restarts keep it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot import inputs, recurrence, reminders, signup
from bot.cards import DirectMessage, Effect, PostCard, UpdateCard
from bot.errors import CoopError
from bot.model import (
    Action,
    ActionKind,
    CommitmentStatus,
    Role,
    ScheduleKind,
    ScheduleState,
    Series,
    SeriesState,
    Via,
)
from bot.refs import ChannelRef
from bot.timeparse import format_local, parse_when
from bot.turn import Turn, label, require_creator_or_admin

if TYPE_CHECKING:
    from bot.occurrences import Firing

# Occurrences closer together than this would be noise, not plans.
MIN_GAP = timedelta(hours=1)


def _carry(carry: str | None) -> bool:
    if carry is None:
        return False
    return inputs.yes_no(carry, 'carry: is yes or no, like every:"saturday 10am" carry:yes.')


def read_rule(turn: Turn, every: str, due_at: datetime | None) -> str:
    """The stored rule for `every:` (a day and time, or a reminder rule at due:'s time), read
    in the creator's zone; CoopError with an example if it cannot be."""
    kind, days, clock = recurrence.read_every(every)
    tz = turn.tz
    if clock:
        try:
            at = parse_when(clock, tz, turn.now, turn.prefs.horizon, turn.prefs.languages)
        except CoopError:
            raise CoopError(
                f"every: I can't read “{clock[:30]}” as a time of day. Give the days and a "
                'time, like every:"saturday 10am" or every:"mon,thu 18:00".'
            ) from None
        zone = ZoneInfo(tz)
        # The day comes from due: (the first occurrence) when given, the time from every:.
        day = (due_at or at).astimezone(zone)
        wall = at.astimezone(zone)
        first = day.replace(hour=wall.hour, minute=wall.minute, second=0, microsecond=0)
    elif due_at is not None or len(kind.split()) == 5:
        first = due_at or turn.now + timedelta(minutes=1)
    else:
        raise CoopError(
            f"every:{kind} repeats at the time of due:, and there's no due:. Add one, like "
            f'every:{kind} due:"saturday 10am", or say the time: every:"saturday 10am".'
        )
    rule = recurrence.make_rule(kind, first, tz, days)
    soon = recurrence.next_after(rule, tz, turn.now)
    later = recurrence.next_after(rule, tz, soon) if soon else None
    if soon is None or later is None or later - soon < MIN_GAP:
        raise CoopError("every: a recurring task can repeat at most once an hour.")
    return rule


def start(
    turn: Turn,
    action: Action,
    every: str | None,
    carry: str | None,
    offsets: tuple[timedelta, ...] | None = None,
) -> None:
    """Make a new task (already added) the first occurrence of a series: its due time is
    due: when given, else the rule's next time. Call before its schedule is made."""
    if every is None:
        if carry is not None:
            raise CoopError('carry: goes with every:, like every:"saturday 10am" carry:yes.')
        return
    keep = _carry(carry)
    rule = read_rule(turn, every, action.due_at)
    if action.due_at is None:
        action.due_at = recurrence.next_after(rule, turn.tz, turn.now)
        assert action.due_at is not None  # read_rule checked that it repeats
        if action.closes_at is not None and action.closes_at > action.due_at:
            raise CoopError(
                f"closes: is after the first one is due ({format_local(action.due_at, turn.tz)})"
                "; sign-up has to close by then. Try an earlier time, or leave it out."
            )
        turn.uow.save_action(action)
    series = Series(
        community_id=turn.community.id,
        channel_id=action.channel_id,
        creator=turn.member,
        rule=rule,
        tz=turn.tz,
        created_at=turn.now,
        carry=keep,
        remind=offsets,
    )
    turn.uow.add_series(series, action)
    reminders.schedule_action(turn, action, ScheduleKind.SERIES, action.due_at, turn.member)
    turn.audit("series.started", action, f"{rule} ({turn.tz}){' carry' if keep else ''}")


def stop(turn: Turn, action: Action) -> list[Effect]:
    """`/coop stop #3`: no further occurrence opens; the open ones stay as they are."""
    series = action.series
    if series is None:
        raise CoopError(
            f"{label(action)} isn't a recurring task, so there's nothing to stop. To end it, "
            f"/coop close #{action.number} or /coop cancel #{action.number}."
        )
    if action.creator.id != turn.member.id and series.creator.id != turn.member.id:
        require_creator_or_admin(turn, action, "stop the series of")
    if series.state is SeriesState.STOPPED:
        return [turn.reply(f"The series of {label(action)} is stopped already.")]
    series.state, series.stopped_at = SeriesState.STOPPED, turn.now
    turn.uow.save_series(series)
    turn.audit("series.stopped", action, series.rule)
    effects: list[Effect] = []
    for occurrence in turn.uow.open_in_series(series):
        assert occurrence.id is not None
        for row in turn.uow.schedules.of_action(occurrence.id, ScheduleKind.SERIES):
            row.state, row.next_at = ScheduleState.CANCELLED, None
            turn.uow.schedules.save(row)
        effects.append(
            UpdateCard(occurrence.id, ChannelRef(turn.actor.community, series.channel_id))
        )
    effects.append(
        turn.reply(
            f"Stopped the series of {label(action)}: no more occurrences will open. Any that "
            "are open stay as they are."
        )
    )
    return effects


# --- the next occurrence -------------------------------------------------------------------


def next_occurrence(f: Firing, occurrence_id: int) -> list[Effect]:
    """The SERIES row of an occurrence fired at its due time: the next one opens, with its
    own card, schedule and SERIES row (and, with carry:yes, the regulars already in)."""
    if f.schedule.action_id is None:
        return []
    current = f.uow.action_by_id(f.schedule.action_id)
    if current is None or current.series is None or current.kind is not ActionKind.TASK:
        return []
    series = current.series
    if series.state is not SeriesState.ACTIVE:
        return []
    turn = f.turn(series.creator, series.channel_id)
    if current.due_at is not None and current.due_at > f.now:
        # Its due time was moved later: the next one opens then instead.
        reminders.schedule_action(turn, current, ScheduleKind.SERIES, current.due_at, turn.member)
        return []
    due = recurrence.next_after(series.rule, series.tz, f.now)
    if due is None:
        return []
    cut_off = (
        due - (current.due_at - current.closes_at)
        if current.due_at is not None and current.closes_at is not None
        else None
    )
    new = turn.uow.add_action(
        Action(
            community_id=current.community_id,
            number=0,
            kind=ActionKind.TASK,
            title=current.title,
            body=current.body,
            channel_id=series.channel_id,
            creator=series.creator,
            created_at=f.now,
            need=current.need,
            due_at=due,
            closes_at=cut_off if cut_off is not None and cut_off > f.now else None,
            series=series,
        )
    )
    if current.roles:
        new.roles = [Role(r.name, r.position, r.need, r.emoji) for r in current.roles]
    carried = _carry_over(turn, current, new) if series.carry else []
    turn.uow.save_action(new)  # its roles and counts
    turn.audit("task.created", new, f"{new.title} (repeats; after #{current.number})")
    signup.schedule_cut_off(turn, new, fresh=True)
    reminders.schedule_task(turn, new, series.remind)
    reminders.schedule_action(turn, new, ScheduleKind.SERIES, due, series.creator)
    assert new.id is not None
    channel = ChannelRef(f.where, series.channel_id)
    return [PostCard(new.id, channel), *_tell_carried(f, new, carried)]


def _carry_over(turn: Turn, current: Action, new: Action) -> list[tuple[str, CommitmentStatus]]:
    """Commit who was in on `current` (committed or done) to `new`, in join order and within
    its need (those past it wait); each one's name and where they ended up."""
    carried = []
    for c in current.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.DONE):
        role = new.role(c.role) if c.role is not None else None
        if c.role is not None and role is None:
            continue
        commitment = new.join(c.member, None, Via.SYSTEM, turn.now, role=role)
        if commitment is None:
            continue
        turn.uow.save_commitment(new, commitment)
        turn.audit(f"commitment.{commitment.status.value}", new, "carried", actor=c.member)
        new.commitments.append(commitment)
        carried.append((c.member.external_id, commitment.status))
    return carried


def _tell_carried(
    f: Firing, new: Action, carried: list[tuple[str, CommitmentStatus]]
) -> list[Effect]:
    """One DM to each regular carried over: where they are, and how to get out."""
    by_id = {c.member.external_id: c.member for c in new.commitments}
    assert new.due_at is not None
    effects: list[Effect] = []
    for external_id, status in carried:
        member = by_id[external_id]
        when = format_local(new.due_at, f.zone(member))
        where = (
            "you're on its waitlist (it's full)"
            if status is CommitmentStatus.WAITLISTED
            else "you're in, as last time"
        )
        effects.append(
            DirectMessage(
                f.to(member),
                f"{label(new)} is on again, due {when}: {where}. "
                f"/coop leave #{new.number} if you can't make it.",
            )
        )
    return effects
