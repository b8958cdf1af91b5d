"""Target numbers, pools and static numbers: a number belongs to one place only."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.exceptions import Conflict, InvalidField
from app.i18n import gettext
from app.kit.phones import to_e164
from app.models import NumberKind, Pool, Site, TargetNumber, TrackingNumber
from app.numbers import repository
from app.numbers.schemas import PoolCreate, PoolUpdate, StaticNumberCreate, StaticNumberUpdate
from app.snapshots import configuration_changed


async def _where_is(db: AsyncSession, number: TrackingNumber) -> str:
    site = await repository.site_name(db, number.site_id)
    if number.kind == NumberKind.DYNAMIC:
        return gettext(
            "a number of pool %(pool)s on site %(site)s", pool=number.pool_id, site=repr(site)
        )
    return gettext(
        "a %(kind)s number (%(id)s) on site %(site)s",
        kind=number.kind,
        id=number.id,
        site=repr(site),
    )


async def _claim(db: AsyncSession, *, site: Site, raw: str, field: str) -> str:
    """`raw` in E.164, or Conflict (409) naming the place that already has it."""
    number = to_e164(raw, site.country, field=field)
    taken = await repository.active_tracking_number(db, number)
    if taken is not None:
        raise Conflict(
            gettext(
                "%(field)s: %(number)s is already %(where)s",
                field=field,
                number=number,
                where=await _where_is(db, taken),
            )
        )
    for target in await repository.targets_with_number(db, number):
        name = await repository.site_name(db, target.site_id)
        raise Conflict(
            gettext(
                "%(field)s: %(number)s is the target number of site %(site)s",
                field=field,
                number=number,
                site=repr(name),
            )
        )
    return number


async def _target(
    db: AsyncSession, *, site: Site, raw: str, field: str, now: datetime
) -> TargetNumber:
    """The site's target number written as `raw`, created on first use."""
    number = to_e164(raw, site.country, field=field)
    taken = await repository.active_tracking_number(db, number)
    if taken is not None:
        raise Conflict(
            gettext(
                "%(field)s: %(number)s is %(where)s, not a target number",
                field=field,
                number=number,
                where=await _where_is(db, taken),
            )
        )
    target = await repository.target(db, site_id=site.id, number=number)
    if target is None:
        target = TargetNumber(id=uuid.uuid4(), site_id=site.id, number=number, created_at=now)
        db.add(target)
        configuration_changed(db)
        await db.flush()
    return target


def _tracking_number(
    *, site: Site, number: str, kind: NumberKind, now: datetime, **fields: object
) -> TrackingNumber:
    return TrackingNumber(
        id=uuid.uuid4(),
        site_id=site.id,
        number=number,
        kind=kind.value,
        created_at=now,
        retired_at=None,
        **fields,
    )


def _pool_number(*, site: Site, pool: Pool, number: str, now: datetime) -> TrackingNumber:
    return _tracking_number(
        site=site,
        number=number,
        kind=NumberKind.DYNAMIC,
        now=now,
        pool_id=pool.id,
        target_number_id=pool.target_number_id,
    )


async def _claim_all(
    db: AsyncSession, *, site: Site, raw_numbers: list[str], already: set[str] | None = None
) -> list[str]:
    claimed: list[str] = []
    for index, raw in enumerate(raw_numbers):
        field = f"numbers[{index}]"
        number = to_e164(raw, site.country, field=field)
        if number in claimed:
            raise InvalidField(field, gettext("%(number)s is listed twice", number=number))
        if already is not None and number in already:
            claimed.append(number)
            continue
        claimed.append(await _claim(db, site=site, raw=raw, field=field))
    return claimed


# --- pools -------------------------------------------------------------------------------


async def create_pool(db: AsyncSession, site: Site, data: PoolCreate, *, now: datetime) -> Pool:
    target = await _target(db, site=site, raw=data.target_number, field="target_number", now=now)
    existing = await repository.active_pool_for_target(db, target.id)
    if existing is not None:
        raise Conflict(f"target_number: {target.number} already has pool {existing.id}")
    numbers = await _claim_all(db, site=site, raw_numbers=data.numbers)
    pool = await repository.POOLS.create(
        db,
        site_id=site.id,
        now=now,
        target_number_id=target.id,
        idle_timeout_s=data.idle_timeout_s,
        cooldown_s=data.cooldown_s,
        max_lease_s=data.max_lease_s,
        late_call_window_s=data.late_call_window_s,
    )
    db.add_all(_pool_number(site=site, pool=pool, number=number, now=now) for number in numbers)
    await db.flush()
    return pool


async def get_pool(db: AsyncSession, *, site_id: uuid.UUID, pool_id: uuid.UUID) -> Pool:
    return await repository.POOLS.get_on_site_or_404(db, site_id=site_id, row_id=pool_id)


async def list_pools(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[Pool]:
    return await repository.POOLS.list_on_site(db, site_id=site_id, include_retired=include_retired)


async def pool_numbers(db: AsyncSession, pools: list[Pool]) -> dict[uuid.UUID, list[str]]:
    """The active numbers of each pool, keyed by pool id."""
    numbers: dict[uuid.UUID, list[str]] = {pool.id: [] for pool in pools}
    for number in await repository.pool_numbers(db, numbers):
        assert number.pool_id is not None
        numbers[number.pool_id].append(number.number)
    return numbers


async def target_numbers(db: AsyncSession, ids: list[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    return await repository.target_numbers_by_id(db, ids)


async def update_pool(
    db: AsyncSession,
    site: Site,
    pool_id: uuid.UUID,
    data: PoolUpdate,
    *,
    now: datetime,
    target_number: str | None = None,
) -> Pool:
    """Change a pool's settings and numbers; `target_number` (the dashboard's edit form) moves
    the pool and its numbers onto another of the site's numbers."""
    pool = await get_pool(db, site_id=site.id, pool_id=pool_id)
    if pool.retired_at is not None:
        raise Conflict(f"pool {pool.id} is retired")
    if target_number is not None:
        await _retarget_pool(db, site=site, pool=pool, raw=target_number, now=now)
    idle = data.idle_timeout_s if data.idle_timeout_s is not None else pool.idle_timeout_s
    cap = data.max_lease_s if data.max_lease_s is not None else pool.max_lease_s
    if cap < idle:
        raise InvalidField(
            "max_lease_s", gettext("must be at least %(field)s", field="idle_timeout_s")
        )
    pool.idle_timeout_s, pool.max_lease_s = idle, cap
    if data.numbers is not None:
        await _replace_pool_numbers(db, site=site, pool=pool, raw_numbers=data.numbers, now=now)
    return await repository.POOLS.update(
        db, pool, data, fields=("cooldown_s", "late_call_window_s")
    )


async def _retarget_pool(
    db: AsyncSession, *, site: Site, pool: Pool, raw: str, now: datetime
) -> None:
    target = await _target(db, site=site, raw=raw, field="target_number", now=now)
    if target.id == pool.target_number_id:
        return
    existing = await repository.active_pool_for_target(db, target.id)
    if existing is not None:
        raise Conflict(f"target_number: {target.number} already has pool {existing.id}")
    pool.target_number_id = target.id
    for number in await repository.pool_numbers(db, [pool.id]):
        number.target_number_id = target.id
    configuration_changed(db)


async def _replace_pool_numbers(
    db: AsyncSession, *, site: Site, pool: Pool, raw_numbers: list[str], now: datetime
) -> None:
    current = {n.number: n for n in await repository.pool_numbers(db, [pool.id])}
    wanted = await _claim_all(db, site=site, raw_numbers=raw_numbers, already=set(current))
    for number, row in current.items():
        if number not in wanted:
            # Retired, not deleted: its calls keep their history and still match their visits.
            row.retired_at = now
    for number in wanted:
        if number not in current:
            db.add(_pool_number(site=site, pool=pool, number=number, now=now))


async def retire_pool(
    db: AsyncSession, *, site_id: uuid.UUID, pool_id: uuid.UUID, now: datetime
) -> Pool:
    pool = await get_pool(db, site_id=site_id, pool_id=pool_id)
    if pool.retired_at is None:
        for number in await repository.pool_numbers(db, [pool.id]):
            number.retired_at = now
        await repository.POOLS.retire(db, pool, now=now)
    return pool


# --- static numbers ----------------------------------------------------------------------


async def create_static_number(
    db: AsyncSession, site: Site, data: StaticNumberCreate, *, now: datetime
) -> TrackingNumber:
    target_id: uuid.UUID | None = None
    if data.target_number is not None:
        target = await _target(
            db, site=site, raw=data.target_number, field="target_number", now=now
        )
        target_id = target.id
    number = await _claim(db, site=site, raw=data.number, field="number")
    source, medium = data.source, data.medium
    if data.kind == "offline":
        # Offline numbers are their own channel unless the user names one.
        source, medium = source or "offline", medium or "offline"
    elif target_id is not None:
        twin = await repository.same_source_rule(
            db, target_id=target_id, source=source, medium=medium, campaign=data.campaign
        )
        if twin is not None:
            raise Conflict(
                gettext(
                    "source: %(number)s is already shown to visitors of this source in place "
                    "of %(target)s",
                    number=twin.number,
                    target=data.target_number,
                )
            )
    return await repository.STATIC_NUMBERS.add(
        db,
        _tracking_number(
            site=site,
            number=number,
            kind=NumberKind(data.kind),
            now=now,
            target_number_id=target_id,
            source=source,
            medium=medium,
            campaign=data.campaign,
        ),
    )


async def get_static_number(
    db: AsyncSession, *, site_id: uuid.UUID, number_id: uuid.UUID
) -> TrackingNumber:
    return await repository.STATIC_NUMBERS.get_on_site_or_404(db, site_id=site_id, row_id=number_id)


async def list_static_numbers(
    db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
) -> list[TrackingNumber]:
    return await repository.STATIC_NUMBERS.list_on_site(
        db, site_id=site_id, include_retired=include_retired
    )


async def update_static_number(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    number_id: uuid.UUID,
    data: StaticNumberUpdate,
    replace: bool = False,
) -> TrackingNumber:
    """Change who sees a source number, or an offline number's label. With `replace` (the
    dashboard's form, which shows every field) a field left empty is cleared, not kept."""
    row = await get_static_number(db, site_id=site_id, number_id=number_id)
    if row.retired_at is not None:
        raise Conflict(f"static number {row.number} is retired")
    if not replace:
        return await repository.STATIC_NUMBERS.update(
            db, row, data, fields=("source", "medium", "campaign")
        )
    source, medium, campaign = data.source, data.medium, data.campaign
    if row.kind == NumberKind.SOURCE:
        if source is None:
            raise InvalidField("source", gettext("say which visitors see this number"))
        if row.target_number_id is not None:
            twin = await repository.same_source_rule(
                db, target_id=row.target_number_id, source=source, medium=medium, campaign=campaign
            )
            if twin is not None and twin.id != row.id:
                raise Conflict(
                    gettext(
                        "source: %(number)s is already shown to visitors of this source",
                        number=twin.number,
                    )
                )
    elif source is None and campaign is None:
        raise InvalidField(
            "campaign",
            gettext("an offline number needs a campaign or a source to attribute its calls to"),
        )
    row.source, row.medium, row.campaign = source, medium, campaign
    return await repository.STATIC_NUMBERS.update(db, row)


async def retire_static_number(
    db: AsyncSession, *, site_id: uuid.UUID, number_id: uuid.UUID, now: datetime
) -> TrackingNumber:
    return await repository.STATIC_NUMBERS.retire_on_site(
        db, site_id=site_id, row_id=number_id, now=now
    )
