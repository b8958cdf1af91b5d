"""Dynamic pools set up from the dashboard, over the ASGI app (both databases): numbers pasted
in any form, errors naming the line, the 409 beside its field, sizing advice, retire."""

from __future__ import annotations

import re
import uuid

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard.setup_numbers import error_beside_field
from app.numbers import repository
from app.numbers import service as numbers_service
from tests.dashboard.conftest import csrf_of
from tests.dashboard.test_setup_sites import _admin, _create, _token

NUMBERS = "8 (495) 111-22-33\n\n+7 495 111 22 34\n84951112235\n"


async def _pools(db: AsyncSession, site_id: str) -> dict[uuid.UUID, list[str]]:
    db.expire_all()
    pools = await numbers_service.list_pools(db, site_id=uuid.UUID(site_id))
    return await numbers_service.pool_numbers(db, pools)


async def _post(http: AsyncClient, site_id: str, **fields: str) -> tuple[int, str]:
    token = await _token(http, f"/sites/{site_id}/pools/new")
    data = {"csrf_token": token, "target_number": "+7 495 000-00-00", "numbers": NUMBERS}
    response = await http.post(f"/sites/{site_id}/pools/new", data=data | fields)
    return response.status_code, response.text


async def test_numbers_pasted_in_any_form_make_a_pool(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    status, _ = await _post(visitor, site_id)
    assert status == 303
    assert list((await _pools(db, site_id)).values()) == [
        ["+74951112233", "+74951112234", "+74951112235"]
    ]
    page = await visitor.get(f"/sites/{site_id}/numbers")
    assert 'data-testid="retire-pool"' in page.text


async def test_a_bad_line_is_named_and_nothing_is_saved(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    status, html = await _post(visitor, site_id, numbers="84951112233\nnot a phone\n")
    assert status == 422
    assert re.search(r'data-error="numbers">line 2: ', html), html
    assert "not a phone" in html  # what was pasted comes back
    assert await _pools(db, site_id) == {}
    # Not even the target number, created before the bad line was read, is kept.
    assert await repository.target(db, site_id=uuid.UUID(site_id), number="+74950000000") is None


async def test_a_number_used_elsewhere_is_a_409_beside_the_field(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    assert (await _post(visitor, site_id))[0] == 303
    status, html = await _post(
        visitor, site_id, target_number="+7 495 999-99-99", numbers="+74951110000\n+74951112234"
    )
    assert status == 409
    assert re.search(
        r'data-error="numbers">line 2: \+74951112234 is already a number of pool', html
    )
    assert len(await _pools(db, site_id)) == 1
    status, html = await _post(visitor, site_id, target_number="+7 495 111-22-33")
    assert status == 409
    assert 'data-error="target_number"' in html


async def test_the_page_says_how_many_numbers_the_traffic_needs(visitor: AsyncClient) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    small = await visitor.get(f"/sites/{site_id}/pools/new?visits=100&per=day")
    big = await visitor.get(f"/sites/{site_id}/pools/new?visits=500&per=hour")
    found = [re.search(r"need (\d+) numbers", page.text) for page in (small, big)]
    assert found[0] is not None
    assert found[1] is not None
    assert 0 < int(found[0].group(1)) < int(found[1].group(1))


async def test_retiring_a_pool_frees_its_numbers(visitor: AsyncClient, db: AsyncSession) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    assert (await _post(visitor, site_id))[0] == 303
    (pool_id,) = await _pools(db, site_id)
    token = csrf_of((await visitor.get(f"/sites/{site_id}/numbers")).text)
    response = await visitor.post(
        f"/sites/{site_id}/pools/{pool_id}/retire", data={"csrf_token": token}
    )
    assert response.status_code == 303
    assert await _pools(db, site_id) == {}
    # The numbers may go into a new pool.
    assert (await _post(visitor, site_id))[0] == 303


def test_service_errors_are_placed_beside_their_field() -> None:
    assert error_beside_field("numbers[0]: x is listed twice") == (
        "numbers",
        "line 1: x is listed twice",
    )
    assert error_beside_field("target_number: bad") == ("target_number", "bad")
    assert error_beside_field("something else") == ("numbers", "something else")
