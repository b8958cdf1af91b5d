"""In Chromium: an admin invites a viewer, who opens the link, chooses a password and sees
only its own site."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from tests.dashboard.conftest import Tab
from tests.dashboard.live import Live
from tests.dashboard.world import World

VIEWER = "client@agency.example"
VIEWER_PASSWORD = "the client's own passphrase"


def test_an_invited_viewer_chooses_a_password_and_sees_only_its_site(
    live: Live, admin: uuid.UUID, tab_factory: Callable[[], Tab]
) -> None:
    world = World(live).build_site()
    world.create_site("Other client's shop")
    sid = world.site["id"]

    admin_tab = tab_factory().sign_in()
    page = admin_tab.page
    admin_tab.go("/users")
    form = page.locator("[data-testid=invite]")
    form.locator("input[name=email]").fill(VIEWER)
    form.locator("select[name=role]").select_option("viewer")
    form.locator(f"input[name=sites][value='{sid}']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    link = page.inner_text("[data-testid=link-url]").strip()
    assert link.startswith(live.base + "/invite/")
    assert "E-mail is not configured" in page.inner_text("[data-testid=link]")
    # The copy button puts the link on the clipboard.
    admin_tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("[data-copy=access-link]")
    page.wait_for_selector("[data-copy=access-link][data-copied=true]")
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert "invited" in page.inner_text(f"tr[data-email='{VIEWER}']")

    viewer = tab_factory()
    vpage = viewer.page
    vpage.goto(link)
    assert VIEWER in vpage.inner_text("main")
    vpage.fill("input[name=password]", "short")
    vpage.fill("input[name=password_again]", "short")
    # The browser's own minlength check stops the short one; bypass it to see ours.
    vpage.eval_on_selector("[data-testid=choose-password]", "f => f.noValidate = true")
    vpage.click("[data-testid=choose-password] button[type=submit]")
    assert "at least 10 characters" in vpage.inner_text("[data-error=password]")
    vpage.fill("input[name=password]", VIEWER_PASSWORD)
    vpage.fill("input[name=password_again]", VIEWER_PASSWORD)
    vpage.click("[data-testid=choose-password] button[type=submit]")
    vpage.wait_for_url(f"**/sites/{sid}/overview")
    assert VIEWER in vpage.inner_text("header")
    switcher = vpage.eval_on_selector_all(
        "[data-testid=site-switcher] li a", "links => links.map(a => a.textContent)"
    )
    assert switcher == ["Sofa shop"]
    assert vpage.locator("header a[href='/users']").count() == 0

    # The link is spent.
    response = vpage.goto(link)
    assert response is not None
    assert response.status == 410
    # And the password works for signing in later.
    tab_factory().sign_in(VIEWER, VIEWER_PASSWORD)
    admin_tab.assert_quiet()
    viewer.assert_quiet()
