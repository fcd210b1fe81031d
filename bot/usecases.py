"""One function per use case: take an event in a transaction, return what to say."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot import grammar
from bot.cards import (
    AskForTitle,
    DirectMessage,
    Effect,
    PostCard,
    PrivateReply,
    UpdateCard,
    card_for,
    progress,
)
from bot.emoji_names import canonical
from bot.errors import CoopError
from bot.events import (
    ButtonPressed,
    CommandInvoked,
    Event,
    MessageTracked,
    ReactionAdded,
    ReactionRemoved,
    TitleGiven,
)
from bot.model import Action, ActionKind, ActionState, CommitmentStatus, Community, Member, Via
from bot.ports import AuditEntry, MessageText, UnitOfWork
from bot.refs import ChannelRef, MemberRef, MessageRef
from bot.render import card_text
from bot.timeparse import format_local, parse_when, zone


@dataclass(frozen=True)
class Preferences:
    """Operator choices the use cases need; emoji are kept in canonical form."""

    track_emoji: str = canonical("pushpin")
    commit_emoji: str = canonical("raised_hand")
    done_emoji: str = canonical("white_check_mark")
    default_tz: str = "UTC"


@dataclass
class Turn:
    """Everything one use case needs: the transaction, the actor and the moment."""

    uow: UnitOfWork
    prefs: Preferences
    now: datetime
    actor: MemberRef
    channel: ChannelRef
    community: Community
    member: Member
    via: Via

    @property
    def tz(self) -> str:
        return self.member.tz or self.actor.tz or self.prefs.default_tz

    def audit(
        self,
        kind: str,
        action: Action | None = None,
        detail: str = "",
        *,
        actor: Member | None = None,
        via: Via | None = None,
    ) -> None:
        """Append to the audit log; by default the actor did it, the way this turn came in."""
        self.uow.audit(
            AuditEntry(
                community_id=self.community.id,
                kind=kind,
                via=via or self.via,
                at=self.now,
                actor_id=(actor or self.member).id,
                action_id=action.id if action else None,
                detail=detail,
            )
        )

    def reply(self, text: str) -> PrivateReply:
        return PrivateReply(self.actor, self.channel, text)

    def action(self, number: int) -> Action:
        action = self.uow.get_action(self.community.id, number)
        if action is None:
            raise CoopError(f"There's no action #{number} here. /coop list shows the open ones.")
        return action

    def member_ref(self, member: Member) -> MemberRef:
        return MemberRef(self.actor.community, member.external_id, member.display_name)


def label(action: Action) -> str:
    return f"#{action.number} “{action.title}”"


def refresh_card(turn: Turn, action: Action) -> list[Effect]:
    """Save `action` and have its card redrawn (after the card's post, if that is on its way)."""
    turn.uow.save_action(action)
    assert action.id is not None
    return [UpdateCard(action.id, ChannelRef(turn.actor.community, action.channel_id))]


def _require_creator_or_admin(turn: Turn, action: Action, verb: str) -> None:
    if action.creator.id != turn.member.id and not turn.actor.is_admin:
        raise CoopError(
            f"Only {action.creator.display_name} (who created {label(action)}) or a community "
            f"admin can {verb} it."
        )


def _require_open(action: Action) -> None:
    if action.state is not ActionState.OPEN:
        raise CoopError(f"{label(action)} is {action.state.value}; it no longer takes changes.")


# --- tasks ---------------------------------------------------------------------------------


def create_task(
    turn: Turn, title: str, need: int | None, due: str | None, ready: Prepared | None = None
) -> list[Effect]:
    if ready is not None and ready.due_tz == turn.tz:
        due_at = ready.due_at
    else:
        # Read in another zone than the one it was prepared for (a /coop tz just before).
        due_at = parse_when(due, turn.tz, turn.now) if due else None
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
        )
    )
    turn.audit("task.created", action, title)
    assert action.id is not None
    return [PostCard(action.id, turn.channel)]


def track_message(turn: Turn, message: MessageRef, read: MessageText) -> list[Effect]:
    """Track `message` as a task; when its text could not be read, ask for a title."""
    existing = turn.uow.action_by_message(turn.community.id, message.channel.id, message.id)
    if existing is not None:
        return [turn.reply(f"That message is already tracked as {label(existing)}.")]
    text = read.text
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise CoopError("That message has no text to use as a title.")
    action = turn.uow.add_action(
        Action(
            community_id=turn.community.id,
            number=0,
            kind=ActionKind.TASK,
            title=first_line[: grammar.MAX_TITLE],
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
    _require_creator_or_admin(turn, action, "rename")
    _require_open(action)
    title = " ".join(title.split())
    if not title:
        raise CoopError("A title needs some text.")
    if len(title) > grammar.MAX_TITLE:
        raise CoopError(f"Titles can be at most {grammar.MAX_TITLE} characters.")
    old = action.title
    action.title = title
    turn.audit("task.retitled", action, f"{old} -> {title}")
    return [*refresh_card(turn, action), turn.reply(f"Renamed #{action.number} to “{title}”.")]


# --- commitments ---------------------------------------------------------------------------


def join(turn: Turn, action: Action) -> list[Effect]:
    _require_open(action)
    current = turn.uow.commitment(action, turn.member)
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
    _require_open(action)
    current = turn.uow.commitment(action, turn.member)
    if current is None or current.status is CommitmentStatus.WITHDRAWN:
        return [] if quiet else [turn.reply(f"You're not on {label(action)}.")]
    promoted = action.leave(current, turn.via, turn.now, lambda: turn.uow.first_waiting(action))
    turn.uow.save_commitment(action, current)
    turn.audit("commitment.withdrawn", action)
    if promoted is not None:
        turn.uow.save_commitment(action, promoted)
    effects = refresh_card(turn, action)
    if promoted is not None:
        turn.audit("commitment.promoted", action, actor=promoted.member, via=Via.SYSTEM)
        effects.append(
            DirectMessage(
                turn.member_ref(promoted.member),
                f"Good news: a spot opened on {label(action)} and you're in now.",
            )
        )
    if turn.via is Via.COMMAND:
        effects.append(turn.reply(f"You've left {label(action)}."))
    return effects


def mark_done(turn: Turn, action: Action, undo: bool = False) -> list[Effect]:
    _require_open(action)
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


def finish(turn: Turn, action: Action, state: ActionState) -> list[Effect]:
    """Close (complete) or cancel an action; only its creator or an admin may."""
    _require_creator_or_admin(turn, action, "close" if state is ActionState.CLOSED else "cancel")
    _require_open(action)
    action.state = state
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
    due = f", due {format_local(action.due_at, tz)}" if action.due_at else ""
    return f"#{action.number} {action.title} — {progress(action.in_count, action.need)}{due}"


def list_open(turn: Turn) -> list[Effect]:
    actions = turn.uow.open_actions(turn.community.id, turn.channel.id)
    if not actions:
        return [turn.reply("No open actions in this channel. Start one with /coop task <title>.")]
    lines = ["Open actions here:"] + [_summary(a, turn.tz) for a in actions]
    return [turn.reply("\n".join(lines))]


def mine(turn: Turn) -> list[Effect]:
    found = turn.uow.open_actions_of(turn.member)
    if not found:
        return [turn.reply("You have no open commitments.")]
    lines = ["Your open commitments:"]
    for a, c in found:
        waiting = " (waitlisted)" if c.status is CommitmentStatus.WAITLISTED else ""
        lines.append(_summary(a, turn.tz) + waiting)
    return [turn.reply("\n".join(lines))]


def show(turn: Turn, action: Action) -> list[Effect]:
    turn.uow.load_people([action])
    return [turn.reply(card_text(card_for(action), turn.tz))]


def set_tz(turn: Turn, name: str) -> list[Effect]:
    zone(name)
    turn.uow.set_member_tz(turn.member, name)
    turn.audit("member.tz", detail=name)
    local = format_local(turn.now, name)
    return [turn.reply(f"Your time zone is now {name}. It's {local} there.")]


# --- event routing -------------------------------------------------------------------------


def run_command(turn: Turn, text: str, ready: Prepared | None = None) -> list[Effect]:
    cmd = ready.command if ready is not None and ready.command else grammar.parse(text)
    arg = cmd.positional
    if cmd.name == "task":
        need = cmd.options.get("need")
        due = cmd.options.get("due")
        return create_task(
            turn,
            str(arg),
            int(need) if need is not None else None,
            str(due) if due else None,
            ready,
        )
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
    if emoji not in (prefs.commit_emoji, prefs.done_emoji):
        return []
    message = event.message
    action = turn.uow.action_by_message(turn.community.id, message.channel.id, message.id)
    if action is None:
        return []
    if emoji == prefs.commit_emoji:
        return join(turn, action) if added else leave(turn, action, quiet=True)
    return mark_done(turn, action, undo=not added)


def on_button(turn: Turn, event: ButtonPressed) -> list[Effect]:
    action = turn.action(event.number)
    handlers: dict[str, Callable[[Turn, Action], list[Effect]]] = {
        "join": join,
        "leave": leave,
        "done": mark_done,
    }
    handler = handlers.get(event.button)
    if handler is None:
        raise CoopError("That button isn't one I know. Try /coop help.")
    return handler(turn, action)


def via_of(event: Event) -> Via:
    if isinstance(event, CommandInvoked):
        return Via.COMMAND
    if isinstance(event, ButtonPressed | TitleGiven):
        return Via.BUTTON
    if isinstance(event, MessageTracked):
        return Via.SHORTCUT
    return Via.REACTION


@dataclass(frozen=True)
class Prepared:
    """What can be worked out about an event before it is applied, outside the section that
    takes events one at a time: its command parsed, its due time read (in `due_tz`), and the
    text of the message a track reaction is on."""

    command: grammar.ParsedCommand | None = None
    due_at: datetime | None = None
    due_tz: str | None = None
    text: MessageText | None = None


def prepare(
    event: Event, stored_tz: Callable[[], str | None], prefs: Preferences, now: datetime
) -> Prepared:
    """Parse `event` ahead of applying it; raises CoopError as applying would.

    `stored_tz` reads the actor's zone as saved with /coop tz; it is asked only when a time
    has to be read.
    """
    if not isinstance(event, CommandInvoked):
        return Prepared()
    cmd = grammar.parse(event.text)
    due = cmd.options.get("due") if cmd.name == "task" else None
    if not due:
        return Prepared(cmd)
    tz = stored_tz() or event.actor.tz or prefs.default_tz
    return Prepared(cmd, parse_when(str(due), tz, now), tz)


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
    return on_reaction(turn, event, text)
