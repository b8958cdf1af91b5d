"""One shape for what a site owns and retires rather than deletes: pools, static numbers, PBX
integrations, CRM connectors, and the connectors still to come.

Each domain keeps its own service functions (their names and arguments are what the admin API
and the dashboard call) and its own rules; what they share lives here: read one row of a site
or answer 404 naming the thing, list a site's rows (live, or with the retired ones), add,
update from a patch, retire. Every write notes a configuration change
(`app.snapshots.configuration_changed`), so the snapshots renew once the request commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.exceptions import NotFound
from app.snapshots import configuration_changed


class SiteScoped(Protocol):
    """A model of rows one site owns, retired rather than deleted so that history stays: these
    four columns (the repository reads them from the mapping for its queries)."""

    id: uuid.UUID
    site_id: uuid.UUID
    created_at: datetime
    retired_at: datetime | None

    def __init__(self, **fields: Any) -> None: ...


Row = TypeVar("Row", bound=SiteScoped)


class SiteScopedRepository(Generic[Row]):
    """The SQL every kind of site-owned row shares.

    `noun` names the thing in messages ("pool 4f… not found on site 1c…"). A model that holds
    more than one kind of thing (tracking numbers: dynamic and static) is narrowed twice, for
    the database by `where` and for a row already loaded by `belongs`.
    """

    def __init__(
        self,
        model: type[Row],
        *,
        noun: str,
        order_by: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]] = (),
        where: ColumnElement[bool] | None = None,
        belongs: Callable[[Row], bool] | None = None,
    ) -> None:
        self.model = model
        self.noun = noun
        self._belongs = belongs
        columns = inspect(model).columns
        query = select(model).where(columns["site_id"] == bindparam("b_site"))
        if where is not None:
            query = query.where(where)
        query = query.order_by(*(order_by or (columns["created_at"], columns["id"])))
        # Built once: the live list of some of them is read on every call's start and end.
        self._all: Select[Row] = query
        self._live: Select[Row] = query.where(columns["retired_at"].is_(None))

    async def get_on_site_or_404(
        self, db: AsyncSession, *, site_id: uuid.UUID, row_id: uuid.UUID
    ) -> Row:
        """The row, retired or not; NotFound when it is another site's or not there."""
        row = await db.get(self.model, row_id)
        if (
            row is None
            or row.site_id != site_id
            or (self._belongs is not None and not self._belongs(row))
        ):
            raise NotFound(f"{self.noun} {row_id} not found on site {site_id}")
        return row

    async def list_on_site(
        self, db: AsyncSession, *, site_id: uuid.UUID, include_retired: bool = False
    ) -> list[Row]:
        query = self._all if include_retired else self._live
        return list((await db.execute(query, {"b_site": site_id})).scalars())

    def new(self, *, site_id: uuid.UUID, now: datetime, **fields: Any) -> Row:
        """A live row of the site, not yet added."""
        return self.model(
            id=uuid.uuid4(), site_id=site_id, created_at=now, retired_at=None, **fields
        )

    async def add(self, db: AsyncSession, row: Row) -> Row:
        db.add(row)
        configuration_changed(db)
        await db.flush()
        return row

    async def create(
        self, db: AsyncSession, *, site_id: uuid.UUID, now: datetime, **fields: Any
    ) -> Row:
        return await self.add(db, self.new(site_id=site_id, now=now, **fields))

    async def update(
        self,
        db: AsyncSession,
        row: Row,
        patch: BaseModel | None = None,
        *,
        fields: Iterable[str] = (),
    ) -> Row:
        """Store what the caller changed on `row`, and each of `fields` the patch gives (None
        in a patch means "leave it as it is")."""
        if patch is not None:
            copy_given(patch, row, fields)
        configuration_changed(db)
        await db.flush()
        return row

    async def retire(self, db: AsyncSession, row: Row, *, now: datetime) -> bool:
        """Retire the row unless it is already; True if it was live until now."""
        if row.retired_at is not None:
            return False
        row.retired_at = now
        configuration_changed(db)
        await db.flush()
        return True

    async def retire_on_site(
        self, db: AsyncSession, *, site_id: uuid.UUID, row_id: uuid.UUID, now: datetime
    ) -> Row:
        """The site's row, retired (again is harmless: it keeps its first retired_at)."""
        row = await self.get_on_site_or_404(db, site_id=site_id, row_id=row_id)
        await self.retire(db, row, now=now)
        return row


def copy_given(patch: BaseModel, row: object, fields: Iterable[str]) -> None:
    """Set each of `fields` on `row` from `patch`, skipping those the patch leaves None."""
    for field in fields:
        value = getattr(patch, field)
        if value is not None:
            setattr(row, field, value)
