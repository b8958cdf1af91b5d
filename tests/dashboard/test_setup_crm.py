"""'Test the connection' of a CRM connector, against a stand-in CRM on loopback: one real
request through the guarded client, the CRM's answer in one line."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from app.config import Settings
from tests.conftest import PUBLIC_URL, TEST_ADMIN_TOKEN, TEST_SECRET_KEY
from tests.dashboard.conftest import csrf_of
from tests.dashboard.test_auth import _setup
from tests.factories import create_site

GOOD_TOKEN = "amo-token"


class _Crm(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # amoCRM's account
        self.seen.append(("GET", self.path, self.headers.get("authorization", "")))
        if self.headers.get("authorization") == f"Bearer {GOOD_TOKEN}":
            self._answer(200, {"id": 1, "name": "Shop account"})
        else:
            self._answer(401, {"title": "Unauthorized", "detail": "token is invalid"})

    def do_POST(self) -> None:  # a signed webhook
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode()
        self.seen.append(("POST", self.path, self.headers.get("webhook-signature", "")))
        self._answer(202 if "connector.test" in body else 400, {"ok": True})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def crm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Crm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Crm.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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


async def _test_button(visitor: AsyncClient, site_id: str, connector_id: str) -> str:
    page = await visitor.get(f"/sites/{site_id}/integrations")
    assert f'/crm/{connector_id}/test"' in page.text
    response = await visitor.post(
        f"/sites/{site_id}/crm/{connector_id}/test", data={"csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 200, response.text
    start = response.text.rindex("<p", 0, response.text.index('data-testid="crm-test-result"'))
    return response.text[start : response.text.index("</p>", start)]


async def test_amocrm_answer_is_shown_in_one_line(
    visitor: AsyncClient, client: AsyncClient, crm: str
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    created = await client.post(
        f"/api/v1/sites/{site['id']}/crm",
        json={"kind": "amocrm", "base_url": crm, "token": "wrong"},
    )
    assert created.status_code == 201, created.text
    line = await _test_button(visitor, site["id"], created.json()["id"])
    assert "401 Unauthorized" in line
    assert "token is invalid" in line
    assert "bad" in line
    assert _Crm.seen == [("GET", "/api/v4/account", "Bearer wrong")]
    # A renewed token: the same button says so.
    renewed = await client.patch(
        f"/api/v1/sites/{site['id']}/crm/{created.json()['id']}", json={"token": GOOD_TOKEN}
    )
    assert renewed.status_code == 200, renewed.text
    line = await _test_button(visitor, site["id"], created.json()["id"])
    assert "200 OK" in line
    assert "Shop account" in line
    assert "good" in line


async def test_a_signed_webhook_gets_a_signed_test_event(
    visitor: AsyncClient, client: AsyncClient, crm: str
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    created = await client.post(
        f"/api/v1/sites/{site['id']}/crm", json={"kind": "webhook", "url": f"{crm}/hooks/cs"}
    )
    assert created.status_code == 201, created.text
    line = await _test_button(visitor, site["id"], created.json()["id"])
    assert "202 Accepted" in line
    [(method, path, signature)] = _Crm.seen
    assert (method, path) == ("POST", "/hooks/cs")
    assert signature.startswith("v1,")


async def test_a_refused_address_is_said_not_fetched(
    visitor: AsyncClient, client: AsyncClient, app: object
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    created = await client.post(
        f"/api/v1/sites/{site['id']}/crm",
        json={"kind": "webhook", "url": "https://crm.invalid/hooks"},
    )
    assert created.status_code == 201, created.text
    line = await _test_button(visitor, site["id"], created.json()["id"])
    assert "could not connect" in line


async def test_amocrm_is_connected_from_the_form_with_errors_beside_the_field(
    visitor: AsyncClient, client: AsyncClient, crm: str
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    page = await visitor.get(f"/sites/{site['id']}/integrations")
    token = csrf_of(page.text)
    response = await visitor.post(
        f"/sites/{site['id']}/crm/connect",
        data={"csrf_token": token, "kind": "amocrm", "base_url": "not a url", "token": "t0k"},
    )
    assert response.status_code == 422
    assert 'data-error="base_url"' in response.text
    assert "t0k" not in response.text  # a token is never written back
    assert (await client.get(f"/api/v1/sites/{site['id']}/crm")).json()["items"] == []
    response = await visitor.post(
        f"/sites/{site['id']}/crm/connect",
        data={"csrf_token": token, "kind": "amocrm", "base_url": crm, "token": GOOD_TOKEN},
    )
    assert response.status_code == 200, response.text
    [item] = (await client.get(f"/api/v1/sites/{site['id']}/crm")).json()["items"]
    assert item["kind"] == "amocrm"
    line = await _test_button(visitor, site["id"], item["id"])
    assert "200 OK" in line


async def test_a_dashboard_webhook_takes_form_leads_when_asked(
    visitor: AsyncClient, client: AsyncClient, crm: str
) -> None:
    await _setup(visitor)
    site = await create_site(client)
    page = await visitor.get(f"/sites/{site['id']}/integrations")
    assert 'name="forms"' in page.text
    token = csrf_of(page.text)

    for forms in ("on", ""):
        response = await visitor.post(
            f"/sites/{site['id']}/integrations/crm",
            data={"csrf_token": token, "url": f"{crm}/hooks/{forms or 'calls'}", "forms": forms},
        )
        assert response.status_code == 200, response.text

    listed = (await client.get(f"/api/v1/sites/{site['id']}/crm")).json()["items"]
    # The default (calls only) is stored as no "events" at all.
    events = {
        c["config"]["url"].rsplit("/", 1)[1]: c["config"].get("events", ["call.attributed"])
        for c in listed
    }
    assert events == {"on": ["call.attributed", "form"], "calls": ["call.attributed"]}
