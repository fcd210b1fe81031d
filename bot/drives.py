"""Pledge drives: "I'll do it if enough others will".

A drive is an action of kind `pledge`: its commitments are pledges (an amount, and a
condition each), `due_at` is when sign-up closes. Whenever a pledge comes in, the group whose
conditions all hold is resolved (bot.pledges); the moment it reaches the goal the drive tips,
once, in that transaction: the group's pledges become commitments on a new task. Its deadline,
the half-way projection for its creator and the check-in afterwards are schedules fired by the
reminders engine (`deadline_passed`, `projection`, `checkin`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot import grammar, inputs, pledges, reminders
from bot.cards import (
    Button,
    ChannelMessage,
    DirectMessage,
    Effect,
    PostCard,
    PrivateReply,
    UpdateCard,
    drive_progress,
    pledge_of,
)
from bot.errors import CoopError
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    Commitment,
    CommitmentStatus,
    Drive,
    ScheduleKind,
    Via,
)
from bot.refs import ChannelRef, MemberRef, MessageRef
from bot.timeparse import format_local
from bot.turn import Turn, label, refresh_card, require_creator_or_admin

if TYPE_CHECKING:
    from bot.occurrences import Firing

MAX_UNIT = grammar.MAX_UNIT
MAX_DRIVE = timedelta(days=366)  # sign-up longer than a year is a typo, not a plan


def checkin_buttons(number: int) -> tuple[Button, ...]:
    return (Button("pledge_did", "I did it", number), Button("pledge_didnt", "I didn't", number))


def _is_drive(action: Action) -> bool:
    return action.kind is ActionKind.PLEDGE and action.drive is not None


# --- starting one --------------------------------------------------------------------------


def parse_sealed(raw: str | None) -> bool:
    if raw is None:
        return False
    return inputs.yes_no(raw, f"sealed: is yes or no (got “{raw[:20]}”).")


def parse_goal(raw: str | int, unit: str | None) -> int:
    high = grammar.MAX_AMOUNT if unit else grammar.MAX_NEED
    try:
        goal = inputs.integer(str(raw).strip())
    except ValueError:
        shown = str(raw)[:20]
        raise CoopError(f"goal: must be a whole number, like goal:5 (got “{shown}”).") from None
    if not 1 <= goal <= high:
        what = f"{unit}" if unit else "people"
        raise CoopError(f"goal: must be between 1 and {high:,} {what} (got {goal:,}).")
    return goal


def parse_unit(raw: str | None) -> str | None:
    if raw is None:
        return None
    unit = " ".join(inputs.field("unit:", raw, MAX_UNIT, "unit:hours").split())
    return unit or None


@dataclass(frozen=True)
class Terms:
    """What a new drive asks for, as read from the command or the form."""

    title: str
    body: str
    goal: int
    deadline_at: datetime
    unit: str | None = None
    sealed: bool = False
    task_due_at: datetime | None = None


def read_terms(
    turn: Turn,
    title: str,
    goal: str | int | None,
    deadline_at: datetime | None,
    unit: str | None,
    sealed: str | bool | None,
    task_due: datetime | None,
    body: str | None = None,
) -> Terms:
    """Check a new drive's terms; raises CoopError saying what to fix."""
    example = '/coop pledge "Plant 50 trees" goal:10 deadline:"friday 5pm"'
    title = " ".join(inputs.printable(title).split())
    if not inputs.visible(title):
        raise CoopError(f"A pledge drive needs a title. For example: {example}")
    if len(title) > grammar.MAX_TITLE:
        raise CoopError(f"Titles can be at most {grammar.MAX_TITLE} characters.")
    if goal is None:
        raise CoopError(f"A pledge drive needs a goal:, how many people (or how much). {example}")
    if deadline_at is None:
        raise CoopError(f"A pledge drive needs a deadline: for sign-up. {example}")
    if deadline_at - turn.now > MAX_DRIVE:
        raise CoopError("deadline: can be at most a year away.")
    unit_ = parse_unit(unit)
    if task_due is not None and task_due < deadline_at:
        raise CoopError(
            "due: is when the thing itself is done, so it can't be before the deadline "
            f"for pledges ({format_local(deadline_at, turn.tz)})."
        )
    return Terms(
        title=title,
        body=body or title,
        goal=parse_goal(goal, unit_),
        deadline_at=deadline_at,
        unit=unit_,
        sealed=sealed if isinstance(sealed, bool) else parse_sealed(sealed),
        task_due_at=task_due,
    )


def start(turn: Turn, terms: Terms, source: MessageRef | None = None) -> list[Effect]:
    """Start a drive and post its card (under `source`, a message turned into a drive)."""
    channel = source.channel if source is not None else turn.channel
    drive = Drive(
        goal=terms.goal, unit=terms.unit, sealed=terms.sealed, task_due_at=terms.task_due_at
    )
    action = turn.uow.add_action(
        Action(
            community_id=turn.community.id,
            number=0,
            kind=ActionKind.PLEDGE,
            title=terms.title,
            body=terms.body,
            channel_id=channel.id,
            creator=turn.member,
            created_at=turn.now,
            due_at=terms.deadline_at,
            source_message_id=source.id if source is not None else None,
            thread_id=source.thread_id if source is not None else None,
            drive=drive,
        )
    )
    turn.audit("drive.started", action, terms.title)
    _schedule(turn, action, ScheduleKind.DEADLINE, terms.deadline_at)
    _schedule(turn, action, ScheduleKind.PROJECTION, _half_way(action))
    assert action.id is not None
    return [
        PostCard(action.id, channel, reply_to=source),
        turn.reply(
            f"Started the pledge drive {label(action)}: goal {_goal(action)}, sign-up closes "
            f"{format_local(terms.deadline_at, turn.tz)}."
            + (" It's sealed: only counts show until it tips." if terms.sealed else "")
        ),
    ]


def from_message(
    turn: Turn, message: MessageRef, text: str, terms: Callable[[str, str], Terms]
) -> list[Effect]:
    """Turn `message` into a drive; `terms` checks the form's fields given title and body."""
    existing = turn.uow.action_by_message(turn.community.id, message.channel.id, message.id)
    if existing is not None:
        return [turn.reply(f"That message is already tracked as {label(existing)}.")]
    text = inputs.printable(text)
    first_line = inputs.first_line(text)
    if not first_line:
        raise CoopError("That message has no text to use as the drive's title.")
    return start(turn, terms(first_line[: grammar.MAX_TITLE].rstrip(), text), message)


def _half_way(action: Action) -> datetime:
    assert action.due_at is not None
    return action.created_at + (action.due_at - action.created_at) / 2


def _schedule(turn: Turn, action: Action, kind: ScheduleKind, at: datetime) -> None:
    reminders.schedule_action(turn, action, kind, at, action.creator)


def _about(action: Action) -> int | None:
    """The drive a message is about, when it is sealed (see DirectMessage.about)."""
    return action.id if action.drive is not None and action.drive.sealed else None


def _reply(turn: Turn, action: Action, text: str) -> PrivateReply:
    return PrivateReply(turn.actor, turn.channel, text, about=_about(action))


def _where(turn: Turn, action: Action) -> ChannelRef:
    return ChannelRef(turn.actor.community, action.channel_id)


def _goal(action: Action) -> str:
    drive = action.drive
    assert drive is not None
    return f"{drive.goal:,} {drive.unit}" if drive.unit else f"{drive.goal:,} people"


# --- pledging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A pledge's condition as typed: at least `others` others, and `person` (as typed)."""

    others: int = 0
    person: str | None = None


def parse_condition(raw: str | None) -> Condition:
    """`if:3`, `if:@ana` or both (`if:"3 @ana"`)."""
    if raw is None:
        return Condition()
    others, person = 0, None
    example = 'if:3 (at least 3 others), if:@ana (only if ana is in), or if:"3 @ana"'
    for word in raw.replace(",", " ").split():
        if word.isdecimal() and len(word) <= 4:
            others = int(word)
            if others > grammar.MAX_NEED:
                raise CoopError(f"if: at most {grammar.MAX_NEED} others.")
        elif reminders.PERSON.match(word):
            if person is not None:
                raise CoopError(f"if: can name one person. Use {example}.")
            person = word
        else:
            raise CoopError(f"I can't read “{word[:30]}” as a condition. Use {example}.")
    return Condition(others, person)


def condition_person(raw: str | None) -> str | None:
    """The person a `/coop join ... if:@ana` names, to look up on the platform first."""
    try:
        word = parse_condition(raw).person
    except CoopError:
        return None
    if word is None:
        return None
    m = reminders.PERSON.match(word)
    assert m is not None
    return m["id"] or m["name"]


def pledge(
    turn: Turn,
    action: Action,
    amount: int | None = None,
    condition: str | None = None,
    person: MemberRef | None = None,
) -> list[Effect]:
    """Pledge to a drive, or change one's pledge; `person` is whom `if:@...` names, as the
    platform knows them (None: not found)."""
    drive = action.drive
    assert drive is not None
    _require_collecting(action, turn.now)
    if amount is not None and drive.unit is None:
        raise CoopError(
            f"{label(action)} counts people, so a pledge has no amount: leave out amount:."
        )
    wanted = parse_condition(condition)
    needs: tuple[int, ...] = ()
    if wanted.person is not None:
        if person is None:
            raise CoopError(
                f"I can't find {wanted.person[:40]} here, so I can't make your pledge depend "
                "on them. Mention someone in this community, like if:@ana."
            )
        needed = turn.uow.member(turn.community, person)
        if needed.id == turn.member.id:
            raise CoopError("Your pledge can't depend on yourself: name someone else.")
        needs = (needed.id,)
    current = turn.uow.commitment(action, turn.member)
    pledged_before = current is not None and current.status is not CommitmentStatus.WITHDRAWN
    if pledged_before and amount is None and condition is None:
        assert current is not None
        return [
            _reply(turn, action, f"You've already pledged to {label(action)}: {_terms(current)}.")
        ]
    if current is None or not pledged_before:
        current = action.join(turn.member, current, turn.via, turn.now)
        assert current is not None
    current.amount = amount if amount is not None else (current.amount if pledged_before else 1)
    if condition is not None or not pledged_before:  # a new amount alone keeps the condition
        current.if_others, current.if_needs = wanted.others, needs
    current.via, current.at = turn.via, turn.now
    turn.uow.save_commitment(action, current)
    turn.audit("pledge.changed" if pledged_before else "pledge.made", action)
    # The pledges alone, without the people: what a pledge costs stays small on a big drive.
    found = turn.uow.pledges(action)
    group = _ids(pledges.resolve(found))
    reached = pledges.reached(found, group) if drive.unit else len(group)
    if reached >= drive.goal:
        turn.uow.load_people([action])
        return tip(turn, action, group)
    if current.member.id not in group and current.if_needs and not drive.sealed:
        turn.uow.load_people([action])  # to name whom it waits for
    effects = refresh_card(turn, action)
    progress = drive_progress(reached, drive.goal, drive.unit)
    text = _pledged_text(action, current, group, pledged_before, progress)
    return [*effects, _reply(turn, action, text)]


def withdraw(turn: Turn, action: Action, quiet: bool = False) -> list[Effect]:
    _require_collecting(action, turn.now)
    current = turn.uow.commitment(action, turn.member)
    if current is None or current.status is CommitmentStatus.WITHDRAWN:
        return [] if quiet else [_reply(turn, action, f"You haven't pledged to {label(action)}.")]
    action.leave(current, turn.via, turn.now, lambda _role: None)
    turn.uow.save_commitment(action, current)
    turn.audit("pledge.withdrawn", action)
    effects = refresh_card(turn, action)
    if turn.via is not Via.REACTION:
        effects.append(_reply(turn, action, f"You've withdrawn your pledge to {label(action)}."))
    return effects


def _require_collecting(action: Action, now: datetime) -> None:
    drive = action.drive
    assert drive is not None
    if action.state is ActionState.TIPPED:
        raise CoopError(
            f"{label(action)} has tipped: the pledges are commitments on #{drive.task_number} "
            f"now. Join or leave that with /coop join #{drive.task_number}."
        )
    if action.state is ActionState.FAILED:
        raise CoopError(f"{label(action)} closed without reaching its goal; it takes no pledges.")
    if action.state is not ActionState.OPEN:
        raise CoopError(f"{label(action)} is {action.state.value}; it takes no pledges.")
    if action.due_at is not None and action.due_at <= now:
        # Past the deadline, even if its end has not been fired yet (the bot was down).
        raise CoopError(f"Sign-up for {label(action)} has closed; it takes no more pledges.")


def _terms(c: Commitment) -> str:
    parts = [f"amount {c.amount:,}"] if c.amount != 1 else []
    if c.if_others:
        parts.append(f"if at least {c.if_others} others are in")
    if c.if_needs:
        parts.append("if the person you named is in")
    return ", ".join(parts) or "no conditions"


def group_of(action: Action) -> frozenset[int]:
    """The member ids of the group whose conditions all hold, from the loaded pledges."""
    pledged = action.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.DONE)
    return _ids(pledges.resolve(pledge_of(c) for c in pledged))


def _ids(group: frozenset[Hashable]) -> frozenset[int]:
    return frozenset(who for who in group if isinstance(who, int))


def _reached(action: Action, group: frozenset[int]) -> int:
    drive = action.drive
    assert drive is not None
    if drive.unit is None:
        return len(group)
    return pledges.reached((pledge_of(c) for c in action.commitments), group)


def _progress(action: Action, group: frozenset[int]) -> str:
    drive = action.drive
    assert drive is not None
    return drive_progress(_reached(action, group), drive.goal, drive.unit)


def summary(action: Action) -> str:
    """ "3 of 5 in, 2 more conditional", from the loaded pledges."""
    group = group_of(action)
    pledged = action.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.DONE)
    conditional = len(pledged) - len(group)
    more = f", {conditional} more conditional" if conditional else ""
    return _progress(action, group) + more


def _pledged_text(
    action: Action, current: Commitment, group: frozenset[int], changed: bool, now: str
) -> str:
    """What a pledger is told; `now` is the drive's progress."""
    drive = action.drive
    assert drive is not None
    done = "Changed your pledge to" if changed else "You've pledged to"
    amount = f" ({current.amount:,} {drive.unit})" if drive.unit else ""
    if current.member.id in group:
        return f"{done} {label(action)}{amount}. It counts now: {now}."
    return (
        f"{done} {label(action)}{amount}, on a condition: {_why_not(action, current, group)}. "
        f"It counts as soon as that changes ({now} so far)."
    )


def _why_not(action: Action, c: Commitment, group: frozenset[int]) -> str:
    """Why a pledge does not count (yet), naming nobody on a sealed drive."""
    drive = action.drive
    assert drive is not None
    others = len(group - {c.member.id})
    reasons = []
    if c.if_others > others:
        are = "is" if others == 1 else "are"
        reasons.append(f"you asked for at least {c.if_others} others and {others} {are} in")
    missing = [m for m in c.if_needs if m not in group]
    if missing:
        if drive.sealed:
            reasons.append("someone you named isn't in")
        else:
            people = {x.member.id: x.member.display_name for x in action.commitments}
            names = [people.get(m, "the person you named") for m in missing]
            reasons.append(f"{', '.join(names)} isn't in")
    if not reasons:
        # Holds given the group, yet the group would need this pledge to hold first.
        reasons.append("the people it depends on aren't all in")
    return "; ".join(reasons)


# --- tipping -------------------------------------------------------------------------------


def tip(turn: Turn, action: Action, group: frozenset[int]) -> list[Effect]:
    """The group reached the goal: tip the drive, once (it is no longer open after this)."""
    drive = action.drive
    assert drive is not None and action.id is not None
    pledged = action.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.DONE)
    members = [c.member for c in pledged if c.member.id in group]
    outside = [c for c in pledged if c.member.id not in group]
    task = turn.uow.add_action(
        Action(
            community_id=turn.community.id,
            number=0,
            kind=ActionKind.TASK,
            title=action.title,
            body=action.body,
            channel_id=action.channel_id,
            creator=action.creator,
            created_at=turn.now,
            due_at=drive.task_due_at,
        )
    )
    for member in members:
        commitment = task.join(member, None, Via.SYSTEM, turn.now)
        assert commitment is not None
        turn.uow.save_commitment(task, commitment)
    turn.uow.save_action(task)
    turn.audit("task.created", task, f"from the pledge drive #{action.number}", via=Via.SYSTEM)
    action.state = ActionState.TIPPED
    drive.tipped_at, drive.task_number = turn.now, task.number
    turn.uow.save_action(action)
    turn.uow.save_drive(action)
    turn.uow.schedules.cancel_for_action(action.id)
    turn.audit("drive.tipped", action, f"{len(members)} in, task #{task.number}", via=Via.SYSTEM)
    reminders.schedule_task(turn, task, None)
    if turn.prefs.drive_checkin_after is not None:
        asked = (drive.task_due_at or turn.now) + turn.prefs.drive_checkin_after
        _schedule(turn, action, ScheduleKind.DRIVE_CHECKIN, asked)
    assert task.id is not None
    progress = _progress(action, group)
    effects: list[Effect] = [
        UpdateCard(action.id, _where(turn, action)),
        PostCard(task.id, _where(turn, action)),
        ChannelMessage(
            _where(turn, action),
            f"🎉 {label(action)} tipped: {progress}! The pledges are now commitments on task "
            f"#{task.number}.",
        ),
    ]
    names = sorted(m.display_name for m in members)
    for member in members:
        with_ = [n for n in names if n != member.display_name]
        effects.append(
            DirectMessage(
                turn.member_ref(member),
                f"{label(action)} tipped: {progress}. You're in, with "
                f"{_list(with_) or 'nobody else yet'}. Your pledge is now a commitment on task "
                f"#{task.number}: I'll remind you before it's due.",
                about=_about(action),
            )
        )
    for c in outside:
        effects.append(
            DirectMessage(
                turn.member_ref(c.member),
                f"{label(action)} tipped without your pledge: {_why_not(action, c, group)}. "
                f"You can still join the task: /coop join #{task.number}.",
                about=_about(action),
            )
        )
    if turn.member.id in group:
        effects.append(_reply(turn, action, f"Your pledge tipped {label(action)}: {progress}!"))
    else:
        mine = next(c for c in pledged if c.member.id == turn.member.id)
        effects.append(_reply(turn, action, _pledged_text(action, mine, group, False, progress)))
    return effects


def _list(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


# --- changing the deadline -----------------------------------------------------------------


def extend(turn: Turn, action: Action, deadline_at: datetime | None) -> list[Effect]:
    """Move a drive's deadline later, once, before it passes (its creator or an admin)."""
    if not _is_drive(action):
        raise CoopError(f"{label(action)} isn't a pledge drive; only drives have a deadline.")
    drive = action.drive
    assert drive is not None and action.due_at is not None and action.id is not None
    if deadline_at is None:
        raise CoopError(
            f'Say the new deadline, like /coop extend #{action.number} deadline:"next friday".'
        )
    require_creator_or_admin(turn, action, "extend")
    _require_collecting(action, turn.now)
    if drive.extended:
        raise CoopError(
            f"The deadline of {label(action)} was already extended once; it can't move again."
        )
    if action.due_at <= turn.now:
        raise CoopError(f"The deadline of {label(action)} has passed.")
    if deadline_at <= action.due_at:
        raise CoopError(
            f"The new deadline must be later than the current one, "
            f"{format_local(action.due_at, turn.tz)}."
        )
    if deadline_at - action.created_at > MAX_DRIVE:
        raise CoopError("deadline: can be at most a year after the drive started.")
    if drive.task_due_at is not None and deadline_at > drive.task_due_at:
        raise CoopError("The new deadline can't be after the task's due time.")
    old = action.due_at
    action.due_at, drive.extended = deadline_at, True
    turn.uow.save_drive(action)
    for kind, at in (
        (ScheduleKind.DEADLINE, deadline_at),
        (ScheduleKind.PROJECTION, _half_way(action)),
    ):
        for s in turn.uow.schedules.of_action(action.id, kind):
            s.next_at = at
            turn.uow.schedules.save(s)
    turn.audit("drive.extended", action, f"{old.isoformat()} -> {deadline_at.isoformat()}")
    turn.uow.load_people([action])
    told = [
        DirectMessage(
            turn.member_ref(c.member),
            f"The deadline of {label(action)} moved to "
            f"{format_local(deadline_at, c.member.zone(turn.prefs.default_tz))}. "
            "Your pledge stands.",
            about=_about(action),
        )
        for c in action.with_status(CommitmentStatus.COMMITTED)
        if c.member.id != turn.member.id
    ]
    return [
        *refresh_card(turn, action),
        *told,
        _reply(
            turn,
            action,
            f"Extended {label(action)} to {format_local(deadline_at, turn.tz)}. "
            "That was its one extension.",
        ),
    ]


# --- after it tipped: did you do it? --------------------------------------------------------


def checked_in(turn: Turn, action: Action, did: bool) -> list[Effect]:
    """An answer to "did you do it?" after a tipped drive; shown on the drive's card."""
    if not _is_drive(action) or action.state is not ActionState.TIPPED:
        raise CoopError(f"{label(action)} isn't a tipped pledge drive.")
    drive = action.drive
    assert drive is not None
    current = turn.uow.commitment(action, turn.member)
    if current is None or current.status is CommitmentStatus.WITHDRAWN:
        raise CoopError(f"You weren't in the group of {label(action)}.")
    current.checkin = "did" if did else "didnt"
    turn.uow.save_commitment(action, current)
    turn.audit("drive.checkin", action, current.checkin)
    effects = refresh_card(turn, action)
    task = turn.uow.get_action(turn.community.id, drive.task_number or 0)
    if did and task is not None and task.state is ActionState.OPEN:
        mine = turn.uow.commitment(task, turn.member)
        if mine is not None and mine.status is CommitmentStatus.COMMITTED:
            task.mark(mine, CommitmentStatus.DONE, turn.now)
            turn.uow.save_commitment(task, mine)
            effects += refresh_card(turn, task)
    thanks = "Thank you for doing it!" if did else "Thanks for saying so."
    return [*effects, _reply(turn, action, f"Noted on {label(action)}. {thanks}")]


# --- what the reminders engine fires --------------------------------------------------------


def _drive_of(f: Firing, state: ActionState) -> Action | None:
    if f.schedule.action_id is None:
        return None
    action = f.uow.locked_action(f.schedule.action_id)
    if action is None or not _is_drive(action) or action.state is not state:
        return None
    f.uow.load_people([action])
    return action


def deadline_passed(f: Firing, occurrence_id: int) -> list[Effect]:
    """Sign-up closed before the drive tipped: it fails, and every pledger is released."""
    action = _drive_of(f, ActionState.OPEN)
    if action is None:
        return []
    assert action.id is not None
    group = group_of(action)
    result = f"{_progress(action, group)}, against a goal of {_goal(action)}"
    action.state = ActionState.FAILED
    f.uow.save_action(action)
    f.uow.schedules.cancel_for_action(action.id)
    channel = f.channel(action.channel_id)
    effects: list[Effect] = [UpdateCard(action.id, channel)]
    for c in action.with_status(CommitmentStatus.COMMITTED):
        effects.append(
            DirectMessage(
                f.to(c.member),
                f"{label(action)} closed without reaching its goal: {result}. Your pledge is "
                "released; nobody is expected to do it. Thank you for pledging.",
                about=_about(action),
            )
        )
    return effects


def projection(f: Firing, occurrence_id: int) -> list[Effect]:
    """Half-way: if pledges keep coming at the rate so far and that misses the goal, tell
    the creator, privately, once."""
    action = _drive_of(f, ActionState.OPEN)
    if action is None:
        return []
    drive = action.drive
    assert drive is not None and action.due_at is not None
    elapsed = (f.at - action.created_at).total_seconds()
    total = (action.due_at - action.created_at).total_seconds()
    if elapsed <= 0 or total <= elapsed:
        return []
    reached = _reached(action, group_of(action))
    projected = int(reached * total / elapsed)
    if projected >= drive.goal:
        return []
    zone = action.creator.zone(f.prefs.default_tz)
    so_far = drive_progress(reached, drive.goal, drive.unit)
    extend_hint = (
        ""
        if drive.extended
        else f" You can extend the deadline once: /coop extend #{action.number} deadline:<when>."
    )
    return [
        DirectMessage(
            f.to(action.creator),
            f"Half-way through {label(action)}: {so_far}. At this "
            f"rate it would reach about {projected:,} by the deadline, "
            f"{format_local(action.due_at, zone)}. Asking people directly helps most.{extend_hint}",
            about=_about(action),
        )
    ]


def checkin(f: Firing, occurrence_id: int) -> list[Effect]:
    """Some days after a tipped drive's task: "did you do it?" to each of its group."""
    action = _drive_of(f, ActionState.TIPPED)
    if action is None:
        return []
    group = group_of(action)
    return [
        DirectMessage(
            f.to(c.member),
            f"Did you do it? {label(action)} tipped and you were in. "
            "Your answer shows on its card.",
            checkin_buttons(action.number),
            about=_about(action),
        )
        for c in action.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.DONE)
        if c.member.id in group and c.checkin is None
    ]
