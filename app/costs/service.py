"""Ad costs: uploads checked whole before anything is stored, and the stored costs by day."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.costs import repository
from app.costs.parsing import CostRow, parse_csv, parse_upload
from app.models import AdCost, Site

__all__ = [
    "UploadResult",
    "list_costs",
    "parse_csv",
    "parse_csv_off_loop",
    "parse_upload",
    "parse_upload_off_loop",
    "upload_costs",
]


@dataclass(frozen=True, slots=True)
class UploadResult:
    rows: list[CostRow]
    inserted: int
    updated: int
    dry_run: bool


async def parse_upload_off_loop(
    body: bytes, content_type: str, *, default_currency: str | None = None
) -> list[CostRow]:
    """`parse_upload` in a worker thread. Checking 50,000 rows is seconds of CPU; on the event
    loop it stalled every other request (/healthz took 8 s during one 5 MB upload)."""
    return await asyncio.to_thread(
        functools.partial(parse_upload, default_currency=default_currency), body, content_type
    )


async def parse_csv_off_loop(text: str, *, default_currency: str | None = None) -> list[CostRow]:
    """`parse_csv` in a worker thread, for the same reason (the dashboard's upload)."""
    return await asyncio.to_thread(
        functools.partial(parse_csv, default_currency=default_currency), text
    )


async def upload_costs(
    db: AsyncSession, *, site: Site, rows: list[CostRow], dry_run: bool, now: datetime
) -> UploadResult:
    """Store parsed rows (an upsert per day and channel), or with `dry_run` only say what
    they would insert and update. Rows come from `parse_upload` / `parse_csv`, which refuse a
    file with any bad row: an upload is kept whole or not at all."""
    stored = await repository.existing_keys(
        db,
        site_id=site.id,
        first_day=min(row.day for row in rows),
        last_day=max(row.day for row in rows),
    )
    updated = sum(1 for row in rows if row.key in stored)
    if not dry_run:
        await repository.upsert(db, site_id=site.id, rows=rows, now=now)
    return UploadResult(rows=rows, inserted=len(rows) - updated, updated=updated, dry_run=dry_run)


async def list_costs(
    db: AsyncSession, *, site: Site, first_day: date, last_day: date
) -> list[AdCost]:
    """The site's costs booked on the days [first_day, last_day], by day and channel."""
    return await repository.costs(db, site_id=site.id, first_day=first_day, last_day=last_day)
