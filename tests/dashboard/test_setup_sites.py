"""Sites set up from the dashboard, over the ASGI app (both databases): create, edit, retire,
field errors, the snippet and its status, viewers and CSRF."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard import service
from app.dashboard.service import Role
from app.models import Site, TrackingSession
from app.sites import service as sites_service
from tests.clock import ManualClock
from tests.conftest import TEST_ADMIN_TOKEN
from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD, csrf_of

SITE = {"name": "Shop", "domains": "shop.example\nsofa-shop.example", "country": "ru"}


async def _token(http: AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)


async def _admin(http: AsyncClient) -> None:
    token = await _token(http, "/setup")
    response = await http.post(
        "/setup",
        data={
            "csrf_token": token,
            "admin_token": TEST_ADMIN_TOKEN,
            "email": ADMIN_EMAIL,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert response.status_code == 303, response.text


async def _create(http: AsyncClient, **fields: str) -> str:
    token = await _token(http, "/sites/new")
    response = await http.post("/sites/new", data={"csrf_token": token, **SITE, **fields})
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/sites/([0-9a-f-]+)/site\?notice=created", response.headers["location"])
    assert found is not None, response.headers["location"]
    return found.group(1)


async def _site(db: AsyncSession, site_id: str) -> Site:
    db.expire_all()
    return await sites_service.get_site(db, uuid.UUID(site_id))


async def test_an_admin_creates_a_site_and_sees_its_snippet(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    assert 'href="/sites/new"' in (await visitor.get("/")).text
    site_id = await _create(visitor)
    site = await _site(db, site_id)
    assert (site.name, site.domains, site.country) == (
        "Shop",
        ["shop.example", "sofa-shop.example"],
        "RU",
    )
    page = await visitor.get(f"/sites/{site_id}/site?notice=created")
    assert page.status_code == 200
    assert f'data-site="{site.public_key}"' in page.text.replace("&#34;", '"')
    assert "copy.js" in page.text
    assert "No visit yet" in page.text


async def test_field_errors_stand_beside_their_field_and_nothing_is_saved(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    token = await _token(visitor, "/sites/new")
    response = await visitor.post(
        "/sites/new",
        data={
            "csrf_token": token,
            "name": "Shop",
            "domains": "shop.example",
            "country": "XX",
            "timezone": "Mars/Olympus",
        },
    )
    assert response.status_code == 422
    assert re.search(r'data-error="country">[^<]*not an ISO 3166 country', response.text)
    assert re.search(r'data-error="timezone">[^<]*not an IANA time zone', response.text)
    assert 'data-error="name"' not in response.text
    # What was typed comes back, so nothing has to be typed again.
    assert 'value="Mars/Olympus"' in response.text
    assert await sites_service.list_sites(db) == []


async def test_an_admin_edits_then_retires_a_site(visitor: AsyncClient, db: AsyncSession) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    token = await _token(visitor, f"/sites/{site_id}/site")
    bad = await visitor.post(
        f"/sites/{site_id}/site",
        data={"csrf_token": token, "name": "", "domains": "shop.example", "country": "RU"},
    )
    assert bad.status_code == 422
    assert 'data-error="name"' in bad.text
    assert (await _site(db, site_id)).name == "Shop"

    saved = await visitor.post(
        f"/sites/{site_id}/site",
        data={
            "csrf_token": token,
            "name": "Sofa shop",
            "domains": "sofas.example, shop.example",
            "country": "KZ",
            "timezone": "Asia/Almaty",
        },
    )
    assert saved.status_code == 303
    site = await _site(db, site_id)
    assert (site.name, site.domains, site.country, site.timezone) == (
        "Sofa shop",
        ["sofas.example", "shop.example"],
        "KZ",
        "Asia/Almaty",
    )

    retired = await visitor.post(f"/sites/{site_id}/retire", data={"csrf_token": token})
    assert retired.status_code == 303
    assert (await _site(db, site_id)).retired_at is not None
    # A retired site leaves the list; its page stays readable, without forms.
    page = await visitor.get(f"/sites/{site_id}/site")
    assert page.status_code == 200
    assert 'data-testid="site-form"' not in page.text


async def test_the_snippet_status_follows_the_visits(
    visitor: AsyncClient, db: AsyncSession, clock: ManualClock
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor, domains="shop.example")

    def visit(url: str, minutes_ago: int) -> TrackingSession:
        at = clock.now - timedelta(minutes=minutes_ago)
        return TrackingSession(
            id=uuid.uuid4(),
            site_id=uuid.UUID(site_id),
            visitor_id=None,
            started_at=at,
            last_seen_at=at,
            ended_at=None,
            landing_url=url,
            referrer=None,
            source="(direct)",
            medium="(none)",
            consent=False,
        )

    db.add(visit("https://old-shop.example/sofas", 5))
    await db.commit()
    page = await visitor.get(f"/sites/{site_id}/site")
    assert "Visits arrive from old-shop.example" in page.text

    db.add(visit("https://www.shop.example/", 2))
    await db.commit()
    page = await visitor.get(f"/sites/{site_id}/site")
    assert "Seen on shop.example" in page.text


async def test_viewers_see_no_forms_and_cannot_post(
    visitor: AsyncClient, db: AsyncSession, clock: ManualClock
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    await service.create_user(
        db,
        email="viewer@shop.example",
        password=PASSWORD,
        role=Role.VIEWER,
        site_ids=(uuid.UUID(site_id),),
        now=clock.now,
    )
    await db.commit()
    token = await _token(visitor, "/account")
    await visitor.post("/logout", data={"csrf_token": token})
    token = await _token(visitor, "/login")
    signed = await visitor.post(
        "/login",
        data={"csrf_token": token, "email": "viewer@shop.example", "password": PASSWORD},
    )
    assert signed.status_code == 303

    page = await visitor.get(f"/sites/{site_id}/site")
    assert page.status_code == 200
    assert 'data-testid="snippet"' in page.text
    assert '<form method="post" action="/sites/' not in page.text
    assert 'href="/sites/new"' not in page.text
    assert (await visitor.get("/sites/new")).status_code == 403
    token = csrf_of(page.text)
    for path in ("/sites/new", f"/sites/{site_id}/site", f"/sites/{site_id}/retire"):
        response = await visitor.post(path, data={"csrf_token": token, **SITE})
        assert response.status_code == 403, path
    assert (await _site(db, site_id)).retired_at is None


async def test_every_site_form_needs_the_csrf_token(visitor: AsyncClient, db: AsyncSession) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    for path in ("/sites/new", f"/sites/{site_id}/site", f"/sites/{site_id}/retire"):
        response = await visitor.post(path, data={"csrf_token": "forged", **SITE, "name": "X"})
        assert response.status_code == 403, path
    site = await _site(db, site_id)
    assert (site.name, site.retired_at) == ("Shop", None)
    assert len(await sites_service.list_sites(db)) == 1


async def test_the_snippet_status_names_a_refused_origin_with_no_visit_stored(
    visitor: AsyncClient, anonymous: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor, domains="shop.example")
    site = await _site(db, site_id)
    refused = await anonymous.post(
        f"/t/{site.public_key}/sessions",
        content='{"url": "https://staging.other.example/"}',
        headers={"Content-Type": "text/plain", "Origin": "https://staging.other.example"},
    )
    assert refused.status_code == 403
    page = await visitor.get(f"/sites/{site_id}/site")
    assert "No visit yet" in page.text
    assert re.search(
        r'data-testid="snippet-refused">Requests from staging.other.example were refused', page.text
    ), page.text
    # One button adds it (the form carries the site as it is, plus that domain).
    form = re.search(r'<form[^>]*data-testid="add-refused">(.*?)</form>', page.text, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(1)))
    saved = await visitor.post(f"/sites/{site_id}/site", data=fields)
    assert saved.status_code == 303
    assert (await _site(db, site_id)).domains == ["shop.example", "staging.other.example"]
    # Once the domain is listed, the old refusal says nothing more.
    page = await visitor.get(f"/sites/{site_id}/site")
    assert "snippet-refused" not in page.text


async def test_an_admin_turns_forms_on_with_consent_then_off(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    page = await visitor.get(f"/sites/{site_id}/site")
    assert 'data-testid="forms-form"' in page.text
    token = csrf_of(page.text)

    on = await visitor.post(
        f"/sites/{site_id}/forms",
        data={"csrf_token": token, "forms_enabled": "on", "forms_consent_required": "on"},
    )
    assert on.status_code == 303
    assert on.headers["location"] == f"/sites/{site_id}/site?notice=forms"
    site = await _site(db, site_id)
    assert (site.forms_enabled, site.forms_consent_required) == (True, True)
    shown = await visitor.get(f"/sites/{site_id}/site?notice=forms")
    assert 'name="forms_enabled" value="on" checked' in shown.text

    off = await visitor.post(f"/sites/{site_id}/forms", data={"csrf_token": token})
    assert off.status_code == 303
    site = await _site(db, site_id)
    assert (site.forms_enabled, site.forms_consent_required) == (False, False)
    # Without the CSRF token nothing changes.
    refused = await visitor.post(f"/sites/{site_id}/forms", data={"forms_enabled": "on"})
    assert refused.status_code in (400, 403)
    assert (await _site(db, site_id)).forms_enabled is False


async def test_an_admin_sets_how_long_the_site_keeps_its_data(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    site_id = await _create(visitor)
    page = await visitor.get(f"/sites/{site_id}/site")
    assert 'data-testid="retention-form"' in page.text
    assert '<option value="0" selected>' in page.text  # for ever, by default
    token = csrf_of(page.text)

    saved = await visitor.post(
        f"/sites/{site_id}/retention", data={"csrf_token": token, "retention_months": "24"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/sites/{site_id}/site?notice=retention"
    assert (await _site(db, site_id)).retention_months == 24
    shown = await visitor.get(f"/sites/{site_id}/site?notice=retention")
    assert '<option value="24" selected>' in shown.text
    assert "older data is being deleted in the background" in shown.text

    # A value no menu offers (a hand-made request) is refused beside the field.
    bad = await visitor.post(
        f"/sites/{site_id}/retention", data={"csrf_token": token, "retention_months": "500"}
    )
    assert bad.status_code == 422
    assert 'data-error="retention_months"' in bad.text
    assert (await _site(db, site_id)).retention_months == 24
    # Without the CSRF token nothing changes.
    refused = await visitor.post(f"/sites/{site_id}/retention", data={"retention_months": "3"})
    assert refused.status_code in (400, 403)
    assert (await _site(db, site_id)).retention_months == 24
