"""What every use case is given: the transaction, the actor, the moment and the operator's
preferences; and the checks and wording they share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cards import Effect, PrivateReply, UpdateCard
from bot.emoji_names import canonical
from bot.errors import CoopError
from bot.model import Action, ActionState, Community, Member, Via
from bot.ports import AuditEntry, UnitOfWork
from bot.refs import ChannelRef, CommunityRef, MemberRef
from bot.timeparse import HORIZON, LANGUAGES, known


@dataclass(frozen=True)
class Preferences:
    """Operator choices the use cases need; emoji are kept in canonical form."""

    track_emoji: str = canonical("pushpin")
    commit_emoji: str = canonical("raised_hand")
    done_emoji: str = canonical("white_check_mark")
    default_tz: str = "UTC"
    # Reminders: before a task is due, to who is in (per task with remind:).
    task_offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    # A task still short of people this long before it is due gets one nudge (None: never).
    short_before: timedelta | None = timedelta(hours=24)
    # This long after a task is due, who is in and not done is asked "did it happen?".
    checkin_after: timedelta | None = timedelta(hours=2)
    # This long after a tipped drive's task is due (or it tipped): "did you do it?".
    drive_checkin_after: timedelta | None = timedelta(days=3)
    # After downtime, an occurrence up to this late is sent (marked late); older ones missed.
    grace: timedelta = timedelta(hours=24)
    max_reminders: int = 25  # active reminders one person may have made
    horizon: timedelta = HORIZON  # times further ahead are refused
    languages: tuple[str, ...] = LANGUAGES  # that times are read in
    # Where calendar feeds are served, "https://coop.example.org" (None: no HTTP listener).
    calendar_url: str | None = None
    # This long before a task is due, while places are still open, its maybes are asked once
    # whether they're in (None: never).
    maybe_ask_before: timedelta | None = timedelta(hours=12)
    # Someone promoted off a waitlist this close to the due time (None: never) holds the
    # place only if they confirm within `confirm_within`; the same limit lapses a hand-off.
    confirm_window: timedelta | None = timedelta(hours=24)
    confirm_within: timedelta = timedelta(hours=2)


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
    # An admin acting for `member` (`for:@ana`): the audit names them, with `member` in it.
    by: Member | None = None

    @property
    def tz(self) -> str:
        return self.member.tz or known(self.actor.tz) or self.prefs.default_tz

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
        if actor is None and self.by is not None:
            actor = self.by
            detail = f"for {self.member.external_id}" + (f": {detail}" if detail else "")
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
        return member_ref(self.actor.community, member)


def member_ref(community: CommunityRef, member: Member) -> MemberRef:
    return MemberRef(community, member.external_id, member.display_name)


def label(action: Action) -> str:
    return f"#{action.number} “{action.title}”"


def refresh_card(turn: Turn, action: Action) -> list[Effect]:
    """Save `action` and have its card redrawn (after the card's post, if that is on its way)."""
    turn.uow.save_action(action)
    assert action.id is not None
    return [UpdateCard(action.id, ChannelRef(turn.actor.community, action.channel_id))]


def require_creator_or_admin(turn: Turn, action: Action, verb: str) -> None:
    if action.creator.id != turn.member.id and not turn.actor.is_admin:
        raise CoopError(
            f"Only {action.creator.display_name} (who created {label(action)}) or a community "
            f"admin can {verb} it."
        )


def require_open(action: Action) -> None:
    if action.state is not ActionState.OPEN:
        raise CoopError(f"{label(action)} is {action.state.value}; it no longer takes changes.")
