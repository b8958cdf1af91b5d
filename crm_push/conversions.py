"""What a conversion destination's delivery needs besides the call, read when it is claimed:
the visit's analytics client ids, the site's time zone and currency, the call's won deals."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Call, CrmConnector, Deal, OutboxDelivery
from crm_push import repository
from crm_push.connectors.base import Conversion, WonValue
from crm_push.conversion_rule import DESTINATION_KINDS


async def for_deliveries(
    db: AsyncSession,
    rows: Sequence[OutboxDelivery],
    *,
    connectors: dict[uuid.UUID, CrmConnector],
    calls: dict[uuid.UUID, Call],
) -> dict[uuid.UUID, Conversion]:
    """delivery id -> its conversion context, for the rows that go to destinations."""
    # Destinations take calls only (no form lead event is among theirs).
    wanted = [
        r
        for r in rows
        if connectors[r.connector_id].kind in DESTINATION_KINDS and r.call_id is not None
    ]
    if not wanted:
        return {}
    their_calls = [calls[r.call_id] for r in wanted if r.call_id is not None]
    visits = await repository.visit_ids(db, (c.session_id for c in their_calls))
    sites = await repository.sites_by_id(db, (c.site_id for c in their_calls))
    won = won_values(await repository.won_deals(db, (c.id for c in their_calls)))
    found = {}
    for row in wanted:
        assert row.call_id is not None
        call = calls[row.call_id]
        site = sites[call.site_id]
        ga, ym = visits.get(call.session_id, (None, None)) if call.session_id else (None, None)
        found[row.id] = Conversion(
            timezone=site.timezone,
            currency=site.currency,
            ga_client_id=ga or None,
            ym_client_id=ym or None,
            won=won.get(call.id),
        )
    return found


def won_values(deals: Sequence[Deal]) -> dict[uuid.UUID, WonValue]:
    """A call's won revenue: the sum of its won deals in the currency of the latest one (a
    deal in another currency is left out rather than added as if it were the same money)."""
    by_call: dict[uuid.UUID, list[Deal]] = {}
    for deal in deals:
        if deal.call_id is not None:
            by_call.setdefault(deal.call_id, []).append(deal)
    values = {}
    for call_id, won in by_call.items():
        latest = won[-1]
        total = sum((Decimal(d.revenue) for d in won if d.currency == latest.currency), Decimal(0))
        values[call_id] = WonValue(
            revenue=total, currency=latest.currency, won_at=latest.closed_at or latest.updated_at
        )
    return values
