"""The confidence scale and late calls, end to end (tracker API, signed PBX webhooks, the calls
API) on SQLite and PostgreSQL and on both pool stores: what Callsource could see when the call
came decides the band (app/calls/attribution.py; README, "Attribution")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import AsyncClient

from app.calls import attribution as bands
from tests.calls.stores import settings  # noqa: F401 (the app on both pool stores)
from tests.calls.test_attribution import BROWSER, ORIGIN, World, pool_number
from tests.clock import ManualClock


@pytest.fixture
async def world(anonymous: AsyncClient, client: AsyncClient, clock: ManualClock) -> World:
    return await World(anonymous, client, clock).build()


async def ping(world: World, visit: dict[str, Any]) -> None:
    response = await world.anonymous.post(
        f"/t/{world.site['public_key']}/sessions/{visit['session_id']}/ping",
        content=json.dumps({}),
        headers={"User-Agent": BROWSER, "Content-Type": "text/plain", "Origin": ORIGIN},
    )
    assert response.status_code == 200, response.text
    assert pool_number(response.json()) == pool_number(visit)


async def pool_of(world: World) -> dict[str, Any]:
    [pool] = (await world.client.get(f"/api/v1/sites/{world.site['id']}/pools")).json()["items"]
    return pool  # type: ignore[no-any-return]


async def test_a_call_while_the_tab_pings_is_the_surest(world: World) -> None:
    visit = await world.visit()
    for _ in range(4):  # the page stays open, pinging every minute
        world.clock.advance(seconds=60)
        await ping(world, visit)
    world.clock.advance(seconds=20)

    call = await world.call(pool_number(visit))

    attribution = call["attribution"]
    assert (attribution["method"], attribution["session_id"]) == ("dynamic", visit["session_id"])
    assert attribution["confidence"] == pytest.approx(bands.LIVE_PING)
    assert attribution["confidence"] >= 0.9
    assert "pinged" in attribution["reason"]


async def test_a_call_on_a_lease_whose_tab_went_quiet_is_less_sure(world: World) -> None:
    visit = await world.visit()
    # No ping for 3 minutes: the lease (idle timeout 5 minutes) still holds, the page is gone.
    world.clock.advance(minutes=3)

    call = await world.call(pool_number(visit))

    attribution = call["attribution"]
    assert (attribution["method"], attribution["session_id"]) == ("dynamic", visit["session_id"])
    assert attribution["confidence"] == pytest.approx(bands.LIVE_LEASE)
    assert "had not pinged for 3 min" in attribution["reason"]


async def test_bands_order_live_over_cooldown_over_late(world: World) -> None:
    seen = []
    for wait_minutes in (3, 12, 60 * 3):
        visit = await world.visit(visitor_id=None)
        world.clock.advance(minutes=wait_minutes)
        call = await world.call(pool_number(visit), caller=f"+7900100{wait_minutes:04d}")
        assert call["attribution"]["session_id"] == visit["session_id"]
        seen.append(call["attribution"]["confidence"])
        world.clock.advance(hours=25)  # everything free and forgotten again
    live, cooldown, late = seen
    assert live > cooldown > late
    assert bands.COOLDOWN_LOW <= cooldown <= bands.COOLDOWN_HIGH
    assert late <= 0.6


async def test_a_late_call_goes_to_the_last_holder_when_nobody_held_the_number_since(
    world: World,
) -> None:
    visit = await world.visit()
    number = pool_number(visit)
    # People call back hours later: the lease idled out after 5 minutes, rested for 15.
    world.clock.advance(hours=3)

    call = await world.call(number)

    attribution = call["attribution"]
    assert attribution["method"] == "dynamic"
    assert attribution["session_id"] == visit["session_id"]
    assert attribution["visitor_id"] == visit["visitor_id"]
    assert attribution["source"] == "yandex"
    assert bands.LATE_LOW < attribution["confidence"] <= 0.6
    assert "late call: 3 h after the visit" in attribution["reason"]
    assert "nobody held the number since" in attribution["reason"]
    assert attribution["conflict"] is False


async def test_a_late_call_is_less_sure_the_later_it_comes(world: World) -> None:
    confidences = []
    for hours in (1, 12, 23):
        visit = await world.visit(visitor_id=None)
        world.clock.advance(hours=hours)
        call = await world.call(pool_number(visit), caller=f"+790020000{hours:02d}")
        assert call["attribution"]["session_id"] == visit["session_id"]
        confidences.append(call["attribution"]["confidence"])
        world.clock.advance(hours=25)
    assert confidences == sorted(confidences, reverse=True)
    assert len(set(confidences)) == 3
    assert all(bands.LATE_LOW <= c <= bands.LATE_HIGH for c in confidences)


async def test_a_late_call_names_both_visitors_when_another_held_the_number_in_between(
    world: World,
) -> None:
    first = await world.visit()
    number = pool_number(first)
    world.clock.advance(minutes=30)  # its lease and cooldown are over
    # The pool hands `number` to a second visitor (the other number may come first).
    second = await world.visit(visitor_id=None)
    if pool_number(second) != number:
        second = await world.visit(visitor_id=None)
    assert pool_number(second) == number
    world.clock.advance(hours=2)

    call = await world.call(number)

    attribution = call["attribution"]
    assert attribution["session_id"] == second["session_id"]
    assert second["visitor_id"] in attribution["reason"]
    assert first["visitor_id"] in attribution["reason"]
    assert attribution["confidence"] <= bands.LATE_HIGH * bands.LATE_SHARED_FACTOR


async def test_the_late_call_window_is_a_pool_setting(world: World) -> None:
    pool = await pool_of(world)
    assert pool["late_call_window_s"] == 86_400
    response = await world.client.patch(
        f"/api/v1/sites/{world.site['id']}/pools/{pool['id']}", json={"late_call_window_s": 3600}
    )
    assert response.status_code == 200, response.text
    assert response.json()["late_call_window_s"] == 3600
    visit = await world.visit()
    world.clock.advance(minutes=50)
    inside = await world.call(pool_number(visit), caller="+79003000001")
    world.clock.advance(minutes=30)
    outside = await world.call(pool_number(visit), caller="+79003000002")

    assert inside["attribution"]["session_id"] == visit["session_id"]
    assert outside["attribution"]["method"] == "none"
    assert "late-call window" in outside["attribution"]["reason"]


async def test_a_bad_late_call_window_is_a_422_naming_it(world: World) -> None:
    pool = await pool_of(world)
    response = await world.client.patch(
        f"/api/v1/sites/{world.site['id']}/pools/{pool['id']}", json={"late_call_window_s": -1}
    )
    assert response.status_code == 422
    assert "late_call_window_s" in json.dumps(response.json()["detail"])
    assert (await pool_of(world))["late_call_window_s"] == 86_400


async def test_a_repeat_caller_seen_with_another_visitor_is_a_conflict_even_late(
    world: World,
) -> None:
    first = await world.visit()
    await world.call(pool_number(first))
    world.clock.advance(hours=2)
    second = await world.visit(visitor_id=None)
    world.clock.advance(hours=2)  # a late call to the second visitor's number

    call = await world.call(pool_number(second))

    attribution = call["attribution"]
    assert attribution["conflict"] is True
    assert attribution["confidence"] <= bands.CONFLICT
    assert first["visitor_id"] in attribution["reason"]
