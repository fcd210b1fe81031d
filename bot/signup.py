"""Who may sign up and how: maybes, the sign-up cut-off, and admins acting for others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from bot import grammar, handoff, reminders
from bot.cards import Button, DirectMessage, Effect, PrivateReply, UpdateCard, progress
from bot.errors import CoopError
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    CommitmentStatus,
    ScheduleKind,
    ScheduleState,
    Via,
)
from bot.refs import MemberRef
from bot.timeparse import format_local
from bot.turn import Turn, label, refresh_card, require_open

if TYPE_CHECKING:
    from bot.occurrences import Firing

UseCase = Callable[[Turn, Action], list[Effect]]


# --- the cut-off ---------------------------------------------------------------------------


def closes(turn: Turn, closes_at: datetime | None, due_at: datetime | None) -> datetime | None:
    """A task's cut-off, checked (in the future, not after its due time)."""
    if closes_at is None:
        return None
    if closes_at <= turn.now:
        raise CoopError(
            f"closes: {format_local(closes_at, turn.tz)} has passed already. Give a time "
            'ahead, like closes:"friday 6pm".'
        )
    if due_at is not None and closes_at > due_at:
        raise CoopError(
            f"closes: is after the due time ({format_local(due_at, turn.tz)}); sign-up has to "
            'close by then. Try an earlier time, like closes:"friday 6pm", or leave it out.'
        )
    return closes_at


def schedule_cut_off(turn: Turn, action: Action, fresh: bool = False) -> None:
    """The row that redraws the card when sign-up closes (any earlier one cancelled, unless
    the action is `fresh`: just added, it has none)."""
    if not fresh:
        assert action.id is not None
        for old in turn.uow.schedules.of_action(action.id, ScheduleKind.CLOSES):
            old.state, old.next_at = ScheduleState.CANCELLED, None
            turn.uow.schedules.save(old)
    if action.closes_at is not None and action.closes_at > turn.now:
        reminders.schedule_action(turn, action, ScheduleKind.CLOSES, action.closes_at, turn.member)


def closes_moved(turn: Turn, action: Action) -> list[Effect]:
    """`action.closes_at` was changed (by /coop edit, which saves it): its row follows."""
    schedule_cut_off(turn, action)
    return refresh_card(turn, action)


def require_signup_open(turn: Turn, action: Action) -> None:
    """Refuse a join or a maybe after the cut-off; an admin adding someone (`for:`) may."""
    if action.closes_at is None or turn.now < action.closes_at or turn.by is not None:
        return
    raise CoopError(
        f"Sign-up for {label(action)} closed {format_local(action.closes_at, turn.tz)}, so I "
        f"can't add you now. Ask {action.creator.display_name} (who created it) if they "
        "still need people."
    )


def cut_off(f: Firing, occurrence_id: int) -> list[Effect]:
    """The CLOSES row: sign-up closed, so the card says so and loses Join and Maybe."""
    if f.schedule.action_id is None:
        return []
    action = f.uow.locked_action(f.schedule.action_id)
    if action is None or action.closes_at is None or action.closes_at > f.now:
        return []  # gone, or its cut-off moved later (its own row redraws it then)
    assert action.id is not None
    return [UpdateCard(action.id, f.channel(action.channel_id))]


# --- maybe ---------------------------------------------------------------------------------


def maybe(turn: Turn, action: Action) -> list[Effect]:
    """`/coop maybe #3` or the Maybe button: shown and counted apart, never a place. A place
    held is given up (the waitlist moves up as when leaving)."""
    if action.kind is ActionKind.PLEDGE:
        raise CoopError(
            f"{label(action)} is a pledge drive: a pledge is a yes or nothing. Pledge with "
            f"/coop join #{action.number} once you're sure."
        )
    require_open(action)
    require_signup_open(turn, action)
    current = turn.uow.commitment(action, turn.member)
    if current is not None and current.status is CommitmentStatus.MAYBE:
        return [turn.reply(f"You're down as a maybe on {label(action)} already.")]
    if current is not None and current.status is CommitmentStatus.DONE:
        raise CoopError(f"Your part of {label(action)} is marked done already.")
    effects: list[Effect] = []
    promoted = None
    if current is not None and current.status is not CommitmentStatus.WITHDRAWN:
        first = partial(turn.uow.first_waiting, action)
        promoted = action.leave(current, turn.via, turn.now, first)
    commitment = action.maybe(turn.member, current, turn.via, turn.now)
    turn.uow.save_commitment(action, commitment)
    turn.audit("commitment.maybe", action)
    effects += refresh_card(turn, action) + handoff.moved_up(turn, action, promoted)
    if turn.via is Via.COMMAND:
        effects.append(
            turn.reply(
                f"You're down as a maybe on {label(action)}; that doesn't take a place. "
                f"/coop join #{action.number} when you're sure."
            )
        )
    return effects


def places_open(action: Action) -> bool:
    """Whether `action` still has a place someone could take (with roles: in any role)."""
    if action.roles:
        return any(not r.is_full for r in action.roles)
    return action.need is not None and action.in_count < action.need


def ask_maybes(f: Firing, occurrence_id: int) -> list[Effect]:
    """The MAYBE row, shortly before the due time: with places still open, each maybe is
    asked (once: the row fires once) whether they're in."""
    if f.schedule.action_id is None:
        return []
    action = f.uow.locked_action(f.schedule.action_id)
    if action is None or action.state is not ActionState.OPEN or not action.maybe_count:
        return []
    if action.due_at is None or action.due_at <= f.now or not places_open(action):
        return []
    if action.closes_at is not None and action.closes_at <= f.now:
        return []  # they couldn't join now anyway
    f.uow.load_people([action])
    buttons = (
        Button("join", "I'm in", action.number),
        Button("leave", "Not this time", action.number),
    )
    where = "" if action.roles else f" ({progress(action.in_count, action.need)})"
    return [
        DirectMessage(
            f.to(c.member),
            f"{label(action)} still has places open{where} and it's due "
            f"{format_local(action.due_at, f.zone(c.member))}. You said maybe: are you in?",
            buttons,
        )
        for c in action.with_status(CommitmentStatus.MAYBE)
    ]


# --- admins acting for others --------------------------------------------------------------


def to_find(cmd: grammar.ParsedCommand) -> str | None:
    """The person `for:@ana` (join, leave) or `/coop handoff #3 @ana` names, to look up on the
    platform before the turn."""
    if cmd.name in ("join", "leave"):
        typed = cmd.options.get("for")
    elif cmd.name == "handoff":
        words = str(cmd.positional or "").split()
        typed = words[1] if len(words) == 2 else None
    else:
        typed = None
    if not typed:
        return None
    m = reminders.PERSON.match(str(typed).strip())
    return (m["id"] or m["name"]) if m else None


def unknown_person(typed: str) -> CoopError:
    return CoopError(
        f"I can't find {reminders.shown_person(typed)} here. Name someone of this workspace or "
        "server, like for:@ana."
    )


def for_other(
    turn: Turn,
    action: Action,
    verb: str,
    act: UseCase,
    typed: str,
    person: MemberRef | None,
) -> list[Effect]:
    """`/coop join #3 for:@ana` or `leave ... for:@ana`, by an admin: `act` (join or leave)
    is done as if ana did it, the admin is answered and ana told."""
    if not turn.actor.is_admin:
        raise CoopError(
            f"Only a community admin can {verb} someone else (for:). To {verb} yourself: "
            f"/coop {verb} #{action.number}."
        )
    if action.kind is ActionKind.PLEDGE:
        raise CoopError(f"{label(action)} is a pledge drive: only people themselves can pledge.")
    if person is None:
        raise unknown_person(typed)
    them = turn.uow.member(turn.community, person)
    if them.id == turn.member.id:
        return act(turn, action)
    before = turn.uow.commitment(action, them)
    was = before.status if before is not None else CommitmentStatus.WITHDRAWN
    effects = [
        e
        for e in act(replace(turn, member=them, by=turn.member), action)
        # What the use case says to its actor is reworded for the admin below.
        if not (isinstance(e, PrivateReply) and e.to == turn.actor)
    ]
    after = turn.uow.commitment(action, them)
    status = after.status if after is not None else CommitmentStatus.WITHDRAWN
    name, by = them.display_name, turn.member.display_name
    if status is was:
        where = {
            CommitmentStatus.COMMITTED: "already in on",
            CommitmentStatus.DONE: "already done on",
            CommitmentStatus.WAITLISTED: "already on the waitlist for",
            CommitmentStatus.MAYBE: "already a maybe on",
            CommitmentStatus.WITHDRAWN: "not on",
        }
        return [*effects, turn.reply(f"{name} is {where[status]} {label(action)}.")]
    if status is CommitmentStatus.WITHDRAWN:
        told = f"{by} took you off {label(action)}."
        answer = f"Took {name} off {label(action)}; I've told them."
    elif status is CommitmentStatus.WAITLISTED:
        told = (
            f"{by} put you on the waitlist for {label(action)} (it's full); I'll message you "
            "if a place opens."
        )
        answer = f"{label(action)} is full, so {name} is on the waitlist; I've told them."
    else:
        told = f"{by} added you to {label(action)}. /coop leave #{action.number} if you can't."
        answer = f"Added {name} to {label(action)}; I've told them."
    return [*effects, DirectMessage(turn.member_ref(them), told), turn.reply(answer)]
