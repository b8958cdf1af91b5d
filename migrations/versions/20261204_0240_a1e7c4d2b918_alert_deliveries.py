"""outbox_deliveries for alerts: a daily digest names no call or lead, but its day and figures

Revision ID: a1e7c4d2b918
Revises: 3c9d8e2f5a17
Create Date: 2026-12-04 02:40:00.000000+00:00

call_id is nullable since the form leads; a delivery is now about exactly one of a call, a form
lead or a digest's day.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a1e7c4d2b918"
down_revision: str | None = "3c9d8e2f5a17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
CALL_OR_LEAD = "(call_id IS NULL) <> (lead_id IS NULL)"
CALL_LEAD_OR_DIGEST = (
    "(CASE WHEN call_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN lead_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN digest_day IS NULL THEN 0 ELSE 1 END) = 1"
)


def upgrade() -> None:
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.add_column(sa.Column("digest_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("payload", _JSON, nullable=True))
        batch.drop_constraint(op.f("ck_outbox_deliveries_call_or_lead"), type_="check")
        batch.create_check_constraint(
            op.f("ck_outbox_deliveries_call_lead_or_digest"), CALL_LEAD_OR_DIGEST
        )


def downgrade() -> None:
    # Digest rows name no call or lead: they cannot stay.
    op.execute(
        "DELETE FROM delivery_attempts WHERE delivery_id IN "
        "(SELECT id FROM outbox_deliveries WHERE digest_day IS NOT NULL)"
    )
    op.execute("DELETE FROM outbox_deliveries WHERE digest_day IS NOT NULL")
    with op.batch_alter_table("outbox_deliveries") as batch:
        batch.drop_constraint(op.f("ck_outbox_deliveries_call_lead_or_digest"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_deliveries_call_or_lead"), CALL_OR_LEAD)
        batch.drop_column("payload")
        batch.drop_column("digest_day")
