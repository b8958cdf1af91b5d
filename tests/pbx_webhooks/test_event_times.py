"""A signed PBX event dated far from its receipt: 422 naming `timestamp`, kept raw, no call.

Before the check, an event dated 9999-12-31 made a call whose page was a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call, PbxEvent
from tests.calls.test_attribution import World, world

__all__ = ["world"]


@pytest.mark.parametrize(
    ("timestamp", "detail"),
    [
        (
            "9999-12-31T00:00:00Z",
            "timestamp: 9999-12-31T00:00:00+00:00 is more than 1 day ahead of the time received",
        ),
        ("253402214400", "timestamp: 9999-12-31T00:00:00+00:00 is more than 1 day ahead"),
        ("0001-01-01T00:00:00Z", "timestamp: 0001-01-01T00:00:00+00:00 is more than 366 days"),
        ("2026-11-03T09:31:00Z", "timestamp: 2026-11-03T09:31:00+00:00 is more than 1 day ahead"),
    ],
)
async def test_an_event_far_from_now_is_422_kept_raw_and_makes_no_call(
    world: World, sessionmaker: async_sessionmaker[AsyncSession], timestamp: str, detail: str
) -> None:
    response = await world.hook("call.started", "c-far", called="+74950000001", timestamp=timestamp)

    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(detail)
    async with sessionmaker() as db:
        stored = (await db.execute(select(PbxEvent))).scalar_one()
        assert stored.error is not None
        assert stored.error.startswith("timestamp: ")
        assert timestamp.encode() in stored.body
        assert await db.scalar(select(func.count()).select_from(Call)) == 0
    assert (await world.client.get(f"/api/v1/sites/{world.site['id']}/calls")).json() == {
        "items": []
    }


async def test_an_event_within_the_window_makes_its_call(world: World) -> None:
    # A PBX clock hours fast, and an event replayed months later, are still taken.
    hours_ahead = (world.clock.now + timedelta(hours=20)).isoformat()
    months_late = (world.clock.now - timedelta(days=300)).isoformat()

    for call_id, timestamp in (("c-fast", hours_ahead), ("c-late", months_late)):
        response = await world.hook(
            "call.started", call_id, called="+74950000001", timestamp=timestamp
        )
        assert response.status_code == 200, response.text
    calls = (await world.client.get(f"/api/v1/sites/{world.site['id']}/calls")).json()["items"]
    assert len(calls) == 2
