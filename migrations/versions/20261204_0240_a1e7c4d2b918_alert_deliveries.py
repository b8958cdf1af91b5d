"""outbox_deliveries for alerts: a daily digest names no call, but its day and its figures

Revision ID: a1e7c4d2b918
Revises: 8e4b2f1a7c30
Create Date: 2026-12-04 02:40:00.000000+00:00

On SQLite the batch copies the table; migrations/env.py turns foreign keys off first, so the
copy's DROP does not cascade the delivery attempts away.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a1e7c4d2b918"
down_revision: str | None = "8e4b2f1a7c30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.alter_column("call_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("digest_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("payload", _JSON, nullable=True))


def downgrade() -> None:
    # Digest rows name no call: they cannot stay once call_id is required again.
    op.execute(
        "DELETE FROM delivery_attempts WHERE delivery_id IN "
        "(SELECT id FROM outbox_deliveries WHERE call_id IS NULL)"
    )
    op.execute("DELETE FROM outbox_deliveries WHERE call_id IS NULL")
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.drop_column("payload")
        batch.drop_column("digest_day")
        batch.alter_column("call_id", existing_type=sa.Uuid(), nullable=False)
