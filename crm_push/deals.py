"""Deal outcomes tied to calls (and through them to sources), for revenue and ROMI: from the
contract's endpoint for any CRM, and from amoCRM / Bitrix24 by webhook and by poll."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import InvalidField, NotFound
from app.kit.currencies import check_currency
from app.kit.phones import to_e164
from app.models import Call, Deal, Site
from app.reports import rollups
from crm_push import outbox, repository
from crm_push.connectors.base import ConnectorData, CrmDeal
from crm_push.schemas import DealIn

# The external id of a call's manual deal is "manual:<call id>": no CRM's ("amocrm:...",
# "bitrix24:...") and refused from the API, so a sync never writes to a manual deal.
MANUAL_PREFIX = "manual:"
MANUAL_STATUSES = ("won", "lost")


async def record_deal(
    db: AsyncSession, *, site: Site, data: DealIn, now: datetime
) -> tuple[Deal, bool]:
    """Create or update (same external_id) a deal; True when it was created."""
    if data.external_id.startswith(MANUAL_PREFIX):
        raise InvalidField(
            "external_id", f"ids starting with {MANUAL_PREFIX} are kept for deals set by hand"
        )
    call = await _call_of(db, site=site, data=data)
    existing = await repository.deal_by_external_id(
        db, site_id=site.id, external_id=data.external_id
    )
    if existing is None and call is None:
        raise InvalidField("call_id", "give call_id or caller to tie the deal to a call")
    return await _upsert(
        db,
        site_id=site.id,
        external_id=data.external_id,
        call_id=call.id if call else None,
        connector_id=None,
        status=data.status,
        revenue=data.revenue,
        currency=data.currency,
        now=now,
    )


async def _call_of(db: AsyncSession, *, site: Site, data: DealIn) -> Call | None:
    if data.call_id is not None:
        call = await db.get(Call, data.call_id)
        if call is None or call.site_id != site.id:
            raise NotFound(f"call {data.call_id} not found on site {site.id}")
        return call
    if data.caller is not None:
        caller = to_e164(data.caller, site.country, field="caller")
        call = await repository.latest_call_from(db, site_id=site.id, caller=caller)
        if call is None:
            raise NotFound(f"no call from {caller} on site {site.id}")
        return call
    return None


async def record_crm_deals(
    db: AsyncSession, *, connector: ConnectorData, deals: Sequence[CrmDeal], now: datetime
) -> int:
    """Store the deals that grew out of calls this connector delivered; others (web forms,
    manual leads) are not ours to report. Returns how many were stored."""
    calls = await repository.delivered_call(
        db, connector_id=connector.id, external_ids=(d.lead_ref for d in deals if d.lead_ref)
    )
    stored = 0
    for deal in deals:
        call_id = calls.get(deal.lead_ref) if deal.lead_ref else None
        if call_id is None:
            continue
        await _upsert(
            db,
            site_id=connector.site_id,
            external_id=f"{connector.kind}:{deal.deal_id}",
            call_id=call_id,
            connector_id=connector.id,
            status=deal.status,
            revenue=deal.revenue,
            currency=deal.currency,
            now=now,
        )
        stored += 1
    return stored


async def _upsert(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    external_id: str,
    call_id: uuid.UUID | None,
    connector_id: uuid.UUID | None,
    status: str,
    revenue: Decimal,
    currency: str,
    now: datetime,
    manual: bool = False,
) -> tuple[Deal, bool]:
    deal = await repository.deal_by_external_id(db, site_id=site_id, external_id=external_id)
    if deal is None:
        inserted = await repository.insert_deal(
            db,
            {
                "id": uuid.uuid4(),
                "site_id": site_id,
                "call_id": call_id,
                "connector_id": connector_id,
                "external_id": external_id,
                "status": status,
                "revenue": revenue,
                "currency": currency,
                "created_at": now,
                "updated_at": now,
                "closed_at": None if status == "open" else now,
                "manual": manual,
            },
        )
        deal = await repository.deal_by_external_id(db, site_id=site_id, external_id=external_id)
        assert deal is not None
        if inserted:
            await _credits_of(db, deal.call_id)
            await _won(db, deal, was_won=False, now=now)
            return deal, True
    was_won = deal.status == "won"
    worth = (Decimal(deal.revenue), deal.currency)
    held_by = deal.call_id
    _apply(deal, call_id=call_id, status=status, revenue=revenue, currency=currency, now=now)
    await db.flush()
    await _credits_of(db, held_by, deal.call_id)
    await _won(db, deal, was_won=was_won, now=now)
    if was_won and deal.status == "won" and worth != (Decimal(deal.revenue), deal.currency):
        # A won deal's amount corrected: where the platform restates a value, send it again.
        assert deal.call_id is not None
        await outbox.resend_value(db, call_id=deal.call_id, now=now)
    return deal, False


async def _credits_of(db: AsyncSession, *call_ids: uuid.UUID | None) -> None:
    """A deal's call counts its deals in the reports: note the change with the deal."""
    await rollups.note_changed_calls(db, {call_id for call_id in call_ids if call_id is not None})


async def _won(db: AsyncSession, deal: Deal, *, was_won: bool, now: datetime) -> None:
    """A deal just won: its value goes to the conversion destinations that send values and
    took the call (in this same transaction, like every outbox row)."""
    if deal.status != "won" or was_won or deal.call_id is None:
        return
    call = await db.get(Call, deal.call_id)
    if call is not None:
        await outbox.enqueue_for_call(db, call=call, event="deal.won", now=now)


def _apply(
    deal: Deal,
    *,
    call_id: uuid.UUID | None,
    status: str,
    revenue: Decimal,
    currency: str,
    now: datetime,
) -> None:
    # A poll re-reads deals it has seen: only a real change moves updated_at.
    changed = (deal.status, Decimal(deal.revenue), deal.currency) != (status, revenue, currency)
    if call_id is not None and call_id != deal.call_id:
        deal.call_id, changed = call_id, True
    if not changed:
        return
    if status == "open":
        deal.closed_at = None
    elif deal.status != status or deal.closed_at is None:
        deal.closed_at = now
    deal.status, deal.revenue, deal.currency = status, revenue, currency
    deal.updated_at = now


async def set_manual_deal(
    db: AsyncSession,
    *,
    site: Site,
    call: Call,
    status: str,
    revenue: Decimal,
    currency: str,
    now: datetime,
) -> Deal:
    """The call's deal as a person on its page says: won or lost, for this revenue. It counts
    in reports like a CRM's deal and, while it exists, instead of the call's other deals."""
    if call.site_id != site.id:
        raise NotFound(f"call {call.id} not found on site {site.id}")
    if status not in MANUAL_STATUSES:
        raise InvalidField("status", "choose won or lost")
    if revenue < 0 or revenue != revenue.quantize(Decimal("0.01")) or revenue >= 10**12:
        raise InvalidField("revenue", "give an amount of 0 or more with at most 2 decimals")
    try:
        currency = check_currency(currency.strip() or site.currency)
    except ValueError as exc:
        raise InvalidField("currency", str(exc)) from exc
    deal, _ = await _upsert(
        db,
        site_id=site.id,
        external_id=f"{MANUAL_PREFIX}{call.id}",
        call_id=call.id,
        connector_id=None,
        status=status,
        revenue=revenue,
        currency=currency,
        now=now,
        manual=True,
    )
    return deal


async def remove_manual_deal(db: AsyncSession, *, site: Site, call: Call) -> bool:
    """Forget the call's manual deal (its CRM deals count again); False if it had none."""
    deal = await repository.deal_by_external_id(
        db, site_id=site.id, external_id=f"{MANUAL_PREFIX}{call.id}"
    )
    if deal is None:
        return False
    await repository.delete_deal(db, deal)
    await _credits_of(db, call.id)
    return True


async def list_deals(
    db: AsyncSession, *, site_id: uuid.UUID, call_id: uuid.UUID | None, limit: int = 500
) -> list[Deal]:
    return await repository.deals(db, site_id=site_id, call_id=call_id, limit=limit)


async def calls_of(db: AsyncSession, deals: Sequence[Deal]) -> dict[uuid.UUID, Call]:
    return await repository.calls_by_id(db, (d.call_id for d in deals if d.call_id))
