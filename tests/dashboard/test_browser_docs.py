"""/docs draws the API in Chromium with every request to another host refused: Swagger UI
comes from the installation, not a CDN."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Route

from tests.dashboard.conftest import Tab
from tests.dashboard.live import Live


def test_the_api_docs_draw_with_no_internet(live: Live, tab: Tab) -> None:
    own = urlsplit(live.base).netloc
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    tab.page.route("**/*", only_this_server)
    tab.go("/docs")
    tab.page.wait_for_selector(".swagger-ui .info .title")
    assert "Callsource" in tab.page.inner_text(".swagger-ui .info .title")
    # The operations are listed, from /openapi.json.
    tab.page.wait_for_selector(".opblock-summary-path")
    assert tab.page.locator(".opblock").count() > 20
    assert elsewhere == []
