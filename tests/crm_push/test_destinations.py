"""Conversion destinations end to end, on SQLite and PostgreSQL: a visit through the tracker
API, a call through the signed PBX webhook, the outbox worker, and stand-ins of GA4, Yandex
Metrika and Google Ads that follow the platforms' documented requests and answers."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import CrmConnector
from crm_push.worker import Worker
from tests.clock import ManualClock
from tests.crm_push import fake_platforms as fp
from tests.crm_push.conftest import run_until_settled
from tests.crm_push.destinations_world import GA_CLIENT_ID, YM_CLIENT_ID, Destinations

GCLID = "Cj0KCQ-test-gclid"


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _set_config(
    sessionmaker: async_sessionmaker[AsyncSession], destination: dict[str, Any], **config: Any
) -> None:
    """Config the API would refuse (to see the platform's own validation answer)."""
    async with sessionmaker() as db:
        row = await db.get(CrmConnector, uuid.UUID(destination["id"]))
        assert row is not None
        row.config = {**row.config, **config}
        await db.commit()


# --- GA4 ------------------------------------------------------------------------------------


async def test_ga4_gets_an_event_for_the_visits_client_id(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ga4 = await dest.destination("ga4")
    call = await dest.call(await dest.visit())

    await run_until_settled(worker, clock)

    [event] = platforms.platforms.ga4_events
    assert event["client_id"] == GA_CLIENT_ID
    [sent] = event["events"]
    assert sent["name"] == "phone_call"
    assert sent["params"]["call_talk_seconds"] == 60
    assert sent["params"]["call_source"] == "google"
    assert "value" not in sent["params"]  # no deal yet
    # Backdated to the call's start, in microseconds.
    assert event["timestamp_micros"] == int(ts(call["started_at"]).timestamp() * 1e6)
    # Validated first, then sent, both with the measurement id and secret in the query.
    paths = [r.path for r in platforms.platforms.requests]
    assert paths == ["/debug/mp/collect", "/mp/collect"]
    for request in platforms.platforms.requests:
        assert request.query == {
            "measurement_id": [fp.MEASUREMENT_ID],
            "api_secret": [fp.API_SECRET],
        }
    [delivery] = await dest.deliveries(ga4, status="sent")
    assert delivery["event"] == "call.attributed"
    assert delivery["call_id"] == call["id"]


async def test_ga4_refusing_the_event_makes_it_dead_with_the_reason(
    dest: Destinations,
    worker: Worker,
    clock: ManualClock,
    platforms: fp.PlatformsServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    ga4 = await dest.destination("ga4")
    await _set_config(sessionmaker, ga4, event_name="_badEventName")
    await dest.call(await dest.visit())

    await run_until_settled(worker, clock)

    [dead] = await dest.deliveries(ga4, status="dead")
    assert "NAME_INVALID" in dead["last_error"] or "invalid name" in dead["last_error"]
    assert "_badEventName" in dead["last_error"]
    assert fp.API_SECRET not in dead["last_error"]
    # Never sent for real: GA4 would have answered 2xx and dropped it.
    assert platforms.platforms.of("/mp/collect") == []
    assert dead["attempts"] == 1


async def test_ga4_without_a_client_id_is_dead_saying_why(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ga4 = await dest.destination("ga4")
    await dest.call(await dest.visit(ga=None))

    await run_until_settled(worker, clock)

    [dead] = await dest.deliveries(ga4, status="dead")
    assert "no GA client id" in dead["last_error"]
    assert platforms.platforms.requests == []


async def test_ga4_server_errors_are_retried_with_backoff(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ga4 = await dest.destination("ga4")
    platforms.platforms.fail("/mp/collect", 503)
    await dest.call(await dest.visit())

    await worker.drain()
    [waiting] = await dest.deliveries(ga4, status="pending")
    assert waiting["attempts"] == 1
    assert "503" in waiting["last_error"]
    assert platforms.platforms.ga4_events == []

    await run_until_settled(worker, clock)
    assert len(platforms.platforms.ga4_events) == 1
    [sent] = await dest.deliveries(ga4, status="sent")
    assert sent["attempts"] == 2


# --- Yandex Metrika -------------------------------------------------------------------------


async def test_metrika_gets_the_call_by_yclid_or_by_client_id(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    metrika = await dest.destination("yandex_metrika", target="phone_call")
    by_click = await dest.call(
        await dest.visit(query="utm_source=yandex&utm_medium=cpc&yclid=7788990011")
    )
    by_visit = await dest.call(
        await dest.visit(query="utm_source=yandex&utm_medium=organic"), caller="+79005550000"
    )

    await run_until_settled(worker, clock)

    uploads = platforms.platforms.metrika_uploads
    assert [u["client_id_type"] for u in uploads] == ["YCLID", "CLIENT_ID"]
    [yclid_row], [client_row] = uploads[0]["rows"], uploads[1]["rows"]
    assert yclid_row["Yclid"] == "7788990011"
    assert client_row["ClientId"] == YM_CLIENT_ID
    assert {yclid_row["Target"], client_row["Target"]} == {"phone_call"}
    started = ts(by_click["started_at"])
    assert yclid_row["DateTime"] == str(int(started.timestamp()))
    assert by_visit["id"] != by_click["id"]
    for request in platforms.platforms.of("/management"):
        assert request.headers["authorization"] == f"OAuth {fp.METRIKA_TOKEN}"
        assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    sent = await dest.deliveries(metrika, status="sent")
    assert {d["external_id"] for d in sent} == {"uploading:501", "uploading:502"}


async def test_metrika_calls_upload_carries_the_calls_figures(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    await dest.destination("yandex_metrika", upload_calls=True)
    number = await dest.visit(query="utm_source=yandex&utm_medium=cpc&yclid=42")
    call = await dest.call(number, duration=65, talk=50)
    await dest.won(call, 700)

    await run_until_settled(worker, clock)

    [upload] = platforms.platforms.metrika_calls
    assert upload["client_id_type"] == "YCLID"
    [row] = upload["rows"]
    assert row == {
        "Yclid": "42",
        "DateTime": str(int(ts(call["started_at"]).timestamp())),
        "StaticCall": "0",
        "PhoneNumber": number,
        "TalkDuration": "50",
        "HoldDuration": "15",
        "CallMissed": "0",
        "FirstTimeCaller": "1",
        "URL": "https://shop.example/?utm_source=yandex&utm_medium=cpc&yclid=42",
        "Price": "700.00",
        "Currency": "RUB",
    }
    # The won deal still goes as a conversion of the deal goal.
    [deal] = platforms.platforms.metrika_uploads
    assert deal["rows"][0]["Target"] == "deal_won"
    paths = {r.path.rsplit("/", 1)[-1] for r in platforms.platforms.requests}
    assert paths == {"upload_calls", "upload"}


async def test_metrika_rate_limit_waits_for_its_retry_after(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    metrika = await dest.destination("yandex_metrika")
    platforms.platforms.fail("/management", 429, retry_after=120)
    await dest.call(await dest.visit(query="yclid=123"))

    await worker.drain()
    [waiting] = await dest.deliveries(metrika, status="pending")
    assert "429" in waiting["last_error"]
    assert ts(waiting["next_attempt_at"]) >= clock.now + timedelta(seconds=120)
    clock.advance(seconds=60)
    await worker.drain()
    assert platforms.platforms.metrika_uploads == []  # not yet due

    await run_until_settled(worker, clock)
    assert len(platforms.platforms.metrika_uploads) == 1


async def test_metrika_with_a_wrong_token_is_retried_not_dropped(
    dest: Destinations, worker: Worker, platforms: fp.PlatformsServer
) -> None:
    metrika = await dest.destination("yandex_metrika", token="y0_a-token-metrika-revoked")
    await dest.call(await dest.visit(query="yclid=123"))

    await worker.drain()

    [waiting] = await dest.deliveries(metrika, status="pending")
    assert "401" in waiting["last_error"]
    assert "Invalid oauth_token" in waiting["last_error"]
    assert "y0_a-token-metrika-revoked" not in waiting["last_error"]
    assert platforms.platforms.metrika_uploads == []


async def test_metrika_refusing_the_file_makes_it_dead(
    dest: Destinations,
    worker: Worker,
    clock: ManualClock,
    platforms: fp.PlatformsServer,
) -> None:
    metrika = await dest.destination("yandex_metrika")
    await dest.call(await dest.visit(query="yclid=123"))
    # The call "happens" in the future of Metrika's clock: DateTime must be in the past.
    platforms.platforms.clock = lambda: clock.now - timedelta(hours=1)

    await run_until_settled(worker, clock)

    [dead] = await dest.deliveries(metrika, status="dead")
    assert "400" in dead["last_error"]
    assert "DateTime must be a past Unix time stamp" in dead["last_error"]


# --- Google Ads -----------------------------------------------------------------------------


async def test_google_ads_gets_a_click_conversion_in_the_sites_time_zone(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads", login_customer_id="111-222-3333")
    call = await dest.call(await dest.visit())

    await run_until_settled(worker, clock)

    [conversion] = platforms.platforms.ads_conversions
    started = ts(call["started_at"])
    local = started.astimezone(ZoneInfo("Europe/Moscow"))
    assert conversion == {
        "gclid": GCLID,
        "conversionAction": f"customers/{fp.ADS_CUSTOMER}/conversionActions/{fp.ADS_ACTION}",
        "conversionDateTime": local.strftime("%Y-%m-%d %H:%M:%S") + "+03:00",
        "orderId": "cs_" + call["id"].replace("-", ""),
    }
    [token, upload] = platforms.platforms.requests
    assert token.path == "/token"
    assert upload.path == f"/v26/customers/{fp.ADS_CUSTOMER}:uploadClickConversions"
    assert upload.headers["authorization"] == f"Bearer {fp.ACCESS_TOKEN}"
    assert upload.headers["developer-token"] == fp.DEVELOPER_TOKEN
    assert upload.headers["login-customer-id"] == "1112223333"
    assert json.loads(upload.body)["partialFailure"] is True
    [sent] = await dest.deliveries(ads, status="sent")
    assert sent["external_id"] == "order:cs_" + call["id"].replace("-", "")


async def test_google_ads_partial_failure_is_dead_with_googles_reason(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads")
    platforms.platforms.ads_gclid_errors[GCLID] = "UNPARSEABLE_GCLID"
    await dest.call(await dest.visit())

    await run_until_settled(worker, clock)

    [dead] = await dest.deliveries(ads, status="dead")
    assert "UNPARSEABLE_GCLID" in dead["last_error"]
    assert fp.ACCESS_TOKEN not in dead["last_error"]


async def test_google_ads_too_recent_click_is_tried_again_after_six_hours(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads")
    platforms.platforms.ads_gclid_errors[GCLID] = "TOO_RECENT_EVENT"
    await dest.call(await dest.visit())

    await worker.drain()

    [waiting] = await dest.deliveries(ads, status="pending")
    assert "TOO_RECENT_EVENT" in waiting["last_error"]
    due = ts(waiting["next_attempt_at"])
    assert due >= clock.now + timedelta(hours=6)

    del platforms.platforms.ads_gclid_errors[GCLID]
    clock.advance(hours=8)
    await worker.drain()
    [sent] = await dest.deliveries(ads, status="sent")
    assert sent["attempts"] == 2


async def test_google_ads_rate_limit_and_outage_are_retried(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads")
    platforms.platforms.fail("/v26/", 429, retry_after=30)
    platforms.platforms.fail("/v26/", 500)
    await dest.call(await dest.visit())

    await run_until_settled(worker, clock)

    [sent] = await dest.deliveries(ads, status="sent")
    assert sent["attempts"] == 3
    assert len(platforms.platforms.ads_conversions) == 1


async def test_google_ads_revoked_refresh_token_is_dead(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads", refresh_token="1//a-revoked-refresh-token")

    await dest.call(await dest.visit())
    await run_until_settled(worker, clock)

    [dead] = await dest.deliveries(ads, status="dead")
    assert "invalid_grant" in dead["last_error"]
    assert "1//a-revoked-refresh-token" not in dead["last_error"]
    assert platforms.platforms.of("/v26/") == []


async def test_a_repeated_upload_of_the_same_click_counts_as_sent(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads")
    call = await dest.call(await dest.visit())
    # An earlier attempt reached Google (its answer was lost): the conversion is there.
    started = ts(call["started_at"])
    local = started.astimezone(ZoneInfo("Europe/Moscow")).isoformat(sep=" ", timespec="seconds")
    platforms.platforms.ads_conversions.append({"gclid": GCLID, "conversionDateTime": local})

    await run_until_settled(worker, clock)

    [sent] = await dest.deliveries(ads, status="sent")
    assert sent["attempts"] == 1
    assert len(platforms.platforms.ads_conversions) == 1


# --- the rule -------------------------------------------------------------------------------


async def test_only_calls_the_rule_lets_through_are_queued(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads", min_talk_s=30, first_time_only=True)
    number = await dest.visit()
    await dest.call(number, duration=20, talk=15, caller="+79001110001")  # too short a talk
    await dest.call(number, status="missed", duration=25, caller="+79001110002")  # missed
    await dest.call(number, duration=5, talk=3, caller="+79001110003")  # possible spam
    kept = await dest.call(number, duration=90, caller="+79001110004")
    await dest.call(number, duration=90, caller="+79001110004")  # a repeat caller

    rows = await dest.rows()
    assert [(r.call_id.hex if r.call_id else None, r.event) for r in rows] == [
        (kept["id"].replace("-", ""), "call.attributed")
    ]
    await run_until_settled(worker, clock)
    assert len(platforms.platforms.ads_conversions) == 1

    # Changed rule: repeat callers count too, from now on.
    response = await dest.client.patch(
        f"/api/v1/sites/{dest.sid}/destinations/{ads['id']}", json={"first_time_only": False}
    )
    assert response.status_code == 200, response.text
    assert response.json()["rule"]["first_time_only"] is False
    await dest.call(number, duration=90, caller="+79001110004")
    assert len(await dest.rows()) == 2


async def test_calls_without_the_platforms_id_are_not_queued(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads")
    metrika = await dest.destination("yandex_metrika")
    # A visit with neither gclid nor yclid, and no Metrika cookie read by the snippet.
    await dest.call(await dest.visit(query="utm_source=newsletter&utm_medium=email", ym=None))

    # Google Ads needs a gclid: nothing queued. Metrika may take a visit by its ClientId,
    # which is read when the delivery goes out: none, so it is dead, saying why.
    assert await dest.deliveries(ads) == []
    await run_until_settled(worker, clock)
    [dead] = await dest.deliveries(metrika, status="dead")
    assert "no yclid" in dead["last_error"]
    assert platforms.platforms.requests == []


# --- a deal won later -----------------------------------------------------------------------


async def test_a_deal_won_later_restates_the_google_ads_value(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    ads = await dest.destination("google_ads")
    call = await dest.call(await dest.visit())
    await run_until_settled(worker, clock)
    [conversion] = platforms.platforms.ads_conversions
    assert "conversionValue" not in conversion

    clock.advance(days=2)
    await dest.won(call, 15000.50)
    await run_until_settled(worker, clock)

    [adjustment] = platforms.platforms.ads_adjustments
    assert adjustment["adjustmentType"] == "RESTATEMENT"
    assert adjustment["orderId"] == conversion["orderId"]
    assert adjustment["restatementValue"] == {"adjustedValue": 15000.5, "currencyCode": "RUB"}
    won_at = clock.now.astimezone(ZoneInfo("Europe/Moscow"))
    assert adjustment["adjustmentDateTime"] == won_at.isoformat(sep=" ", timespec="seconds")
    events = sorted(d["event"] for d in await dest.deliveries(ads, status="sent"))
    assert events == ["call.attributed", "deal.won"]

    # The same deal reported again changes nothing more.
    await dest.won(call, 15000.50)
    assert len(await dest.rows()) == 2


async def test_a_deal_won_later_reaches_ga4_and_metrika(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    await dest.destination("ga4")
    await dest.destination("yandex_metrika")
    call = await dest.call(await dest.visit(query="utm_source=yandex&utm_medium=cpc&yclid=55"))
    await run_until_settled(worker, clock)

    clock.advance(hours=3)
    await dest.won(call, 2500)
    await run_until_settled(worker, clock)

    purchase = platforms.platforms.ga4_events[-1]["events"][0]
    assert purchase["name"] == "purchase"
    assert purchase["params"]["value"] == 2500.0
    assert purchase["params"]["currency"] == "RUB"
    assert purchase["params"]["transaction_id"] == "cs_" + call["id"].replace("-", "")
    [deal_row] = platforms.platforms.metrika_uploads[-1]["rows"]
    assert deal_row["Target"] == "deal_won"
    assert deal_row["Price"] == "2500.00"
    assert deal_row["Currency"] == "RUB"
    assert deal_row["DateTime"] == str(int(clock.now.timestamp()))


async def test_a_call_already_won_goes_out_with_its_value(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    await dest.destination("google_ads", send_value=True)
    call = await dest.call(await dest.visit())
    await dest.won(call, 990)  # before the worker ran

    await run_until_settled(worker, clock)

    [conversion] = platforms.platforms.ads_conversions
    assert conversion["conversionValue"] == 990.0
    assert conversion["currencyCode"] == "RUB"


async def test_without_send_value_no_deal_goes_out(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    await dest.destination("google_ads", send_value=False)
    call = await dest.call(await dest.visit())
    await dest.won(call, 990)

    await run_until_settled(worker, clock)

    [conversion] = platforms.platforms.ads_conversions
    assert "conversionValue" not in conversion
    assert [r.event for r in await dest.rows()] == ["call.attributed"]
    assert platforms.platforms.ads_adjustments == []


async def test_a_corrected_amount_is_restated_again_only_where_restating(
    dest: Destinations, worker: Worker, clock: ManualClock, platforms: fp.PlatformsServer
) -> None:
    await dest.destination("google_ads")
    await dest.destination("ga4")
    call = await dest.call(await dest.visit())
    await dest.won(call, 1000)
    await run_until_settled(worker, clock)
    purchases = len(platforms.platforms.ga4_events)

    clock.advance(hours=1)
    await dest.won(call, 1200)  # the same deal, its amount corrected
    await run_until_settled(worker, clock)

    values = [a["restatementValue"]["adjustedValue"] for a in platforms.platforms.ads_adjustments]
    assert values == [1000.0, 1200.0]
    # GA4 counts a purchase once per transaction: it is not sent twice.
    assert len(platforms.platforms.ga4_events) == purchases
