"""A new visit is written at once (one statement on PostgreSQL): its rows, and the fence that
keeps the lease log from ever showing two holders of one number."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import NumberAssignment, NumberFallback, Pool, TrackingSession, Visitor
from app.state import state_of
from numberpool import service as pool_service
from tests.clock import ManualClock
from tests.factories import create_pool, create_site
from tests.tracking.test_endpoints import start

NUMBER = "+74950000001"


async def test_a_new_visit_writes_its_visitor_session_and_lease_together(
    client: AsyncClient, anonymous: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    site = await create_site(client)
    await create_pool(client, site["id"], numbers=[NUMBER])

    first = (await start(anonymous, site, url="https://shop.example/?utm_source=vk")).json()
    second = (await start(anonymous, site)).json()

    async with sessionmaker() as db:
        visitors = set((await db.execute(select(Visitor.id))).scalars())
        sessions = {s.id: s for s in (await db.execute(select(TrackingSession))).scalars()}
        leases = list((await db.execute(select(NumberAssignment))).scalars())
        fallbacks = list((await db.execute(select(NumberFallback))).scalars())
    assert visitors == {uuid.UUID(first["visitor_id"]), uuid.UUID(second["visitor_id"])}
    assert sessions[uuid.UUID(first["session_id"])].source == "vk"
    assert [(lease.session_id, lease.generation) for lease in leases] == [
        (uuid.UUID(first["session_id"]), 1)
    ]
    assert first["numbers"][0]["number"] == NUMBER
    # The pool's one number is taken: the second visit is counted as a fallback.
    assert [(f.session_id, f.reason) for f in fallbacks] == [
        (uuid.UUID(second["session_id"]), "exhausted")
    ]


async def test_a_lease_the_store_never_heard_of_fences_the_next_visit(
    app: FastAPI,
    client: AsyncClient,
    anonymous: AsyncClient,
    clock: ManualClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    site = await create_site(client)
    await create_pool(client, site["id"], numbers=[NUMBER], idle_timeout_s=60, cooldown_s=60)
    first = (await start(anonymous, site)).json()
    store = state_of(app).pool_store
    async with sessionmaker() as db:
        pool = (await db.execute(select(Pool))).scalar_one()
        number_id = (await db.execute(select(NumberAssignment.tracking_number_id))).scalar_one()
        # The first visitor leaves; their number rests out its cooldown.
        await pool_service.release_session(
            db, store, pool=pool, session_id=uuid.UUID(first["session_id"]), now=clock()
        )
        await db.commit()
    clock.advance(seconds=120)
    # Another process leased the number meanwhile (generation 2), and this store missed it.
    other = await _logged_lease(sessionmaker, site, pool, number_id, generation=2, at=clock())

    second = (await start(anonymous, site)).json()

    async with sessionmaker() as db:
        leases = list(
            (
                await db.execute(select(NumberAssignment).order_by(NumberAssignment.generation))
            ).scalars()
        )
        fallbacks = list((await db.execute(select(NumberFallback))).scalars())
    # The store offered generation 2 again: the log refused it, the pool was rebuilt from the
    # log, and the visit got the fallback instead of a number someone else holds.
    assert second["numbers"][0]["kind"] == "target"
    assert [(lease.generation, lease.session_id) for lease in leases] == [
        (1, uuid.UUID(first["session_id"])),
        (2, other),
    ]
    assert [(f.session_id, f.reason) for f in fallbacks] == [
        (uuid.UUID(second["session_id"]), "exhausted")
    ]


async def _logged_lease(
    sessionmaker: async_sessionmaker[AsyncSession],
    site: dict[str, Any],
    pool: Pool,
    number_id: uuid.UUID,
    *,
    generation: int,
    at: Any,
) -> uuid.UUID:
    session = TrackingSession(
        id=uuid.uuid4(),
        site_id=uuid.UUID(site["id"]),
        visitor_id=None,
        started_at=at,
        last_seen_at=at,
        ended_at=None,
        landing_url="https://shop.example/",
        source="(direct)",
        medium="(none)",
        consent=True,
        is_bot=False,
    )
    async with sessionmaker() as db:
        db.add(session)
        await db.flush()
        db.add(
            NumberAssignment(
                id=uuid.uuid4(),
                pool_id=pool.id,
                tracking_number_id=number_id,
                session_id=session.id,
                visitor_id=None,
                generation=generation,
                started_at=at,
                ended_at=None,
            )
        )
        await db.commit()
    return session.id
