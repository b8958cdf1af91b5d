"""Integrations: webhook secrets shown once, CRM dead letters and their retry."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import OutboxDelivery
from crm_push.outbox import idempotency_key
from tests.dashboard.conftest import Tab
from tests.dashboard.world import World


def test_a_new_pbx_webhook_shows_its_secret_once(world: World, admin: uuid.UUID, tab: Tab) -> None:
    sid = world.site["id"]
    tab.sign_in()
    page = tab.page
    tab.go(f"/sites/{sid}/integrations")
    page.fill("[data-testid=new-pbx] input[name=name]", "Office Asterisk")
    page.click("[data-testid=new-pbx] button[type=submit]")
    secret = page.inner_text("[data-testid=secret]")
    assert secret.startswith("whsec_")
    assert "/hooks/pbx/" in page.inner_text("[data-testid=created-secret]")
    assert "Office Asterisk" in page.inner_text("[data-testid=pbx]")
    # The secret works: a PBX signing with it is heard.
    [created] = [
        p
        for p in world.live.api.get(f"/api/v1/sites/{sid}/pbx").json()["items"]
        if p["name"] == "Office Asterisk"
    ]
    world.pbx = {**created, "secret": secret}
    world.call("asterisk", "+74959999999", duration=20)
    # Never again: not on a reload, not anywhere in the page.
    tab.go(f"/sites/{sid}/integrations")
    assert secret not in page.content()
    assert page.locator("[data-testid=created-secret]").count() == 0
    tab.assert_quiet()


def test_a_dead_letter_is_listed_and_retried(world: World, admin: uuid.UUID, tab: Tab) -> None:
    sid = world.site["id"]
    tab.sign_in()
    page = tab.page
    tab.go(f"/sites/{sid}/integrations")
    page.fill("[data-testid=new-crm] input[name=name]", "Our CRM")
    page.fill("[data-testid=new-crm] input[name=url]", "https://crm.invalid/hooks/callsource")
    page.click("[data-testid=new-crm] button[type=submit]")
    assert page.inner_text("[data-testid=secret]").startswith("whsec_")
    connector_id = uuid.UUID(page.get_attribute("[data-testid=crm]", "data-connector") or "")
    call_id = uuid.UUID(world.calls["yandex-0"]["id"])
    now = world.live.clock.now

    async def give_up(db: AsyncSession) -> uuid.UUID:
        # What the worker leaves after its last attempt: a dead delivery with its error.
        row = OutboxDelivery(
            id=uuid.uuid4(),
            connector_id=connector_id,
            call_id=call_id,
            event="call.attributed",
            idempotency_key=idempotency_key(
                connector_id=connector_id, call_id=call_id, event="call.attributed"
            ),
            status="dead",
            attempts=8,
            next_attempt_at=now,
            last_error="HTTP 410 from the CRM: <gone>",
            created_at=now,
            updated_at=now,
        )
        db.add(row)
        return row.id

    delivery_id = world.live.db(give_up)
    tab.go(f"/sites/{sid}/integrations")
    dead = page.locator(f"[data-testid=dead-letters] tr[data-delivery='{delivery_id}']")
    assert "HTTP 410 from the CRM: <gone>" in dead.inner_text()
    dead.locator("[data-testid=retry]").click()
    page.wait_for_url("**notice=retried")
    assert "queued again" in page.inner_text("[role=status]")
    assert page.locator("[data-testid=dead-letters]").count() == 0

    async def status(db: AsyncSession) -> tuple[str, int]:
        row = await db.get(OutboxDelivery, delivery_id)
        assert row is not None
        return row.status, row.attempts

    assert world.live.db(status) == ("pending", 0)
    # The call's own page shows where its lead went.
    tab.go(f"/sites/{sid}/calls/{call_id}")
    deliveries = page.inner_text("[data-testid=deliveries]")
    assert "Our CRM" in deliveries
    assert "pending" in deliveries
    tab.assert_quiet()
