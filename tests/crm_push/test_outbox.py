"""The outbox rows: one per call, connector and event, idempotent, only for active connectors
that want the event, written in the call's own transaction."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call
from crm_push.outbox import enqueue_for_call, idempotency_key
from tests.clock import ManualClock
from tests.crm_push.conftest import World, outbox
from tests.crm_push.fake_crm import FakeCrmServer


async def test_one_row_per_connector_that_wants_the_event(
    world: World,
    crm: FakeCrmServer,
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
) -> None:
    amo = await world.amocrm(crm)
    both = await world.webhook(crm, events=["call.started", "call.attributed"])
    retired = await world.webhook(crm)
    await client.delete(f"/api/v1/sites/{world.site['id']}/crm/{retired['id']}")

    call = await world.call()
    async with sessionmaker() as db:  # a replayed event enqueues nothing more
        await enqueue_for_call(db, call=call, event="call.attributed", now=clock.now)
        await enqueue_for_call(db, call=call, event="call.started", now=clock.now)
        await db.commit()

    rows = await outbox(sessionmaker)
    assert sorted((str(r.connector_id), r.event) for r in rows) == sorted(
        [
            (amo["id"], "call.attributed"),
            (both["id"], "call.attributed"),
            (both["id"], "call.started"),
        ]
    )
    for row in rows:
        assert row.call_id is not None
        assert row.status == "pending"
        assert row.attempts == 0
        assert row.call_id is not None
        assert row.idempotency_key == idempotency_key(
            connector_id=row.connector_id, call_id=row.call_id, event=row.event
        )
    assert len({r.idempotency_key for r in rows}) == 3


async def test_the_pbx_webhook_writes_the_rows_in_the_calls_transaction(
    world: World, crm: FakeCrmServer, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await world.webhook(crm, events=["call.started", "call.attributed"])
    who = {"caller": "+79001112233", "called": "+74950000101"}

    await world._hook("call.started", "pbx-1", **who)
    started = await outbox(sessionmaker)
    await world._hook("call.ended", "pbx-1", **who, status="answered", duration=30)
    await world._hook("call.ended", "pbx-1", **who, status="answered", duration=30)  # a repeat

    assert [r.event for r in started] == ["call.started"]
    assert sorted(r.event for r in await outbox(sessionmaker)) == [
        "call.attributed",
        "call.started",
    ]


async def test_a_connector_added_while_calls_come_in_gets_the_next_call(
    world: World, crm: FakeCrmServer, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = {"caller": "+79001112233", "called": "+74950000101"}
    # The hook has served this integration (and kept what it knows of it) before the connector.
    await world._hook("call.started", "pbx-before", **who)

    await world.webhook(crm, events=["call.started"])
    await world._hook("call.started", "pbx-after", **who)

    rows = await outbox(sessionmaker)
    async with sessionmaker() as db:
        after = (
            await db.execute(select(Call.id).where(Call.provider_call_id == "pbx-after"))
        ).scalar_one()
    assert [(r.call_id, r.event) for r in rows] == [(after, "call.started")]
