"""Each ad platform's module against its stand-in (tests/costs/ad_platforms.py): the documented
requests (auth headers, report headers, GAQL), the answers while a report is built, rate
limits and errors, each ending in a clear message."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.costs.accounts.platforms import google_ads, vk_ads, yandex_direct
from app.costs.accounts.platforms.base import (
    AccountData,
    PlatformBusy,
    PlatformHttp,
    PlatformRefused,
    Spend,
)
from app.costs.keywords import keyword_text
from tests.costs.ad_platforms import (
    GOOGLE_ACCESS_TOKEN,
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_CUSTOMER,
    GOOGLE_DEVELOPER_TOKEN,
    GOOGLE_REFRESH_TOKEN,
    VK_CLIENT_ID,
    VK_CLIENT_SECRET,
    VK_TOKEN,
    YANDEX_TOKEN,
    FakeAdPlatforms,
    FakeAdPlatformsServer,
)

NOW = datetime(2026, 11, 8, 6, 0, tzinfo=UTC)
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 7)


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[FakeAdPlatforms, str]]:
    fake = FakeAdPlatforms()
    server = FakeAdPlatformsServer(fake)
    await server.start()
    try:
        yield fake, server.url
    finally:
        await server.stop()


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def http() -> AsyncIterator[tuple[PlatformHttp, Sleeps]]:
    sleeps = Sleeps()
    async with httpx.AsyncClient() as client:
        yield PlatformHttp(client=client, sleep=sleeps, max_wait_s=30), sleeps


def account(
    kind: str, base: str, config: dict[str, Any], credentials: dict[str, Any]
) -> AccountData:
    return AccountData(uuid.uuid4(), kind, {"api_base": base, **config}, credentials)


async def fetch(module: Any, http: PlatformHttp, data: AccountData) -> list[Spend]:
    fetched = await module.fetch(http, data, first_day=FIRST, last_day=LAST, now=NOW)
    return list(fetched.spend)


# --- Yandex Direct ---------------------------------------------------------------------------


def yandex(base: str, **config: Any) -> AccountData:
    return account("yandex_direct", base, config, {"token": YANDEX_TOKEN})


async def test_yandex_polls_the_offline_report_as_retry_in_says(platforms: Any, http: Any) -> None:
    fake, base = platforms
    client, sleeps = http
    fake.yandex_client_login = "shop-client"
    fake.yandex_polls, fake.yandex_retry_in = 2, 3
    fake.yandex_rows = [
        ("2026-11-01", "Sofas Moscow", "купить диван -дешево", "1500.50"),
        ("2026-11-01", "Sofas Moscow", "!купить +диван", "99.50"),
        ("2026-11-02", "Brand", "--", "300"),
        ("2026-10-31", "Brand", "--", "999"),  # outside the period: not asked for
    ]

    spend = await fetch(yandex_direct, client, yandex(base, client_login="shop-client"))

    assert spend == [
        Spend(date(2026, 11, 1), "Sofas Moscow", "купить диван", Decimal("1500.50"), None),
        Spend(date(2026, 11, 1), "Sofas Moscow", "купить диван", Decimal("99.50"), None),
        Spend(date(2026, 11, 2), "Brand", "", Decimal("300.00"), None),
    ]
    # 201 (queued), 202 (being built), then 200: two waits of retryIn seconds.
    assert sleeps.waits == [3.0, 3.0]
    assert len(fake.requests) == 3
    names = {json.loads(seen.body)["params"]["ReportName"] for seen in fake.requests}
    assert len(names) == 1  # polling repeats the same report
    headers = fake.requests[0].headers
    assert headers["authorization"] == f"Bearer {YANDEX_TOKEN}"
    assert headers["client-login"] == "shop-client"
    assert headers["returnmoneyinmicros"] == "false"
    assert headers["skipreportheader"] == "true"
    assert headers["skipreportsummary"] == "true"
    assert headers["processingmode"] == "auto"
    params = json.loads(fake.requests[0].body)["params"]
    assert params["FieldNames"] == ["Date", "CampaignName", "Criterion", "Cost"]
    assert params["SelectionCriteria"] == {"DateFrom": "2026-11-01", "DateTo": "2026-11-07"}
    assert (params["ReportType"], params["DateRangeType"], params["Format"]) == (
        "CUSTOM_REPORT",
        "CUSTOM_DATE",
        "TSV",
    )


async def test_yandex_gives_up_waiting_past_its_patience(platforms: Any, http: Any) -> None:
    fake, base = platforms
    client, sleeps = http
    fake.yandex_polls, fake.yandex_retry_in = 100, 20

    with pytest.raises(PlatformBusy, match="still building the report"):
        await fetch(yandex_direct, client, yandex(base))
    assert sum(sleeps.waits) <= 30


async def test_yandex_bad_token_is_refused_with_its_message(platforms: Any, http: Any) -> None:
    _, base = platforms
    data = AccountData(uuid.uuid4(), "yandex_direct", {"api_base": base}, {"token": "wrong"})
    with pytest.raises(PlatformRefused) as refused:
        await fetch(yandex_direct, http[0], data)
    assert "400" in refused.value.detail
    assert "error 53" in refused.value.detail
    assert "Invalid OAuth token" in refused.value.detail


@pytest.mark.parametrize(
    ("status", "code", "busy"),
    [(400, 9000, True), (400, 56, True), (500, 1000, True), (502, 0, True), (400, 8800, False)],
)
async def test_yandex_limits_and_server_errors_pass_others_do_not(
    platforms: Any, http: Any, status: int, code: int, busy: bool
) -> None:
    fake, base = platforms
    error = {"request_id": "1", "error_code": code, "error_string": "Limit", "error_detail": "x"}
    fake.fail("yandex", status, {"error": error} if code else "<html>Bad gateway</html>")
    with pytest.raises(PlatformBusy if busy else PlatformRefused) as failure:
        await fetch(yandex_direct, http[0], yandex(base))
    assert str(status) in failure.value.detail


def test_yandex_keywords_lose_their_operators() -> None:
    assert keyword_text('"диван" -дешево -бесплатно') == "диван"
    assert keyword_text("[купить диван] +в москве") == "купить диван в москве"
    assert keyword_text("--") == ""


# --- Google Ads ------------------------------------------------------------------------------


def google(base: str, **config: Any) -> AccountData:
    credentials = {
        "developer_token": GOOGLE_DEVELOPER_TOKEN,
        "client_id": GOOGLE_CLIENT_ID,
        "client_secret": GOOGLE_CLIENT_SECRET,
        "refresh_token": GOOGLE_REFRESH_TOKEN,
    }
    return account("google_ads", base, {"customer_id": GOOGLE_CUSTOMER, **config}, credentials)


async def test_google_books_keywords_and_the_rest_of_each_campaign(
    platforms: Any, http: Any
) -> None:
    fake, base = platforms
    fake.google_login_customer = "9876543210"
    fake.google_campaigns = [
        ("2026-11-01", "Search Sofas", 2_500_000_000),
        ("2026-11-01", "Display", 700_000_000),
        ("2026-11-02", "Search Sofas", 1_000_000_000),
    ]
    fake.google_keywords = [
        ("2026-11-01", "Search Sofas", "Group A", "buy sofa", 1_500_000_000),
        ("2026-11-01", "Search Sofas", "Group B", "buy sofa", 500_000_000),
        ("2026-11-02", "Search Sofas", "Group A", "sofa bed", 1_000_000_000),
    ]

    spend = await fetch(google_ads, http[0], google(base, login_customer_id="987-654-3210"))

    assert sorted(spend, key=lambda s: (s.day, s.campaign, s.term)) == [
        Spend(date(2026, 11, 1), "Display", "", Decimal("700.00"), "USD"),
        Spend(date(2026, 11, 1), "Search Sofas", "", Decimal("500.00"), "USD"),
        Spend(date(2026, 11, 1), "Search Sofas", "buy sofa", Decimal("2000.00"), "USD"),
        Spend(date(2026, 11, 2), "Search Sofas", "sofa bed", Decimal("1000.00"), "USD"),
    ]
    token, *searches = fake.requests
    assert token.path == "/token"
    assert [s.path for s in searches] == [
        f"/v26/customers/{GOOGLE_CUSTOMER}/googleAds:searchStream"
    ] * 2
    for seen in searches:
        assert seen.headers["authorization"] == f"Bearer {GOOGLE_ACCESS_TOKEN}"
        assert seen.headers["developer-token"] == GOOGLE_DEVELOPER_TOKEN
        assert seen.headers["login-customer-id"] == "9876543210"
    queries = [json.loads(s.body)["query"] for s in searches]
    assert all(
        "metrics.cost_micros" in q and "segments.date BETWEEN '2026-11-01' AND '2026-11-07'" in q
        for q in queries
    )
    assert any("ad_group_criterion.keyword.text" in q and "FROM keyword_view" in q for q in queries)


async def test_google_revoked_refresh_token_is_refused(platforms: Any, http: Any) -> None:
    _, base = platforms
    data = google(base)
    data.credentials["refresh_token"] = "revoked"
    with pytest.raises(PlatformRefused, match="invalid_grant: Token has been expired or revoked"):
        await fetch(google_ads, http[0], data)


async def test_google_bad_developer_token_is_refused(platforms: Any, http: Any) -> None:
    _, base = platforms
    data = google(base)
    data.credentials["developer_token"] = "nope"
    with pytest.raises(PlatformRefused, match=r"401 UNAUTHENTICATED.*developer token"):
        await fetch(google_ads, http[0], data)


async def test_google_rate_limit_is_busy_with_its_retry_after(platforms: Any, http: Any) -> None:
    fake, base = platforms
    fake.fail(
        "google",
        429,
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        **{"Retry-After": "30"},
    )
    with pytest.raises(PlatformBusy, match="RESOURCE_EXHAUSTED") as busy:
        await fetch(google_ads, http[0], google(base))
    assert busy.value.retry_after_s == 30


# --- VK Ads ----------------------------------------------------------------------------------


async def test_vk_spend_by_day_and_campaign_in_chunks_of_fifty(platforms: Any, http: Any) -> None:
    fake, base = platforms
    fake.vk_plans = {n: f"Plan {n}" for n in range(1, 301)}  # two pages, seven chunks
    fake.vk_spent = {(7, "2026-11-01"): "120.50", (7, "2026-11-02"): "0", (260, "2026-11-03"): "80"}
    data = account("vk_ads", base, {"account_id": "123"}, {"token": VK_TOKEN})

    spend = await fetch(vk_ads, http[0], data)

    assert spend == [
        Spend(date(2026, 11, 1), "Plan 7", "", Decimal("120.50"), None),
        Spend(date(2026, 11, 3), "Plan 260", "", Decimal("80.00"), None),
    ]
    stats = [s for s in fake.requests if s.path.endswith("/day.json")]
    assert len(stats) == 6
    assert all(s.headers["authorization"] == f"Bearer {VK_TOKEN}" for s in fake.requests)
    assert stats[0].query["date_from"] == "2026-11-01"
    assert stats[0].query["date_to"] == "2026-11-07"
    assert [s.path for s in fake.requests].count("/api/v2/ad_plans.json") == 2


async def test_vk_client_credentials_token_is_kept_for_reuse(platforms: Any, http: Any) -> None:
    fake, base = platforms
    fake.vk_plans = {1: "Plan"}
    fake.vk_spent = {(1, "2026-11-01"): "10"}
    creds = {"client_id": VK_CLIENT_ID, "client_secret": VK_CLIENT_SECRET}
    data = account("vk_ads", base, {"account_id": "1"}, creds)

    first = await vk_ads.fetch(http[0], data, first_day=FIRST, last_day=LAST, now=NOW)
    assert first.credentials is not None
    assert first.credentials["access_token"] == VK_TOKEN
    again = account("vk_ads", base, {"account_id": "1"}, first.credentials)
    second = await vk_ads.fetch(http[0], again, first_day=FIRST, last_day=LAST, now=NOW)

    assert fake.vk_tokens_issued == 1
    assert second.spend == first.spend


async def test_vk_throttling_is_busy_and_a_bad_token_refused(platforms: Any, http: Any) -> None:
    fake, base = platforms
    fake.vk_plans = {1: "Plan"}
    fake.fail(
        "vk",
        429,
        {"error": {"code": "throttling", "message": "Too many requests"}},
        **{"Retry-After": "5"},
    )
    with pytest.raises(PlatformBusy, match="429") as busy:
        await fetch(vk_ads, http[0], account("vk_ads", base, {}, {"token": VK_TOKEN}))
    assert busy.value.retry_after_s == 5
    with pytest.raises(PlatformRefused, match="401: invalid_token"):
        await fetch(vk_ads, http[0], account("vk_ads", base, {}, {"token": "bad"}))


async def test_answers_that_do_not_read_are_busy_not_a_crash(platforms: Any, http: Any) -> None:
    fake, base = platforms
    fake.fail("google", 200, [{"results": [{"metrics": {"costMicros": "1"}}]}])
    with pytest.raises(PlatformBusy, match="do not read"):
        await fetch(google_ads, http[0], google(base))
    fake.vk_plans = {1: "Plan"}
    fake.fail("vk", 200, {"count": 1, "items": [{"name": "no id"}]})
    with pytest.raises(PlatformBusy, match="does not read"):
        await fetch(vk_ads, http[0], account("vk_ads", base, {}, {"token": VK_TOKEN}))
    fake.fail("yandex", 200, "Day\tCampaign\n2026-11-01\tx\n")
    with pytest.raises(PlatformBusy, match="unexpected columns"):
        await fetch(yandex_direct, http[0], yandex(base))
