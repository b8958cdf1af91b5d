"""The tracker's session API, on SQLite and PostgreSQL, with the real pool engine."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import NumberAssignment, TrackingNumber, TrackingSession, Visitor
from tests.clock import ManualClock
from tests.factories import create_pool, create_site

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
ORIGIN = "https://shop.example"
POOL = ["+7 495 000-00-01", "+7 495 000-00-02"]
TARGET = "+74951234567"


@pytest.fixture
async def site(client: AsyncClient) -> dict[str, Any]:
    site = await create_site(client)
    await create_pool(client, site["id"], numbers=POOL)
    static = await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={
            "number": "+7 495 000-01-01",
            "kind": "source",
            "target_number": TARGET,
            "source": "google",
            "medium": "organic",
        },
    )
    assert static.status_code == 201
    return site


async def start(
    http: AsyncClient,
    site: dict[str, Any],
    *,
    content_type: str = "text/plain",
    origin: str | None = ORIGIN,
    user_agent: str = BROWSER,
    **body: Any,
) -> Response:
    body.setdefault("url", "https://shop.example/")
    headers = {"Content-Type": content_type, "User-Agent": user_agent}
    if origin:
        headers["Origin"] = origin
    return await http.post(
        f"/t/{site['public_key']}/sessions", content=json.dumps(body), headers=headers
    )


async def ping(http: AsyncClient, site: dict[str, Any], session_id: str) -> Response:
    return await http.post(
        f"/t/{site['public_key']}/sessions/{session_id}/ping",
        content=json.dumps({"url": "https://shop.example/next"}),
        headers={"Content-Type": "text/plain", "User-Agent": BROWSER, "Origin": ORIGIN},
    )


async def count(sessionmaker: async_sessionmaker[AsyncSession], model: type[Any]) -> int:
    async with sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_session_gets_a_pool_number_logged_in_the_lease_log(
    anonymous: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    response = await start(
        anonymous,
        site,
        url="https://shop.example/?utm_source=yandex&utm_medium=cpc&yclid=77",
        referrer="https://yandex.ru/",
        ga_client_id="123.456",
        ym_client_id="1700000000123",
    )

    assert response.status_code == 200
    answer = response.json()
    assert answer["ping_s"] == 60
    [shown] = answer["numbers"]
    assert shown["target"] == TARGET
    assert shown["kind"] == "dynamic"
    assert shown["number"] in {"+74950000001", "+74950000002"}
    async with sessionmaker() as db:
        session = await db.get(TrackingSession, uuid.UUID(answer["session_id"]))
        assert session is not None
        assert str(session.visitor_id) == answer["visitor_id"]
        assert (session.source, session.medium, session.yclid) == ("yandex", "cpc", "77")
        assert (session.ga_client_id, session.ym_client_id) == ("123.456", "1700000000123")
        assert session.user_agent == BROWSER
        lease = (
            await db.execute(
                select(NumberAssignment, TrackingNumber.number)
                .join(TrackingNumber, TrackingNumber.id == NumberAssignment.tracking_number_id)
                .where(NumberAssignment.session_id == session.id)
            )
        ).one()
        assert lease[1] == shown["number"]
        assert lease[0].ended_at is None


async def test_json_content_type_is_accepted_too(
    anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    response = await start(anonymous, site, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["numbers"][0]["kind"] == "dynamic"


async def test_two_visitors_never_share_a_number_and_the_third_gets_the_fallback(
    anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    first = (await start(anonymous, site)).json()["numbers"][0]
    second = (await start(anonymous, site)).json()["numbers"][0]
    third_direct = (await start(anonymous, site)).json()["numbers"][0]
    fourth_google = (await start(anonymous, site, referrer="https://www.google.com/")).json()[
        "numbers"
    ][0]

    assert {first["number"], second["number"]} == {"+74950000001", "+74950000002"}
    # Exhausted: the source-level number where the source has one, else the target itself.
    assert third_direct == {"target": TARGET, "number": TARGET, "kind": "target"}
    assert fourth_google == {"target": TARGET, "number": "+74950000101", "kind": "source"}


async def test_ping_keeps_the_number(
    anonymous: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    answer = (await start(anonymous, site)).json()

    clock.advance(seconds=60)
    pinged = await ping(anonymous, site, answer["session_id"])

    assert pinged.status_code == 200
    assert pinged.json()["numbers"] == answer["numbers"]
    assert pinged.json()["session_id"] == answer["session_id"]


async def test_ping_of_an_unknown_or_ended_session_is_404(
    anonymous: AsyncClient, client: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    other = await create_site(client, name="Other")
    answer = (await start(anonymous, site)).json()

    assert (await ping(anonymous, site, str(uuid.uuid4()))).status_code == 404
    # Another site's key does not reach this site's session.
    foreign = await anonymous.post(
        f"/t/{other['public_key']}/sessions/{answer['session_id']}/ping",
        content="{}",
        headers={"User-Agent": BROWSER},
    )
    assert foreign.status_code == 404
    clock.advance(minutes=31)
    ended = await ping(anonymous, site, answer["session_id"])
    assert ended.status_code == 404
    assert "start a new one" in ended.json()["detail"]


async def test_returning_visitor_within_cooldown_gets_the_same_number(
    anonymous: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    first = (await start(anonymous, site)).json()

    clock.advance(minutes=12)  # the lease idled out 7 minutes ago, the number still rests
    back = (await start(anonymous, site, visitor_id=first["visitor_id"])).json()

    assert back["visitor_id"] == first["visitor_id"]
    assert back["session_id"] != first["session_id"]
    assert back["numbers"] == first["numbers"]


async def test_referrer_from_the_site_continues_the_session(
    anonymous: AsyncClient, site: dict[str, Any], clock: ManualClock
) -> None:
    first = (await start(anonymous, site)).json()

    clock.advance(minutes=5)
    next_page = (
        await start(
            anonymous,
            site,
            visitor_id=first["visitor_id"],
            url="https://shop.example/contacts",
            referrer="https://shop.example/",
        )
    ).json()

    assert next_page["session_id"] == first["session_id"]
    assert next_page["numbers"] == first["numbers"]


async def test_direct_return_keeps_the_last_non_direct_source(
    anonymous: AsyncClient, client: AsyncClient, clock: ManualClock
) -> None:
    # A site without a pool: every visitor sees the number of their source.
    site = await create_site(client)
    await client.post(
        f"/api/v1/sites/{site['id']}/static-numbers",
        json={
            "number": "+7 495 000-01-01",
            "kind": "source",
            "target_number": TARGET,
            "source": "google",
            "medium": "organic",
        },
    )
    organic = (await start(anonymous, site, referrer="https://www.google.com/")).json()
    clock.advance(days=3)
    direct = (await start(anonymous, site, visitor_id=organic["visitor_id"])).json()
    stranger = (await start(anonymous, site)).json()

    assert organic["numbers"] == [{"target": TARGET, "number": "+74950000101", "kind": "source"}]
    assert direct["numbers"] == organic["numbers"]
    assert stranger["numbers"] == [{"target": TARGET, "number": TARGET, "kind": "target"}]


async def test_without_consent_no_visitor_is_kept_and_only_source_numbers_are_shown(
    anonymous: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    google = (
        await start(
            anonymous,
            site,
            consent=False,
            referrer="https://www.google.com/",
            ga_client_id="1.2",
            visitor_id=str(uuid.uuid4()),
        )
    ).json()
    direct = (await start(anonymous, site, consent=False)).json()

    assert google["visitor_id"] is None
    assert google["numbers"] == [{"target": TARGET, "number": "+74950000101", "kind": "source"}]
    assert direct["numbers"] == [{"target": TARGET, "number": TARGET, "kind": "target"}]
    assert await count(sessionmaker, Visitor) == 0
    assert await count(sessionmaker, NumberAssignment) == 0
    async with sessionmaker() as db:
        session = await db.get(TrackingSession, uuid.UUID(google["session_id"]))
        assert session is not None
        assert (session.consent, session.ga_client_id, session.source) == (False, None, "google")


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "curl/8.5.0",
        "",
    ],
)
async def test_bots_see_the_target_and_never_touch_the_pool(
    anonymous: AsyncClient,
    site: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
    user_agent: str,
) -> None:
    for _ in range(5):
        answer = (await start(anonymous, site, user_agent=user_agent)).json()
        assert answer["numbers"] == [{"target": TARGET, "number": TARGET, "kind": "target"}]
        assert answer["session_id"] is None
        assert answer["bot"] is True  # the marker a page can tell a crawler's answer by

    assert await count(sessionmaker, TrackingSession) == 0
    assert await count(sessionmaker, NumberAssignment) == 0
    # The pool is untouched: a person still gets a dynamic number.
    person = (await start(anonymous, site)).json()
    assert (person["numbers"][0]["kind"], person["bot"]) == ("dynamic", False)


async def test_cors_is_granted_to_the_site_domains_only(
    anonymous: AsyncClient, site: dict[str, Any]
) -> None:
    own = await start(anonymous, site, origin="https://shop.example")
    sub = await start(anonymous, site, origin="https://m.shop.example")
    foreign = await start(anonymous, site, origin="https://evil.example")
    no_origin = await start(anonymous, site, origin=None)

    assert own.headers["access-control-allow-origin"] == "https://shop.example"
    assert sub.headers["access-control-allow-origin"] == "https://m.shop.example"
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers
    assert no_origin.status_code == 200
    assert "access-control-allow-origin" not in no_origin.headers


async def test_preflight_for_json_callers(anonymous: AsyncClient, site: dict[str, Any]) -> None:
    allowed = await anonymous.options(
        f"/t/{site['public_key']}/sessions",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    refused = await anonymous.options(
        f"/t/{site['public_key']}/sessions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in refused.headers


async def test_unknown_key_is_404(anonymous: AsyncClient) -> None:
    response = await start(anonymous, {"public_key": "cs_nope"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "JSON"),
        (b'{"url": "javascript:alert(1)"}', 422, "url"),
        (b'{"referrer": "https://x.example/"}', 422, "url"),
        (b'{"url": "https://shop.example/", "visitor_id": "nope"}', 422, "visitor_id"),
        (b'{"url": "https://shop.example/", "consent": "maybe"}', 422, "consent"),
        (b'{"url": "https://shop.example/?' + b"x" * 9000 + b'"}', 413, "larger"),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    anonymous: AsyncClient, site: dict[str, Any], body: bytes, status: int, message: str
) -> None:
    response = await anonymous.post(
        f"/t/{site['public_key']}/sessions",
        content=body,
        headers={"Content-Type": "text/plain", "User-Agent": BROWSER, "Origin": ORIGIN},
    )
    assert response.status_code == status
    assert message in response.json()["detail"]
    assert response.headers["access-control-allow-origin"] == ORIGIN


async def test_rate_limit_per_address(anonymous: AsyncClient, site: dict[str, Any]) -> None:
    bot = "Googlebot/2.1"  # cheap requests; they count like any other
    statuses = [(await start(anonymous, site, user_agent=bot)).status_code for _ in range(121)]

    assert statuses[:120] == [200] * 120
    assert statuses[120] == 429
    limited = await start(anonymous, site, user_agent=bot)
    assert int(limited.headers["retry-after"]) > 0


async def test_consent_given_during_the_visit_upgrades_the_session(
    anonymous: AsyncClient, site: dict[str, Any], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    declined = (await start(anonymous, site, consent=False)).json()
    assert declined["numbers"][0]["kind"] == "target"

    accepted = await anonymous.post(
        f"/t/{site['public_key']}/sessions/{declined['session_id']}/ping",
        content=json.dumps({"consent": True, "ga_client_id": "5.6"}),
        headers={"Content-Type": "text/plain", "User-Agent": BROWSER, "Origin": ORIGIN},
    )

    assert accepted.status_code == 200
    answer = accepted.json()
    assert answer["session_id"] == declined["session_id"]
    assert answer["visitor_id"] is not None
    assert answer["numbers"][0]["kind"] == "dynamic"
    async with sessionmaker() as db:
        session = await db.get(TrackingSession, uuid.UUID(answer["session_id"]))
        assert session is not None
        assert (session.consent, session.ga_client_id) == (True, "5.6")
        assert str(session.visitor_id) == answer["visitor_id"]
