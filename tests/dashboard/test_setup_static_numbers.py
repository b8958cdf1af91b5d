"""Source and offline numbers set up from the dashboard (both databases)."""

from __future__ import annotations

import re
import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard import service
from app.dashboard.service import Role
from app.numbers import service as numbers_service
from tests.clock import ManualClock
from tests.dashboard.conftest import PASSWORD, csrf_of
from tests.dashboard.test_setup_numbers import _post as _post_pool
from tests.dashboard.test_setup_sites import _admin, _create, _token


async def _numbers(db: AsyncSession, site_id: str) -> list[tuple[str, str, str | None]]:
    db.expire_all()
    rows = await numbers_service.list_static_numbers(db, site_id=uuid.UUID(site_id))
    return sorted((row.number, row.kind, row.campaign or row.source) for row in rows)


async def _post(http: AsyncClient, site_id: str, **fields: str) -> tuple[int, str]:
    token = await _token(http, f"/sites/{site_id}/static-numbers/new")
    response = await http.post(
        f"/sites/{site_id}/static-numbers/new", data={"csrf_token": token, **fields}
    )
    return response.status_code, response.text


async def test_source_and_offline_numbers_are_added_and_retired(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    status, _ = await _post(
        visitor,
        site_id,
        kind="source",
        number="8 495 222-00-01",
        target_number="+7 495 000-00-00",
        source="yandex",
        medium="cpc",
    )
    assert status == 303
    status, _ = await _post(
        visitor, site_id, kind="offline", number="84952220002", campaign="flyer"
    )
    assert status == 303
    assert await _numbers(db, site_id) == [
        ("+74952220001", "source", "yandex"),
        ("+74952220002", "offline", "flyer"),
    ]
    (row, *_) = await numbers_service.list_static_numbers(db, site_id=uuid.UUID(site_id))
    token = await _token(visitor, f"/sites/{site_id}/numbers")
    retired = await visitor.post(
        f"/sites/{site_id}/static-numbers/{row.id}/retire", data={"csrf_token": token}
    )
    assert retired.status_code == 303
    assert len(await _numbers(db, site_id)) == 1


async def test_errors_stand_beside_their_field(visitor: AsyncClient, db: AsyncSession) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    status, html = await _post(visitor, site_id, kind="offline", number="84952220002")
    assert status == 422
    assert re.search(r'data-error="source">an offline number needs a campaign', html)
    assert (await _post_pool(visitor, site_id))[0] == 303
    status, html = await _post(
        visitor, site_id, kind="offline", number="+7 495 111-22-33", campaign="radio"
    )
    assert status == 409
    assert re.search(r'data-error="number">\+74951112233 is already a number of pool', html), html
    assert await _numbers(db, site_id) == []


async def test_viewers_cannot_add_or_retire_numbers(
    visitor: AsyncClient, db: AsyncSession, clock: ManualClock
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    assert (await _post_pool(visitor, site_id))[0] == 303
    (pool_id,) = await numbers_service.list_pools(db, site_id=uuid.UUID(site_id))
    assert (await _post(visitor, site_id, kind="offline", number="84952220002", campaign="flyer"))[
        0
    ] == 303
    (offline,) = await numbers_service.list_static_numbers(db, site_id=uuid.UUID(site_id))
    await service.create_user(
        db,
        email="viewer@shop.example",
        password=PASSWORD,
        role=Role.VIEWER,
        site_ids=(uuid.UUID(site_id),),
        now=clock.now,
    )
    await db.commit()
    await visitor.post("/logout", data={"csrf_token": await _token(visitor, "/account")})
    token = await _token(visitor, "/login")
    await visitor.post(
        "/login", data={"csrf_token": token, "email": "viewer@shop.example", "password": PASSWORD}
    )
    numbers = await visitor.get(f"/sites/{site_id}/numbers")
    assert numbers.status_code == 200
    assert 'data-testid="new-pool"' not in numbers.text
    assert 'data-testid="retire-pool"' not in numbers.text
    assert 'data-testid="edit-pool"' not in numbers.text
    assert 'data-testid="edit-number"' not in numbers.text
    assert 'data-testid="retire-number"' not in numbers.text
    token = csrf_of(numbers.text)
    for path in (
        f"/sites/{site_id}/pools/new",
        f"/sites/{site_id}/pools/{pool_id.id}/retire",
        f"/sites/{site_id}/pools/{pool_id.id}/edit",
        f"/sites/{site_id}/static-numbers/new",
        f"/sites/{site_id}/static-numbers/{offline.id}/edit",
        f"/sites/{site_id}/static-numbers/{offline.id}/retire",
    ):
        data = {"csrf_token": token, "number": "84952220009", "numbers": "84952220009"}
        response = await visitor.post(path, data=data | {"campaign": "x", "target_number": "1"})
        assert response.status_code == 403, path
    assert (await visitor.get(f"/sites/{site_id}/pools/new")).status_code == 403
    assert (await visitor.get(f"/sites/{site_id}/pools/{pool_id.id}/edit")).status_code == 403
    edit = await visitor.get(f"/sites/{site_id}/static-numbers/{offline.id}/edit")
    assert edit.status_code == 403
    db.expire_all()
    (still,) = await numbers_service.list_static_numbers(db, site_id=uuid.UUID(site_id))
    assert (still.campaign, still.retired_at) == ("flyer", None)
    assert len(await numbers_service.list_pools(db, site_id=uuid.UUID(site_id))) == 1


async def test_a_static_number_is_edited_and_a_twin_rule_is_refused(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    for number, medium in (("84952220001", "cpc"), ("84952220003", "organic")):
        status, _ = await _post(
            visitor,
            site_id,
            kind="source",
            number=number,
            target_number="+7 495 000-00-00",
            source="yandex",
            medium=medium,
        )
        assert status == 303
    assert (await _post(visitor, site_id, kind="offline", number="84952220002", campaign="flyer"))[
        0
    ] == 303
    rows = {
        r.number: r
        for r in await numbers_service.list_static_numbers(db, site_id=uuid.UUID(site_id))
    }
    offline, cpc = rows["+74952220002"], rows["+74952220001"]
    page = await visitor.get(f"/sites/{site_id}/numbers")
    assert f'href="/sites/{site_id}/static-numbers/{offline.id}/edit"' in page.text
    assert page.text.count('data-testid="retire-number"') == 3

    token = await _token(visitor, f"/sites/{site_id}/static-numbers/{offline.id}/edit")
    edited = await visitor.post(
        f"/sites/{site_id}/static-numbers/{offline.id}/edit",
        data={"csrf_token": token, "source": "offline", "campaign": "billboard"},
    )
    assert edited.status_code == 303
    # The medium left empty on the source number's form is cleared, not kept.
    token = await _token(visitor, f"/sites/{site_id}/static-numbers/{cpc.id}/edit")
    edited = await visitor.post(
        f"/sites/{site_id}/static-numbers/{cpc.id}/edit",
        data={"csrf_token": token, "source": "google", "medium": ""},
    )
    assert edited.status_code == 303
    db.expire_all()
    got = {
        r.number: (r.source, r.medium, r.campaign)
        for r in await numbers_service.list_static_numbers(db, site_id=uuid.UUID(site_id))
    }
    assert got["+74952220002"] == ("offline", None, "billboard")
    assert got["+74952220001"] == ("google", None, None)

    # Shown to the same visitors in place of the same number as another: the 409 by its field.
    token = await _token(visitor, f"/sites/{site_id}/static-numbers/{cpc.id}/edit")
    twin = await visitor.post(
        f"/sites/{site_id}/static-numbers/{cpc.id}/edit",
        data={"csrf_token": token, "source": "yandex", "medium": "organic"},
    )
    assert twin.status_code == 409
    assert re.search(r'data-error="source">\+74952220003 is already shown', twin.text)
    assert 'value="organic"' in twin.text
    token = await _token(visitor, f"/sites/{site_id}/static-numbers/{offline.id}/edit")
    empty = await visitor.post(
        f"/sites/{site_id}/static-numbers/{offline.id}/edit", data={"csrf_token": token}
    )
    assert empty.status_code == 422
    assert 'data-error="campaign"' in empty.text
    db.expire_all()
    again = {
        r.number: (r.source, r.medium, r.campaign)
        for r in await numbers_service.list_static_numbers(db, site_id=uuid.UUID(site_id))
    }
    assert again == got
