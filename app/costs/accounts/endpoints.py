from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.costs.accounts import service
from app.costs.accounts.platforms.base import ImportFailed
from app.costs.accounts.schemas import (
    AdAccountCreate,
    AdAccountList,
    AdAccountOut,
    AdAccountUpdate,
    ImportResult,
    MappingIn,
    MappingList,
    MappingOut,
)
from app.deps import AdminOnly, AppSettings, DbSession, Now
from app.kit.outbound import OutboundPolicy
from app.models import AdAccount
from app.sites import service as sites_service

router = APIRouter(
    prefix="/api/v1/sites/{site_id}/ad-accounts", tags=["ad accounts"], dependencies=[AdminOnly]
)

FromDay = Annotated[
    str | None, Query(alias="from", max_length=40, description="First day, ISO date (a week ago).")
]
ToDay = Annotated[
    str | None, Query(alias="to", max_length=40, description="Last day, ISO date (today).")
]


def _out(account: AdAccount) -> AdAccountOut:
    return AdAccountOut.model_validate(account)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AdAccountOut)
async def create_account(
    site_id: uuid.UUID, data: AdAccountCreate, db: DbSession, now: Now, settings: AppSettings
) -> AdAccountOut:
    """Connect an ad account; its credentials are stored sealed and never shown again."""
    site = await sites_service.get_active_site(db, site_id)
    outbound = OutboundPolicy.parse(settings.outbound_allow)
    return _out(await service.create_account(db, site, data, now=now, outbound=outbound))


@router.get("", response_model=AdAccountList)
async def list_accounts(
    site_id: uuid.UUID, db: DbSession, include_retired: bool = False
) -> AdAccountList:
    await sites_service.get_site(db, site_id)
    rows = await service.list_accounts(db, site_id=site_id, include_retired=include_retired)
    return AdAccountList(items=[_out(row) for row in rows])


@router.get("/{account_id}", response_model=AdAccountOut)
async def get_account(site_id: uuid.UUID, account_id: uuid.UUID, db: DbSession) -> AdAccountOut:
    return _out(await service.get_account(db, site_id=site_id, account_id=account_id))


@router.patch("/{account_id}", response_model=AdAccountOut)
async def update_account(
    site_id: uuid.UUID, account_id: uuid.UUID, data: AdAccountUpdate, db: DbSession
) -> AdAccountOut:
    """Renew the credentials (a revoked token), the name or the currency."""
    account = await service.update_account(db, site_id=site_id, account_id=account_id, data=data)
    return _out(account)


@router.delete("/{account_id}", response_model=AdAccountOut)
async def retire_account(
    site_id: uuid.UUID, account_id: uuid.UUID, db: DbSession, now: Now
) -> AdAccountOut:
    """Stop importing; the spend imported so far stays."""
    return _out(await service.retire_account(db, site_id=site_id, account_id=account_id, now=now))


@router.post(
    "/{account_id}/import",
    response_model=ImportResult,
    responses={502: {"description": "the platform refused"}, 503: {"description": "try later"}},
)
async def import_now(
    site_id: uuid.UUID,
    account_id: uuid.UUID,
    db: DbSession,
    now: Now,
    settings: AppSettings,
    since: FromDay = None,
    until: ToDay = None,
) -> ImportResult:
    """Import the spend of the days [from, to] now (the last week by default), replacing
    what the account stored for those days; answers the rows imported per day."""
    site = await sites_service.get_active_site(db, site_id)
    account = await service.get_account(db, site_id=site_id, account_id=account_id)
    first, last = service.requested_days(site, since, until, now=now)
    try:
        return await service.import_now(
            db,
            account,
            first_day=first,
            last_day=last,
            now=now,
            outbound=OutboundPolicy.parse(settings.outbound_allow),
        )
    except ImportFailed:
        # The account's status must outlive the error answer, which rolls the request back.
        await db.commit()
        raise


@router.get("/{account_id}/mappings", response_model=MappingList)
async def list_mappings(site_id: uuid.UUID, account_id: uuid.UUID, db: DbSession) -> MappingList:
    account = await service.get_account(db, site_id=site_id, account_id=account_id)
    rows = await service.list_mappings(db, account)
    return MappingList(items=[MappingOut.model_validate(row) for row in rows])


@router.put("/{account_id}/mappings", response_model=MappingOut)
async def set_mapping(
    site_id: uuid.UUID, account_id: uuid.UUID, data: MappingIn, db: DbSession, now: Now
) -> MappingOut:
    """The utm_campaign a platform campaign's visits carry; its stored spend moves there."""
    account = await service.get_account(db, site_id=site_id, account_id=account_id)
    return MappingOut.model_validate(await service.set_mapping(db, account, data, now=now))


@router.delete("/{account_id}/mappings/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_mapping(
    site_id: uuid.UUID, account_id: uuid.UUID, mapping_id: uuid.UUID, db: DbSession
) -> None:
    account = await service.get_account(db, site_id=site_id, account_id=account_id)
    await service.delete_mapping(db, account, mapping_id=mapping_id)
