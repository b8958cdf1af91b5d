"""The shared shape of what a site owns: one site's rows only, 404s naming the thing, the
retired kept and listed on request, retiring twice keeps the first time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.crud import SiteScopedRepository, copy_given
from app.exceptions import NotFound
from app.models import NumberKind, PbxIntegration, Site, TrackingNumber
from app.numbers.repository import STATIC_NUMBERS

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INTEGRATIONS = SiteScopedRepository(PbxIntegration, noun="PBX integration")


async def _site(db: AsyncSession, name: str) -> Site:
    site = Site(
        id=uuid.uuid4(),
        public_key=uuid.uuid4().hex,
        name=name,
        domains=[f"{name}.example"],
        country="RU",
        timezone="UTC",
        created_at=NOW,
        retired_at=None,
    )
    db.add(site)
    await db.flush()
    return site


async def _integration(db: AsyncSession, site: Site, name: str, at: datetime) -> PbxIntegration:
    return await INTEGRATIONS.create(
        db, site_id=site.id, now=at, provider="generic", name=name, credentials={}, settings={}
    )


async def test_a_row_is_read_only_on_its_own_site(db: AsyncSession) -> None:
    shop, other = await _site(db, "shop"), await _site(db, "other")
    row = await _integration(db, shop, "PBX", NOW)

    assert await INTEGRATIONS.get_on_site_or_404(db, site_id=shop.id, row_id=row.id) is row
    with pytest.raises(NotFound) as elsewhere:
        await INTEGRATIONS.get_on_site_or_404(db, site_id=other.id, row_id=row.id)
    missing = uuid.uuid4()
    with pytest.raises(NotFound) as nowhere:
        await INTEGRATIONS.get_on_site_or_404(db, site_id=shop.id, row_id=missing)

    assert elsewhere.value.detail == f"PBX integration {row.id} not found on site {other.id}"
    assert nowhere.value.detail == f"PBX integration {missing} not found on site {shop.id}"


async def test_a_row_of_another_kind_in_the_same_table_is_not_found(db: AsyncSession) -> None:
    shop = await _site(db, "shop")
    dynamic = TrackingNumber(
        id=uuid.uuid4(),
        site_id=shop.id,
        number="+74950000001",
        kind=NumberKind.DYNAMIC.value,
        created_at=NOW,
        retired_at=None,
    )
    db.add(dynamic)
    await db.flush()

    with pytest.raises(NotFound, match=r"^static number "):
        await STATIC_NUMBERS.get_on_site_or_404(db, site_id=shop.id, row_id=dynamic.id)
    assert await STATIC_NUMBERS.list_on_site(db, site_id=shop.id, include_retired=True) == []


async def test_lists_are_in_creation_order_and_keep_the_retired_on_request(
    db: AsyncSession,
) -> None:
    shop, other = await _site(db, "shop"), await _site(db, "other")
    second = await _integration(db, shop, "second", NOW + timedelta(minutes=1))
    first = await _integration(db, shop, "first", NOW)
    await _integration(db, other, "theirs", NOW)
    assert await INTEGRATIONS.retire(db, first, now=NOW + timedelta(hours=1))

    live = await INTEGRATIONS.list_on_site(db, site_id=shop.id)
    every = await INTEGRATIONS.list_on_site(db, site_id=shop.id, include_retired=True)

    assert [row.name for row in live] == ["second"]
    assert [row.name for row in every] == ["first", "second"]
    assert second.retired_at is None


async def test_retiring_again_keeps_the_first_time(db: AsyncSession) -> None:
    shop = await _site(db, "shop")
    row = await _integration(db, shop, "PBX", NOW)
    first, later = NOW + timedelta(hours=1), NOW + timedelta(hours=2)

    retired = await INTEGRATIONS.retire_on_site(db, site_id=shop.id, row_id=row.id, now=first)
    again = await INTEGRATIONS.retire(db, row, now=later)

    assert retired is row
    assert (again, row.retired_at) == (False, first)


class _Patch(BaseModel):
    name: str | None = None
    provider: str | None = None


async def test_an_update_copies_what_the_patch_gives_and_only_the_fields_named(
    db: AsyncSession,
) -> None:
    shop = await _site(db, "shop")
    row = await _integration(db, shop, "PBX", NOW)

    await INTEGRATIONS.update(db, row, _Patch(name="Renamed", provider="twilio"), fields=("name",))
    copy_given(_Patch(), row, ("name", "provider"))  # None leaves a field as it is
    await db.refresh(row)

    assert (row.name, row.provider) == ("Renamed", "generic")
