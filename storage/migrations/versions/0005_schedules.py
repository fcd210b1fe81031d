"""schedules and their occurrences: reminders, due times, nudges and digests

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("community") as batch:
        batch.add_column(
            sa.Column("next_reminder", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("platform_tz", sa.String(64), nullable=True))
    with op.batch_alter_table("action") as batch:
        batch.add_column(sa.Column("overdue", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "schedule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("target", sa.String(12), nullable=True),
        sa.Column("creator_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("to_member_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("action.id"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(120), nullable=True),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=True),
        sa.Column("last_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("snooze_of", sa.Integer(), nullable=True),
        sa.UniqueConstraint("community_id", "number"),
        sa.UniqueConstraint("snooze_of", "to_member_id"),
    )
    op.create_index("ix_schedule_due", "schedule", ["state", "next_at"])
    op.create_index("ix_schedule_creator", "schedule", ["creator_id", "state"])
    op.create_index("ix_schedule_to", "schedule", ["to_member_id", "state"])
    op.create_index("ix_schedule_action", "schedule", ["action_id", "state"])
    op.create_index(
        "ix_schedule_channel", "schedule", ["community_id", "channel_id", "kind", "state"]
    )
    op.create_table(
        "occurrence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("schedule_id", sa.Integer(), sa.ForeignKey("schedule.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("late_seconds", sa.Integer(), nullable=False),
        sa.Column("fired_by", sa.String(80), nullable=False),
        sa.UniqueConstraint("schedule_id", "at"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("occurrence_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_outbox_occurrence", "occurrence", ["occurrence_id"], ["id"])
    op.create_index("ix_outbox_occurrence_id", "outbox", ["occurrence_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_occurrence_id", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("fk_outbox_occurrence", type_="foreignkey")
        batch.drop_column("occurrence_id")
    op.drop_table("occurrence")
    for name in ("channel", "action", "to", "creator", "due"):
        op.drop_index(f"ix_schedule_{name}", table_name="schedule")
    op.drop_table("schedule")
    with op.batch_alter_table("action") as batch:
        batch.drop_column("overdue")
    with op.batch_alter_table("member") as batch:
        batch.drop_column("platform_tz")
    with op.batch_alter_table("community") as batch:
        batch.drop_column("next_reminder")
