from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from app.costs.parsing import CostRow
from app.kit.schemas import OutputModel
from app.models import AdCost


class CostOut(OutputModel):
    date: dt.date
    source: str
    medium: str | None
    campaign: str | None
    term: str | None = None
    cost: float
    currency: str
    # The ad account that imported the row; None for an upload.
    account_id: uuid.UUID | None = None

    @classmethod
    def of(cls, row: CostRow | AdCost) -> CostOut:
        day = row.day
        return cls(
            date=day,
            source=row.source,
            # Stored as "" for the unique key; no medium reads better as null.
            medium=row.medium or None,
            campaign=row.campaign or None,
            term=row.term or None,
            cost=float(Decimal(row.cost)),
            currency=row.currency,
            account_id=row.account_id if isinstance(row, AdCost) else None,
        )


class CostUpload(OutputModel):
    dry_run: bool
    # What the rows did (or, in a dry run, would do) to the stored costs.
    inserted: int
    updated: int
    rows: list[CostOut]


class CostList(OutputModel):
    items: list[CostOut]
