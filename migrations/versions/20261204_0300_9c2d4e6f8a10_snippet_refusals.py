"""snippet_refusals: the last snippet requests refused for their origin, per site

Revision ID: 9c2d4e6f8a10
Revises: 3c9d5e7f1a24
Create Date: 2026-12-04 03:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c2d4e6f8a10"
down_revision: str | None = "3c9d5e7f1a24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "snippet_refusals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_snippet_refusals_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snippet_refusals")),
    )
    op.create_index("ix_snippet_refusals_site", "snippet_refusals", ["site_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_snippet_refusals_site", table_name="snippet_refusals")
    op.drop_table("snippet_refusals")
