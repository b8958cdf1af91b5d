"""form_leads: forms submitted on the sites, as leads; the outbox delivers them too

Revision ID: 3c9d8e2f5a17
Revises: 3a9c4e7d1b52
Create Date: 2026-12-04 03:00:00.000000+00:00
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3c9d8e2f5a17"
down_revision: str | None = "3a9c4e7d1b52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


@contextmanager
def _attempts_kept() -> Iterator[None]:
    """SQLite changes a column by rebuilding the table; dropping the old outbox_deliveries
    (foreign keys are on) would cascade to every delivery attempt. They wait aside meanwhile."""
    if op.get_bind().dialect.name != "sqlite":
        yield
        return
    op.execute("CREATE TEMP TABLE kept_attempts AS SELECT * FROM delivery_attempts")
    yield
    op.execute("DELETE FROM delivery_attempts")
    op.execute("INSERT INTO delivery_attempts SELECT * FROM kept_attempts")
    op.execute("DROP TABLE kept_attempts")


def upgrade() -> None:
    op.create_table(
        "form_leads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("visitor_id", sa.Uuid(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("form_id", sa.String(200), nullable=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("medium", sa.String(200), nullable=True),
        sa.Column("campaign", sa.String(500), nullable=True),
        sa.Column("term", sa.String(500), nullable=True),
        sa.Column("content", sa.String(500), nullable=True),
        sa.Column("landing_url", sa.Text(), nullable=True),
        sa.Column("referrer", sa.Text(), nullable=True),
        sa.Column("gclid", sa.String(500), nullable=True),
        sa.Column("yclid", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_form_leads_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["tracking_sessions.id"],
            name=op.f("fk_form_leads_session_id_tracking_sessions"),
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"], ["visitors.id"], name=op.f("fk_form_leads_visitor_id_visitors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_leads")),
    )
    op.create_index("ix_form_leads_site_created", "form_leads", ["site_id", "created_at"])
    op.create_index("ix_form_leads_site_phone", "form_leads", ["site_id", "phone"])
    # Plain ADD COLUMN (with a default): never a rebuild of `sites`, which on SQLite would
    # cascade to everything a site owns.
    op.add_column(
        "sites", sa.Column("forms_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "sites",
        sa.Column(
            "forms_consent_required", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
    )
    with _attempts_kept(), op.batch_alter_table("outbox_deliveries") as batch:
        batch.alter_column("call_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("lead_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_outbox_deliveries_lead_id_form_leads"), "form_leads", ["lead_id"], ["id"]
        )
        batch.create_index(op.f("ix_outbox_deliveries_lead_id"), ["lead_id"], unique=False)
        batch.create_unique_constraint(
            op.f("uq_outbox_deliveries_connector_id_lead_id_event"),
            ["connector_id", "lead_id", "event"],
        )
        batch.create_check_constraint(
            op.f("ck_outbox_deliveries_call_or_lead"), "(call_id IS NULL) <> (lead_id IS NULL)"
        )


def downgrade() -> None:
    op.execute(
        "DELETE FROM delivery_attempts WHERE delivery_id IN "
        "(SELECT id FROM outbox_deliveries WHERE lead_id IS NOT NULL)"
    )
    op.execute("DELETE FROM outbox_deliveries WHERE lead_id IS NOT NULL")
    with _attempts_kept(), op.batch_alter_table("outbox_deliveries") as batch:
        batch.drop_constraint(op.f("ck_outbox_deliveries_call_or_lead"), type_="check")
        batch.drop_constraint(
            op.f("uq_outbox_deliveries_connector_id_lead_id_event"), type_="unique"
        )
        batch.drop_index(op.f("ix_outbox_deliveries_lead_id"))
        batch.drop_constraint(op.f("fk_outbox_deliveries_lead_id_form_leads"), type_="foreignkey")
        batch.drop_column("lead_id")
        batch.alter_column("call_id", existing_type=sa.Uuid(), nullable=False)
    # Not a batch: rebuilding `sites` on SQLite would cascade to everything a site owns.
    # (ALTER TABLE ... DROP COLUMN: SQLite 3.35 and later, PostgreSQL.)
    op.execute("ALTER TABLE sites DROP COLUMN forms_consent_required")
    op.execute("ALTER TABLE sites DROP COLUMN forms_enabled")
    op.drop_index("ix_form_leads_site_phone", table_name="form_leads")
    op.drop_index("ix_form_leads_site_created", table_name="form_leads")
    op.drop_table("form_leads")
