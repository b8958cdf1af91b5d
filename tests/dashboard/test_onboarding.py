"""The onboarding checklist of an empty site's Overview turns green from real data: a visit
from the site's domain, numbers, an event the PBX itself sent (not refused, not malformed, not
the dashboard's test call), a lead the CRM accepted (the worker delivering to a stand-in
receiver that checks the signature), ad costs."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.outbound import OutboundPolicy, outbound_client
from app.sites import service as sites_service
from pbx_webhooks.providers.generic import sign
from tests.clock import ManualClock
from tests.conftest import PUBLIC_URL, TEST_ADMIN_TOKEN, TEST_SECRET_KEY
from tests.crm_push.conftest import make_worker
from tests.dashboard.conftest import csrf_of
from tests.dashboard.crm_stand_in import Receiver, crm_receiver
from tests.dashboard.live import DESKTOP_CHROME
from tests.dashboard.test_setup_numbers import _post
from tests.dashboard.test_setup_pbx import _connect_generic
from tests.dashboard.test_setup_sites import _admin, _create

SECRET = re.compile(r'data-testid="secret">([^<]+)<')


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The stand-in CRM is on loopback, which the guarded client refuses unless allowed.
    return Settings(
        database_url=database_url,
        redis_url="",
        admin_token=SecretStr(TEST_ADMIN_TOKEN),
        secret_key=SecretStr(TEST_SECRET_KEY),
        public_url=PUBLIC_URL,
        outbound_allow="127.0.0.1",
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with crm_receiver() as found:
        yield found


def _steps(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-step="(\w+)" data-done="(yes|no)"', html))


async def _checklist(visitor: AsyncClient, site_id: str) -> dict[str, str]:
    overview = await visitor.get(f"/sites/{site_id}/overview")
    assert overview.status_code == 200
    return _steps(overview.text)


async def test_the_checklist_follows_what_is_set_up(visitor: AsyncClient) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    overview = await visitor.get(f"/sites/{site_id}/overview")
    assert overview.status_code == 200
    assert _steps(overview.text) == {
        "snippet": "no",
        "numbers": "no",
        "pbx": "no",
        "crm": "no",
        "costs": "no",
    }
    assert f'href="/sites/{site_id}/numbers"' in overview.text

    assert (await _post(visitor, site_id))[0] == 303
    page = await visitor.get(f"/sites/{site_id}/costs")
    imported = await visitor.post(
        f"/sites/{site_id}/costs/import",
        data={
            "csrf_token": csrf_of(page.text),
            "csv_text": "date,source,medium,campaign,cost,currency\n"
            "2026-11-01,yandex,cpc,sofas,1500.00,RUB\n",
        },
    )
    assert imported.status_code == 303, imported.text
    steps = await _checklist(visitor, site_id)
    assert (steps["numbers"], steps["costs"], steps["pbx"]) == ("yes", "yes", "no")


async def _hook(
    anonymous: AsyncClient, integration_id: str, secret: str, event: dict[str, object]
) -> httpx.Response:
    body = json.dumps(event).encode()
    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = str(int(float(str(event["timestamp"]))))
    return await anonymous.post(
        f"/hooks/pbx/{integration_id}",
        content=body,
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": stamp,
            "webhook-signature": sign(secret, msg_id, stamp, body),
        },
    )


async def test_snippet_pbx_and_crm_turn_green_only_from_what_really_arrived(
    visitor: AsyncClient,
    anonymous: AsyncClient,
    db: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    receiver: Receiver,
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor, domains="shop.example")
    site = await sites_service.get_site(db, uuid.UUID(site_id))
    assert (await _post(visitor, site_id))[0] == 303

    # The snippet: a request from a page not on the site's domains does not count; one from
    # the site does.
    def visit(origin: str) -> dict[str, str]:
        return {"Content-Type": "text/plain", "Origin": origin, "User-Agent": DESKTOP_CHROME}

    sessions = f"/t/{site.public_key}/sessions"
    url = json.dumps({"url": "https://shop.example/sofas"})
    refused = await anonymous.post(sessions, content=url, headers=visit("https://other.example"))
    assert refused.status_code == 403
    assert (await _checklist(visitor, site_id))["snippet"] == "no"
    seen = await anonymous.post(sessions, content=url, headers=visit("https://shop.example"))
    assert seen.status_code == 200
    assert (await _checklist(visitor, site_id))["snippet"] == "yes"

    # The PBX: a wrong signature, a malformed body and the dashboard's own test call do not
    # show the PBX is sending; an event it signed does.
    detail, secret = await _connect_generic(visitor, site_id)
    integration_id = detail.rsplit("/", 1)[1]
    now = clock.now.timestamp()
    ended = {
        "event": "call.ended",
        "call_id": "pbx-1",
        "caller": "+74957770011",
        "called": "+74951112233",
        "timestamp": now,
        "status": "answered",
        "duration": 60,
    }
    wrong = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    assert (await _hook(anonymous, integration_id, wrong, ended)).status_code == 401
    malformed = await _hook(anonymous, integration_id, secret, {"event": "x", "timestamp": now})
    assert malformed.status_code in (400, 422)
    page = await visitor.get(detail)
    tested = await visitor.post(
        f"{detail}/test-call",
        data={"csrf_token": csrf_of(page.text), "called": "+7 495 111-22-34"},
    )
    assert "accepted" in tested.text
    assert (await _checklist(visitor, site_id))["pbx"] == "no"
    assert (await _hook(anonymous, integration_id, secret, ended)).status_code == 200
    assert (await _checklist(visitor, site_id))["pbx"] == "yes"

    # The CRM: connected, with leads waiting, is not yet receiving them; a delivery the
    # receiver accepted (its signature checked) is.
    page = await visitor.get(f"/sites/{site_id}/integrations")
    created = await visitor.post(
        f"/sites/{site_id}/integrations/crm",
        data={"csrf_token": csrf_of(page.text), "url": receiver.url, "name": "Our CRM"},
    )
    assert created.status_code == 200, created.text
    found = SECRET.search(created.text)
    assert found is not None
    assert (
        await _hook(anonymous, integration_id, secret, ended | {"call_id": "pbx-2"})
    ).status_code == 200
    assert (await _checklist(visitor, site_id))["crm"] == "no"
    async with outbound_client(OutboundPolicy.parse("127.0.0.1")) as http:
        worker = make_worker(sessionmaker, http, clock)
        await worker.drain()  # the receiver does not know the secret yet: 401, retried later
        assert receiver.accepted == []
        assert receiver.refused
        assert (await _checklist(visitor, site_id))["crm"] == "no"
        receiver.secret = found.group(1)
        clock.advance(hours=1)
        await worker.drain()
    [lead] = receiver.messages("call.attributed")
    assert lead["data"]["call"]["caller"] == "+74957770011"
    assert (await _checklist(visitor, site_id))["crm"] == "yes"
