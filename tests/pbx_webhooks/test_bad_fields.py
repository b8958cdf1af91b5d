"""A signed PBX event with a NUL byte in a field: 422 naming it, kept raw, no call.

PostgreSQL refuses NUL in text: the raw event's INSERT (its call id is a column) was a 500,
so the PBX retried an event that could never be stored."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Call, PbxEvent
from tests.calls.test_attribution import World, world

__all__ = ["world"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"call_id": "c\x00-1"}, "call_id"), ({"caller": "+7900\x001234567"}, "caller")],
)
async def test_a_nul_byte_in_a_signed_event_is_422_and_kept_raw(
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    fields: dict[str, str],
    field: str,
) -> None:
    extra: dict[str, Any] = dict(fields)  # the parameters are shared by both backends
    call_id = extra.pop("call_id", "c-1")
    response = await world.hook("call.started", call_id, called="+74950000001", **extra)

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{field}: must not contain NUL bytes"
    async with sessionmaker() as db:
        stored = (await db.execute(select(PbxEvent))).scalar_one()
        assert stored.error == f"{field}: must not contain NUL bytes"
        assert b"\\u0000" in stored.body
        assert await db.scalar(select(func.count()).select_from(Call)) == 0
