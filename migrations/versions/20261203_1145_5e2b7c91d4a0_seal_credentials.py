"""credentials at rest: the plaintext JSON credentials become Fernet tokens

Revision ID: 5e2b7c91d4a0
Revises: 5b1e7c2a9d40
Create Date: 2026-12-03 11:45:00.000000+00:00

The key is the process's keyring (configured by `callsource migrate` and the other commands),
else CALLSOURCE_SECRET_KEY from the environment. With rows to seal and no key, the migration
stops before changing anything and says so.
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.config import ConfigError, get_settings
from app.kit import crypto

revision: str = "5e2b7c91d4a0"
down_revision: str | None = "5b1e7c2a9d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("pbx_integrations", "crm_connectors")
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _keyring(rows: int) -> crypto.Keyring | None:
    try:
        return crypto.current()
    except crypto.CredentialsLocked:
        pass
    try:
        return crypto.Keyring(get_settings().require_secret_key())
    except ConfigError as exc:
        if rows == 0:
            return None
        raise ConfigError(
            f"{rows} stored credentials need sealing and no key is set: {exc}"
        ) from None


def _rows(table: str) -> list[tuple[Any, Any]]:
    query = sa.text(f"SELECT id, credentials FROM {table}")  # noqa: S608 (a fixed table name)
    return [(row[0], row[1]) for row in op.get_bind().execute(query)]


def _as_dict(value: Any) -> dict[str, Any]:
    # JSONB comes back decoded; SQLite's JSON (and the text column) as text.
    return value if isinstance(value, dict) else json.loads(value)


def upgrade() -> None:
    rows = {table: _rows(table) for table in TABLES}
    keyring = _keyring(sum(len(r) for r in rows.values()))
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "credentials",
                existing_type=JSON_TYPE,
                type_=sa.Text(),
                existing_nullable=False,
                postgresql_using="credentials::text",
            )
        update = sa.text(f"UPDATE {table} SET credentials = :sealed WHERE id = :id")  # noqa: S608
        for row_id, value in rows[table]:
            assert keyring is not None  # _keyring refused rows without a key
            op.get_bind().execute(update, {"sealed": keyring.seal(_as_dict(value)), "id": row_id})


def downgrade() -> None:
    rows = {table: _rows(table) for table in TABLES}
    keyring = _keyring(sum(len(r) for r in rows.values()))
    for table in TABLES:
        update = sa.text(f"UPDATE {table} SET credentials = :plain WHERE id = :id")  # noqa: S608
        for row_id, value in rows[table]:
            assert keyring is not None
            plain = json.dumps(keyring.open(value))
            op.get_bind().execute(update, {"plain": plain, "id": row_id})
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "credentials",
                existing_type=sa.Text(),
                type_=JSON_TYPE,
                existing_nullable=False,
                postgresql_using="credentials::jsonb",
            )
