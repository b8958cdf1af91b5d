"""A call's page as a workspace: notes, tags, lead status, a deal set by hand and the
recording's player, over the ASGI app (both databases)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from tests.calls.test_attribution import World
from tests.clock import ManualClock
from tests.dashboard.accounts import (
    choose_password,
    invite,
    link_in,
    new_client,
    post_form,
    set_up_admin,
)
from tests.dashboard.conftest import ADMIN_EMAIL

CALLED = "+74950000201"  # the world's offline number: every call is attributed to it
RECORDING = "https://records.example/rec-1.mp3"


@pytest.fixture
async def world(anonymous: AsyncClient, client: AsyncClient, clock: ManualClock) -> World:
    return await World(anonymous, client, clock).build()


async def _call(world: World, *, caller: str, recording: str | None = None) -> dict[str, Any]:
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    assert (
        await world.hook("call.started", call_id, called=CALLED, caller=caller)
    ).status_code == 200
    world.clock.advance(seconds=70)
    extra: dict[str, Any] = {"recording_url": recording} if recording else {}
    ended = await world.hook(
        "call.ended",
        call_id,
        called=CALLED,
        caller=caller,
        status="answered",
        duration=70,
        talk_duration=65,
        **extra,
    )
    assert ended.status_code == 200, ended.text
    calls = (await world.client.get(f"/api/v1/sites/{world.site['id']}/calls")).json()["items"]
    found: dict[str, Any] = next(c for c in calls if c["provider_call_id"] == call_id)
    return found


async def _report(world: World) -> tuple[float, float]:
    """deals_won and revenue of the sources report, summed over its rows."""
    answer = await world.client.get(f"/api/v1/sites/{world.site['id']}/reports/sources")
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    return (
        sum(float(r["deals_won"]) for r in rows),
        sum(float(r["revenue"] or 0) for r in rows),
    )


def _testid(html: str, name: str) -> str:
    found = re.search(rf'data-testid="{name}"[^>]*>(.*?)</(?:dd|div|p|td)>', html, re.S)
    assert found is not None, name
    return found.group(1)


async def test_notes_tags_and_status_on_the_call_page_and_the_list(
    world: World, visitor: AsyncClient
) -> None:
    await set_up_admin(visitor)
    first = await _call(world, caller="+79001110001")
    second = await _call(world, caller="+79001110002")
    sid = world.site["id"]
    page = f"/sites/{sid}/calls/{first['id']}"

    empty = await post_form(visitor, f"{page}/notes", {"note": "   "}, on=page)
    assert empty.status_code == 422
    assert 'data-error="note"' in empty.text
    added = await post_form(
        visitor, f"{page}/notes", {"note": "Wants a corner sofa.\nCall back Monday."}, on=page
    )
    assert added.status_code == 303
    world.clock.advance(minutes=5)
    await post_form(visitor, f"{page}/notes", {"note": "Called back: <b>ordered</b>."}, on=page)
    html = (await visitor.get(page)).text
    notes = html.split('data-testid="notes"')[1]
    assert notes.count('data-testid="note"') == 2
    assert ADMIN_EMAIL in notes
    assert "Nov 2, 2026, 12:3" in notes  # the time, in the site's zone (Moscow)
    assert notes.index("corner sofa") < notes.index("Called back")  # oldest first
    assert "&lt;b&gt;ordered&lt;/b&gt;" in notes  # escaped

    saved = await post_form(
        visitor, f"{page}/tags", {"tags": "Wholesale, repeat  order, wholesale,"}, on=page
    )
    assert saved.status_code == 303
    html = (await visitor.get(page)).text
    assert re.findall(r'calls\?tag=[^"]+">([^<]+)</a>', _testid(html, "tags")) == [
        "repeat order",
        "wholesale",
    ]
    too_long = await post_form(visitor, f"{page}/tags", {"tags": "x" * 65}, on=page)
    assert too_long.status_code == 422
    assert 'data-error="tags"' in too_long.text

    assert (
        await post_form(visitor, f"{page}/lead-status", {"status": "qualified"}, on=page)
    ).status_code == 303
    assert "Qualified" in _testid((await visitor.get(page)).text, "lead-status")
    bad = await post_form(visitor, f"{page}/lead-status", {"status": "sold"}, on=page)
    assert bad.status_code == 422

    listing = f"/sites/{sid}/calls"
    for query in (
        "?tag=wholesale",
        "?tag=WholeSale",
        "?tag=repeat+order",
        "?lead_status=qualified",
    ):
        shown = (await visitor.get(listing + query)).text
        assert f'data-call="{first["id"]}"' in shown, query
        assert f'data-call="{second["id"]}"' not in shown, query
    everything = (await visitor.get(listing)).text
    assert f'data-call="{second["id"]}"' in everything
    assert (await visitor.get(listing + "?tag=nothing-like-it")).text.count("data-call=") == 0
    new_only = (await visitor.get(listing + "?lead_status=new")).text
    assert f'data-call="{second["id"]}"' in new_only
    assert f'data-call="{first["id"]}"' not in new_only
    # Tags of the listed calls show on the list.
    assert "repeat order" in everything

    # Clearing the tags and setting the status back to new.
    await post_form(visitor, f"{page}/tags", {"tags": ""}, on=page)
    await post_form(visitor, f"{page}/lead-status", {"status": "new"}, on=page)
    assert (await visitor.get(listing + "?tag=wholesale")).text.count("data-call=") == 0
    # A PBX event arriving later leaves what people set alone.
    await post_form(visitor, f"{page}/lead-status", {"status": "spam"}, on=page)
    repeat = await world.hook(
        "call.ended",
        first["provider_call_id"],
        called=CALLED,
        caller="+79001110001",
        status="answered",
        duration=71,
    )
    assert repeat.status_code == 200
    assert "Spam" in _testid((await visitor.get(page)).text, "lead-status")


async def test_a_manual_deal_counts_in_reports_and_wins_over_the_crms(
    world: World, visitor: AsyncClient
) -> None:
    await set_up_admin(visitor)
    call = await _call(world, caller="+79001110003")
    sid = world.site["id"]
    page = f"/sites/{sid}/calls/{call['id']}"
    assert await _report(world) == (0, 0)

    bad = await post_form(visitor, f"{page}/deal", {"status": "won", "revenue": "lots"}, on=page)
    assert bad.status_code == 422
    assert 'data-error="revenue"' in bad.text
    assert 'value="lots"' in bad.text
    wrong = await post_form(
        visitor, f"{page}/deal", {"status": "won", "revenue": "100", "currency": "XYZ"}, on=page
    )
    assert 'data-error="currency"' in wrong.text
    neither = await post_form(visitor, f"{page}/deal", {"status": "open", "revenue": "1"}, on=page)
    assert 'data-error="status"' in neither.text
    assert await _report(world) == (0, 0)  # nothing half-written

    # The currency left empty is the site's own.
    saved = await post_form(
        visitor, f"{page}/deal", {"status": "won", "revenue": "12 500,50", "currency": ""}, on=page
    )
    assert saved.status_code == 303
    assert await _report(world) == (1, 12500.5)
    exported = await world.client.get(f"/api/v1/sites/{sid}/exports/calls.csv")
    assert "12500.50" in exported.text
    html = (await visitor.get(page)).text
    assert "RUB12,500.50" in _testid(html, "manual-deal-now")  # English money
    deals = (await world.client.get(f"/api/v1/sites/{sid}/deals")).json()["items"]
    assert [(d["external_id"], d["currency"]) for d in deals] == [(f"manual:{call['id']}", "RUB")]

    # A deal from the CRM (through the contract's endpoint) on the same call: the manual wins.
    crm = await world.client.post(
        f"/api/v1/sites/{sid}/deals",
        json={
            "call_id": call["id"],
            "external_id": "amo-77",
            "status": "won",
            "revenue": "99000",
            "currency": "RUB",
        },
    )
    assert crm.status_code in (200, 201), crm.text
    assert await _report(world) == (1, 12500.5)
    assert 'data-testid="not-counted"' in (await visitor.get(page)).text
    # And the CRM side can never write to the manual deal.
    forged = await world.client.post(
        f"/api/v1/sites/{sid}/deals",
        json={
            "call_id": call["id"],
            "external_id": f"manual:{call['id']}",
            "status": "lost",
            "revenue": "0",
            "currency": "RUB",
        },
    )
    assert forged.status_code == 422
    assert "external_id" in forged.json()["detail"]

    # Set by hand to lost: nothing counts for the call, the CRM's won deal included.
    await post_form(
        visitor, f"{page}/deal", {"status": "lost", "revenue": "0", "currency": "RUB"}, on=page
    )
    assert await _report(world) == (0, 0)
    # Removed: the CRM's deal counts again.
    removed = await post_form(visitor, f"{page}/deal/remove", {}, on=page)
    assert removed.status_code == 303
    assert await _report(world) == (1, 99000)
    exported = await world.client.get(f"/api/v1/sites/{sid}/exports/calls.csv")
    assert "99000.00" in exported.text
    assert "12500.50" not in exported.text


async def test_the_recording_plays_on_the_page(world: World, visitor: AsyncClient) -> None:
    await set_up_admin(visitor)
    call = await _call(world, caller="+79001110004", recording=RECORDING)
    plain = await _call(world, caller="+79001110005")
    sid = world.site["id"]
    response = await visitor.get(f"/sites/{sid}/calls/{call['id']}")
    assert f'<audio controls preload="metadata" src="{RECORDING}"' in response.text
    assert "media-src 'self' https: http:" in response.headers["content-security-policy"]
    without = await visitor.get(f"/sites/{sid}/calls/{plain['id']}")
    assert "<audio" not in without.text


async def test_a_viewer_reads_the_workspace_and_changes_nothing(
    world: World, visitor: AsyncClient, app: FastAPI
) -> None:
    await set_up_admin(visitor)
    call = await _call(world, caller="+79001110006")
    sid = world.site["id"]
    page = f"/sites/{sid}/calls/{call['id']}"
    await post_form(visitor, f"{page}/notes", {"note": "Asked for a discount."}, on=page)
    await post_form(visitor, f"{page}/tags", {"tags": "discount"}, on=page)
    await post_form(visitor, f"{page}/deal", {"status": "won", "revenue": "500"}, on=page)
    path = link_in((await invite(visitor, "viewer@agency.example", sites=[sid])).text)

    async with new_client(app) as viewer:
        assert (await choose_password(viewer, path, "the viewer's passphrase")).status_code == 303
        html = (await viewer.get(page)).text
        assert "Asked for a discount." in html
        assert "discount" in _testid(html, "tags")
        assert "500.00" in _testid(html, "manual-deal-now")
        forms = re.findall(r'<form method="post" action="([^"]+)"', html)
        assert forms == ["/logout", "/language"]  # a viewer changes only its own language
        for action, data in (
            ("notes", {"note": "sneaky"}),
            ("tags", {"tags": "sneaky"}),
            ("lead-status", {"status": "spam"}),
            ("deal", {"status": "lost", "revenue": "0"}),
            ("deal/remove", {}),
        ):
            refused = await post_form(viewer, f"{page}/{action}", data, on=page)
            assert refused.status_code == 403, action
    html = (await visitor.get(page)).text
    assert "sneaky" not in html
    assert "New" in _testid(html, "lead-status")
    assert await _report(world) == (1, 500)
