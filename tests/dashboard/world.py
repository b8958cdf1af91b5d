"""A site with a week of traffic, calls, deals and costs, made the way production makes them:
visits through the tracker API, calls through signed PBX webhooks, deals and costs through
the services that record them. Deterministic, so screenshots and expected figures repeat.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.costs import service as costs_service
from app.costs.parsing import CostRow
from app.models import Call, Site
from crm_push import deals as deals_service
from crm_push.schemas import DealIn
from pbx_webhooks.providers.generic import sign
from tests.dashboard.live import DESKTOP_CHROME, Live

TARGET = "+74951234567"
# Not the demo site's numbers: a test may have both.
POOL = ["+7 495 111-00-01", "+7 495 111-00-02", "+7 495 111-00-03"]
SOURCE_NUMBER = "+74951110101"  # google / organic
OFFLINE_NUMBER = "+74951110201"  # metro-flyers
SHOP = "https://shop.example/"
DAYS = 10
BURST = 5  # visits at once on the last day, for a pool of three
YANDEX = SHOP + "?utm_source=yandex&utm_medium=cpc&utm_campaign=sofas&utm_term=corner+sofa"
VK = SHOP + "?utm_source=vk&utm_medium=social&utm_campaign=autumn"
NEWSLETTER = SHOP + "?utm_source=newsletter&utm_medium=email&utm_campaign=november"
GOOGLE = "https://www.google.com/"


@dataclass
class World:
    live: Live
    site: dict[str, Any] = field(default_factory=dict)
    pbx: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> call
    first_day: date | None = None
    callers: int = 0
    visits: int = 0

    # --- the pieces -------------------------------------------------------------------------

    def create_site(self, name: str = "Sofa shop") -> dict[str, Any]:
        api = self.live.api
        body = {
            "name": name,
            "domains": ["shop.example"],
            "country": "RU",
            "timezone": "Europe/Moscow",
        }
        site: dict[str, Any] = api.post("/api/v1/sites", json=body).raise_for_status().json()
        return site

    def build_site(self) -> World:
        api = self.live.api
        self.site = self.create_site()
        sid = self.site["id"]
        api.post(
            f"/api/v1/sites/{sid}/pools", json={"target_number": TARGET, "numbers": POOL}
        ).raise_for_status()
        for body in (
            {
                "number": SOURCE_NUMBER,
                "kind": "source",
                "target_number": TARGET,
                "source": "google",
                "medium": "organic",
            },
            {"number": OFFLINE_NUMBER, "kind": "offline", "campaign": "metro-flyers"},
        ):
            api.post(f"/api/v1/sites/{sid}/static-numbers", json=body).raise_for_status()
        self.pbx = api.post(f"/api/v1/sites/{sid}/pbx", json={"provider": "generic"}).json()
        return self

    def visit(
        self, url: str, *, referrer: str | None = None, visitor_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url}
        if referrer:
            body["referrer"] = referrer
        if visitor_id:
            body["visitor_id"] = visitor_id
        self.visits += 1
        response = self.live.http.post(
            f"/t/{self.site['public_key']}/sessions",
            content=json.dumps(body),
            headers={
                "Content-Type": "text/plain",
                "User-Agent": DESKTOP_CHROME,
                "Origin": "https://shop.example",
                # Each visit from an address and /24 of its own (the live server trusts its
                # loopback peer as a proxy): the anti-draining caps count per address.
                "X-Forwarded-For": f"10.{self.visits // 256 % 256}.{self.visits % 256}.1",
            },
        )
        answer: dict[str, Any] = response.raise_for_status().json()
        return answer

    def hook(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        msg_id = f"msg_{uuid.uuid4().hex}"
        timestamp = str(int(self.live.clock.now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": sign(self.pbx["secret"], msg_id, timestamp, body),
        }
        self.live.http.post(
            f"/hooks/pbx/{self.pbx['id']}", content=body, headers=headers
        ).raise_for_status()

    def call(
        self,
        label: str,
        called: str,
        *,
        caller: str | None = None,
        duration: int = 90,
        answered: bool = True,
    ) -> dict[str, Any]:
        """A whole call: started now, ended `duration` seconds later; the clock moves on."""
        if caller is None:
            self.callers += 1
            caller = f"+7916{self.callers:07d}"
        call_id = f"{label}-{uuid.uuid4().hex[:6]}"
        clock = self.live.clock
        base = {"call_id": call_id, "caller": caller, "called": called}
        self.hook({**base, "event": "call.started", "timestamp": clock.now.isoformat()})
        clock.advance(seconds=duration)
        ended = {
            **base,
            "event": "call.ended",
            "timestamp": clock.now.isoformat(),
            "status": "answered" if answered else "missed",
            "duration": duration,
        }
        if answered:
            ended |= {
                "talk_duration": duration - 5,
                "recording_url": f"https://records.example/{call_id}.mp3",
            }
        self.hook(ended)
        listing = self.live.api.get(f"/api/v1/sites/{self.site['id']}/calls")
        found: dict[str, Any] = next(
            c for c in listing.json()["items"] if c["provider_call_id"] == call_id
        )
        self.calls[label] = found
        return found

    def deal(self, label: str, *, status: str, revenue: str) -> None:
        call_id = uuid.UUID(self.calls[label]["id"])
        site_id = uuid.UUID(self.site["id"])
        now = self.live.clock.now

        async def record(db: AsyncSession) -> None:
            site = await db.get(Site, site_id)
            assert site is not None
            data = DealIn(
                call_id=call_id,
                external_id=f"deal-{label}",
                status=status,  # type: ignore[arg-type]
                revenue=Decimal(revenue),
                currency="RUB",
            )
            await deals_service.record_deal(db, site=site, data=data, now=now)

        self.live.db(record)

    def costs(self, rows: list[CostRow]) -> None:
        site_id = uuid.UUID(self.site["id"])
        now = self.live.clock.now

        async def upload(db: AsyncSession) -> None:
            site = await db.get(Site, site_id)
            assert site is not None
            await costs_service.upload_costs(db, site=site, rows=rows, dry_run=False, now=now)

        self.live.db(upload)

    @staticmethod
    def dialled(answer: dict[str, Any]) -> str:
        [shown] = answer["numbers"]
        number: str = shown["number"]
        return number

    # --- the week ---------------------------------------------------------------------------

    def build_week(self) -> World:
        """Seven days of an ordinary shop; see the comments for the cases each day adds."""
        self.build_site()
        clock = self.live.clock
        # From the next morning (09:00 Moscow): the numbers exist before the first visit.
        start = (clock.now + timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
        self.first_day = (start + timedelta(hours=3)).date()
        returning: str | None = None
        for day in range(DAYS):
            clock.now = start + timedelta(days=day)
            # Yandex ads bring a call every day.
            self.call(f"yandex-{day}", self.dialled(self.visit(YANDEX)))
            clock.advance(minutes=40)  # past idle timeout and cooldown: the pool is free again
            if day % 2 == 0:
                # Google search every other day; the call comes 30 s into the visit.
                shown = self.visit(SHOP, referrer=GOOGLE)
                clock.advance(seconds=30)
                self.call(f"google-{day}", self.dialled(shown), duration=150)
                clock.advance(minutes=40)
            # VK every day, a short missed call on odd days.
            shown = self.visit(VK)
            if day % 2 == 1:
                self.call(f"vk-{day}", self.dialled(shown), duration=6, answered=False)
            clock.advance(minutes=40)
            self.visit(SHOP)  # a direct visit that does not call
            clock.advance(minutes=40)
            if day == 1:
                # Someone clicks a Yandex ad, leaves, comes back directly on day 5 and calls.
                returning = self.visit(YANDEX)["visitor_id"]
                clock.advance(minutes=40)
            if day == 5:
                assert returning is not None
                shown = self.visit(SHOP, visitor_id=returning)
                self.call("returning-5", self.dialled(shown), duration=200)
                clock.advance(minutes=40)
            if day == 3:
                self.call("newsletter-3", self.dialled(self.visit(NEWSLETTER)))
                clock.advance(minutes=40)
            if day == 2:
                self.call("offline-2", OFFLINE_NUMBER, duration=60)
            if day == 4:
                self.call("source-4", SOURCE_NUMBER, duration=45)
            if day == 6:
                self.call("unknown-6", "+74959999999", duration=30)
            if day == DAYS - 1:
                # A busy moment: more visitors at once than the pool has numbers.
                for _ in range(BURST):
                    self.visit(YANDEX)
                    clock.advance(seconds=20)
        self.deal("yandex-0", status="won", revenue="50000")
        self.deal("google-2", status="won", revenue="20000")
        self.deal("returning-5", status="won", revenue="30000")
        self.deal("yandex-3", status="lost", revenue="0")
        assert self.first_day is not None
        days = [self.first_day + timedelta(days=d) for d in range(DAYS)]
        self.costs(
            [CostRow(d, "yandex", "cpc", "sofas", Decimal("1500.00"), "RUB") for d in days]
            + [CostRow(d, "vk", "social", "autumn", Decimal("400.00"), "RUB") for d in days]
        )
        clock.now = start + timedelta(days=DAYS - 1, hours=12)
        return self

    def call_row(self, label: str) -> Call:
        call_id = uuid.UUID(self.calls[label]["id"])

        async def get(db: AsyncSession) -> Call:
            found = await db.get(Call, call_id)
            assert found is not None
            return found

        return self.live.db(get)
