"""ad_accounts: ad platforms whose spend is imported; costs by keyword and by account

Revision ID: 3a9c4e7d1b52
Revises: 4c7a9e2d1b58
Create Date: 2026-12-04 03:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3a9c4e7d1b52"
down_revision: str | None = "4c7a9e2d1b58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_UPLOADED = sa.text("account_id IS NULL")


def upgrade() -> None:
    op.create_table(
        "ad_accounts",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("config", _JSON, nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_import_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_import_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_import_status", sa.String(16), nullable=True),
        sa.Column("last_import_error", sa.Text(), nullable=True),
        sa.Column("last_import_rows", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_ad_accounts_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_accounts")),
    )
    op.create_index(op.f("ix_ad_accounts_site_id"), "ad_accounts", ["site_id"])
    op.create_table(
        "ad_campaign_mappings",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("platform_campaign", sa.String(500), nullable=False),
        sa.Column("utm_campaign", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_ad_campaign_mappings_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_campaign_mappings")),
        sa.UniqueConstraint(
            "account_id",
            "platform_campaign",
            name=op.f("uq_ad_campaign_mappings_account_id_platform_campaign"),
        ),
    )
    with op.batch_alter_table("ad_costs") as batch:
        batch.add_column(sa.Column("term", sa.String(500), nullable=False, server_default=""))
        batch.add_column(sa.Column("account_id", sa.Uuid(), nullable=True))
        batch.add_column(
            sa.Column("platform_campaign", sa.String(500), nullable=False, server_default="")
        )
        batch.create_foreign_key(
            op.f("fk_ad_costs_account_id_ad_accounts"),
            "ad_accounts",
            ["account_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.drop_constraint("uq_ad_costs_site_id_day_source_medium_campaign", type_="unique")
    op.create_index(
        "uq_ad_costs_uploaded_key",
        "ad_costs",
        ["site_id", "day", "source", "medium", "campaign", "term"],
        unique=True,
        postgresql_where=_UPLOADED,
        sqlite_where=_UPLOADED,
    )
    op.create_index("ix_ad_costs_account_day", "ad_costs", ["account_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_ad_costs_account_day", table_name="ad_costs")
    op.drop_index("uq_ad_costs_uploaded_key", table_name="ad_costs")
    # Imported rows have no place in the old schema (their key could repeat an upload's).
    op.execute("DELETE FROM ad_costs WHERE account_id IS NOT NULL OR term <> ''")
    with op.batch_alter_table("ad_costs") as batch:
        batch.drop_constraint("fk_ad_costs_account_id_ad_accounts", type_="foreignkey")
        batch.drop_column("platform_campaign")
        batch.drop_column("account_id")
        batch.drop_column("term")
        batch.create_unique_constraint(
            "uq_ad_costs_site_id_day_source_medium_campaign",
            ["site_id", "day", "source", "medium", "campaign"],
        )
    op.drop_table("ad_campaign_mappings")
    op.drop_index(op.f("ix_ad_accounts_site_id"), table_name="ad_accounts")
    op.drop_table("ad_accounts")
