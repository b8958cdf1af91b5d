"""Forms as leads, end to end in real Chromium: the snippet on a page of the site imports its
forms part, a submitted form becomes a lead with the visit's attribution (found through the
admin API) and is delivered, signed, to a webhook CRM stand-in by the outbox worker.

The app runs under uvicorn in a thread (as in test_live_api.py, whose helpers this reuses), on
SQLite with the embedded pool and on PostgreSQL with Redis.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Request
from pydantic import SecretStr

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.kit.outbound import OutboundPolicy, outbound_client
from app.main import create_app
from crm_push.ratelimit import MemoryRateLimiter
from crm_push.worker import Worker
from tests.browser import launch_chromium
from tests.conftest import TEST_ADMIN_TOKEN, TEST_SECRET_KEY
from tests.tracker.conftest import DYNAMIC_PAGES
from tests.tracker.test_live_api import (
    SALES,
    SALES_SHOWN,
    LiveApp,
    Visitor,
    _truncate,
    _wait_until_healthy,
    digits,
    flush,
    new_visitor,
    run_async,
)

POOL = ["+74950000001", "+74950000002"]
LOOPBACK = "127.0.0.1"
LANDING = "?utm_source=yandex&utm_medium=cpc&utm_campaign=spring"

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Forms</title><link rel="icon" href="data:,">
{snippet}
</head>
<body>
<p>Sales: <a id="sales" href="tel:+74951234567">+7 (495) 123-45-67</a></p>
<form id="callback" action="{thanks}" method="get">
  <input name="name" value="">
  <input name="phone" type="tel" value="">
  <input name="email" type="email" value="">
  <input name="password" type="password" value="">
  <input name="utm_hidden" type="hidden" value="secret-hidden">
  <input name="cc" autocomplete="cc-number" value="">
  <textarea name="message"></textarea>
  <label><input id="agree" type="checkbox" data-callsource-consent> I agree</label>
  <button id="send" type="submit">Send</button>
</form>
<div data-callsource-noform>
  <form id="private" action="{thanks}" method="get">
    <input name="phone" type="tel" value="">
    <button id="send-private" type="submit">Send</button>
  </form>
</div>
</body>
</html>
"""
THANKS = (
    b'<!doctype html><html><head><title>Thanks</title><link rel="icon" href="data:,"></head>'
    b"<body>Thanks</body></html>"
)


@dataclass
class Receiver:
    """A Standard Webhooks receiver: records each POST, answers 401 to a bad signature."""

    secret: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    refused: int = 0
    url: str = ""

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        presented = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split()]
        return any(hmac.compare_digest(expected, p) for p in presented)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            ok = found.verify(headers, body)
            if ok:
                found.received.append((headers, body))
            else:
                found.refused += 1
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://{LOOPBACK}:{httpd.server_address[1]}/hooks"
    try:
        yield found
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def live_app(database_url: str, request: pytest.FixtureRequest) -> Iterator[LiveApp]:
    """test_live_api's app, allowed to reach the loopback receiver."""
    postgres = database_url.startswith("postgresql")
    redis_url: str = request.getfixturevalue("redis_url") if postgres else ""
    if redis_url:
        flush(redis_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    base = f"http://{LOOPBACK}:{sock.getsockname()[1]}"
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        admin_token=SecretStr(TEST_ADMIN_TOKEN),
        secret_key=SecretStr(TEST_SECRET_KEY),
        public_url=base,
        outbound_allow=LOOPBACK,
    )
    config = uvicorn.Config(
        create_app(settings), log_config=None, access_log=False, lifespan="on", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    admin = httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}, timeout=10
    )
    try:
        _wait_until_healthy(base, thread)
        yield LiveApp(base=base, database_url=database_url, admin=admin)
    finally:
        admin.close()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        if postgres:
            run_async(_truncate(database_url))
        if redis_url:
            flush(redis_url)


@dataclass
class FormSite:
    id: str
    key: str
    page_url: str


def make_site(
    live: LiveApp, server: str, receiver: Receiver, *, consent_required: bool
) -> Iterator[FormSite]:
    admin = live.admin
    created = admin.post(
        "/api/v1/sites",
        json={
            "name": "Forms",
            "domains": [LOOPBACK, "localhost"],
            "country": "RU",
            "timezone": "Europe/Moscow",
            "forms_enabled": True,
            "forms_consent_required": consent_required,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    pool = admin.post(
        f"/api/v1/sites/{body['id']}/pools", json={"target_number": SALES, "numbers": POOL}
    )
    assert pool.status_code == 201, pool.text
    hook = admin.post(
        f"/api/v1/sites/{body['id']}/crm",
        json={"kind": "webhook", "url": receiver.url, "events": ["call.attributed", "form"]},
    )
    assert hook.status_code == 201, hook.text
    receiver.secret = hook.json()["secret"]
    name = f"forms-{uuid.uuid4().hex[:8]}"
    thanks = f"/{name}-thanks.html"
    DYNAMIC_PAGES[f"/{name}.html"] = PAGE.format(snippet=body["snippet"], thanks=thanks).encode()
    DYNAMIC_PAGES[thanks] = THANKS
    try:
        yield FormSite(id=body["id"], key=body["public_key"], page_url=f"{server}/{name}.html")
    finally:
        DYNAMIC_PAGES.pop(f"/{name}.html", None)
        DYNAMIC_PAGES.pop(thanks, None)


@pytest.fixture
def open_site(live_app: LiveApp, server: str, receiver: Receiver) -> Iterator[FormSite]:
    yield from make_site(live_app, server, receiver, consent_required=False)


@pytest.fixture
def consent_site(live_app: LiveApp, server: str, receiver: Receiver) -> Iterator[FormSite]:
    yield from make_site(live_app, server, receiver, consent_required=True)


@pytest.fixture
def browser(live_app: LiveApp) -> Iterator[Browser]:
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def visitors(browser: Browser) -> Iterator[list[Visitor]]:
    made: list[Visitor] = []
    yield made
    for visitor in made:
        visitor.context.close()


def form_posts(visitor: Visitor) -> list[Request]:
    """Every request the page sends to a forms endpoint (beacons included)."""
    posts: list[Request] = []
    visitor.context.on("request", lambda r: posts.append(r) if r.url.endswith("/forms") else None)
    return posts


def arrive(visitor: Visitor, site: FormSite) -> None:
    """A visit from a Yandex ad; waits for the swapped number and the forms part."""
    visitor.open(site.page_url + LANDING)
    visitor.page.wait_for_function("window.__csForms === 1")
    assert digits(visitor.text("#sales")) != digits(SALES_SHOWN)  # a number of the pool


def fill(visitor: Visitor, **values: str) -> None:
    for name, value in values.items():
        visitor.page.fill(f"#callback [name={name}]", value)


def leads(live: LiveApp, site: FormSite, *, count: int) -> list[dict[str, Any]]:
    """The site's form leads once `count` are there (a beacon is sent after the page moves on)."""
    deadline = time.monotonic() + 10
    while True:
        items = live.admin.get(f"/api/v1/sites/{site.id}/leads").json()["items"]
        forms = [item for item in items if item["kind"] == "form"]
        if len(forms) >= count or time.monotonic() > deadline:
            return forms
        time.sleep(0.1)


async def _deliver(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with outbound_client(OutboundPolicy.parse(LOOPBACK)) as http:
            worker = Worker(create_sessionmaker(engine), http=http, limiter=MemoryRateLimiter())
            return await worker.drain()
    finally:
        await engine.dispose()


def test_a_submitted_form_is_an_attributed_lead_delivered_to_the_crm(
    live_app: LiveApp,
    browser: Browser,
    open_site: FormSite,
    receiver: Receiver,
    visitors: list[Visitor],
) -> None:
    anna = new_visitor(browser, visitors)
    posts = form_posts(anna)
    arrive(anna, open_site)
    session_id = anna.session_id(open_site)  # type: ignore[arg-type]

    fill(
        anna,
        name="Анна",
        phone="8 916 123-45-67",
        email="anna@mail.example",
        password="hunter2",
        cc="4111111111111111",
        message="Перезвоните",
    )
    anna.page.click("#send")

    # The form submitted as it always does: the browser went on to the thanks page.
    anna.page.wait_for_url("**/*-thanks.html?*")
    [lead] = leads(live_app, open_site, count=1)
    assert (lead["name"], lead["phone"], lead["email"]) == (
        "Анна",
        "+79161234567",
        "anna@mail.example",
    )
    assert lead["fields"] == {"message": "Перезвоните"}
    assert lead["form_id"] == "callback"
    attribution = lead["attribution"]
    assert attribution["session_id"] == str(session_id)
    assert (attribution["source"], attribution["medium"], attribution["campaign"]) == (
        "yandex",
        "cpc",
        "spring",
    )
    # What left the browser: no password, card number or hidden field, as text/plain.
    [post] = posts
    sent = post.post_data or ""
    for secret in ("hunter2", "4111", "secret-hidden", "utm_hidden"):
        assert secret not in sent
    assert post.headers["content-type"].startswith("text/plain")

    assert run_async(_deliver(live_app.database_url)) == 1
    assert receiver.refused == 0
    [(headers, body)] = receiver.received  # the receiver checked the signature
    message = json.loads(body)
    assert message["type"] == "form"
    assert message["data"]["lead"]["id"] == lead["id"]
    assert message["data"]["lead"]["attribution"]["source"] == "yandex"
    assert headers["webhook-id"].startswith("cs_")
    assert anna.problems == []


def test_a_form_that_opts_out_is_never_sent(
    live_app: LiveApp, browser: Browser, open_site: FormSite, visitors: list[Visitor]
) -> None:
    boris = new_visitor(browser, visitors)
    posts = form_posts(boris)
    arrive(boris, open_site)

    boris.page.fill("#private [name=phone]", "+7 916 000-00-00")
    boris.page.click("#send-private")
    boris.page.wait_for_url("**/*-thanks.html?*")
    boris.page.wait_for_timeout(500)

    assert posts == []
    assert leads(live_app, open_site, count=0) == []
    assert boris.problems == []


def test_with_consent_required_only_a_consented_form_is_sent(
    live_app: LiveApp, browser: Browser, consent_site: FormSite, visitors: list[Visitor]
) -> None:
    vera = new_visitor(browser, visitors)
    posts = form_posts(vera)

    # Without the box ticked: the form submits, nothing is sent.
    arrive(vera, consent_site)
    fill(vera, phone="+7 916 111-11-11")
    vera.page.click("#send")
    vera.page.wait_for_url("**/*-thanks.html?*")
    vera.page.wait_for_timeout(500)
    assert posts == []

    # Ticked: the form is a lead, sent with the visitor's consent.
    arrive(vera, consent_site)
    fill(vera, phone="+7 916 222-22-22")
    vera.page.check("#agree")
    vera.page.click("#send")
    vera.page.wait_for_url("**/*-thanks.html?*")

    [lead] = leads(live_app, consent_site, count=1)
    assert lead["phone"] == "+79162222222"
    assert len(posts) == 1
    assert json.loads(posts[0].post_data or "{}")["consent"] is True
    assert vera.problems == []
