"""At delivery, the address is checked again where the connection is made: a connector
created while its host was allowed is refused once the allow-list no longer lists it, and
nothing reaches it. A failing CRM's answer shows only as a short, redacted status line."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.kit.outbound import OutboundPolicy, outbound_client
from app.models import DeliveryAttempt
from crm_push.redaction import EXCERPT_CHARS
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push.conftest import World, make_worker, outbox
from tests.crm_push.fake_crm import AMO_TOKEN, FakeCrmServer


async def test_a_host_no_longer_allowed_is_refused_at_delivery_and_never_reached(
    world: World,
    crm: FakeCrmServer,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    client: AsyncClient,
) -> None:
    # Created while loopback was allowed, by a name that resolves to it.
    connector = await world.connector("webhook", url=f"http://localhost:{crm.port}/receiver")
    crm.crm.webhook_secrets.append(connector["secret"])
    await world.call()

    async with outbound_client(OutboundPolicy.parse("")) as http:
        await make_worker(sessionmaker, http, clock).drain()

    assert crm.crm.requests == []
    [delivery] = await outbox(sessionmaker)
    assert delivery.status == "dead"  # only a change of configuration helps; retry then
    assert delivery.last_error == (
        "refused: localhost resolves to a loopback address 127.0.0.1; "
        "add the host to CALLSOURCE_OUTBOUND_ALLOW to allow it"
    )
    base = f"/api/v1/sites/{world.site['id']}/crm/{connector['id']}/deliveries"
    [listed] = (await client.get(base, params={"status": "dead"})).json()["items"]
    assert listed["last_error"] == delivery.last_error

    # Allowed again, the retried delivery goes through.
    retried = await client.post(f"{base}/{delivery.id}/retry")
    assert retried.status_code == 200, retried.text
    async with outbound_client(OutboundPolicy.parse("localhost")) as http:
        await make_worker(sessionmaker, http, clock).drain()
    assert len(crm.crm.webhook_received) == 1


async def test_a_failing_crm_answer_is_a_short_redacted_status_line(
    world: World,
    crm: FakeCrmServer,
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: AsyncClient,
) -> None:
    connector = await world.amocrm(crm)
    await world.call()
    crm.crm.fail("echo")  # an error page quoting our request, token and all, at length

    await worker.drain()

    [delivery] = await outbox(sessionmaker)
    error = delivery.last_error
    assert error is not None
    assert error.startswith("HTTP 502 Bad Gateway: ")
    assert len(error) <= len("HTTP 502 Bad Gateway: ") + EXCERPT_CHARS
    assert EXCERPT_CHARS <= 100
    assert AMO_TOKEN not in error
    async with sessionmaker() as db:
        excerpts = list((await db.execute(select(DeliveryAttempt.response_excerpt))).scalars())
    assert excerpts == [error]
    base = f"/api/v1/sites/{world.site['id']}/crm/{connector['id']}/deliveries"
    [listed] = (await client.get(base)).json()["items"]
    assert listed["last_error"] == error
