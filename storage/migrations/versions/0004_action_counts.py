"""counts on actions, so a join reads and writes only what changes; indexes for pruning

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = ("in_count", "waiting_count", "last_seq")


def upgrade() -> None:
    with op.batch_alter_table("action") as batch:
        for name in _COUNTS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # Counted from the commitments already there.
    op.execute(
        """
        UPDATE action SET
          in_count = (SELECT count(*) FROM commitment c
                      WHERE c.action_id = action.id AND c.status IN ('committed', 'done')),
          waiting_count = (SELECT count(*) FROM commitment c
                           WHERE c.action_id = action.id AND c.status = 'waitlisted'),
          last_seq = (SELECT coalesce(max(c.seq), 0) FROM commitment c
                      WHERE c.action_id = action.id)
        """
    )
    op.create_index("ix_commitment_waiting", "commitment", ["action_id", "status", "seq"])
    # Ordered by number too: SQLite without statistics otherwise walks every action in number
    # order to find a channel's open ones.
    op.drop_index("ix_action_channel_state", table_name="action")
    op.create_index(
        "ix_action_channel_state", "action", ["community_id", "channel_id", "state", "number"]
    )
    op.create_index("ix_inbox_received", "inbox", ["received_at"])
    op.create_index("ix_outbox_created", "outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_created", table_name="outbox")
    op.drop_index("ix_inbox_received", table_name="inbox")
    op.drop_index("ix_commitment_waiting", table_name="commitment")
    op.drop_index("ix_action_channel_state", table_name="action")
    op.create_index("ix_action_channel_state", "action", ["community_id", "channel_id", "state"])
    with op.batch_alter_table("action") as batch:
        for name in _COUNTS:
            batch.drop_column(name)
