"""`/api/v1/sites/{site_id}/notifications`: the contract, the 422s naming their field, the bot
token write-only and sealed, and the CRM API and the notifications API each listing their own."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.main import create_app
from crm_push.redaction import redact
from tests.clock import ManualClock
from tests.conftest import TEST_ADMIN_TOKEN
from tests.crm_push.fake_telegram import BOT_TOKEN, CHAT_ID
from tests.factories import create_site

TELEGRAM = {
    "channel": "telegram",
    "chat_id": CHAT_ID,
    "bot_token": BOT_TOKEN,
    "events": ["missed_call", "daily_digest"],
    "api_base": "http://127.0.0.1:8081",
}


async def _post(client: AsyncClient, site_id: str, body: dict[str, Any]) -> Any:
    return await client.post(f"/api/v1/sites/{site_id}/notifications", json=body)


async def test_a_telegram_rule_is_created_listed_and_retired(
    client: AsyncClient, db: AsyncSession
) -> None:
    site = await create_site(client)
    sid = site["id"]
    created = await _post(client, sid, TELEGRAM)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["channel"] == "telegram"
    assert body["chat_id"] == CHAT_ID
    assert body["events"] == ["missed_call", "daily_digest"]
    assert body["api_base"] == "http://127.0.0.1:8081"
    assert (body["dead"], body["pending"], body["last_error"]) == (0, 0, None)
    assert "bot_token" not in body
    assert BOT_TOKEN not in created.text

    listed = await client.get(f"/api/v1/sites/{sid}/notifications")
    assert [r["id"] for r in listed.json()["items"]] == [body["id"]]
    assert BOT_TOKEN not in listed.text
    one = await client.get(f"/api/v1/sites/{sid}/notifications/{body['id']}")
    assert one.json()["id"] == body["id"]

    # The token is sealed in the column.
    [raw] = (await db.execute(text("SELECT credentials FROM crm_connectors"))).scalars().all()
    assert BOT_TOKEN.split(":")[1] not in str(raw)

    # Alert rules are not CRMs: the CRM API neither lists nor finds them.
    crm = await client.get(f"/api/v1/sites/{sid}/crm")
    assert crm.json()["items"] == []
    assert (await client.get(f"/api/v1/sites/{sid}/crm/{body['id']}")).status_code == 404

    retired = await client.delete(f"/api/v1/sites/{sid}/notifications/{body['id']}")
    assert retired.status_code == 200
    assert retired.json()["retired_at"] is not None
    assert (await client.get(f"/api/v1/sites/{sid}/notifications")).json()["items"] == []
    again = await client.get(f"/api/v1/sites/{sid}/notifications?include_retired=true")
    assert len(again.json()["items"]) == 1


async def test_a_crm_connector_is_not_a_notification_rule(client: AsyncClient) -> None:
    sid = (await create_site(client))["id"]
    crm = await client.post(
        f"/api/v1/sites/{sid}/crm", json={"kind": "webhook", "url": "https://crm.example.com/h"}
    )
    assert crm.status_code == 201
    assert (await client.get(f"/api/v1/sites/{sid}/notifications")).json()["items"] == []
    missing = await client.get(f"/api/v1/sites/{sid}/notifications/{crm.json()['id']}")
    assert missing.status_code == 404
    assert "notification rule" in missing.json()["detail"]


async def test_each_missing_field_is_named(client: AsyncClient) -> None:
    sid = (await create_site(client))["id"]
    cases = [
        ({"channel": "telegram", "bot_token": BOT_TOKEN, "events": ["call"]}, "chat_id"),
        ({"channel": "telegram", "chat_id": CHAT_ID, "events": ["call"]}, "bot_token"),
        ({**TELEGRAM, "chat_id": "not a chat"}, "chat_id"),
        ({**TELEGRAM, "bot_token": "secret"}, "bot_token"),
        ({**TELEGRAM, "events": []}, "events"),
        ({**TELEGRAM, "events": ["everything"]}, "events"),
        ({**TELEGRAM, "api_base": "ftp://x"}, "api_base"),
        ({**TELEGRAM, "to": "a@b.example"}, "to"),
        ({"channel": "email", "events": ["call"]}, "to"),
        ({"channel": "email", "to": "not-an-address", "events": ["call"]}, "to"),
        (
            {"channel": "email", "to": "a@b.example", "chat_id": CHAT_ID, "events": ["call"]},
            "chat_id",
        ),
        ({"channel": "sms", "to": "a@b.example", "events": ["call"]}, "channel"),
    ]
    for body, field in cases:
        response = await _post(client, sid, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"].startswith(field), (body, response.json())
    assert (await client.get(f"/api/v1/sites/{sid}/notifications")).json()["items"] == []


async def test_email_while_smtp_is_off_is_a_422_saying_so(client: AsyncClient) -> None:
    sid = (await create_site(client))["id"]
    response = await _post(
        client, sid, {"channel": "email", "to": "sales@shop.example", "events": ["missed_call"]}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("channel: e-mail is off")
    assert "CALLSOURCE_SMTP_URL" in detail


async def test_email_with_smtp_configured(
    settings: Settings, clock: ManualClock, engine: object
) -> None:
    from httpx import ASGITransport

    on = settings.model_copy(
        update={"smtp_url": SecretStr("smtp://127.0.0.1:2525"), "mail_from": "a@cs.example"}
    )
    application = create_app(on, clock=clock)
    async with application.router.lifespan_context(application):
        transport = ASGITransport(app=application)
        headers = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
        async with AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            sid = (await create_site(client))["id"]
            response = await _post(
                client,
                sid,
                {"channel": "email", "to": ["a@shop.example"], "events": ["call", "form_lead"]},
            )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["channel"], body["to"], body["chat_id"]) == ("email", ["a@shop.example"], None)
    assert body["events"] == ["call", "form_lead"]


async def test_an_api_base_we_may_not_reach_is_refused(client: AsyncClient) -> None:
    sid = (await create_site(client))["id"]
    response = await _post(client, sid, {**TELEGRAM, "api_base": "http://10.1.2.3:8081"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("api_base: ")
    assert "private" in response.json()["detail"]


async def test_unknown_ids_are_404(client: AsyncClient) -> None:
    sid = (await create_site(client))["id"]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (await client.get(f"/api/v1/sites/{sid}/notifications/{unknown}")).status_code == 404
    assert (await client.delete(f"/api/v1/sites/{sid}/notifications/{unknown}")).status_code == 404
    other = await client.get(f"/api/v1/sites/{unknown}/notifications")
    assert other.status_code == 404


async def test_admin_only(anonymous: AsyncClient, client: AsyncClient) -> None:
    sid = (await create_site(client))["id"]
    response = await anonymous.post(f"/api/v1/sites/{sid}/notifications", json=TELEGRAM)
    assert response.status_code == 401


def test_a_bot_token_in_a_logged_url_is_redacted() -> None:
    line = f"HTTP Request: POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage 403"
    redacted = redact(line)
    assert BOT_TOKEN.split(":")[1] not in redacted
    assert "/bot[redacted]/sendMessage" in redacted


async def test_a_retired_rule_sends_no_test(client: AsyncClient) -> None:
    sid = (await create_site(client))["id"]
    made = (await _post(client, sid, TELEGRAM)).json()
    await client.delete(f"/api/v1/sites/{sid}/notifications/{made['id']}")
    answer = await client.post(f"/api/v1/sites/{sid}/notifications/{made['id']}/test")
    assert answer.status_code == 409
