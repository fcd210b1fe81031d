"""pledge drives: goals, deadlines and outcomes on actions; amounts and conditions on pledges

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("action") as batch:
        batch.add_column(sa.Column("goal", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("unit", sa.String(40), nullable=True))
        batch.add_column(sa.Column("sealed", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("task_due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("extended", sa.Boolean(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("tipped_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("task_number", sa.Integer(), nullable=True))
    with op.batch_alter_table("commitment") as batch:
        batch.add_column(sa.Column("amount", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("if_others", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("if_needs", sa.String(400), nullable=False, server_default=""))
        batch.add_column(sa.Column("checkin", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commitment") as batch:
        for name in ("checkin", "if_needs", "if_others", "amount"):
            batch.drop_column(name)
    with op.batch_alter_table("action") as batch:
        drive_columns = ("task_number", "tipped_at", "extended", "task_due_at", "sealed", "unit")
        for name in (*drive_columns, "goal"):
            batch.drop_column(name)
