"""All SQL about calls: finding or creating a call row, and what attribution looks up."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import Executable
from sqlalchemy.sql.schema import Column, ScalarElementColumnDefault

from app.kit import dialect
from app.models import (
    Call,
    CallKey,
    CallNote,
    CallTag,
    FormLead,
    NumberFallback,
    TargetNumber,
    TrackingNumber,
    TrackingSession,
)
from app.reports.call_filters import CallFilters

# Built once: every PBX event runs them, and building them per event cost more than running
# them.
_CALLS = cast(Table, Call.__table__)
_KEYS = cast(Table, CallKey.__table__)
_KEY_OF_EVENT = and_(
    _KEYS.c.integration_id == bindparam("integration_id"),
    _KEYS.c.provider_call_id == bindparam("provider_call_id"),
)
_CALL_OF_KEY = and_(_CALLS.c.id == _KEYS.c.call_id, _CALLS.c.created_at == _KEYS.c.created_at)


def _value_or_default(column: Column[Any]) -> BindParameter[Any]:
    default = column.default
    value = default.arg if isinstance(default, ScalarElementColumnDefault) else None
    return bindparam(column.name, value, type_=column.type, required=False)


def _find_or_create() -> Executable:
    """PostgreSQL, one round trip: the call of the event's key, locked (key row and call row),
    or, if the key is new, the key claimed and the call created from the parameters. Nothing
    comes back when another transaction claimed the key after this statement's snapshot (it
    waited for that one, and cannot see its call) or when the key outlived its call: then the
    statements of `_step_by_step` follow, each with a snapshot of its own."""
    found = (
        select(*_CALLS.c)
        .select_from(_KEYS.join(_CALLS, _CALL_OF_KEY))
        .where(_KEY_OF_EVENT)
        .with_for_update()
        .cte("found")
    )
    claimed = (
        postgresql.insert(_KEYS)
        .from_select(
            ["integration_id", "provider_call_id", "call_id", "created_at"],
            select(
                bindparam("integration_id", type_=_KEYS.c.integration_id.type),
                bindparam("provider_call_id", type_=_KEYS.c.provider_call_id.type),
                bindparam("id", type_=_CALLS.c.id.type),
                bindparam("created_at", type_=_CALLS.c.created_at.type),
            ).where(~exists(select(found.c.id))),
        )
        .on_conflict_do_nothing()
        .returning(_KEYS.c.call_id)
        .cte("claimed")
    )
    created = (
        insert(_CALLS)
        .from_select(
            [c.name for c in _CALLS.c],
            # A column the values leave out gets its default, as in a plain INSERT.
            select(*(_value_or_default(c) for c in _CALLS.c)).where(
                exists(select(claimed.c.call_id))
            ),
        )
        .returning(*_CALLS.c)
        .cte("created")
    )
    return union_all(select(*found.c), select(*created.c))


_FIND_OR_CREATE = _find_or_create()
# The same in steps. The key row is claimed first: on conflict it is "updated" to itself, which
# locks it like SELECT ... FOR UPDATE (parallel events of one call wait here for each other)
# and returns the call it names. The call is then read in a statement of its own, which sees
# what the event that held the lock committed.
_CLAIM_KEY = dialect.PerDialect(
    lambda insert_into: (
        insert_into(_KEYS)
        .on_conflict_do_update(
            index_elements=["integration_id", "provider_call_id"],
            set_={"call_id": _KEYS.c.call_id},
        )
        .returning(_KEYS.c.call_id, _KEYS.c.created_at)
    )
)
_CREATE = insert(_CALLS).returning(*_CALLS.c)
# The partition key narrows the read to one partition on PostgreSQL.
_LOCKED = (
    select(*_CALLS.c)
    .where(_CALLS.c.id == bindparam("b_id"), _CALLS.c.created_at == bindparam("b_created"))
    .with_for_update()
)
_RENAME_KEY = (
    update(_KEYS)
    .where(
        _KEYS.c.integration_id == bindparam("b_integration"),
        _KEYS.c.provider_call_id == bindparam("b_provider_call"),
    )
    .values(call_id=bindparam("b_id"), created_at=bindparam("b_created"))
)
# Never written back by the merge: the identity, and what people set on the call's page.
_FIXED = {"id", "site_id", "integration_id", "provider_call_id", "created_at", "lead_status"}
_WRITABLE = [c.name for c in _CALLS.columns if c.name not in _FIXED]
_WRITE_BACK = (
    update(_CALLS)
    # The partition key: one partition to look in.
    .where(_CALLS.c.id == bindparam("b_id"), _CALLS.c.created_at == bindparam("b_created_at"))
    .values({name: bindparam(f"b_{name}") for name in _WRITABLE})
)


async def lock_or_create(db: AsyncSession, values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The call of (integration, provider call id) as a row, locked for this transaction;
    created from `values` if new. Parallel events of one call meet here: one inserts, the
    other waits."""
    connection = await db.connection()
    if dialect.name_of(connection) == dialect.POSTGRESQL:
        row = (await connection.execute(_FIND_OR_CREATE, values)).mappings().one_or_none()
        if row is not None:
            return dict(row), row["id"] == values["id"]
    return await _step_by_step(connection, values)


async def _step_by_step(
    connection: AsyncConnection, values: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """`lock_or_create` in separate statements: SQLite's way (it has no INSERT inside WITH),
    and PostgreSQL's after a race for a new key or for a key whose call was detached."""
    key = {name: values[name] for name in ("integration_id", "provider_call_id", "created_at")}
    claimed = (
        await connection.execute(_CLAIM_KEY.on(connection), {**key, "call_id": values["id"]})
    ).one()
    if claimed.call_id != values["id"]:
        params = {"b_id": claimed.call_id, "b_created": claimed.created_at}
        found = (await connection.execute(_LOCKED, params)).mappings().one_or_none()
        if found is not None:
            return dict(found), False
        # The key outlived its call (its month detached and archived): a new event makes it
        # a call again, in this month, under its own id, so that its report credits and CRM
        # deliveries stay those of one call (a new id would count and send it twice).
        values = {**values, "id": claimed.call_id}
        await connection.execute(
            _RENAME_KEY,
            {
                "b_integration": values["integration_id"],
                "b_provider_call": values["provider_call_id"],
                "b_id": values["id"],
                "b_created": values["created_at"],
            },
        )
    created = (await connection.execute(_CREATE, values)).mappings().one()
    return dict(created), True


async def write_back(db: AsyncSession, row: dict[str, Any]) -> None:
    """Store a call row read by `lock_or_create` and changed since."""
    connection = await db.connection()
    params = {
        "b_id": row["id"],
        "b_created_at": row["created_at"],
        **{f"b_{name}": row[name] for name in _WRITABLE},
    }
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


def _listed(
    site_id: uuid.UUID, since: datetime, until: datetime, filters: CallFilters
) -> list[ColumnElement[bool]]:
    return [
        Call.site_id == site_id,
        Call.started_at >= since,
        Call.started_at < until,
        *filters.conditions(),
    ]


async def calls_page(
    db: AsyncSession,
    *,
    site_id: uuid.UUID,
    since: datetime,
    until: datetime,
    filters: CallFilters,
    offset: int,
    limit: int,
) -> list[Call]:
    """One page of the period's calls that pass `filters`, newest first (id breaks ties, so
    pages never overlap)."""
    query = (
        select(Call)
        .where(*_listed(site_id, since, until, filters))
        .order_by(Call.started_at.desc(), Call.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())


async def count_calls(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime, filters: CallFilters
) -> int:
    query = select(func.count()).select_from(Call).where(*_listed(site_id, since, until, filters))
    return int((await db.execute(query)).scalar_one())


async def call_sources(
    db: AsyncSession, *, site_id: uuid.UUID, since: datetime, until: datetime
) -> list[str]:
    """The sources the period's calls have, for the filter's choices."""
    query = (
        select(Call.source)
        .where(*_listed(site_id, since, until, CallFilters()), Call.source.is_not(None))
        .distinct()
    )
    return sorted(source for source in (await db.execute(query)).scalars() if source)


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


# --- what people add on a call's page -----------------------------------------------------


async def notes(db: AsyncSession, *, call_id: uuid.UUID) -> list[CallNote]:
    query = (
        select(CallNote)
        .where(CallNote.call_id == call_id)
        .order_by(CallNote.created_at, CallNote.id)
    )
    return list((await db.execute(query)).scalars())


def add_note(db: AsyncSession, row: CallNote) -> None:
    db.add(row)


async def tags_of(db: AsyncSession, call_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = {call_id: [] for call_id in call_ids}
    if not call_ids:
        return found
    query = (
        select(CallTag.call_id, CallTag.tag)
        .where(CallTag.call_id.in_(call_ids))
        .order_by(CallTag.tag)
    )
    for call_id, tag in (await db.execute(query)).all():
        found[call_id].append(tag)
    return found


async def replace_tags(db: AsyncSession, *, call: Call, tags: list[str], now: datetime) -> None:
    await db.execute(delete(CallTag).where(CallTag.call_id == call.id))
    for tag in tags:
        db.add(CallTag(call_id=call.id, tag=tag, site_id=call.site_id, created_at=now))
    await db.flush()


async def calls_tagged(db: AsyncSession, *, site_id: uuid.UUID, tag: str) -> set[uuid.UUID]:
    query = select(CallTag.call_id).where(CallTag.site_id == site_id, CallTag.tag == tag)
    return set((await db.execute(query)).scalars())


async def site_tags(db: AsyncSession, *, site_id: uuid.UUID, limit: int = 200) -> list[str]:
    query = (
        select(CallTag.tag)
        .where(CallTag.site_id == site_id)
        .group_by(CallTag.tag)
        .order_by(CallTag.tag)
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())
