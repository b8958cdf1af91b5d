"""pbx_refusals: the last webhooks refused for their signature, per integration

Revision ID: 7d3f1a6c2b90
Revises: 5b1e7c2d9a40
Create Date: 2026-12-04 01:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3f1a6c2b90"
down_revision: str | None = "5b1e7c2d9a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pbx_refusals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["pbx_integrations.id"],
            name=op.f("fk_pbx_refusals_integration_id_pbx_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pbx_refusals")),
    )
    op.create_index(
        "ix_pbx_refusals_integration", "pbx_refusals", ["integration_id", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_pbx_refusals_integration", table_name="pbx_refusals")
    op.drop_table("pbx_refusals")
