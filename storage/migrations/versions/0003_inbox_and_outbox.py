"""inbox and outbox; messages identified by channel and id

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = sa.text("state IN ('pending', 'sending')")


def upgrade() -> None:
    time = storage.tables.UTCDateTime
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", time(), nullable=True),
        sa.Column("received_at", time(), nullable=False),
        sa.Column("applied_at", time(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_inbox_state_lease", "inbox", ["state", "lease_until"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("community", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lane", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("maybe_sent", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", time(), nullable=True),
        sa.Column("not_before", time(), nullable=False),
        sa.Column("created_at", time(), nullable=False),
        sa.Column("first_attempt_at", time(), nullable=True),
        sa.Column("sent_at", time(), nullable=True),
        sa.Column("expires_at", time(), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("coalesce_key", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["action_id"], ["action.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("coalesce_key"),
    )
    op.create_index(
        "ix_outbox_active_lane",
        "outbox",
        ["lane", "id"],
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_index("ix_outbox_due", "outbox", ["platform", "state", "not_before"])
    op.add_column("action", sa.Column("card_digest", sa.String(length=64), nullable=True))
    # The inbox's unique keys take over from processed_event.
    op.drop_table("processed_event")
    # Slack's ts is unique only within a channel: look messages up by (channel, id).
    op.drop_index("ix_action_source", table_name="action")
    op.drop_index("ix_action_card", table_name="action")
    op.create_index(
        "ix_action_source", "action", ["community_id", "channel_id", "source_message_id"]
    )
    op.create_index("ix_action_card", "action", ["community_id", "channel_id", "card_message_id"])


def downgrade() -> None:
    op.drop_index("ix_action_card", table_name="action")
    op.drop_index("ix_action_source", table_name="action")
    op.create_index("ix_action_card", "action", ["community_id", "card_message_id"])
    op.create_index("ix_action_source", "action", ["community_id", "source_message_id"])
    op.create_table(
        "processed_event",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("seen_at", storage.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.drop_table("outbox")
    op.drop_table("inbox")
    with op.batch_alter_table("action") as batch:
        batch.drop_column("card_digest")
