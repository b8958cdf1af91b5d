"""report rollups: attribution credits per call and model, visits per day and channel

Revision ID: b7d3e9a1c264
Revises: a1e7c4d2b918
Create Date: 2026-12-04 19:00:00.000000+00:00

The tables start empty: reports compute directly until the worker has built a site's rows
(report_rollup_states says when).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d3e9a1c264"
down_revision: str | None = "a1e7c4d2b918"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _channel_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("medium", sa.String(200), nullable=True),
        sa.Column("campaign", sa.String(500), nullable=True),
        sa.Column("term", sa.String(500), nullable=True),
    ]


def _site_key(table: str) -> sa.ForeignKeyConstraint:
    """Every table here belongs to a site and goes with it."""
    return sa.ForeignKeyConstraint(
        ["site_id"], ["sites.id"], name=op.f(f"fk_{table}_site_id_sites"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "call_credits",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("model", sa.String(20), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("first_time", sa.SmallInteger(), nullable=False),
        sa.Column("answered", sa.SmallInteger(), nullable=False),
        sa.Column("missed", sa.SmallInteger(), nullable=False),
        sa.Column("lead", sa.SmallInteger(), nullable=False),
        sa.Column("deals_won", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(16, 2), nullable=False),
        _site_key("call_credits"),
        sa.PrimaryKeyConstraint("call_id", "model", "channel", name=op.f("pk_call_credits")),
    )
    op.create_index("ix_call_credits_site_started", "call_credits", ["site_id", "started_at"])
    op.create_table(
        "credit_changes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        _site_key("credit_changes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_changes")),
    )
    op.create_index(op.f("ix_credit_changes_site_id"), "credit_changes", ["site_id"])
    op.create_table(
        "call_rollups",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(20), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        *(
            sa.Column(name, sa.Float(), nullable=False)
            for name in (
                "calls",
                "first_time",
                "answered",
                "missed",
                "leads",
                "deals_won",
                "revenue",
            )
        ),
        _site_key("call_rollups"),
        sa.PrimaryKeyConstraint("site_id", "day", "model", "channel", name=op.f("pk_call_rollups")),
    )
    op.create_table(
        "revenue_rollups",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("revenue", sa.Numeric(16, 2), nullable=False),
        _site_key("revenue_rollups"),
        sa.PrimaryKeyConstraint("site_id", "day", "currency", name=op.f("pk_revenue_rollups")),
    )
    op.create_table(
        "visit_rollups",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        *_channel_columns(),
        sa.Column("sessions", sa.Integer(), nullable=False),
        _site_key("visit_rollups"),
        sa.PrimaryKeyConstraint("site_id", "day", "channel", name=op.f("pk_visit_rollups")),
    )
    op.create_table(
        "report_rollup_states",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("calls_currency", sa.String(3), nullable=True),
        sa.Column("calls_zone", sa.String(64), nullable=True),
        sa.Column("visits_zone", sa.String(64), nullable=True),
        sa.Column("visits_until", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _site_key("report_rollup_states"),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_report_rollup_states")),
    )


def downgrade() -> None:
    op.drop_table("report_rollup_states")
    op.drop_table("visit_rollups")
    op.drop_table("revenue_rollups")
    op.drop_table("call_rollups")
    op.drop_index(op.f("ix_credit_changes_site_id"), table_name="credit_changes")
    op.drop_table("credit_changes")
    op.drop_index("ix_call_credits_site_started", table_name="call_credits")
    op.drop_table("call_credits")
