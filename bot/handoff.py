"""Places changing hands: a promotion close to the due time that must be confirmed in time,
and `/coop handoff #3 @ana`, a place offered to a named person.

Both timers are schedule rows (CONFIRM, HANDOFF) fired through bot.occurrences, so they
survive restarts; what a row means is checked against the commitments when it fires.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from bot.cards import Button, DirectMessage, Effect
from bot.errors import CoopError
from bot.model import (
    Action,
    ActionKind,
    ActionState,
    Commitment,
    CommitmentStatus,
    Member,
    Schedule,
    ScheduleKind,
    ScheduleState,
    Target,
    Via,
)
from bot.refs import MemberRef
from bot.reminders import shown_person
from bot.timeparse import format_local
from bot.turn import Turn, label, refresh_card, require_open

if TYPE_CHECKING:
    from bot.occurrences import Firing

_OFFER = re.compile(r"^#?(\d{1,9}) (\S+)$")
_ACCEPT = frozenset({"accept", "yes", "take"})
_DECLINE = frozenset({"decline", "no"})
_HOLDS = (CommitmentStatus.COMMITTED, CommitmentStatus.DONE)


def confirm_buttons(number: int) -> tuple[Button, ...]:
    return (
        Button("confirm", "I'm still in", number),
        Button("confirm_no", "Can't make it", number),
    )


def offer_buttons(number: int) -> tuple[Button, ...]:
    return (
        Button("handoff_yes", "Take the place", number),
        Button("handoff_no", "Decline", number),
    )


def _add_row(
    turn: Turn, action: Action, kind: ScheduleKind, at: datetime, creator: Member, to: Member
) -> None:
    turn.uow.schedules.add(
        Schedule(
            community_id=turn.community.id,
            kind=kind,
            tz=to.zone(turn.prefs.default_tz),
            created_at=turn.now,
            next_at=at,
            target=Target.MEMBER,
            creator=creator,
            to_member=to,
            channel_id=action.channel_id,
            action_id=action.id,
        )
    )


def _rows(turn: Turn, action: Action, kind: ScheduleKind) -> list[Schedule]:
    assert action.id is not None
    return turn.uow.schedules.of_action(action.id, kind)


def _end(turn: Turn, row: Schedule) -> None:
    row.state, row.next_at = ScheduleState.CANCELLED, None
    turn.uow.schedules.save(row)


# --- a promotion that must be confirmed ----------------------------------------------------


def promoted(turn: Turn, action: Action, commitment: Commitment) -> list[Effect]:
    """What happens when `commitment` was just moved off the waitlist into a place (and
    saved): close to the due time, it holds the place only if confirmed in time."""
    to = turn.member_ref(commitment.member)
    due, window = action.due_at, turn.prefs.confirm_window
    if due is None or window is None or not turn.now < due <= turn.now + window:
        return [
            DirectMessage(to, f"Good news: a spot opened on {label(action)} and you're in now.")
        ]
    by = min(turn.now + turn.prefs.confirm_within, due)
    commitment.confirm_by = by
    turn.uow.save_commitment(action, commitment)
    _add_row(turn, action, ScheduleKind.CONFIRM, by, turn.member, commitment.member)
    tz = commitment.member.zone(turn.prefs.default_tz)
    text = (
        f"A spot opened on {label(action)}, due {format_local(due, tz)}, and it's yours if you "
        f"can still make it: please confirm by {format_local(by, tz)} (the button below, or "
        f"/coop join #{action.number}), or it goes to the next person waiting."
    )
    return [DirectMessage(to, text, confirm_buttons(action.number))]


def moved_up(turn: Turn, action: Action, nxt: Commitment | None, detail: str = "") -> list[Effect]:
    """Save and audit `nxt`, just moved off the waitlist into a place (None: nobody was
    waiting), and what `promoted` says to them."""
    if nxt is None:
        return []
    turn.uow.save_commitment(action, nxt)
    turn.audit("commitment.promoted", action, detail, actor=nxt.member, via=Via.SYSTEM)
    return promoted(turn, action, nxt)


def _pass_on(
    turn: Turn, action: Action, commitment: Commitment, via: Via
) -> tuple[list[Effect], Commitment | None]:
    """Withdraw the unconfirmed `commitment`; the next person waiting is promoted (and asked
    to confirm in turn). The effects, and who was promoted (None: nobody was waiting)."""
    nxt = action.leave(commitment, via, turn.now, partial(turn.uow.first_waiting, action))
    turn.uow.save_commitment(action, commitment)
    turn.audit("commitment.unconfirmed", action, actor=commitment.member, via=via)
    return refresh_card(turn, action) + moved_up(turn, action, nxt), nxt


def awaits_confirm(current: Commitment | None) -> bool:
    """Whether `current` holds a place only until it is confirmed."""
    return current is not None and current.status in _HOLDS and current.confirm_by is not None


def confirm_by_joining(turn: Turn, action: Action) -> list[Effect]:
    """`/coop join #3` from someone asked to confirm: it is their confirm (the DM's button may
    be gone: a console restart, a deleted DM)."""
    return _confirm(turn, action, yes=True)


def _confirm(turn: Turn, action: Action, yes: bool) -> list[Effect]:
    """The buttons under "please confirm": `yes` keeps the place, no passes it on."""
    mine = turn.uow.commitment(action, turn.member)
    if action.state is not ActionState.OPEN:
        return [turn.reply(f"{label(action)} is {action.state.value}; nothing to confirm now.")]
    if mine is None or mine.status not in _HOLDS:
        return [
            turn.reply(
                f"You no longer hold a place on {label(action)} (the time to confirm may have "
                f"run out). /coop join #{action.number} to sign up again."
            )
        ]
    if mine.confirm_by is None:
        more = "" if yes else f" If you can't make it, /coop leave #{action.number}."
        return [turn.reply(f"You're in on {label(action)}; there's nothing to confirm.{more}")]
    for row in _rows(turn, action, ScheduleKind.CONFIRM):
        if row.to_member is not None and row.to_member.id == turn.member.id:
            _end(turn, row)
    if not yes:
        told = turn.reply(f"Thanks for letting me know: I've passed your place on {label(action)}.")
        passed, _ = _pass_on(turn, action, mine, turn.via)
        return [*passed, told]
    mine.confirm_by = None
    turn.uow.save_commitment(action, mine)
    turn.audit("commitment.confirmed", action)
    return [
        *refresh_card(turn, action),
        turn.reply(f"Thanks! The place on {label(action)} is yours."),
    ]


def confirm_due(f: Firing, occurrence_id: int) -> list[Effect]:
    """The CONFIRM row: its person did not confirm in time, so the place passes on."""
    s = f.schedule
    if s.action_id is None or s.to_member is None:
        return []
    action = f.uow.locked_action(s.action_id)
    if action is None or action.state is not ActionState.OPEN:
        return []
    mine = f.uow.commitment(action, s.to_member)
    # Confirmed, gone, or promoted again since (with a later time): nothing to do.
    if mine is None or mine.status is not CommitmentStatus.COMMITTED:
        return []
    if mine.confirm_by is None or mine.confirm_by > f.now:
        return []
    turn = f.turn(s.to_member, action.channel_id)
    passed, nxt = _pass_on(turn, action, mine, Via.SYSTEM)
    # Said only when true: with nobody waiting, the place is simply open again.
    went = "it went to the next person waiting" if nxt is not None else "it's open again"
    told = DirectMessage(
        turn.actor,
        f"You didn't confirm your place on {label(action)} in time, so {went}. "
        f"/coop join #{action.number} to sign up again.",
    )
    return [told, *passed]


# --- /coop handoff #3 @ana -----------------------------------------------------------------


def offer(turn: Turn, text: str, person: MemberRef | None = None) -> list[Effect]:
    """`/coop handoff #3 @ana`, `/coop handoff #3 accept` or `decline`; `person` is whom the
    platform found for `@ana` (None: nobody here)."""
    m = _OFFER.match(" ".join(text.split()))
    if m is None:
        raise CoopError(
            "Use /coop handoff #3 @ana to offer your place on #3 to ana, or /coop handoff #3 "
            "accept (or decline) to answer an offer."
        )
    action = turn.action(int(m[1]))
    word = m[2].lower()
    if word in _ACCEPT:
        return _accept(turn, action)
    if word in _DECLINE:
        return _decline(turn, action)
    if action.kind is ActionKind.PLEDGE:
        raise CoopError(f"{label(action)} is a pledge drive: a pledge can't be handed on.")
    require_open(action)
    if action.due_at is not None and action.due_at <= turn.now:
        raise CoopError(f"{label(action)} was due already; there's no place left to hand on.")
    mine = turn.uow.commitment(action, turn.member)
    if mine is None or mine.status is not CommitmentStatus.COMMITTED:
        why = {
            CommitmentStatus.DONE: "your part is marked done",
            CommitmentStatus.WAITLISTED: "you're on its waitlist",
            CommitmentStatus.MAYBE: "you're a maybe on it",
        }.get(mine.status if mine else CommitmentStatus.WITHDRAWN, "you're not in on it")
        raise CoopError(f"You can hand off only a place you hold on {label(action)}, and {why}.")
    if person is None:
        raise CoopError(
            f"I can't find {shown_person(m[2])} here. Name someone of this workspace or "
            "server, like "
            f"/coop handoff #{action.number} @ana."
        )
    them = turn.uow.member(turn.community, person)
    if them.id == turn.member.id:
        raise CoopError("That's you: name the person you'd like to take your place.")
    theirs = turn.uow.commitment(action, them)
    if theirs is not None and theirs.status in _HOLDS:
        raise CoopError(f"{them.display_name} has a place on {label(action)} already.")
    for row in _rows(turn, action, ScheduleKind.HANDOFF):
        assert row.creator is not None and row.to_member is not None and row.next_at is not None
        if row.creator.id == turn.member.id:
            raise CoopError(
                f"You've offered your place on {label(action)} to {row.to_member.display_name} "
                f"already; the offer stands until {format_local(row.next_at, turn.tz)}."
            )
        if row.to_member.id == them.id:
            raise CoopError(
                f"{them.display_name} has an offer of a place on {label(action)} open already."
            )
    lapses = turn.now + turn.prefs.confirm_within
    if action.due_at is not None:
        lapses = min(lapses, action.due_at)
    _add_row(turn, action, ScheduleKind.HANDOFF, lapses, turn.member, them)
    turn.audit("handoff.offered", action, them.external_id)
    tz = them.zone(turn.prefs.default_tz)
    due = f", due {format_local(action.due_at, tz)}" if action.due_at else ""
    asked = (
        f"{turn.member.display_name} offers you their place on {label(action)}{due}. Will you "
        f"take it? The offer stands until {format_local(lapses, tz)}."
    )
    return [
        DirectMessage(turn.member_ref(them), asked, offer_buttons(action.number)),
        turn.reply(
            f"I've offered your place on {label(action)} to {them.display_name}. It stays yours "
            f"unless they take it by {format_local(lapses, turn.tz)}."
        ),
    ]


def _offer_to_me(turn: Turn, action: Action) -> Schedule | None:
    rows = _rows(turn, action, ScheduleKind.HANDOFF)
    return next((r for r in rows if r.to_member and r.to_member.id == turn.member.id), None)


def _no_offer(turn: Turn, action: Action) -> list[Effect]:
    return [
        turn.reply(
            f"There's no open offer of a place on {label(action)} for you: it may have lapsed "
            "or been answered already."
        )
    ]


def _accept(turn: Turn, action: Action) -> list[Effect]:
    row = _offer_to_me(turn, action)
    if row is None or row.creator is None:
        return _no_offer(turn, action)
    _end(turn, row)
    giver = row.creator
    if action.state is not ActionState.OPEN:
        return [turn.reply(f"{label(action)} is {action.state.value}; there's no place to take.")]
    theirs = turn.uow.commitment(action, giver)
    if theirs is None or theirs.status is not CommitmentStatus.COMMITTED:
        return [
            turn.reply(
                f"{giver.display_name} isn't in on {label(action)} any more, so there's no "
                f"place to take. /coop join #{action.number} to sign up."
            )
        ]
    mine = turn.uow.commitment(action, turn.member)
    if mine is not None and mine.status in _HOLDS:
        return [turn.reply(f"You have a place on {label(action)} already.")]
    taken = action.hand_over(theirs, turn.member, mine, turn.via, turn.now)
    turn.uow.save_commitment(action, theirs)
    turn.uow.save_commitment(action, taken)
    turn.audit("handoff.accepted", action, f"from {giver.external_id}")
    name = turn.member.display_name
    return [
        *refresh_card(turn, action),
        DirectMessage(
            turn.member_ref(giver),
            f"{name} took your place on {label(action)}, so you're off it now.",
        ),
        turn.reply(f"The place on {label(action)} is yours: you're in."),
    ]


def _decline(turn: Turn, action: Action) -> list[Effect]:
    row = _offer_to_me(turn, action)
    if row is None or row.creator is None:
        return _no_offer(turn, action)
    _end(turn, row)
    turn.audit("handoff.declined", action, f"from {row.creator.external_id}")
    return [
        DirectMessage(
            turn.member_ref(row.creator),
            f"{turn.member.display_name} declined your place on {label(action)}; it stays yours.",
        ),
        turn.reply(f"Okay, declined. {row.creator.display_name} keeps the place."),
    ]


def offer_lapsed(f: Firing, occurrence_id: int) -> list[Effect]:
    """The HANDOFF row: the offer was not answered in time; the offerer keeps the place."""
    s = f.schedule
    if s.action_id is None or s.creator is None or s.to_member is None:
        return []
    action = f.uow.locked_action(s.action_id)
    if action is None or action.state is not ActionState.OPEN:
        return []
    f.turn(s.creator, action.channel_id).audit("handoff.lapsed", action, s.to_member.external_id)
    effects: list[Effect] = [
        DirectMessage(
            f.to(s.to_member),
            f"The offer of {s.creator.display_name}'s place on {label(action)} has lapsed.",
        )
    ]
    theirs = f.uow.commitment(action, s.creator)
    if theirs is not None and theirs.status is CommitmentStatus.COMMITTED:
        effects.append(
            DirectMessage(
                f.to(s.creator),
                f"{s.to_member.display_name} didn't answer in time, so your place on "
                f"{label(action)} stays yours.",
            )
        )
    return effects


# --- the DM buttons ------------------------------------------------------------------------


def answer(turn: Turn, action: Action, button: str) -> list[Effect]:
    """A DM button: confirm / confirm_no (a promotion), handoff_yes / handoff_no (an offer)."""
    if button in ("confirm", "confirm_no"):
        return _confirm(turn, action, button == "confirm")
    if button == "handoff_yes":
        return _accept(turn, action)
    return _decline(turn, action)
