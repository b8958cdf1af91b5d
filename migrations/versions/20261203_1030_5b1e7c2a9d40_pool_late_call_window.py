"""pools: the late-call window

Revision ID: 5b1e7c2a9d40
Revises: 17cae49e0484
Create Date: 2026-12-03 10:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e7c2a9d40"
down_revision: str | None = "17cae49e0484"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing pools get the default: calls up to a day after a visit go to its last holder.
    with op.batch_alter_table("pools") as batch:
        batch.add_column(
            sa.Column("late_call_window_s", sa.Integer(), server_default="86400", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("pools") as batch:
        batch.drop_column("late_call_window_s")
