"""The destinations tests' world: a site with a pool and a generic PBX, visits through the
tracker API carrying gclid / yclid and the analytics cookies' client ids, calls to the leased
numbers through the signed PBX webhook, and the stand-in platforms on loopback."""

from __future__ import annotations

import json
import uuid
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import OutboxDelivery
from pbx_webhooks.providers.generic import sign
from tests.clock import ManualClock
from tests.crm_push import fake_platforms as fp
from tests.factories import create_pool, create_site

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
ORIGIN = "https://shop.example"
CALLER = "+79001234567"
GA_CLIENT_ID = "1839201711.1764756000"
YM_CLIENT_ID = "1764756000123456789"


class Destinations:
    def __init__(
        self,
        client: AsyncClient,
        anonymous: AsyncClient,
        clock: ManualClock,
        sessionmaker: async_sessionmaker[AsyncSession],
        platforms: fp.PlatformsServer,
    ) -> None:
        self.client, self.anonymous, self.clock = client, anonymous, clock
        self.sessionmaker = sessionmaker
        self.server = platforms
        self.site: dict[str, Any] = {}
        self.pbx: dict[str, Any] = {}

    @property
    def sid(self) -> str:
        return str(self.site["id"])

    async def build(self) -> Destinations:
        self.site = await create_site(self.client)
        await create_pool(
            self.client,
            self.sid,
            numbers=["+7 495 000-00-01", "+7 495 000-00-02", "+7 495 000-00-03"],
        )
        self.pbx = (
            await self.client.post(f"/api/v1/sites/{self.sid}/pbx", json={"provider": "generic"})
        ).json()
        return self

    async def destination(self, kind: str, **body: Any) -> dict[str, Any]:
        defaults: dict[str, dict[str, Any]] = {
            "ga4": {"measurement_id": fp.MEASUREMENT_ID, "api_secret": fp.API_SECRET},
            "yandex_metrika": {"counter_id": fp.METRIKA_COUNTER, "token": fp.METRIKA_TOKEN},
            "google_ads": {
                "customer_id": "123-456-7890",
                "conversion_action": fp.ADS_ACTION,
                "developer_token": fp.DEVELOPER_TOKEN,
                "client_id": fp.OAUTH_CLIENT_ID,
                "client_secret": fp.OAUTH_CLIENT_SECRET,
                "refresh_token": fp.REFRESH_TOKEN,
            },
        }
        payload = {"kind": kind, "api_base": self.server.url, **defaults[kind], **body}
        response = await self.client.post(f"/api/v1/sites/{self.sid}/destinations", json=payload)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def visit(
        self,
        *,
        query: str = "utm_source=google&utm_medium=cpc&gclid=Cj0KCQ-test-gclid",
        ga: str | None = GA_CLIENT_ID,
        ym: str | None = YM_CLIENT_ID,
    ) -> str:
        """A visit; the number the page shows."""
        body = {"url": f"https://shop.example/?{query}", "ga_client_id": ga, "ym_client_id": ym}
        response = await self.anonymous.post(
            f"/t/{self.site['public_key']}/sessions",
            content=json.dumps(body),
            headers={"User-Agent": BROWSER, "Content-Type": "text/plain", "Origin": ORIGIN},
        )
        assert response.status_code == 200, response.text
        [shown] = response.json()["numbers"]
        assert shown["kind"] == "dynamic", shown
        number: str = shown["number"]
        return number

    async def _hook(self, event: str, call_id: str, **fields: Any) -> None:
        body = json.dumps(
            {"event": event, "call_id": call_id, "timestamp": self.clock.now.isoformat(), **fields}
        ).encode()
        msg_id, ts = f"msg_{uuid.uuid4().hex}", str(int(self.clock.now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": ts,
            "webhook-signature": sign(self.pbx["secret"], msg_id, ts, body),
        }
        response = await self.anonymous.post(
            f"/hooks/pbx/{self.pbx['id']}", content=body, headers=headers
        )
        assert response.status_code == 200, response.text

    async def call(
        self,
        called: str,
        *,
        caller: str = CALLER,
        duration: int = 65,
        talk: int | None = None,
        status: str = "answered",
    ) -> dict[str, Any]:
        """A call started and ended through the PBX webhook; the call as the API shows it."""
        provider_id = f"call-{uuid.uuid4().hex[:10]}"
        who = {"caller": caller, "called": called}
        await self._hook("call.started", provider_id, **who)
        self.clock.advance(seconds=duration)
        ended: dict[str, Any] = {"status": status, "duration": duration}
        if status == "answered":
            ended["talk_duration"] = duration - 5 if talk is None else talk
        await self._hook("call.ended", provider_id, **who, **ended)
        calls = (await self.client.get(f"/api/v1/sites/{self.sid}/calls")).json()["items"]
        found: dict[str, Any] = next(c for c in calls if c["provider_call_id"] == provider_id)
        return found

    async def deliveries(self, destination: dict[str, Any], **query: str) -> list[dict[str, Any]]:
        response = await self.client.get(
            f"/api/v1/sites/{self.sid}/destinations/{destination['id']}/deliveries", params=query
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def rows(self) -> list[OutboxDelivery]:
        async with self.sessionmaker() as db:
            return list((await db.execute(select(OutboxDelivery))).scalars())

    async def won(self, call: dict[str, Any], revenue: float, *, external_id: str = "D-1") -> None:
        response = await self.client.post(
            f"/api/v1/sites/{self.sid}/deals",
            json={
                "call_id": call["id"],
                "external_id": external_id,
                "status": "won",
                "revenue": revenue,
                "currency": "RUB",
            },
        )
        assert response.status_code in (200, 201), response.text
