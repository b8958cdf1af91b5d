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
from app.sites import service as sites_service
from tests.dashboard.conftest import csrf_of
from tests.dashboard.live import DESKTOP_CHROME as UA
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


async def _edit(
    http: AsyncClient, site_id: str, pool_id: uuid.UUID, **fields: str
) -> tuple[int, str]:
    form = await http.get(f"/sites/{site_id}/pools/{pool_id}/edit")
    assert form.status_code == 200, form.text
    current = dict(
        re.findall(r'name="(\w+)"[^>]*value="([^"]*)"', form.text)
        + re.findall(r'name="(numbers)"[^>]*>([^<]*)</textarea>', form.text)
    )
    response = await http.post(f"/sites/{site_id}/pools/{pool_id}/edit", data=current | fields)
    return response.status_code, response.text


async def test_a_pool_is_edited_from_its_page(visitor: AsyncClient, db: AsyncSession) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    assert (await _post(visitor, site_id))[0] == 303
    ((pool_id, numbers),) = (await _pools(db, site_id)).items()
    page = await visitor.get(f"/sites/{site_id}/numbers")
    assert f'href="/sites/{site_id}/pools/{pool_id}/edit"' in page.text
    form = await visitor.get(f"/sites/{site_id}/pools/{pool_id}/edit")
    # The form shows the pool as it is: its target and its numbers, one per line.
    assert 'value="+74950000000"' in form.text
    assert "\n".join(numbers) in form.text
    # One line removed, one added in another written form, the settings changed.
    status, _ = await _edit(
        visitor,
        site_id,
        pool_id,
        target_number="8 (495) 000-00-09",
        numbers="+74951112233\n8 495 111-22-34\n8 (495) 111-22-36",
        idle_timeout_s="600",
        cooldown_s="90",
        late_call_window_s="3600",
    )
    assert status == 303
    assert await _pools(db, site_id) == {pool_id: ["+74951112233", "+74951112234", "+74951112236"]}
    pool = await numbers_service.get_pool(db, site_id=uuid.UUID(site_id), pool_id=pool_id)
    assert (pool.idle_timeout_s, pool.cooldown_s, pool.late_call_window_s) == (600, 90, 3600)
    targets = await numbers_service.target_numbers(db, [pool.target_number_id])
    assert targets[pool.target_number_id] == "+74950000009"
    for row in await repository.pool_numbers(db, [pool_id]):
        assert row.target_number_id == pool.target_number_id
    # The number taken out is free again: another pool may have it.
    status, _ = await _post(
        visitor, site_id, target_number="+7 495 000-00-05", numbers="84951112235"
    )
    assert status == 303


async def test_a_refused_pool_edit_names_the_field_and_changes_nothing(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    assert (await _post(visitor, site_id))[0] == 303
    assert (
        await _post(visitor, site_id, target_number="+7 495 000-00-07", numbers="+74953330000")
    )[0] == 303
    pools = await _pools(db, site_id)
    first = next(p for p, numbers in pools.items() if "+74951112233" in numbers)
    before = dict(pools)
    status, html = await _edit(
        visitor, site_id, first, numbers="+74951112233\n+7 495 333-00-00", cooldown_s="5"
    )
    assert status == 409
    assert re.search(
        r'data-error="numbers">line 2: \+74953330000 is already a number of pool', html
    )
    assert "+7 495 333-00-00" in html  # what was typed comes back
    status, html = await _edit(visitor, site_id, first, target_number="+7 495 000-00-07")
    assert status == 409
    assert 'data-error="target_number"' in html
    status, html = await _edit(visitor, site_id, first, numbers="\n\n")
    assert status == 422
    assert 'data-error="numbers"' in html
    status, html = await _edit(visitor, site_id, first, idle_timeout_s="5")
    assert status == 422
    assert 'data-error="idle_timeout_s"' in html
    assert await _pools(db, site_id) == before
    pool = await numbers_service.get_pool(db, site_id=uuid.UUID(site_id), pool_id=first)
    assert pool.cooldown_s != 5


async def test_after_an_edit_visitors_get_only_the_pools_new_numbers(
    visitor: AsyncClient, anonymous: AsyncClient, db: AsyncSession
) -> None:
    """The pool store reloads after the edit's commit: a number taken out is never leased again."""
    await _admin(visitor)
    site_id = await _create(visitor, domains="shop.example")
    assert (await _post(visitor, site_id, numbers="+74951112233"))[0] == 303
    ((pool_id, _),) = (await _pools(db, site_id)).items()
    site = await sites_service.get_site(db, uuid.UUID(site_id))
    headers = {"Content-Type": "text/plain", "Origin": "https://shop.example", "User-Agent": UA}

    async def shown() -> list[str]:
        answer = await anonymous.post(
            f"/t/{site.public_key}/sessions",
            content='{"url": "https://shop.example/"}',
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        return [n["number"] for n in answer.json()["numbers"] if n["kind"] == "dynamic"]

    assert await shown() == ["+74951112233"]
    status, _ = await _edit(visitor, site_id, pool_id, numbers="+74951112299", cooldown_s="0")
    assert status == 303
    assert await shown() == ["+74951112299"]
