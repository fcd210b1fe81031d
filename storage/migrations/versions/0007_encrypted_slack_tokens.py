"""encrypted slack bot tokens: room for a Fernet token, longer than the token it holds

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_bot_installations") as batch:
        batch.alter_column(
            "bot_token", type_=sa.Text(), existing_type=sa.String(200), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("slack_bot_installations") as batch:
        batch.alter_column(
            "bot_token", type_=sa.String(200), existing_type=sa.Text(), existing_nullable=False
        )
