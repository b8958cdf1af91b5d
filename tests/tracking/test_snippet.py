"""tracker.js as the app serves it: minified, gzipped, cacheable, within its size budget."""

from __future__ import annotations

from httpx import AsyncClient

from app.tracking.snippet import SOURCE

# The snippet loads on every page of every customer's site: every byte is paid many times.
BUDGET_GZIPPED_BYTES = 2500


async def test_served_minified_and_gzipped(anonymous: AsyncClient) -> None:
    response = await anonymous.get("/t/tracker.js", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["content-encoding"] == "gzip"
    assert "max-age" in response.headers["cache-control"]
    wire = int(response.headers["content-length"])  # httpx decodes the body; this is the wire
    assert len(response.content) < len(SOURCE.read_bytes()), "served code is minified"
    assert wire <= BUDGET_GZIPPED_BYTES, f"tracker.js is {wire} bytes gzipped"


async def test_both_paths_and_revalidation(anonymous: AsyncClient) -> None:
    first = await anonymous.get("/static/tracker.js", headers={"Accept-Encoding": "identity"})
    again = await anonymous.get("/t/tracker.js", headers={"If-None-Match": first.headers["etag"]})

    assert first.status_code == 200
    assert "content-encoding" not in first.headers
    assert again.status_code == 304


# Issue 18: loaded (by tracker.js) only on sites that take form leads.
FORMS_BUDGET_GZIPPED_BYTES = 1100


async def test_the_forms_part_is_served_as_a_module_any_page_may_import(
    anonymous: AsyncClient,
) -> None:
    response = await anonymous.get(
        "/t/forms.js", headers={"Accept-Encoding": "gzip", "Origin": "https://shop.example"}
    )
    again = await anonymous.get("/static/forms.js", headers={"Accept-Encoding": "identity"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    # tracker.js import()s it across origins: a module needs the CORS grant.
    assert response.headers["access-control-allow-origin"] == "*"
    assert int(response.headers["content-length"]) <= FORMS_BUDGET_GZIPPED_BYTES
    assert again.status_code == 200
    assert "import.meta.url" in again.text
