"""One function per use case: take an event in a transaction, return what to say."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from bot import calendar, drives, grammar, handoff, inputs, reminders, series, shaping, signup
from bot.cards import (
    AskForTitle,
    DirectMessage,
    Effect,
    PostCard,
    PrivateReply,
    card_for,
    progress,
)
from bot.emoji_names import canonical
from bot.errors import CoopError
from bot.events import (
    ButtonPressed,
    CommandInvoked,
    DriveRequested,
    EditRequested,
    Event,
    MessageTracked,
    ReactionAdded,
    ReactionRemoved,
    TitleGiven,
)
from bot.model import Action, ActionKind, ActionState, CommitmentStatus, Via
from bot.ports import MessageText
from bot.refs import ChannelRef, MemberRef, MessageRef
from bot.render import card_text
from bot.timeparse import format_local, known, parse_when, zone_name
from bot.turn import (
    Preferences,
    Turn,
    label,
    refresh_card,
    require_creator_or_admin,
    require_open,
)

__all__ = ["Preferences", "Prepared", "Turn", "apply", "prepare", "via_of"]


# --- tasks ---------------------------------------------------------------------------------


def create_task(
    turn: Turn,
    title: str,
    need: int | None,
    due: str | None,
    ready: Prepared | None = None,
    remind: str | None = None,
    shape: dict[str, str] | None = None,
) -> list[Effect]:
    shape = shape or {}
    offsets = reminders.parse_offsets(remind) if remind is not None else None
    if offsets is not None and not due and not shape.get("every"):
        raise CoopError('remind: needs a due time, like due:"friday 5pm" remind:"2h".')
    if ready is not None and ready.due_tz == turn.tz:
        due_at = ready.due_at
    else:
        # Read in another zone than the one it was prepared for (a /coop tz just before).
        due_at = (
            parse_when(due, turn.tz, turn.now, turn.prefs.horizon, turn.prefs.languages)
            if due
            else None
        )
    action = turn.uow.add_action(
        Action(
            community_id=turn.community.id,
            number=0,
            kind=ActionKind.TASK,
            title=title,
            body=title,
            channel_id=turn.channel.id,
            creator=turn.member,
            created_at=turn.now,
            need=need,
            due_at=due_at,
            closes_at=signup.closes(turn, ready.closes_at if ready else None, due_at),
        )
    )
    turn.audit("task.created", action, title)
    shaping.set_roles(turn, action, shape.get("roles"))
    series.start(turn, action, shape.get("every"), shape.get("carry"), offsets)
    reminders.schedule_task(turn, action, offsets)
    signup.schedule_cut_off(turn, action, fresh=True)
    assert action.id is not None
    return [PostCard(action.id, turn.channel)]


def track_message(turn: Turn, message: MessageRef, read: MessageText) -> list[Effect]:
    """Track `message` as a task; when its text could not be read, ask for a title."""
    existing = turn.uow.action_by_message(turn.community.id, message.channel.id, message.id)
    if existing is not None:
        return [turn.reply(f"That message is already tracked as {label(existing)}.")]
    text = inputs.printable(read.text)
    first_line = inputs.first_line(text)
    if not first_line:
        raise CoopError("That message has no text to use as a title.")
    action = turn.uow.add_action(
        Action(
            community_id=turn.community.id,
            number=0,
            kind=ActionKind.TASK,
            title=first_line[: grammar.MAX_TITLE].rstrip(),
            body=text,
            channel_id=message.channel.id,
            creator=turn.member,
            created_at=turn.now,
            source_message_id=message.id,
            thread_id=message.thread_id or read.thread_id,
        )
    )
    turn.audit("task.tracked", action, message.id)
    assert action.id is not None
    where = MessageRef(message.channel, message.id, action.thread_id)
    effects: list[Effect] = [PostCard(action.id, message.channel, reply_to=where)]
    if not read.readable:
        effects.append(AskForTitle(turn.actor, where, action.number, action.title))
    return effects


def retitle(turn: Turn, message: MessageRef, title: str) -> list[Effect]:
    """Rename the task tracked from `message`; for tasks made from text the bot couldn't read."""
    action = turn.uow.action_by_message(turn.community.id, message.channel.id, message.id)
    if action is None:
        raise CoopError("That message isn't tracked as a task yet, so there's nothing to rename.")
    require_creator_or_admin(turn, action, "rename")
    require_open(action)
    if action.kind is ActionKind.PLEDGE and action.last_seq:
        raise CoopError(
            f"The wording of {label(action)} is locked: people have pledged to it as it reads "
            "now. Start a new drive if it has to say something else."
        )
    title = shaping.clean_title(title)
    old = action.title
    action.title = title
    turn.audit("task.retitled", action, f"{old} -> {title}")
    return [*refresh_card(turn, action), turn.reply(f"Renamed #{action.number} to “{title}”.")]


# --- commitments ---------------------------------------------------------------------------


def join(turn: Turn, action: Action, role: str | None = None) -> list[Effect]:
    """Join `action` (in `role`, on a task with roles)."""
    if action.kind is ActionKind.PLEDGE:
        if role is not None:
            raise CoopError(f"{label(action)} is a pledge drive: it has no roles to pick.")
        return drives.pledge(turn, action)
    require_open(action)
    current = turn.uow.commitment(action, turn.member)
    if handoff.awaits_confirm(current) and (role is None or role == (current and current.role)):
        return handoff.confirm_by_joining(turn, action)
    signup.require_signup_open(turn, action)
    if action.roles or role is not None:
        return shaping.join_role(turn, action, current, role)
    commitment = action.join(turn.member, current, turn.via, turn.now)
    if commitment is None:
        waiting = current is not None and current.status is CommitmentStatus.WAITLISTED
        where = "on the waitlist for" if waiting else "in on"
        return [turn.reply(f"You're already {where} {label(action)}.")]
    turn.uow.save_commitment(action, commitment)
    turn.audit(f"commitment.{commitment.status.value}", action)
    effects = refresh_card(turn, action)
    if commitment.status is CommitmentStatus.WAITLISTED:
        effects.append(
            turn.reply(
                f"{label(action)} is full, so you're number {action.waiting_count} on the "
                "waitlist. I'll message you if a spot opens."
            )
        )
    elif turn.via is Via.COMMAND:
        effects.append(turn.reply(f"You're in on {label(action)}."))
    return effects


def leave(turn: Turn, action: Action, quiet: bool = False) -> list[Effect]:
    if action.kind is ActionKind.PLEDGE:
        return drives.withdraw(turn, action, quiet)
    require_open(action)
    current = turn.uow.commitment(action, turn.member)
    if current is None or current.status is CommitmentStatus.WITHDRAWN:
        return [] if quiet else [turn.reply(f"You're not on {label(action)}.")]
    promoted = action.leave(current, turn.via, turn.now, partial(turn.uow.first_waiting, action))
    turn.uow.save_commitment(action, current)
    turn.audit("commitment.withdrawn", action)
    effects = refresh_card(turn, action) + handoff.moved_up(turn, action, promoted)
    if turn.via is Via.COMMAND:
        effects.append(turn.reply(f"You've left {label(action)}."))
    return effects


def mark_done(turn: Turn, action: Action, undo: bool = False) -> list[Effect]:
    if action.kind is ActionKind.PLEDGE:
        if undo:
            return []
        task = f" #{action.drive.task_number}" if action.drive and action.drive.task_number else ""
        raise CoopError(
            f"{label(action)} is a pledge drive: there's nothing to mark done on it. Once it "
            f"tips, mark your part done on its task{task}."
        )
    require_open(action)
    current = turn.uow.commitment(action, turn.member)
    want_from, want_to = (
        (CommitmentStatus.DONE, CommitmentStatus.COMMITTED)
        if undo
        else (CommitmentStatus.COMMITTED, CommitmentStatus.DONE)
    )
    if current is None or current.status is not want_from:
        if undo:
            return []
        if current is not None and current.status is CommitmentStatus.DONE:
            return [turn.reply(f"Your part of {label(action)} is already marked done.")]
        return [
            turn.reply(
                f"You're not committed to {label(action)}, so there's nothing to mark done. "
                f"Join with /coop join #{action.number}."
            )
        ]
    action.mark(current, want_to, turn.now)
    turn.uow.save_commitment(action, current)
    turn.audit(f"commitment.{want_to.value}", action)
    effects = refresh_card(turn, action)
    if turn.via is Via.COMMAND:
        effects.append(turn.reply(f"Marked your part of {label(action)} done. Thank you!"))
    return effects


def checked_in(turn: Turn, action: Action) -> list[Effect]:
    """ "It's done", the answer to "did it happen?": marks the person's part done."""
    require_open(action)
    current = turn.uow.commitment(action, turn.member)
    if current is not None and current.status is CommitmentStatus.DONE:
        return [turn.reply(f"Your part of {label(action)} is already marked done. Thanks!")]
    effects = mark_done(turn, action)
    if current is None or current.status is not CommitmentStatus.COMMITTED:
        return effects  # mark_done said why not
    return [*effects, turn.reply(f"Marked your part of {label(action)} done. Thank you!")]


def finish(turn: Turn, action: Action, state: ActionState) -> list[Effect]:
    """Close (complete) or cancel an action; only its creator or an admin may."""
    if action.kind is ActionKind.PLEDGE and state is ActionState.CLOSED:
        raise CoopError(
            f"{label(action)} is a pledge drive: it closes by tipping or at its deadline. "
            f"To stop it now, /coop cancel #{action.number}."
        )
    require_creator_or_admin(turn, action, "close" if state is ActionState.CLOSED else "cancel")
    require_open(action)
    action.state = state
    turn.uow.schedules.cancel_for_action(action.id or 0)
    turn.audit(f"task.{state.value}", action)
    effects = refresh_card(turn, action)
    if state is ActionState.CANCELLED:
        turn.uow.load_people([action])
        told = action.with_status(CommitmentStatus.COMMITTED, CommitmentStatus.WAITLISTED)
        effects += [
            DirectMessage(
                turn.member_ref(c.member),
                f"{label(action)} was cancelled by {turn.member.display_name}.",
            )
            for c in told
            if c.member.id != turn.member.id
        ]
    done = "complete" if state is ActionState.CLOSED else "cancelled"
    effects.append(turn.reply(f"{label(action)} is now {done}."))
    return effects


# --- queries -------------------------------------------------------------------------------


def _summary(action: Action, tz: str) -> str:
    if action.kind is ActionKind.PLEDGE and action.due_at is not None:
        return (
            f"#{action.number} {action.title} — pledge drive, {drives.summary(action)}, "
            f"closes {format_local(action.due_at, tz)}"
        )
    due = f", due {format_local(action.due_at, tz)}" if action.due_at else ""
    return f"#{action.number} {action.title} — {progress(action.in_count, action.need)}{due}"


def list_open(turn: Turn) -> list[Effect]:
    actions = turn.uow.open_actions(turn.community.id, turn.channel.id)
    turn.uow.load_people([a for a in actions if a.kind is ActionKind.PLEDGE])
    if not actions:
        return [turn.reply("No open actions in this channel. Start one with /coop task <title>.")]
    lines = ["Open actions here:"] + [_summary(a, turn.tz) for a in actions]
    return [turn.reply("\n".join(lines))]


def mine(turn: Turn) -> list[Effect]:
    found = turn.uow.open_actions_of(turn.member)
    if not found:
        return [turn.reply("You have no open commitments.")]
    turn.uow.load_people([a for a, _ in found if a.kind is ActionKind.PLEDGE])
    lines = ["Your open commitments:"]
    for a, c in found:
        waiting = " (waitlisted)" if c.status is CommitmentStatus.WAITLISTED else ""
        lines.append(_summary(a, turn.tz) + waiting)
    return [turn.reply("\n".join(lines))]


def show(turn: Turn, action: Action) -> list[Effect]:
    turn.uow.load_people([action])
    text = card_text(card_for(action, turn.now), turn.tz)
    return [PrivateReply(turn.actor, turn.channel, text, shows=action.id)]


def set_tz(turn: Turn, name: str) -> list[Effect]:
    name = zone_name(name)
    turn.uow.set_member_tz(turn.member, name)
    turn.audit("member.tz", detail=name)
    local = format_local(turn.now, name)
    return [turn.reply(f"Your time zone is now {name}. It's {local} there.")]


# --- event routing -------------------------------------------------------------------------


def run_command(turn: Turn, text: str, ready: Prepared | None = None) -> list[Effect]:
    cmd = ready.command if ready is not None and ready.command else grammar.parse(text)
    arg = cmd.positional
    options = {k: str(v) for k, v in cmd.options.items()}
    if cmd.name == "task":
        need = cmd.options.get("need")
        return create_task(
            turn,
            str(arg),
            int(need) if need is not None else None,
            options.get("due"),
            ready,
            options.get("remind"),
            options,
        )
    reading = reminders.Reading(
        ready.due_at if ready else None,
        ready.due_tz if ready else None,
        ready.person if ready else None,
        ready.channel if ready else None,
    )
    if cmd.name == "pledge":
        terms = drives.read_terms(
            turn,
            str(arg),
            cmd.options.get("goal"),
            ready.due_at if ready is not None else None,
            options.get("unit"),
            options.get("sealed"),
            ready.task_due_at if ready is not None else None,
        )
        return drives.start(turn, terms)
    if cmd.name == "extend":
        assert isinstance(arg, int)
        deadline = ready.due_at if ready is not None else None
        return drives.extend(turn, turn.action(arg), deadline)
    if cmd.name == "join" and ("amount" in options or "if" in options):
        assert isinstance(arg, int)
        action = turn.action(arg)
        if action.kind is not ActionKind.PLEDGE:
            raise CoopError(f"amount: and if: are for pledge drives; {label(action)} is a task.")
        amount = cmd.options.get("amount")
        return drives.pledge(
            turn,
            action,
            int(amount) if amount is not None else None,
            options.get("if"),
            ready.person if ready is not None else None,
        )
    if cmd.name == "join" and "role" in options and "for" not in options:
        assert isinstance(arg, int)
        return join(turn, turn.action(arg), options["role"])
    if cmd.name == "edit":
        assert isinstance(arg, int)
        return shaping.edit(turn, turn.action(arg), options, ready)
    if cmd.name == "handoff":
        return handoff.offer(turn, str(arg), ready.person if ready is not None else None)
    if cmd.name in ("join", "leave") and "for" in options:
        assert isinstance(arg, int)
        role = options.get("role")
        act: Callable[[Turn, Action], list[Effect]] = (
            (lambda t, a: join(t, a, role)) if cmd.name == "join" else leave
        )
        person = ready.person if ready is not None else None
        return signup.for_other(turn, turn.action(arg), cmd.name, act, options["for"], person)
    if cmd.name == "calendar":
        return calendar.calendar(turn, str(arg) if arg else None)
    if cmd.name == "remind":
        every, on = options.get("every"), options.get("on")
        return reminders.remind(turn, str(arg), options.get("when"), every, on, reading)
    if cmd.name == "reminders":
        return reminders.reminders(turn, str(arg) if arg else None)
    if cmd.name == "digest":
        return reminders.digest(turn, str(arg), options.get("at"), options.get("on"), reading)
    if cmd.name == "help":
        if arg:
            return [turn.reply(grammar.help_text(str(arg)))]
        p = turn.prefs
        reactions = (
            f"React {p.track_emoji} to a message to track it as a task, {p.commit_emoji} to "
            f"join (remove it to leave), {p.done_emoji} when your part is done."
        )
        return [turn.reply(grammar.help_text() + "\n" + reactions)]
    if cmd.name == "tz":
        return set_tz(turn, str(arg))
    if cmd.name == "list":
        return list_open(turn)
    if cmd.name == "mine":
        return mine(turn)
    by_id: dict[str, Callable[[Turn, Action], list[Effect]]] = {
        "join": join,
        "leave": leave,
        "done": mark_done,
        "close": lambda t, a: finish(t, a, ActionState.CLOSED),
        "cancel": lambda t, a: finish(t, a, ActionState.CANCELLED),
        "show": show,
        "maybe": signup.maybe,
        "stop": series.stop,
    }
    assert isinstance(arg, int)
    return by_id[cmd.name](turn, turn.action(arg))


def on_reaction(
    turn: Turn, event: ReactionAdded | ReactionRemoved, text: MessageText | None
) -> list[Effect]:
    emoji = canonical(event.emoji)
    added = isinstance(event, ReactionAdded)
    prefs = turn.prefs
    if emoji == prefs.track_emoji:
        if not added or text is None:
            return []
        return track_message(turn, event.message, text)
    message = event.message
    if emoji not in (prefs.commit_emoji, prefs.done_emoji):
        return _role_reaction(turn, event, emoji)
    action = turn.uow.action_by_message(turn.community.id, message.channel.id, message.id)
    if action is None:
        return []
    if emoji == prefs.commit_emoji:
        if action.drive is not None and action.drive.sealed:
            if not added:
                return []
            # A reaction shows everyone who made it: on a sealed drive it is not a pledge.
            sealed = (
                f"{label(action)} is sealed, so a reaction doesn't pledge: everyone can see "
                f"who reacted. Pledge with the card's Pledge button or /coop join "
                f"#{action.number}, and you may want to remove your reaction."
            )
            return [PrivateReply(turn.actor, turn.channel, sealed, about=action.id)]
        return join(turn, action) if added else leave(turn, action, quiet=True)
    return mark_done(turn, action, undo=not added)


def _role_reaction(turn: Turn, event: ReactionAdded | ReactionRemoved, emoji: str) -> list[Effect]:
    """A role's emoji on a task's card or tracked message joins that role; taken off, it
    leaves, if that is the role the person is in. Other emoji mean nothing."""
    message = event.message
    action = turn.uow.action_by_message(turn.community.id, message.channel.id, message.id)
    role = shaping.role_of_emoji(action, emoji) if action is not None else None
    if action is None or role is None:
        return []
    if isinstance(event, ReactionAdded):
        return join(turn, action, role.name)
    current = turn.uow.commitment(action, turn.member)
    if current is None or current.role != role.name:
        return []
    return leave(turn, action, quiet=True)


def on_button(turn: Turn, event: ButtonPressed) -> list[Effect]:
    # The number comes back from the platform as the button carried it; one no button of ours
    # carries (a forged or garbled id) would not fit the database's integers.
    if not 0 < event.number <= grammar.MAX_ID:
        raise CoopError("That button isn't one I know. Try /coop help.")
    if event.button in reminders.SNOOZES:
        return reminders.snooze(turn, event.number, event.button)
    if event.button == "checkin_done":
        return checked_in(turn, turn.action(event.number))
    if event.button == "checkin_not":
        return reminders.checkin_not_done(turn, turn.action(event.number))
    if event.button in ("pledge_did", "pledge_didnt"):
        return drives.checked_in(turn, turn.action(event.number), event.button == "pledge_did")
    if event.button in ("confirm", "confirm_no", "handoff_yes", "handoff_no"):
        return handoff.answer(turn, turn.action(event.number), event.button)
    action = turn.action(event.number)
    if event.button == "join" and event.choice:  # a role, picked on the card
        return join(turn, action, event.choice)
    handlers: dict[str, Callable[[Turn, Action], list[Effect]]] = {
        "join": join,
        "leave": leave,
        "done": mark_done,
        "maybe": signup.maybe,
    }
    handler = handlers.get(event.button)
    if handler is None:
        raise CoopError("That button isn't one I know. Try /coop help.")
    return handler(turn, action)


def via_of(event: Event) -> Via:
    if isinstance(event, CommandInvoked):
        return Via.COMMAND
    if isinstance(event, ButtonPressed | TitleGiven | EditRequested):
        return Via.BUTTON
    if isinstance(event, MessageTracked | DriveRequested):
        return Via.SHORTCUT
    return Via.REACTION


@dataclass(frozen=True)
class Prepared:
    """What can be worked out about an event before it is applied, outside the section that
    takes events one at a time: its command parsed, its due time read (in `due_tz`), and the
    text of the message a track reaction is on."""

    command: grammar.ParsedCommand | None = None
    due_at: datetime | None = None  # the command's time: due:, a reminder's when:, at:
    due_tz: str | None = None
    text: MessageText | None = None
    person: MemberRef | None = None  # whom a reminder is for, as the platform knows them
    channel: ChannelRef | None = None  # or where
    task_due_at: datetime | None = None  # a pledge drive's due: (its deadline is `due_at`)
    closes_at: datetime | None = None  # a task's closes: (sign-up cut-off), as read


_TIMES = {
    "task": "due",
    "edit": "due",
    "remind": "when",
    "digest": "at",
    "pledge": "deadline",
    "extend": "deadline",
}


def to_find(event: Event) -> tuple[str | None, str | None]:
    """Whom (a person's id) or where (a channel's id or name) a `/coop remind` is for, to
    look up on the platform before the turn."""
    # Parsed again when prepared: look only at reminders and conditional pledges.
    if not isinstance(event, CommandInvoked):
        return None, None
    start = event.text.lstrip()[:6].lower()
    if start.startswith("join") and "if:" in event.text:
        try:
            cmd = grammar.parse(event.text)
        except CoopError:
            return None, None
        return drives.condition_person(str(cmd.options.get("if") or "") or None), None
    if start.startswith(("join", "leave", "handof")):
        if "for:" not in event.text and not start.startswith("handof"):
            return None, None
        try:
            return signup.to_find(grammar.parse(event.text)), None
        except CoopError:
            return None, None  # said when the command is prepared
    if start != "remind":
        return None, None
    try:
        cmd = grammar.parse(event.text)
        if cmd.name != "remind" or not cmd.positional:
            return None, None
        return reminders.to_find(reminders.split_what(str(cmd.positional))[0])
    except CoopError:
        return None, None  # said when the command is prepared


def prepare(
    event: Event,
    stored_tz: Callable[[str], str | None],
    prefs: Preferences,
    now: datetime,
    person: MemberRef | None = None,
) -> Prepared:
    """Parse `event` ahead of applying it; raises CoopError as applying would.

    `stored_tz` reads a person's zone as saved with /coop tz (the actor's, or that of the
    `person` a reminder is for, in whose zone its time is read); it is asked only when a
    time has to be read.
    """
    if isinstance(event, DriveRequested):
        example = "friday 5pm"
        limit = grammar.SUBCOMMANDS["pledge"].option("deadline").limit
        deadline = inputs.field("The deadline", event.deadline, limit, example)
        if not deadline:
            return Prepared()
        tz = stored_tz(event.actor.id) or known(event.actor.tz) or prefs.default_tz
        return Prepared(
            due_at=parse_when(deadline, tz, now, prefs.horizon, prefs.languages), due_tz=tz
        )
    if isinstance(event, EditRequested):
        return _prepare_edit(event, stored_tz, prefs, now)
    if not isinstance(event, CommandInvoked):
        return Prepared()
    cmd = grammar.parse(event.text)
    option = _TIMES.get(cmd.name)
    when = cmd.options.get(option) if option else None
    if when is not None and str(when).strip().lower() in shaping.NONE_WORDS:
        when = None
    closes = cmd.options.get("closes") if cmd.name in ("task", "edit") else None
    if closes is not None and str(closes).strip().lower() in shaping.NONE_WORDS:
        closes = None
    if closes and not when:
        tz = stored_tz(event.actor.id) or known(event.actor.tz) or prefs.default_tz
        at = parse_when(str(closes), tz, now, prefs.horizon, prefs.languages)
        return Prepared(cmd, person=person, due_tz=tz, closes_at=at)
    if cmd.name == "digest" and not when and reminders.digest_wanted(cmd.positional):
        when = reminders.DIGEST_AT
    if not when:
        return Prepared(cmd, person=person)
    if person is not None:
        tz = stored_tz(person.id) or known(person.tz) or prefs.default_tz
    else:
        tz = stored_tz(event.actor.id) or known(event.actor.tz) or prefs.default_tz
    task_due = cmd.options.get("due") if cmd.name == "pledge" else None
    return Prepared(
        cmd,
        parse_when(str(when), tz, now, prefs.horizon, prefs.languages),
        tz,
        person=person,
        task_due_at=parse_when(str(task_due), tz, now, prefs.horizon, prefs.languages)
        if task_due
        else None,
        closes_at=parse_when(str(closes), tz, now, prefs.horizon, prefs.languages)
        if closes
        else None,
    )


def _prepare_edit(
    event: EditRequested, stored_tz: Callable[[str], str | None], prefs: Preferences, now: datetime
) -> Prepared:
    """The Edit form's due and closes, read in the actor's zone (blank or none: not read)."""
    times: dict[str, datetime | None] = {}
    tz = stored_tz(event.actor.id) or known(event.actor.tz) or prefs.default_tz
    for name, typed in (("due", event.due), ("closes", event.closes)):
        limit = grammar.SUBCOMMANDS["edit"].option(name).limit
        text = inputs.field(f"The {name} time", typed or "", limit, "friday 5pm")
        if text and text.lower() not in shaping.NONE_WORDS:
            times[name] = parse_when(text, tz, now, prefs.horizon, prefs.languages)
    return Prepared(due_at=times.get("due"), due_tz=tz, closes_at=times.get("closes"))


def apply(turn: Turn, event: Event, ready: Prepared) -> list[Effect]:
    """Route one event to its use case, with what `prepare` worked out for it."""
    text = ready.text
    if isinstance(event, CommandInvoked):
        return run_command(turn, event.text, ready)
    if isinstance(event, ButtonPressed):
        return on_button(turn, event)
    if isinstance(event, MessageTracked):
        return track_message(turn, event.message, MessageText(event.text))
    if isinstance(event, TitleGiven):
        return retitle(turn, event.message, event.title)
    if isinstance(event, DriveRequested):
        return drive_from_message(turn, event, ready)
    if isinstance(event, EditRequested):
        return shaping.edit_form(turn, event, ready)
    return on_reaction(turn, event, text)


def drive_from_message(turn: Turn, event: DriveRequested, ready: Prepared) -> list[Effect]:
    """A message turned into a drive, with what the form said."""

    def terms(title: str, body: str) -> drives.Terms:
        goal = event.goal.strip() or None
        unit = event.unit or None
        return drives.read_terms(turn, title, goal, ready.due_at, unit, event.sealed, None, body)

    return drives.from_message(turn, event.message, event.text, terms)
