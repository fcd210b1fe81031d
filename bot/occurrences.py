"""What happens when a schedule falls due: its occurrence recorded once, what it says written
to the outbox in the same transaction, and its next occurrence set.

`fire` is the one place every reminder, nudge, digest and due time goes through; delivery,
pacing, retries and crash recovery are the outbox's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import drives, handoff, recurrence, series, signup
from bot.cards import (
    Button,
    Cause,
    ChannelMessage,
    DirectMessage,
    Effect,
    UpdateCard,
    progress,
)
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    CommitmentStatus,
    Community,
    Member,
    Occurrence,
    OccurrenceState,
    Schedule,
    ScheduleKind,
    ScheduleState,
    Target,
    Via,
)
from bot.outbox import deliveries
from bot.ports import UnitOfWork
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.reminders import human
from bot.timeparse import format_local
from bot.turn import Preferences, Turn, label

# Sent later than this after its time, an occurrence says it is late (the bot was down).
LATE_AFTER = timedelta(minutes=2)
DUE_SOON = timedelta(hours=48)  # what a digest lists as due soon


def snooze_buttons(occurrence_id: int) -> tuple[Button, ...]:
    return (
        Button("snooze_15m", "Snooze 15 min", occurrence_id),
        Button("snooze_1h", "Snooze 1 hour", occurrence_id),
        Button("snooze_tomorrow", "Tomorrow", occurrence_id),
    )


def checkin_buttons(number: int) -> tuple[Button, ...]:
    return (Button("checkin_done", "It's done", number), Button("checkin_not", "Not done", number))


@dataclass
class Firing:
    """One occurrence being fired: the schedule, when it was due, and now."""

    uow: UnitOfWork
    prefs: Preferences
    schedule: Schedule
    community: Community
    at: datetime
    now: datetime

    @property
    def where(self) -> CommunityRef:
        c = self.community
        return CommunityRef(c.platform, c.external_id, c.name)

    def to(self, member: Member) -> MemberRef:
        return MemberRef(self.where, member.external_id, member.display_name)

    def zone(self, member: Member) -> str:
        return member.zone(self.prefs.default_tz)

    def channel(self, channel_id: str) -> ChannelRef:
        return ChannelRef(self.where, channel_id)

    def turn(self, member: Member, channel_id: str) -> Turn:
        """A turn for what this firing does on `member`'s behalf (the bot acting, via SYSTEM)."""
        return Turn(
            self.uow,
            self.prefs,
            self.now,
            self.to(member),
            self.channel(channel_id),
            self.community,
            member,
            Via.SYSTEM,
        )

    @property
    def late(self) -> timedelta:
        return self.now - self.at

    def late_note(self, tz: str) -> str:
        if self.late <= LATE_AFTER:
            return ""
        return f"\n(Late by {human(self.late)}: I was offline at {format_local(self.at, tz)}.)"


# Kinds that change state, not only say something, fire however late: a series opens its next
# occurrence (else it would end), a lapsed confirm or offer passes its place on (else the
# place stays held for good), a cut-off redraws the card.
_NEVER_MISSED = frozenset(
    {ScheduleKind.SERIES, ScheduleKind.CONFIRM, ScheduleKind.HANDOFF, ScheduleKind.CLOSES}
)


def fire(
    uow: UnitOfWork,
    schedule: Schedule,
    community: Community,
    now: datetime,
    prefs: Preferences,
    stamp: datetime,
    by: str = "",
) -> Occurrence:
    """Fire `schedule`, due by `now`: record its occurrence (once: an occurrence another
    process recorded is left alone), write what it says to the outbox (rows stamped `stamp`),
    and move it to its next occurrence or end it. `by` names the process, for the record.

    A recurring schedule that missed several runs while the bot was down fires once, for
    the latest of them; one later than the grace period is recorded as missed, not sent.
    """
    assert schedule.next_at is not None and schedule.id is not None
    at = _latest_due(schedule, now, prefs.grace)
    late = now - at
    state = (
        OccurrenceState.MISSED
        if late > prefs.grace and schedule.kind not in _NEVER_MISSED
        else OccurrenceState.LATE
        if late > LATE_AFTER
        else OccurrenceState.SENT
    )
    occurrence = Occurrence(schedule.id, at, now, state, int(late.total_seconds()), fired_by=by)
    if uow.schedules.occur(occurrence) and state is not OccurrenceState.MISSED:
        assert occurrence.id is not None
        firing = Firing(uow, prefs, schedule, community, at, now)
        effects = _SAYS[schedule.kind](firing, occurrence.id)
        if effects:
            rows = deliveries(effects, _cause(firing, effects), occurrence.id)
            uow.outbox.enqueue(rows, stamp)
        else:
            occurrence.state = OccurrenceState.SKIPPED
            uow.schedules.set_state(occurrence)
    schedule.last_at = at
    following = recurrence.next_after(schedule.rule, schedule.tz, now) if schedule.rule else None
    schedule.next_at = following
    if following is None:
        schedule.state = ScheduleState.DONE
    uow.schedules.save(schedule)
    return occurrence


def _cause(f: Firing, effects: list[Effect]) -> Cause | None:
    """Whom to tell when a channel refuses the message (the bot is not in it): who made the
    schedule, privately."""
    creator = f.schedule.creator
    posted = next((e for e in effects if isinstance(e, ChannelMessage)), None)
    return Cause(f.to(creator), posted.channel) if creator and posted else None


def _latest_due(schedule: Schedule, now: datetime, grace: timedelta) -> datetime:
    """The occurrence to fire: the latest one due by `now` (within the grace period when
    there is one there), else the one it was due at."""
    at = schedule.next_at
    assert at is not None
    if schedule.rule is None:
        return at
    start = at
    if now - at > grace:
        recent = recurrence.next_after(
            schedule.rule, schedule.tz, now - grace - timedelta(seconds=1)
        )
        if recent is None or recent > now:
            return at
        start = recent
    return recurrence.latest_by(schedule.rule, schedule.tz, start, now)


# --- what each kind says -------------------------------------------------------------------


def _open_action(f: Firing, with_people: bool = False) -> Action | None:
    if f.schedule.action_id is None:
        return None
    if with_people:
        action = f.uow.action_by_id(f.schedule.action_id)
    else:
        action = f.uow.locked_action(f.schedule.action_id)
    return action if action is not None and action.state is ActionState.OPEN else None


def _people(action: Action, *statuses: CommitmentStatus) -> list[Member]:
    return [c.member for c in action.with_status(*statuses)]


def _remind(f: Firing, occurrence_id: int) -> list[Effect]:
    s = f.schedule
    if s.target is Target.CHANNEL and s.channel_id:
        text = f"Reminder: {s.text}{f.late_note(s.tz)}"
        return [ChannelMessage(f.channel(s.channel_id), text)]
    if s.target is Target.ACTION:
        action = _open_action(f, with_people=True)
        if action is None:
            return []
        people = _people(action, CommitmentStatus.COMMITTED, CommitmentStatus.DONE)
        return [
            DirectMessage(
                f.to(m),
                f"Reminder for everyone on {label(action)}: {s.text}{f.late_note(f.zone(m))}",
                snooze_buttons(occurrence_id),
            )
            for m in people
        ]
    if s.to_member is None:
        return []
    if s.action_id is not None and _open_action(f) is None:
        return []  # snoozed from a reminder for everyone on an action that has closed
    by = ""
    if s.creator is not None and s.creator.id != s.to_member.id:
        by = f" (from {s.creator.display_name})"
    text = f"Reminder{by}: {s.text}{f.late_note(f.zone(s.to_member))}"
    return [DirectMessage(f.to(s.to_member), text, snooze_buttons(occurrence_id))]


def _before_task(f: Firing, occurrence_id: int) -> list[Effect]:
    action = _open_action(f, with_people=True)
    if action is None or action.due_at is None or action.due_at <= f.now:
        return []  # closed, or already past due: the check-in covers it
    left = human(action.due_at - f.now)
    people = _people(action, CommitmentStatus.COMMITTED)
    if f.schedule.to_member is not None:  # snoozed by one of them: theirs alone
        people = [m for m in people if m.id == f.schedule.to_member.id]
    return [
        DirectMessage(
            f.to(m),
            f"Reminder: {label(action)} is due in {left}, "
            f"{format_local(action.due_at, f.zone(m))}. You're in.{f.late_note(f.zone(m))}",
            snooze_buttons(occurrence_id),
        )
        for m in people
    ]


def _due(f: Firing, occurrence_id: int) -> list[Effect]:
    action = _open_action(f)
    if action is None or action.overdue:
        return []
    f.uow.set_overdue(action)
    assert action.id is not None
    return [UpdateCard(action.id, f.channel(action.channel_id))]


def _short(f: Firing, occurrence_id: int) -> list[Effect]:
    action = _open_action(f)
    if action is None or not action.need or action.due_at is None:
        return []
    missing = action.need - action.in_count
    if missing <= 0 or action.due_at <= f.now:
        return []
    more = "1 more person" if missing == 1 else f"{missing} more people"
    text = (
        f"{label(action)} still needs {more} ({progress(action.in_count, action.need)}), "
        f"and it's due {format_local(action.due_at, f.schedule.tz)}. "
        f"Join with /coop join #{action.number} or the Join button on its card."
    )
    return [ChannelMessage(f.channel(action.channel_id), text)]


def _checkin(f: Firing, occurrence_id: int) -> list[Effect]:
    action = _open_action(f, with_people=True)
    if action is None or action.due_at is None:
        return []
    return [
        DirectMessage(
            f.to(m),
            f"Did {label(action)} happen? It was due {format_local(action.due_at, f.zone(m))}.",
            checkin_buttons(action.number),
        )
        for m in _people(action, CommitmentStatus.COMMITTED)
    ]


def _digest(f: Firing, occurrence_id: int) -> list[Effect]:
    s = f.schedule
    if not s.channel_id:
        return []
    actions = f.uow.open_actions(s.community_id, s.channel_id)
    if not actions:
        return []
    f.uow.load_people([a for a in actions if a.kind is ActionKind.PLEDGE])
    return [ChannelMessage(f.channel(s.channel_id), digest_text(actions, f.now, s.tz))]


def digest_text(actions: list[Action], now: datetime, tz: str) -> str:
    """A channel's open actions: what needs people, what is due soon, the rest."""
    drives_ = [a for a in actions if a.kind is ActionKind.PLEDGE]
    needs = drives_ + [a for a in actions if a.need and a.in_count < a.need]
    soon = [a for a in actions if a.due_at and a.due_at <= now + DUE_SOON and a not in needs]
    rest = [a for a in actions if a not in needs and a not in soon]

    def line(a: Action) -> str:
        if a.kind is ActionKind.PLEDGE and a.due_at is not None:
            closes = format_local(a.due_at, tz)
            return f"  #{a.number} {a.title} — pledge drive, {drives.summary(a)}, closes {closes}"
        due = ""
        if a.due_at is not None:
            due = (
                f", overdue since {format_local(a.due_at, tz)}"
                if a.due_at <= now
                else (f", due {format_local(a.due_at, tz)}")
            )
        return f"  #{a.number} {a.title} — {progress(a.in_count, a.need)}{due}"

    count = f"{len(actions)} open action" + ("" if len(actions) == 1 else "s")
    lines = [f"Summary: {count} here."]
    for heading, group in (("Needs people:", needs), ("Due soon:", soon), ("Also open:", rest)):
        if group:
            lines.append(heading)
            lines += [line(a) for a in group]
    return "\n".join(lines)


_SAYS = {
    ScheduleKind.REMIND: _remind,
    ScheduleKind.TASK: _before_task,
    ScheduleKind.DUE: _due,
    ScheduleKind.SHORT: _short,
    ScheduleKind.CHECKIN: _checkin,
    ScheduleKind.DIGEST: _digest,
    ScheduleKind.DEADLINE: drives.deadline_passed,
    ScheduleKind.PROJECTION: drives.projection,
    ScheduleKind.DRIVE_CHECKIN: drives.checkin,
    ScheduleKind.CONFIRM: handoff.confirm_due,
    ScheduleKind.HANDOFF: handoff.offer_lapsed,
    ScheduleKind.MAYBE: signup.ask_maybes,
    ScheduleKind.CLOSES: signup.cut_off,
    ScheduleKind.SERIES: series.next_occurrence,
}
