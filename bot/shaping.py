"""Shaping a task after it is posted: `/coop edit` (and the Edit form), and roles with their
own counts and waitlists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from bot import grammar, handoff, inputs, reminders, signup
from bot.cards import DirectMessage, Effect, progress
from bot.emoji_names import canonical, is_known
from bot.errors import CoopError
from bot.events import EditRequested
from bot.model import (
    Action,
    ActionKind,
    Commitment,
    CommitmentStatus,
    Role,
    ScheduleKind,
    Via,
)
from bot.timeparse import format_local, parse_when
from bot.turn import Turn, label, refresh_card, require_creator_or_admin, require_open

if TYPE_CHECKING:
    from bot.usecases import Prepared

ROLES_EXAMPLE = 'roles:"driver:2, cook:4, setup"'
# Roles given no emoji get one of these, in order, skipping any already taken (the operator's
# track, commit and done emoji, and those other roles chose).
PALETTE = tuple(canonical(e) for e in "🔵🟢🟡🟠🟣🔴🟤⚫⚪🟦🟩🟨🟧🟪🟥🟫⬛⬜")
# Said for an option that takes a time or a count, these clear it (`/coop edit #3 due:none`).
NONE_WORDS = frozenset({"none", "no", "off", "-"})


# --- roles ---------------------------------------------------------------------------------


def parse_roles(text: str, taken: set[str]) -> list[Role]:
    """`driver:2, cook:4:fried_egg, setup` as roles, in order; `taken` are emoji no role may
    use (the operator's track, commit and done emoji). CoopError says what is wrong."""
    items = [item.strip() for item in inputs.one_line(text).split(",")]
    items = [item for item in items if item]
    if not items:
        raise CoopError(f"roles: needs at least one role. For example: {ROLES_EXAMPLE}")
    if len(items) > grammar.MAX_ROLES:
        raise CoopError(
            f"A task can have at most {grammar.MAX_ROLES} roles; that's {len(items)}. "
            f"For example: {ROLES_EXAMPLE}"
        )
    roles: list[Role] = []
    for position, item in enumerate(items):
        name, *rest = (part.strip() for part in item.split(":"))
        name = " ".join(name.split())
        role = Role(name=name, position=position)
        _check_name(name, roles)
        for part in (p for p in rest if p):
            if part.isascii() and part.isdigit():
                if role.need is not None:
                    raise CoopError(f"The role {name} has two counts. For example: driver:2")
                role.need = int(part)
                if not 1 <= role.need <= grammar.MAX_NEED:
                    raise CoopError(
                        f"A role's count is between 1 and {grammar.MAX_NEED:,} "
                        f"(got {name}:{part}). For example: {ROLES_EXAMPLE}"
                    )
            elif role.emoji:
                raise CoopError(f"The role {name} has two emoji. For example: driver:2:car")
            else:
                role.emoji = _role_emoji(name, part, taken, roles)
        roles.append(role)
    used = taken | {r.emoji for r in roles}
    free = iter(e for e in PALETTE if e not in used)
    for role in roles:
        if not role.emoji:
            role.emoji = next(free)
    return roles


def _check_name(name: str, before: list[Role]) -> None:
    if not inputs.visible(name):
        raise CoopError(f"Each role needs a name. For example: {ROLES_EXAMPLE}")
    if len(name) > grammar.MAX_ROLE_NAME:
        raise CoopError(
            f"Role names can be at most {grammar.MAX_ROLE_NAME} characters "
            f"(“{name[:50]}…” is {len(name)}). For example: {ROLES_EXAMPLE}"
        )
    if name.isdigit():
        raise CoopError(f"“{name}” is a number, not a role's name. For example: {ROLES_EXAMPLE}")
    if any(r.name.casefold() == name.casefold() for r in before):
        raise CoopError(
            f"The role {name} is there twice. Give each role once. For example: {ROLES_EXAMPLE}"
        )


def _role_emoji(name: str, typed: str, taken: set[str], before: list[Role]) -> str:
    if not is_known(typed):
        raise CoopError(
            f"I don't know the emoji “{typed[:40]}” (for the role {name}). Use a short name "
            "like car or the emoji itself. For example: driver:2:car"
        )
    emoji = canonical(typed)
    if emoji in taken:
        raise CoopError(
            f"{emoji} already means track, join or done here; pick another for the role "
            f"{name}. For example: {name}:fried_egg"
        )
    if any(r.emoji == emoji for r in before):
        raise CoopError(
            f"Two roles can't share {emoji}: reacting with it has to pick one. For example: "
            "driver:2:car, cook:4:fried_egg"
        )
    return emoji


def set_roles(turn: Turn, action: Action, roles: str | None) -> None:
    """Give a new task (already added) the roles of `roles:"driver:2, cook:4, setup"`."""
    if roles is None:
        return
    if action.need is not None:
        raise CoopError(
            "need: and roles: don't go together: each role's count is how many it needs. "
            f"For example: /coop task “{action.title}” {ROLES_EXAMPLE}"
        )
    prefs = turn.prefs
    action.roles = parse_roles(roles, {prefs.track_emoji, prefs.commit_emoji, prefs.done_emoji})
    counts = [r.need for r in action.roles]
    # Counted roles make the task's need (its list line, digest and "still needs" nudge); one
    # role that takes anyone means the task as a whole never fills.
    action.need = None if None in counts else sum(c for c in counts if c is not None)
    turn.uow.save_action(action)
    turn.audit("task.roles", action, ", ".join(role_text(r) for r in action.roles))


def role_text(role: Role) -> str:
    """`driver:2:🚗`, as it could be typed again."""
    count = f":{role.need}" if role.need is not None else ""
    return f"{role.name}{count}:{role.emoji}"


def roles_progress(action: Action) -> str:
    """ "🚗 driver 1/2 in · 🍳 cook 4/4 in (full) · 🔵 setup 2 in"."""
    parts = []
    for r in action.roles:
        full = " (full: you'd be waitlisted)" if r.is_full else ""
        parts.append(f"{r.emoji} {r.name} {progress(r.in_count, r.need)}{full}")
    return " · ".join(parts)


def which_role(action: Action) -> str:
    """What someone joining a task with roles without saying which is told."""
    first = action.roles[0].name
    return (
        f"{label(action)} has roles; which one are you joining?\n{roles_progress(action)}\n"
        f"Pick one with /coop join #{action.number} role:{_typed(first)}, the role picker on "
        f"its card, or react to the card with the role's emoji."
    )


def _typed(name: str) -> str:
    return f'"{name}"' if " " in name else name


def pick(action: Action, name: str) -> Role:
    """The role of `action` called `name`; CoopError listing them when there's none."""
    if not action.roles:
        raise CoopError(f"{label(action)} has no roles: join it with /coop join #{action.number}.")
    role = action.role(" ".join(name.split()))
    if role is None:
        names = ", ".join(r.name for r in action.roles)
        raise CoopError(
            f"{label(action)} has no role “{name[:40]}”. Its roles: {names}. For example: "
            f"/coop join #{action.number} role:{_typed(action.roles[0].name)}"
        )
    return role


def role_of_emoji(action: Action, emoji: str) -> Role | None:
    return next((r for r in action.roles if r.emoji == emoji), None)


def join_role(
    turn: Turn, action: Action, current: Commitment | None, name: str | None
) -> list[Effect]:
    """Join a task with roles (open, checked) in the role `name`: waitlisted in it when it is
    full; someone in another role moves, freeing their place there. Without a role, asked
    which (nothing changes)."""
    holding = current is not None and current.status in (
        CommitmentStatus.COMMITTED,
        CommitmentStatus.WAITLISTED,
        CommitmentStatus.DONE,
    )
    if name is None:
        if current is not None and holding:
            return [turn.reply(f"You're already {_where(current)} {label(action)}.")]
        raise CoopError(which_role(action))
    role = pick(action, name)
    effects: list[Effect] = []
    moved_from = None
    if current is not None and holding:
        if current.role == role.name:
            return [turn.reply(f"You're already {_where(current)} {label(action)}.")]
        if current.status is CommitmentStatus.DONE:
            raise CoopError(
                f"Your part of {label(action)} as {current.role} is marked done already, so "
                "you can't change role now."
            )
        moved_from = current.role
        effects += _free_place(turn, action, current)
    commitment = action.join(turn.member, current, turn.via, turn.now, role)
    assert commitment is not None
    turn.uow.save_commitment(action, commitment)
    turn.audit(f"commitment.{commitment.status.value}", action, f"role {role.name}")
    effects = refresh_card(turn, action) + effects
    was = f" (you've left {moved_from})" if moved_from else ""
    if commitment.status is CommitmentStatus.WAITLISTED:
        effects.append(
            turn.reply(
                f"{role.name} on {label(action)} is full ({progress(role.in_count, role.need)}), "
                f"so you're number {role.waiting_count} on its waitlist{was}. I'll message you "
                "if a spot opens."
            )
        )
    elif turn.via is Via.COMMAND or moved_from:
        effects.append(turn.reply(f"You're in on {label(action)} as {role.name}{was}."))
    return effects


def _where(c: Commitment) -> str:
    if c.status is CommitmentStatus.WAITLISTED:
        return f"on the {c.role} waitlist for"
    return f"in as {c.role} on" if c.role else "in on"


def _free_place(turn: Turn, action: Action, current: Commitment) -> list[Effect]:
    """`current` leaves their role (to take another): the longest waiting in it moves up."""
    detail = f"role {current.role}"
    nxt = action.leave(current, turn.via, turn.now, partial(turn.uow.first_waiting, action))
    turn.uow.save_commitment(action, current)
    turn.audit("commitment.withdrawn", action, detail)
    return handoff.moved_up(turn, action, nxt, detail)


# --- edit ----------------------------------------------------------------------------------

EDIT_EXAMPLE = '/coop edit #3 need:6 due:"sunday 11am"'
# Schedules that follow the due time when it moves (those about a promotion's confirm, an
# offered place or the sign-up cut-off keep their own times).
_FOLLOW_DUE = frozenset(
    {
        ScheduleKind.TASK,
        ScheduleKind.DUE,
        ScheduleKind.SHORT,
        ScheduleKind.CHECKIN,
        ScheduleKind.MAYBE,
        ScheduleKind.SERIES,
    }
)


@dataclass(frozen=True)
class _Unchanged:
    pass


UNCHANGED = _Unchanged()


@dataclass(frozen=True)
class Request:
    """What an edit asks for: each field a new value, None to clear, or UNCHANGED."""

    title: str | _Unchanged = UNCHANGED
    need: int | None | _Unchanged = UNCHANGED
    due_at: datetime | None | _Unchanged = UNCHANGED
    closes_at: datetime | None | _Unchanged = UNCHANGED


def clean_title(title: str) -> str:
    """A new title as it will be kept; CoopError when it can't be one."""
    title = " ".join(inputs.line(title).split())
    if not inputs.visible(title):
        raise CoopError("A title needs some text.")
    if len(title) > grammar.MAX_TITLE:
        raise CoopError(f"Titles can be at most {grammar.MAX_TITLE} characters.")
    return title


def _need(text: str) -> int | None:
    text = text.strip()
    if not text or text.lower() in NONE_WORDS:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= grammar.MAX_NEED:
        raise CoopError(
            f"need: is a whole number between 1 and {grammar.MAX_NEED:,}, or none for no "
            f"limit (got “{text[:20]}”). For example: {EDIT_EXAMPLE}"
        )
    return int(text)


def _clears(text: str) -> bool:
    return not text.strip() or text.strip().lower() in NONE_WORDS


def _time(turn: Turn, text: str, at: datetime | None, tz: str | None) -> datetime:
    """A time as prepared (read in `tz`), read again if the actor's zone is another now."""
    if at is not None and tz == turn.tz:
        return at
    return parse_when(text, turn.tz, turn.now, turn.prefs.horizon, turn.prefs.languages)


def edit(
    turn: Turn, action: Action, options: dict[str, str], ready: Prepared | None
) -> list[Effect]:
    """`/coop edit #3 title:… need:… due:… closes:…`."""
    _may_edit(turn, action)
    if not options:
        raise CoopError(
            "Say what to change: title:, need:, due: or closes:. For example: "
            f'/coop edit #{action.number} need:6 due:"sunday 11am"'
        )
    due_at, closes_at, tz = _ready_times(ready)
    request = Request(
        title=clean_title(options["title"]) if "title" in options else UNCHANGED,
        need=_need(options["need"]) if "need" in options else UNCHANGED,
        due_at=_when(turn, options.get("due"), due_at, tz),
        closes_at=_when(turn, options.get("closes"), closes_at, tz),
    )
    return apply_edit(turn, action, request)


def edit_form(turn: Turn, event: EditRequested, ready: Prepared) -> list[Effect]:
    """The Edit form, as a platform sent it."""
    if not 0 < event.number <= grammar.MAX_ID:  # as a platform gave it back: maybe garbled
        raise CoopError("That form isn't one I know. Try /coop edit #3 need:6.")
    action = turn.action(event.number)
    _may_edit(turn, action)
    due_at, closes_at, tz = _ready_times(ready)
    title = UNCHANGED if event.title is None else clean_title(event.title)
    request = Request(
        # The form comes back filled in with what the task has: the same is no change.
        title=UNCHANGED if title == action.title else title,
        need=UNCHANGED if event.need is None else _need(event.need),
        due_at=_when(turn, event.due, due_at, tz),
        closes_at=_when(turn, event.closes, closes_at, tz),
    )
    return apply_edit(turn, action, request)


def _ready_times(ready: Prepared | None) -> tuple[datetime | None, datetime | None, str | None]:
    """The due time and cut-off read before the turn, and the zone they were read in."""
    if ready is None:
        return None, None, None
    return ready.due_at, ready.closes_at, ready.due_tz


def _when(
    turn: Turn, text: str | None, at: datetime | None, tz: str | None
) -> datetime | None | _Unchanged:
    if text is None:
        return UNCHANGED
    if _clears(text):
        return None
    return _time(turn, text, at, tz)


def _may_edit(turn: Turn, action: Action) -> None:
    if action.kind is ActionKind.PLEDGE:
        raise CoopError(
            f"{label(action)} is a pledge drive: people pledged to it as it reads, so it "
            f"can't be edited. Its deadline can be moved once with /coop extend #{action.number}."
        )
    require_creator_or_admin(turn, action, "edit")
    require_open(action)


@dataclass
class _Told:
    """What one person on the task hears about an edit, beyond the changes themselves."""

    commitment: Commitment
    news: str = ""


def apply_edit(turn: Turn, action: Action, request: Request) -> list[Effect]:
    """Make the changes `request` asks for to an open task the actor may edit; tell everyone
    on it (but the actor) once, and answer the actor."""
    old_title, old_need, old_due, old_closes = (
        action.title,
        action.need,
        action.due_at,
        action.closes_at,
    )
    title = old_title if isinstance(request.title, _Unchanged) else request.title
    need = old_need if isinstance(request.need, _Unchanged) else request.need
    due = old_due if isinstance(request.due_at, _Unchanged) else request.due_at
    closes = old_closes if isinstance(request.closes_at, _Unchanged) else request.closes_at
    if (title, need, due, closes) == (old_title, old_need, old_due, old_closes):
        return [turn.reply(f"Nothing to change: {label(action)} already reads like that.")]
    if need != old_need and action.roles:
        raise CoopError(
            f"{label(action)} has roles: each role's count is how many it needs, so need: "
            "can't be changed on it."
        )
    if due != old_due and due is None and action.series is not None:
        raise CoopError(
            f"{label(action)} repeats, and each occurrence is opened at its due time: it "
            f"needs one. To end the series, /coop stop #{action.number}."
        )
    if closes != old_closes and closes is not None:
        closes = signup.closes(turn, closes, due)
    elif due != old_due and closes is not None and closes > turn.now:
        signup.closes(turn, closes, due)  # a cut-off still to come must stay before it
    action.title, action.need, action.due_at, action.closes_at = title, need, due, closes

    turn.uow.load_people([action])
    told = {
        c.member.id: _Told(c)
        for c in action.with_status(
            CommitmentStatus.COMMITTED, CommitmentStatus.WAITLISTED, CommitmentStatus.MAYBE
        )
    }
    extra: list[Effect] = []
    moved = _refit(turn, action, told, extra) if need != old_need else []
    if due != old_due:
        _move_schedules(turn, action, old_due)
    elif old_need is None and need is not None and due is not None:
        _nudge_if_short(turn, action)
    if closes != old_closes:
        extra += signup.closes_moved(turn, action)
    changes = _changes(action, old_title, old_need, old_due, old_closes)
    turn.audit("task.edited", action, "; ".join(text("UTC") for text in changes))
    effects = refresh_card(turn, action)
    effects += _tell(turn, action, told, changes, extra)
    answer = [f"Updated {label(action)}:"] + [f"• {text(turn.tz)}" for text in changes]
    if moved:
        answer.append("Moved to the top of the waitlist: " + ", ".join(moved) + ".")
    return [*effects, turn.reply("\n".join(answer))]


def _refit(turn: Turn, action: Action, told: dict[int, _Told], extra: list[Effect]) -> list[str]:
    """Fit who is in to the new need: when it went down, the newest joiners still to do their
    part go to the top of the waitlist (who is done keeps their place); when it went up,
    the longest waiting move up. Names of those moved to the waitlist."""
    need = action.need
    if need is not None and action.in_count > need:
        committed = action.with_status(CommitmentStatus.COMMITTED)
        out = committed[max(0, len(committed) - (action.in_count - need)) :]
        waiting = action.with_status(CommitmentStatus.WAITLISTED)
        # The waitlist goes by join order (seq): those moved out come first, in the order
        # they joined, then those already waiting; all numbered after everyone in.
        for c in out:
            action.demote(c, turn.now)
        for c in [*out, *waiting]:
            action.last_seq += 1
            c.seq = action.last_seq
            turn.uow.save_commitment(action, c)
        for place, c in enumerate(out, start=1):
            turn.audit(
                "commitment.waitlisted", action, "need lowered", actor=c.member, via=Via.SYSTEM
            )
            if c.member.id in told:
                told[c.member.id].news = (
                    f"There are fewer places now, so you're number {place} on the waitlist. "
                    "I'll message you if a spot opens."
                )
        return [c.member.display_name for c in out]
    for c in action.with_status(CommitmentStatus.WAITLISTED):
        if action.is_full:
            break
        action.promote(c, turn.now)
        extra += handoff.moved_up(turn, action, c)
    return []


def _move_schedules(turn: Turn, action: Action, old_due: datetime | None) -> None:
    """What happens around the due time follows it: moved by as much (dropped when that is
    past), all cancelled with it, or the usual ones set up for a first due time."""
    new_due = action.due_at
    if old_due is None:
        reminders.schedule_task(turn, action, None)
        return
    shift = new_due - old_due if new_due is not None else None
    follows = [
        s
        for s in turn.uow.schedules.all_of_action(action.id or 0)
        if s.kind in _FOLLOW_DUE and s.snooze_of is None
    ]
    kinds = set()
    for s in follows:
        at = s.next_at + shift if s.next_at is not None and shift is not None else None
        turn.uow.schedules.move(s, at if at is not None and at > turn.now else None)
        if at is not None and at > turn.now:
            kinds.add(s.kind)
    if new_due is not None and action.overdue and new_due > turn.now:
        # It was overdue; now it is due again later: its due time and check-in come back.
        action.overdue = False  # saved with the action
        for kind, at in (
            (ScheduleKind.DUE, new_due),
            (ScheduleKind.CHECKIN, new_due + (turn.prefs.checkin_after or timedelta(0))),
        ):
            if kind not in kinds and (kind is ScheduleKind.DUE or turn.prefs.checkin_after):
                reminders.schedule_action(turn, action, kind, at, turn.member)


def _nudge_if_short(turn: Turn, action: Action) -> None:
    """A task given a need has its "still needs people" nudge before it is due, as if it had
    been made with that need."""
    before = turn.prefs.short_before
    assert action.due_at is not None and action.id is not None
    if before is None or turn.uow.schedules.of_action(action.id, ScheduleKind.SHORT):
        return
    if action.due_at - before > turn.now:
        reminders.schedule_action(
            turn, action, ScheduleKind.SHORT, action.due_at - before, turn.member
        )


@dataclass(frozen=True)
class _Change:
    """One change, worded for a reader in a zone."""

    what: str
    old: object
    new: object

    def __call__(self, tz: str) -> str:
        return f"{self.what}: {self._shown(self.old, tz)} → {self._shown(self.new, tz)}"

    def _shown(self, value: object, tz: str) -> str:
        if value is None:
            return "none"
        if isinstance(value, datetime):
            return format_local(value, tz)
        if self.what == "title":
            return f"“{value}”"
        return str(value)


def _changes(
    action: Action,
    title: str,
    need: int | None,
    due: datetime | None,
    closes: datetime | None,
) -> list[_Change]:
    found = []
    for what, old, new in (
        ("title", title, action.title),
        ("need", need, action.need),
        ("due", due, action.due_at),
        ("sign-up closes", closes, action.closes_at),
    ):
        if old != new:
            found.append(_Change(what, old, new))
    return found


def _tell(
    turn: Turn,
    action: Action,
    told: dict[int, _Told],
    changes: list[_Change],
    extra: list[Effect],
) -> list[Effect]:
    """One DM to each person on the task but the editor: every change, their own news, and
    what else the edit says to them (a promotion) folded in."""
    effects: list[Effect] = []
    by_person: dict[str, DirectMessage] = {}
    for e in extra:
        if isinstance(e, DirectMessage) and e.to.id not in by_person:
            by_person[e.to.id] = e
        else:
            effects.append(e)
    for t in told.values():
        member = t.commitment.member
        ref = turn.member_ref(member)
        tz = member.zone(turn.prefs.default_tz)
        lines = [f"{turn.member.display_name} changed {label(action)}:"]
        lines += [f"• {change(tz)}" for change in changes]
        if t.news:
            lines.append(t.news)
        also = by_person.pop(ref.id, None)
        if also is not None:
            lines.append(also.text)
        if member.id == turn.member.id:
            if also is not None:
                effects.append(also)
            continue
        buttons = also.buttons if also is not None else ()
        effects.append(DirectMessage(ref, "\n".join(lines), buttons))
    effects += by_person.values()
    return effects
