"""user_tokens (invite and reset links); a call's notes, tags, lead status; manual deals

Revision ID: 3c9d5e7f1a24
Revises: 8e4b2f1a7c30
Create Date: 2026-12-04 02:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c9d5e7f1a24"
down_revision: str | None = "8e4b2f1a7c30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_tokens_token_hash")),
    )
    op.create_index(op.f("ix_user_tokens_user_id"), "user_tokens", ["user_id"])

    op.create_table(
        "call_notes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_email", sa.String(320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_notes_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_call_notes_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_notes")),
    )
    op.create_index("ix_call_notes_call_created", "call_notes", ["call_id", "created_at"])

    op.create_table(
        "call_tags",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_tags_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_call_tags_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", "tag", name=op.f("pk_call_tags")),
    )
    op.create_index("ix_call_tags_site_tag", "call_tags", ["site_id", "tag"])

    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("lead_status", sa.String(16), nullable=True))
    with op.batch_alter_table("deals") as batch:
        batch.add_column(
            sa.Column("manual", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("manual")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("lead_status")
    op.drop_index("ix_call_tags_site_tag", table_name="call_tags")
    op.drop_table("call_tags")
    op.drop_index("ix_call_notes_call_created", table_name="call_notes")
    op.drop_table("call_notes")
    op.drop_index(op.f("ix_user_tokens_user_id"), table_name="user_tokens")
    op.drop_table("user_tokens")
