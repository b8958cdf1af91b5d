"""/docs works on a closed network: Swagger UI's files come from the installed package, and
every page of the app has a favicon of its own."""

from __future__ import annotations

import re

from httpx import AsyncClient

SRC = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
URL_IN_SCRIPT = re.compile(r"""url\s*:\s*['"]([^'"]+)['"]""")


async def test_docs_reference_only_local_assets_and_they_are_served(
    anonymous: AsyncClient,
) -> None:
    page = await anonymous.get("/docs")
    assert page.status_code == 200
    html = page.text
    references = SRC.findall(html) + URL_IN_SCRIPT.findall(html)
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in references)
    assert any(ref.endswith("swagger-ui.css") for ref in references)
    assert "cdn" not in html.lower()
    for ref in references:
        assert ref.startswith("/"), f"/docs refers to {ref}, which is not this server"
        assert not ref.startswith("//"), ref
        answer = await anonymous.get(ref)
        assert answer.status_code == 200, ref
    js = await anonymous.get("/docs/assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "SwaggerUIBundle" in js.text
    css = await anonymous.get("/docs/assets/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    assert (await anonymous.get("/docs/oauth2-redirect")).status_code == 200
    # ReDoc comes only from a CDN (with web fonts): it is not offered.
    assert (await anonymous.get("/redoc")).status_code == 404


async def test_the_favicon_is_linked_and_served_as_svg(anonymous: AsyncClient) -> None:
    login = await anonymous.get("/login", follow_redirects=True)
    found = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', login.text)
    assert found is not None, "the sign-in page links no favicon"
    icon = await anonymous.get(found.group(1))
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.text.lstrip().startswith("<svg")
    docs = await anonymous.get("/docs")
    assert found.group(1) in docs.text
