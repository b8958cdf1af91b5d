"""calls and tracking_sessions partitioned by month on PostgreSQL; call_keys

Revision ID: d5b8e1f4a923
Revises: c3f8a2d9e471
Create Date: 2026-12-04 22:00:00.000000+00:00

On both backends: the unique (integration, provider call id) moves from `calls` to a new
`call_keys` table (filled from the existing calls), and the foreign keys that point at `calls`
and `tracking_sessions` go (what they cascaded is deleted in code, app/retention.py).

On PostgreSQL both tables are then rebuilt as range-partitioned tables, `calls` by month of
`created_at` and `tracking_sessions` by month of `started_at`, with the primary key (id, key):
one partition per month from the oldest row to two months ahead, and a default partition for
anything outside them. The rows are copied, so on a large database this migration takes a
while and holds both tables for its duration (plan it in a quiet hour); afterwards the worker
creates the coming months (app/partitions.py) and `callsource partitions detach` detaches old
ones for archiving.

The downgrade puts plain tables back. It restores the foreign keys, so rows left pointing at
detached or deleted months must be removed first.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "d5b8e1f4a923"
down_revision: str | None = "c3f8a2d9e471"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONTHS_AHEAD = 2

# (table, column): the foreign keys into the partitioned tables, as they were.
_INTO_CALLS = [
    ("pbx_events", "call_id", None),
    ("deals", "call_id", None),
    ("outbox_deliveries", "call_id", None),
    ("call_tags", "call_id", "CASCADE"),
    ("call_notes", "call_id", "CASCADE"),
]
_INTO_SESSIONS = [
    ("calls", "session_id", None),
    ("number_assignments", "session_id", None),
    ("number_fallbacks", "session_id", None),
    ("form_leads", "session_id", None),
]


class _Partitioned:
    """What a partitioned table is rebuilt with: its key, indexes and outgoing foreign keys
    (as of this revision: a migration must not follow the models as they change later)."""

    def __init__(
        self,
        name: str,
        key: str,
        indexes: dict[str, str],
        foreign_keys: list[tuple[str, str, str | None]],
    ) -> None:
        self.name = name
        self.key = key
        self.indexes = indexes
        self.foreign_keys = foreign_keys


_CALLS = _Partitioned(
    "calls",
    "created_at",
    {
        "ix_calls_site_started": "site_id, started_at",
        "ix_calls_site_caller": "site_id, caller",
        "ix_calls_visitor_id": "visitor_id",
    },
    [
        ("site_id", "sites", "CASCADE"),
        ("integration_id", "pbx_integrations", None),
        ("tracking_number_id", "tracking_numbers", None),
        ("visitor_id", "visitors", None),
    ],
)
_SESSIONS = _Partitioned(
    "tracking_sessions",
    "started_at",
    {
        "ix_tracking_sessions_site_started": "site_id, started_at",
        "ix_tracking_sessions_visitor_started": "visitor_id, started_at",
    },
    [("site_id", "sites", "CASCADE"), ("visitor_id", "visitors", None)],
)


def _fk_name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _rebuild(table: _Partitioned, *, partitioned: bool) -> None:
    """Copy `table` into a new table of the same columns, partitioned by month or plain."""
    old = f"{table.name}_rebuilt_from"
    op.execute(f"ALTER TABLE {table.name} RENAME TO {old}")
    # The old table's index names are taken by the new table's: they go first (the copy
    # does not need them).
    op.execute(f"ALTER TABLE {old} DROP CONSTRAINT pk_{table.name}")
    for index in table.indexes:
        op.execute(f"DROP INDEX {index}")
    spec = f" PARTITION BY RANGE ({table.key})" if partitioned else ""
    op.execute(
        f"CREATE TABLE {table.name} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){spec}"
    )
    primary_key = f"id, {table.key}" if partitioned else "id"
    op.execute(
        f"ALTER TABLE {table.name} ADD CONSTRAINT pk_{table.name} PRIMARY KEY ({primary_key})"
    )
    for index, columns in table.indexes.items():
        op.execute(f"CREATE INDEX {index} ON {table.name} ({columns})")
    for column, referred, on_delete in table.foreign_keys:
        cascade = f" ON DELETE {on_delete}" if on_delete else ""
        op.execute(
            f"ALTER TABLE {table.name} ADD CONSTRAINT {_fk_name(table.name, column, referred)} "
            f"FOREIGN KEY ({column}) REFERENCES {referred} (id){cascade}"
        )
    if partitioned:
        _create_months(table, old)
    op.execute(f"INSERT INTO {table.name} SELECT * FROM {old}")  # noqa: S608 (fixed names)
    op.execute(f"DROP TABLE {old}")


def _create_months(table: _Partitioned, old: str) -> None:
    oldest_row = sa.text(f"SELECT min({table.key}) FROM {old}")  # noqa: S608 (fixed names)
    oldest = op.get_bind().execute(oldest_row).scalar()
    today = datetime.now(UTC).date()
    first = _month_index(oldest.astimezone(UTC).date() if oldest else today)
    for index in range(first, _month_index(today) + MONTHS_AHEAD + 1):
        start, end = _month(index), _month(index + 1)
        op.execute(
            f"CREATE TABLE {table.name}_p{start:%Y_%m} PARTITION OF {table.name} "
            f"FOR VALUES FROM ('{start.isoformat()} 00:00:00+00') "
            f"TO ('{end.isoformat()} 00:00:00+00')"
        )
    op.execute(f"CREATE TABLE {table.name}_default PARTITION OF {table.name} DEFAULT")


def _drop_foreign_keys(pointing: list[tuple[str, str, str | None]], referred: str) -> None:
    for table, column, _on_delete in pointing:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(_fk_name(table, column, referred), type_="foreignkey")


def _add_foreign_keys(pointing: list[tuple[str, str, str | None]], referred: str) -> None:
    for table, column, on_delete in pointing:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                _fk_name(table, column, referred), referred, [column], ["id"], ondelete=on_delete
            )


def upgrade() -> None:
    op.create_table(
        "call_keys",
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("provider_call_id", sa.String(length=200), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["pbx_integrations.id"],
            name=op.f("fk_call_keys_integration_id_pbx_integrations"),
        ),
        sa.PrimaryKeyConstraint("integration_id", "provider_call_id", name=op.f("pk_call_keys")),
    )
    op.create_index(op.f("ix_call_keys_call_id"), "call_keys", ["call_id"])
    op.execute(
        "INSERT INTO call_keys (integration_id, provider_call_id, call_id, created_at) "
        "SELECT integration_id, provider_call_id, id, created_at FROM calls"
    )
    _drop_foreign_keys(_INTO_CALLS, "calls")
    _drop_foreign_keys(_INTO_SESSIONS, "tracking_sessions")
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint("uq_calls_integration_id_provider_call_id", type_="unique")
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(_CALLS, partitioned=True)
        _rebuild(_SESSIONS, partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _rebuild(_CALLS, partitioned=False)
        _rebuild(_SESSIONS, partitioned=False)
    with op.batch_alter_table("calls") as batch:
        batch.create_unique_constraint(
            "uq_calls_integration_id_provider_call_id", ["integration_id", "provider_call_id"]
        )
    _add_foreign_keys(_INTO_SESSIONS, "tracking_sessions")
    _add_foreign_keys(_INTO_CALLS, "calls")
    op.drop_index(op.f("ix_call_keys_call_id"), table_name="call_keys")
    op.drop_table("call_keys")
