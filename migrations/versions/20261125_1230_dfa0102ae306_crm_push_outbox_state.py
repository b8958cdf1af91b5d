"""crm push: delivery claims, uncertain outcomes, CRM ids, the deals poll cursor

Revision ID: dfa0102ae306
Revises: 8c6a5b963f6a
Create Date: 2026-11-25 12:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "dfa0102ae306"
down_revision: str | None = "8c6a5b963f6a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "external_refs",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("claim_token", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("maybe_created", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("crm_connectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deals_cursor", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deals_poll_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_connectors", schema=None) as batch_op:
        batch_op.drop_column("deals_poll_at")
        batch_op.drop_column("deals_cursor")
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_column("maybe_created")
        batch_op.drop_column("claim_token")
        batch_op.drop_column("external_refs")
