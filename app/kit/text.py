"""Text from outsiders made storable: no NUL bytes, no lone surrogates, no longer than its column.

PostgreSQL refuses a NUL byte in any text (and JSONB) value and a string longer than its
VARCHAR(n); SQLite takes both. A lone surrogate (JSON allows "\\ud800") cannot be encoded at
all. Each surfaced as a 500, so the values a visit writes pass through `fit_to_columns` first,
and the admin API refuses them (`unstorable`).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import String, Table

NUL = "\x00"


def unstorable(value: str) -> str | None:
    """Why a text cannot be stored as it is, or None."""
    if NUL in value:
        return "must not contain NUL bytes"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode (a lone surrogate is not)"
    return None


def storable(value: str) -> str:
    """`value` without its NUL bytes and lone surrogates."""
    if NUL in value:
        value = value.replace(NUL, "")
    if not value.isascii():
        value = value.encode("utf-8", "ignore").decode("utf-8")
    return value


@cache
def column_sizes(table: Table) -> dict[str, int]:
    """The length of each VARCHAR(n) column of a table, read from the model once."""
    return {
        column.name: column.type.length
        for column in table.columns
        if isinstance(column.type, String) and column.type.length is not None
    }


def fit_to_columns(table: Table, values: dict[str, object]) -> dict[str, object]:
    """`values` with each text made storable and cut to its column's size (a tag cut at
    its 200th character still reports; a visit refused for it would lose the call)."""
    sizes = column_sizes(table)
    fitted: dict[str, object] = {}
    for name, value in values.items():
        if isinstance(value, str):
            value = storable(value)
            size = sizes.get(name)
            if size is not None and len(value) > size:
                value = value[:size]
        fitted[name] = value
    return fitted
