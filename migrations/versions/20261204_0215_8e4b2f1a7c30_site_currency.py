"""sites.currency: the currency a site's reports add up in

Revision ID: 8e4b2f1a7c30
Revises: 7d3f1a6c2b90
Create Date: 2026-12-04 02:15:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from babel.numbers import get_territory_currencies

revision: str = "8e4b2f1a7c30"
down_revision: str | None = "7d3f1a6c2b90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.add_column(sa.Column("currency", sa.String(3), nullable=True))
    sites = sa.table("sites", sa.column("country", sa.String), sa.column("currency", sa.String))
    connection = op.get_bind()
    countries = connection.execute(sa.select(sites.c.country).distinct()).scalars().all()
    for country in countries:
        # Each existing site in the currency of its country today, as new sites default to.
        found = get_territory_currencies(country)
        connection.execute(
            sites.update()
            .where(sites.c.country == country)
            .values(currency=found[0] if found else "USD")
        )
    with op.batch_alter_table("sites") as batch:
        batch.alter_column("currency", existing_type=sa.String(3), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("currency")
