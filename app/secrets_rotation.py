"""`callsource secrets rotate`: every stored credential re-sealed under the new key, at once.

One transaction: either every row opens (under the new key already, or the old one) and the
rotated ones are written, or nothing changes. A row already under the new key is left as it is,
so running the command twice is harmless.

No snapshot needs renewing (app.snapshots): they hold credentials opened, and those stay the
same; only the sealing changes, in a process of its own.
"""

from __future__ import annotations

from sqlalchemy import text

from app.db import create_engine
from app.kit.crypto import Keyring

SEALED_TABLES = ("pbx_integrations", "crm_connectors", "ad_accounts")


async def rotate(database_url: str, *, new_key: str, old_key: str) -> dict[str, int]:
    new = Keyring(new_key)
    either = Keyring(new_key, old_key)
    counts = {"rotated": 0, "already_current": 0}
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for table in SEALED_TABLES:
                # Fixed table names; the values are bound.
                rows = await connection.execute(text(f"SELECT id, credentials FROM {table}"))  # noqa: S608
                update = text(f"UPDATE {table} SET credentials = :sealed WHERE id = :id")  # noqa: S608
                for row_id, token in rows.all():
                    if new.sealed_under_primary(token):
                        counts["already_current"] += 1
                        continue
                    sealed = new.seal(either.open(token))  # CredentialsLocked rolls all back
                    await connection.execute(update, {"sealed": sealed, "id": row_id})
                    counts["rotated"] += 1
    finally:
        await engine.dispose()
    return counts
