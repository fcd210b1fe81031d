"""The database schema, as SQLModel tables."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC on every backend and always gives back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def _time(nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable)


class CommunityRow(SQLModel, table=True):
    """A Slack workspace, a Discord guild or the console; numbers actions from `next_number`."""

    __tablename__ = "community"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=200)
    next_number: int = 1
    # People's reminders are numbered R1, R2, ... in each community.
    next_reminder: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class MemberRow(SQLModel, table=True):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("community_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    external_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)
    tz: str | None = Field(default=None, max_length=64)
    # The zone the platform last reported (Slack's users.info); /coop tz (`tz`) wins.
    platform_tz: str | None = Field(default=None, max_length=64)


class ActionRow(SQLModel, table=True):
    """A task now; pledge drives and reminders will be further kinds."""

    __tablename__ = "action"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        # Slack's ts is unique only within a channel: messages are (channel, id) pairs.
        Index("ix_action_source", "community_id", "channel_id", "source_message_id"),
        Index("ix_action_card", "community_id", "channel_id", "card_message_id"),
        # `list`: a channel's open actions, by number, straight off the index.
        Index("ix_action_channel_state", "community_id", "channel_id", "state", "number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    number: int
    kind: str = Field(max_length=16)
    title: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    channel_id: str = Field(max_length=64)
    creator_id: int = Field(foreign_key="member.id")
    state: str = Field(max_length=16)
    need: int | None = None
    due_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    created_at: datetime = Field(sa_column=_time())
    source_message_id: str | None = Field(default=None, max_length=64)
    card_message_id: str | None = Field(default=None, max_length=64)
    # A digest of what the card's message shows now, so an edit with nothing new is skipped.
    card_digest: str | None = Field(default=None, max_length=64)
    thread_id: str | None = Field(default=None, max_length=64)
    # Kept with each change so a join never counts the commitments (see bot.model.Action).
    in_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    waiting_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    overdue: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # Pledge drives (kind "pledge"); due_at is when sign-up closes.
    goal: int | None = None
    unit: str | None = Field(default=None, max_length=40)
    sealed: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    task_due_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    extended: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    tipped_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    task_number: int | None = None
    # Shaped tasks: joining is refused after `closes_at`; maybes are counted apart; an
    # occurrence of a recurring task belongs to its series.
    closes_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    maybe_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    series_id: int | None = Field(default=None, foreign_key="series.id", index=True)


class CommitmentRow(SQLModel, table=True):
    __tablename__ = "commitment"
    __table_args__ = (
        UniqueConstraint("action_id", "member_id"),
        # Who has waited longest (for a role, or the whole task), read straight off the index.
        Index("ix_commitment_waiting", "action_id", "role", "status", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    status: str = Field(max_length=16)
    via: str = Field(max_length=16)
    seq: int
    at: datetime = Field(sa_column=_time())
    # A pledge: its amount and condition (at least if_others others; if_needs: member ids).
    amount: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    if_others: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    if_needs: str = Field(default="", max_length=400, sa_column_kwargs={"server_default": ""})
    checkin: str | None = Field(default=None, max_length=8)
    role: str | None = Field(default=None, max_length=40)  # on a task with roles
    # Promoted close to the due time: the place is theirs only if they confirm by then.
    confirm_by: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class RoleRow(SQLModel, table=True):
    """A role of a task (`driver:2`): its own count and waitlist, kept like the task's."""

    __tablename__ = "action_role"
    __table_args__ = (UniqueConstraint("action_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    position: int
    name: str = Field(max_length=40)
    need: int | None = None
    emoji: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    in_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    waiting_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class SeriesRow(SQLModel, table=True):
    """A recurring task: each occurrence is its own action; the latest is the template."""

    __tablename__ = "series"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    channel_id: str = Field(max_length=64)
    creator_id: int = Field(foreign_key="member.id")
    rule: str = Field(max_length=120)
    tz: str = Field(max_length=64)
    carry: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    state: str = Field(max_length=12)
    created_at: datetime = Field(sa_column=_time())
    stopped_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    # Its reminders before each due time, as seconds "86400,3600"; None: the defaults.
    remind: str | None = Field(default=None, max_length=60)


class CalendarFeedRow(SQLModel, table=True):
    """A private calendar URL: a person's commitments, or a channel's tasks. Only a hash of
    the URL's token is kept; a reset revokes the row and makes a new one."""

    __tablename__ = "calendar_feed"
    __table_args__ = (Index("ix_calendar_feed_owner", "community_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    member_id: int | None = Field(default=None, foreign_key="member.id")
    channel_id: str | None = Field(default=None, max_length=64)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=_time())
    revoked_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))


class InboxRow(SQLModel, table=True):
    """Every inbound event, recorded before it is acknowledged and applied exactly once.

    `key` (platform, community and the platform's event id) makes a retried delivery a no-op.
    While `applying`, `owner` holds it until `lease_until`; after that anyone may.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_state_lease", "state", "lease_until"),
        Index("ix_inbox_received", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    platform: str = Field(max_length=16)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=12)
    owner: str | None = Field(default=None, max_length=80)
    attempts: int = 1
    lease_until: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    received_at: datetime = Field(sa_column=_time())
    applied_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


_ACTIVE = text("state IN ('pending', 'sending')")


class OutboxRow(SQLModel, table=True):
    """Every message the bot sends, written in the transaction of the change behind it.

    Rows of one `lane` go out in `id` order. `coalesce_key` is set only while a card edit is
    pending, so a card has at most one edit waiting. `message_id` is the platform's id.
    `claims` numbers each claim, for fencing; `attempts` counts sends tried (a wait for
    pacing is no attempt; a send cut off by a crash is one).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # Finding the head of each lane looks only at rows still to deliver.
        Index(
            "ix_outbox_active_lane", "lane", "id", sqlite_where=_ACTIVE, postgresql_where=_ACTIVE
        ),
        Index("ix_outbox_due", "platform", "state", "not_before"),
        Index("ix_outbox_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    community: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    lane: str = Field(max_length=200)
    target: str = Field(max_length=64)
    action_id: int | None = Field(default=None, foreign_key="action.id")
    payload: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(max_length=12)
    # Claims fence writes (each claim is a new number); attempts count sends tried.
    claims: int = 0
    attempts: int = 0
    maybe_sent: bool = False
    owner: str | None = Field(default=None, max_length=80)
    lease_until: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    not_before: datetime = Field(sa_column=_time())
    created_at: datetime = Field(sa_column=_time())
    first_attempt_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    message_id: str | None = Field(default=None, max_length=64)
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    coalesce_key: str | None = Field(default=None, max_length=120, unique=True)
    # The reminder occurrence this row delivers, for the export's audit of what went out.
    occurrence_id: int | None = Field(default=None, foreign_key="occurrence.id", index=True)


class ScheduleRow(SQLModel, table=True):
    """Something that happens at a time: a reminder, a task's reminders, due time and nudges,
    a digest. `next_at` is its next occurrence (None once it is over); `rule` makes it recur
    (bot.recurrence), in `tz`. The rows are the truth; the alarm clock only wakes the bot.
    """

    __tablename__ = "schedule"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        # One snooze per person per occurrence, however often the button is pressed.
        UniqueConstraint("snooze_of", "to_member_id"),
        Index("ix_schedule_due", "state", "next_at"),
        Index("ix_schedule_creator", "creator_id", "state"),
        Index("ix_schedule_to", "to_member_id", "state"),
        Index("ix_schedule_action", "action_id", "state"),
        Index("ix_schedule_channel", "community_id", "channel_id", "kind", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    number: int | None = None
    kind: str = Field(max_length=16)
    state: str = Field(max_length=12)
    target: str | None = Field(default=None, max_length=12)
    creator_id: int | None = Field(default=None, foreign_key="member.id")
    to_member_id: int | None = Field(default=None, foreign_key="member.id")
    channel_id: str | None = Field(default=None, max_length=64)
    action_id: int | None = Field(default=None, foreign_key="action.id")
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    rule: str | None = Field(default=None, max_length=120)
    tz: str = Field(max_length=64)
    next_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    last_at: datetime | None = Field(default=None, sa_column=_time(nullable=True))
    created_at: datetime = Field(sa_column=_time())
    snooze_of: int | None = None


class OccurrenceRow(SQLModel, table=True):
    """One occurrence of a schedule, written once: two processes cannot both create it."""

    __tablename__ = "occurrence"
    __table_args__ = (UniqueConstraint("schedule_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: int = Field(foreign_key="schedule.id")
    at: datetime = Field(sa_column=_time())
    fired_at: datetime = Field(sa_column=_time())
    state: str = Field(max_length=12)
    late_seconds: int = 0
    fired_by: str = Field(default="", max_length=80)  # the process that fired it


class AuditRow(SQLModel, table=True):
    """Append-only: every state change, who made it, when and how."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    action_id: int | None = Field(default=None, foreign_key="action.id")
    actor_id: int | None = Field(default=None, foreign_key="member.id")
    kind: str = Field(max_length=40)
    via: str = Field(max_length=16)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    at: datetime = Field(sa_column=_time())


# Workspaces that installed the Slack app through OAuth, and OAuth states in flight; used by
# adapters/slack only when it serves many workspaces.
slack_bots = Table(
    "slack_bot_installations",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(32), nullable=False),
    Column("app_id", String(32)),
    Column("enterprise_id", String(32)),
    Column("enterprise_name", String(200)),
    Column("team_id", String(32)),
    Column("team_name", String(200)),
    # Encrypted: a Fernet token, 164 characters for the usual 57-character bot token.
    Column("bot_token", Text, nullable=False),
    Column("bot_id", String(32)),
    Column("bot_user_id", String(32)),
    Column("bot_scopes", String(1000)),
    Column("is_enterprise_install", Boolean, nullable=False, default=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bot_installations_lookup", "client_id", "enterprise_id", "team_id"),
)

slack_oauth_states = Table(
    "slack_oauth_state",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False, unique=True),
    Column("expire_at", DateTime, nullable=False),
)
