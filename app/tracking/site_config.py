"""What the tracker reads of a site on every visit: its domains, target numbers, pools and
source-level rules, kept as an in-process snapshot (see app.snapshots for when it is renewed).

Reading them from the database on each request cost four statements, most of the tracker's
time. A pool retired by another process inside the snapshot's TTL is harmless: its store was
dropped, so a lease finds it empty and the visitor gets the fallback number."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import NumberKind, Pool, Site, TargetNumber, TrackingNumber
from app.outages import is_database_outage
from app.snapshots import SnapshotCache
from numberpool.service import KnownNumbers
from numberpool.source_rules import SourceRule, live_rules


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """The pool settings the number pool service reads (an ORM Pool has the same shape)."""

    id: uuid.UUID
    site_id: uuid.UUID
    target_number_id: uuid.UUID
    idle_timeout_s: int
    cooldown_s: int
    max_lease_s: int


@dataclass(frozen=True, slots=True)
class TargetConfig:
    id: uuid.UUID
    number: str  # E.164
    pool: PoolConfig | None  # its live pool, if it has one
    known: KnownNumbers  # what its pool may show: its numbers, rules, the target itself


@dataclass(frozen=True, slots=True)
class SiteConfig:
    id: uuid.UUID
    public_key: str
    domains: list[str]
    retired: bool
    targets: tuple[TargetConfig, ...]
    source_rules: tuple[SourceRule, ...]
    # ISO 3166: a phone a visitor types in a form is read in this country.
    country: str = "ZZ"
    forms_enabled: bool = False
    forms_consent_required: bool = False


class SiteConfigCache:
    def __init__(self, **snapshot_options: Any) -> None:
        self._snapshots: SnapshotCache[str, SiteConfig | None] = SnapshotCache(**snapshot_options)

    async def get(self, db: AsyncSession, public_key: str) -> SiteConfig | None:
        """The site's snapshot, or None when no site has this key."""
        return await self._snapshots.get(public_key, lambda: _load_or_roll_back(db, public_key))


async def _load_or_roll_back(db: AsyncSession, public_key: str) -> SiteConfig | None:
    try:
        return await load(db, public_key)
    except Exception as exc:
        if is_database_outage(exc):
            # The snapshot may answer from its last copy; the request's session must then be
            # usable (and committable) again.
            await db.rollback()
        raise


async def load(db: AsyncSession, public_key: str) -> SiteConfig | None:
    site = (
        await db.execute(select(Site).where(Site.public_key == public_key))
    ).scalar_one_or_none()
    if site is None:
        return None
    targets = await db.execute(
        select(TargetNumber, Pool)
        .outerjoin(Pool, (Pool.target_number_id == TargetNumber.id) & Pool.retired_at.is_(None))
        .where(TargetNumber.site_id == site.id)
        .order_by(TargetNumber.created_at, TargetNumber.number)
    )
    live = (TrackingNumber.site_id == site.id) & TrackingNumber.retired_at.is_(None)
    source_numbers = (
        select(TrackingNumber)
        .where(live, TrackingNumber.kind == NumberKind.SOURCE.value)
        .order_by(TrackingNumber.created_at, TrackingNumber.id)
    )
    rules = tuple(live_rules((await db.execute(source_numbers)).scalars()))
    # Pools hold up to a thousand numbers each: plain rows, not ORM objects, so that renewing
    # the snapshot does not hold up the requests waiting behind it.
    pool_numbers = select(TrackingNumber.pool_id, TrackingNumber.id, TrackingNumber.number).where(
        live, TrackingNumber.kind == NumberKind.DYNAMIC.value
    )
    dynamic: dict[uuid.UUID | None, dict[uuid.UUID, str]] = {}
    for pool_id, number_id, number in await db.execute(pool_numbers):
        dynamic.setdefault(pool_id, {})[number_id] = number
    return SiteConfig(
        id=site.id,
        public_key=site.public_key,
        domains=list(site.domains),
        retired=site.retired_at is not None,
        targets=tuple(
            _target(target, pool, rules, dynamic.get(pool.id if pool else None, {}))
            for target, pool in targets
        ),
        source_rules=rules,
        country=site.country,
        forms_enabled=site.forms_enabled,
        forms_consent_required=site.forms_consent_required,
    )


def _target(
    target: TargetNumber,
    pool: Pool | None,
    rules: tuple[SourceRule, ...],
    dynamic: Mapping[uuid.UUID, str],
) -> TargetConfig:
    config = None
    if pool is not None:
        config = PoolConfig(
            id=pool.id,
            site_id=pool.site_id,
            target_number_id=pool.target_number_id,
            idle_timeout_s=pool.idle_timeout_s,
            cooldown_s=pool.cooldown_s,
            max_lease_s=pool.max_lease_s,
        )
    known = KnownNumbers(
        target=target.number,
        dynamic=dict(dynamic),
        rules=tuple(r for r in rules if r.target_number_id == target.id),
    )
    return TargetConfig(id=target.id, number=target.number, pool=config, known=known)
