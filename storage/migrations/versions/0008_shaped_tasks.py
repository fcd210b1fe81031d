"""shaped tasks: roles, maybes, sign-up cut-offs, hand-off confirms, series and calendar feeds

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("creator_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=False),
        sa.Column("rule", sa.String(120), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("carry", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        # Its reminders before each due time, as seconds "86400,3600"; NULL: the defaults.
        sa.Column("remind", sa.String(60), nullable=True),
    )
    with op.batch_alter_table("action") as batch:
        batch.add_column(sa.Column("closes_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("maybe_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("series_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_action_series", "series", ["series_id"], ["id"])
        batch.create_index("ix_action_series_id", ["series_id"])
    with op.batch_alter_table("commitment") as batch:
        batch.add_column(sa.Column("role", sa.String(40), nullable=True))
        batch.add_column(sa.Column("confirm_by", UTCDateTime(), nullable=True))
        batch.drop_index("ix_commitment_waiting")
        batch.create_index("ix_commitment_waiting", ["action_id", "role", "status", "seq"])
    op.create_table(
        "action_role",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action_id", sa.Integer(), sa.ForeignKey("action.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("need", sa.Integer(), nullable=True),
        sa.Column("emoji", sa.String(64), nullable=False, server_default=""),
        sa.Column("in_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("waiting_count", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("action_id", "name"),
    )
    op.create_index("ix_action_role_action_id", "action_role", ["action_id"])
    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("community_id", sa.Integer(), sa.ForeignKey("community.id"), nullable=False),
        sa.Column("member_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_calendar_feed_owner", "calendar_feed", ["community_id", "member_id"])


def downgrade() -> None:
    op.drop_index("ix_calendar_feed_owner", "calendar_feed")
    op.drop_table("calendar_feed")
    op.drop_index("ix_action_role_action_id", "action_role")
    op.drop_table("action_role")
    with op.batch_alter_table("commitment") as batch:
        batch.drop_index("ix_commitment_waiting")
        batch.create_index("ix_commitment_waiting", ["action_id", "status", "seq"])
        batch.drop_column("confirm_by")
        batch.drop_column("role")
    with op.batch_alter_table("action") as batch:
        batch.drop_index("ix_action_series_id")
        batch.drop_constraint("fk_action_series", type_="foreignkey")
        for name in ("series_id", "maybe_count", "closes_at"):
            batch.drop_column(name)
    op.drop_table("series")
