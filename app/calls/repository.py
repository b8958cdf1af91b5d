"""All SQL about calls: finding or creating a call row, and what attribution looks up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import dialect
from app.models import (
    Call,
    FormLead,
    NumberFallback,
    TargetNumber,
    TrackingNumber,
    TrackingSession,
)

# Built once: every PBX event runs them, and building them per event cost more than running
# them. On conflict the existing row is "updated" to itself: that locks it like SELECT ... FOR
# UPDATE and returns it, in the same round trip that creates a new call.
_CALLS = cast(Table, Call.__table__)
_CREATE_OR_LOCK = dialect.PerDialect(
    lambda insert_into: (
        insert_into(_CALLS)
        .on_conflict_do_update(
            index_elements=["integration_id", "provider_call_id"],
            set_={"updated_at": _CALLS.c.updated_at},
        )
        .returning(*_CALLS.c)
    )
)
_FIXED = {"id", "site_id", "integration_id", "provider_call_id", "created_at"}
_WRITABLE = [c.name for c in _CALLS.columns if c.name not in _FIXED]
_WRITE_BACK = (
    update(_CALLS)
    .where(_CALLS.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _WRITABLE})
)


async def lock_or_create(db: AsyncSession, values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The call of (integration, provider call id) as a row, locked for this transaction;
    created from `values` if new. Parallel events of one call meet here: one inserts, the
    other waits."""
    connection = await db.connection()
    found = await connection.execute(_CREATE_OR_LOCK.on(connection), values)
    row = dict(found.mappings().one())
    return row, row["id"] == values["id"]


async def write_back(db: AsyncSession, row: dict[str, Any]) -> None:
    """Store a call row read by `lock_or_create` and changed since."""
    connection = await db.connection()
    params = {"b_id": row["id"], **{f"b_{name}": row[name] for name in _WRITABLE}}
    await connection.execute(_WRITE_BACK, params)


@dataclass(frozen=True, slots=True)
class DialledNumber:
    """What attribution reads of the tracking number a call went to."""

    id: uuid.UUID
    number: str
    kind: str
    source: str | None
    medium: str | None
    campaign: str | None


# Columns, not ORM objects: setting up the ORM's row loading cost more than the query itself.
_NUMBER_AT = (
    select(
        TrackingNumber.id,
        TrackingNumber.number,
        TrackingNumber.kind,
        TrackingNumber.source,
        TrackingNumber.medium,
        TrackingNumber.campaign,
    )
    .where(
        TrackingNumber.site_id == bindparam("b_site"),
        TrackingNumber.number == bindparam("b_number"),
        TrackingNumber.created_at <= bindparam("b_at"),
    )
    .order_by(TrackingNumber.retired_at.is_not(None), TrackingNumber.created_at.desc())
    .limit(1)
)
_IS_TARGET = (
    select(TargetNumber.id)
    .where(
        TargetNumber.site_id == bindparam("b_site"), TargetNumber.number == bindparam("b_number")
    )
    .limit(1)
)
# The caller's earlier calls and forms: a caller who filled a form and then phoned is one
# person (a form lead's phone is E.164 in the site's country, as a caller is).
_EARLIER_CONTACTS = union_all(
    select(Call.visitor_id, Call.started_at.label("at")).where(
        Call.site_id == bindparam("b_site"),
        Call.caller == bindparam("b_caller"),
        Call.started_at < bindparam("b_before"),
        Call.id != bindparam("b_exclude"),
    ),
    select(FormLead.visitor_id, FormLead.created_at.label("at")).where(
        FormLead.site_id == bindparam("b_site"),
        FormLead.phone == bindparam("b_caller"),
        FormLead.created_at <= bindparam("b_before"),
    ),
).subquery("earlier")
_EARLIER_CALLS = select(_EARLIER_CONTACTS.c.visitor_id).order_by(_EARLIER_CONTACTS.c.at.desc())


async def tracking_number_at(
    db: AsyncSession, *, site_id: uuid.UUID, number: str, at: datetime
) -> DialledNumber | None:
    """The site's tracking number `number` as it was at `at`; a retired number still routes
    the calls of people who saved it, so the latest one created before the call wins."""
    params = {"b_site": site_id, "b_number": number, "b_at": at}
    row = (await db.execute(_NUMBER_AT, params)).first()
    return None if row is None else DialledNumber(*row)


async def is_target(db: AsyncSession, *, site_id: uuid.UUID, number: str) -> bool:
    params = {"b_site": site_id, "b_number": number}
    return (await db.execute(_IS_TARGET, params)).first() is not None


async def earlier_call_visitors(
    db: AsyncSession, *, site_id: uuid.UUID, caller: str, before: datetime, exclude: uuid.UUID
) -> list[uuid.UUID | None]:
    """The caller's calls to this site before this one, and the forms they sent with their
    phone, newest first: the visitor each was attributed to (None when none was)."""
    params = {"b_site": site_id, "b_caller": caller, "b_before": before, "b_exclude": exclude}
    return list((await db.execute(_EARLIER_CALLS, params)).scalars())


async def fallbacks_showing(
    db: AsyncSession, *, tracking_number_id: uuid.UUID, since: datetime, until: datetime
) -> int:
    """How many sessions were shown this number as a pool's overflow in the window."""
    query = select(func.count()).where(
        NumberFallback.tracking_number_id == tracking_number_id,
        NumberFallback.served_at >= since,
        NumberFallback.served_at <= until,
    )
    return int(await db.scalar(query) or 0)


async def calls(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Call]:
    query = select(Call).where(Call.site_id == site_id)
    if since is not None:
        query = query.where(Call.started_at >= since)
    if until is not None:
        query = query.where(Call.started_at < until)
    query = query.order_by(Call.started_at.desc(), Call.id.desc()).limit(limit)
    return list((await db.execute(query)).scalars())


async def journey(
    db: AsyncSession, *, visitor_id: uuid.UUID, before: datetime
) -> list[TrackingSession]:
    query = (
        select(TrackingSession)
        .where(TrackingSession.visitor_id == visitor_id, TrackingSession.started_at <= before)
        .order_by(TrackingSession.started_at)
    )
    return list((await db.execute(query)).scalars())


async def short_calls_from(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    caller: str,
    since: datetime,
    shorter_than_s: int,
    exclude: uuid.UUID,
) -> int:
    query = select(func.count()).where(
        Call.id != exclude,
        Call.site_id == site_id,
        Call.caller == caller,
        Call.started_at >= since,
        Call.status == "ended",
        or_(Call.duration.is_(None), Call.duration < shorter_than_s),
    )
    return int(await db.scalar(query) or 0)
