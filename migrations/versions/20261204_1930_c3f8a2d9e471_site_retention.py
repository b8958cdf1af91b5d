"""sites.retention_months: how long a site's visits, calls and form leads are kept

Revision ID: c3f8a2d9e471
Revises: b7d3e9a1c264
Create Date: 2026-12-04 19:30:00.000000+00:00

0 (every existing site) keeps them for ever, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3f8a2d9e471"
down_revision: str | None = "b7d3e9a1c264"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "sites",
        sa.Column("retention_months", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    # Not a batch: rebuilding `sites` on SQLite would cascade to everything a site owns.
    op.execute("ALTER TABLE sites DROP COLUMN retention_months")
