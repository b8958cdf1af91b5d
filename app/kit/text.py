"""Text from outsiders made storable: no NUL bytes, no longer than its column.

PostgreSQL refuses a NUL byte in any text (and JSONB) value and a string longer than its
VARCHAR(n); SQLite takes both. Both refusals surfaced as 500s on the public tracker, so the
values a visit writes pass through `fit_to_columns` first.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import String, Table

NUL = "\x00"


def without_nul(value: str) -> str:
    return value.replace(NUL, "") if NUL in value else value


@cache
def column_sizes(table: Table) -> dict[str, int]:
    """The length of each VARCHAR(n) column of a table, read from the model once."""
    return {
        column.name: column.type.length
        for column in table.columns
        if isinstance(column.type, String) and column.type.length is not None
    }


def fit_to_columns(table: Table, values: dict[str, object]) -> dict[str, object]:
    """`values` with each text stripped of NUL bytes and cut to its column's size (a tag cut at
    its 200th character still reports; a visit refused for it would lose the call)."""
    sizes = column_sizes(table)
    fitted: dict[str, object] = {}
    for name, value in values.items():
        if isinstance(value, str):
            value = without_nul(value)
            size = sizes.get(name)
            if size is not None and len(value) > size:
                value = value[:size]
        fitted[name] = value
    return fitted
