"""Who gets in and what they see: the first admin from the admin token, viewers confined to
their sites, CSRF on every form, the session cookie, escaping."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from playwright.sync_api import Dialog

from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD, Tab, create_user
from tests.dashboard.live import ADMIN_TOKEN, Live
from tests.dashboard.world import World

VIEWER = "client@agency.example"


def test_the_first_admin_comes_from_the_admin_token(live: Live, tab: Tab) -> None:
    page = tab.page
    page.goto(live.base + "/")
    assert page.url.endswith("/setup")
    page.fill("input[name=admin_token]", "not-the-token-at-all")
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("button[type=submit]")
    assert "the admin token is not right" in page.inner_text("[role=alert]")
    assert page.input_value("input[name=email]") == ADMIN_EMAIL
    assert page.input_value("input[name=admin_token]") == ""  # secrets are never sent back

    page.fill("input[name=admin_token]", ADMIN_TOKEN)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_again]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "No sites yet" in page.inner_text("main")
    assert ADMIN_EMAIL in page.inner_text("header")
    # Once an account exists, /setup is closed for good.
    page.goto(live.base + "/setup")
    assert page.url.endswith("/login") or page.url.endswith("/")
    tab.assert_quiet()


def test_the_session_cookie_is_httponly_lax_and_signed_in_only_with_the_password(
    live: Live, admin: uuid.UUID, tab: Tab
) -> None:
    page = tab.page
    page.goto(live.base + "/login")
    page.fill("input[name=email]", ADMIN_EMAIL)
    page.fill("input[name=password]", "wrong password, surely")
    page.click("button[type=submit]")
    assert "Wrong e-mail or password." in page.inner_text("[role=alert]")
    tab.sign_in()
    [cookie] = [c for c in tab.context.cookies() if c["name"] == "callsource_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # the live server's public URL is http
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it

    page.click("header button[type=submit]")  # sign out
    page.wait_for_url("**/login")
    page.goto(live.base + "/users")
    assert "/login?next=%2Fusers" in page.url
    tab.assert_quiet()


def test_a_viewer_sees_only_its_own_site(
    world: World, admin: uuid.UUID, tab_factory: Callable[[], Tab]
) -> None:
    other = world.create_site("Other client's shop")
    sid = world.site["id"]
    admin_tab = tab_factory().sign_in()
    page = admin_tab.page
    admin_tab.go("/users")
    form = page.locator("[data-testid=new-user]")
    form.locator("input[name=email]").fill(VIEWER)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("select[name=role]").select_option("viewer")
    form.locator(f"input[name=sites][value='{sid}']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/users?notice=user-created")
    assert VIEWER in page.inner_text("[data-testid=users]")

    viewer = tab_factory().sign_in(VIEWER, PASSWORD)
    vpage = viewer.page
    assert vpage.url.endswith(f"/sites/{sid}/overview")
    switcher = vpage.eval_on_selector_all(
        "[data-testid=site-switcher] li a", "links => links.map(a => a.textContent)"
    )
    assert switcher == ["Sofa shop"]
    # Every page of its own site renders; it holds no buttons that change anything (signing
    # out and the language are the viewer's own).
    own = "form[method=post]:not([action='/logout']):not([action='/language'])"
    for name in ("overview", "sources", "calls", "numbers", "integrations", "costs"):
        viewer.go(f"/sites/{sid}/{name}")
        assert vpage.locator(own).count() == 0, name
    # The other site does not exist for it, and neither does the users page.
    for path, status in ((f"/sites/{other['id']}/overview", 404), ("/users", 403)):
        response = vpage.goto(viewer.live.base + path)
        assert response is not None
        assert response.status == status, path
    # Forms it cannot see cannot be posted either, even with its own valid CSRF token.
    vpage.goto(viewer.live.base + f"/sites/{sid}/overview")
    status = vpage.evaluate(
        """async ([url]) => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const body = new URLSearchParams({csrf_token: token, name: 'sneaky'});
            return (await fetch(url, {method: 'POST', body})).status;
        }""",
        [f"/sites/{sid}/integrations/pbx"],
    )
    assert status == 403
    pbx = viewer.live.api.get(f"/api/v1/sites/{sid}/pbx").json()["items"]
    assert [p["name"] for p in pbx] == [None]
    admin_tab.assert_quiet()


def test_a_form_without_the_sessions_csrf_token_is_refused(
    world: World, admin: uuid.UUID, tab_factory: Callable[[], Tab]
) -> None:
    sid = world.site["id"]
    tab = tab_factory().sign_in()
    page = tab.page
    tab.go(f"/sites/{sid}/integrations")
    page.eval_on_selector(
        "[data-testid=new-pbx] input[name=csrf_token]", "input => input.value = 'forged'"
    )
    page.fill("[data-testid=new-pbx] input[name=name]", "Forged PBX")
    with page.expect_navigation() as navigation:
        page.click("[data-testid=new-pbx] button[type=submit]")
    response = navigation.value
    assert response is not None
    assert response.status == 403
    assert "did not come from this dashboard" in page.inner_text("[data-testid=error-detail]")
    # From another site's page: no token at all (and SameSite keeps the cookie home anyway).
    status = page.evaluate(
        """async ([url]) => (await fetch(url, {method: 'POST',
            body: new URLSearchParams({name: 'Forged again'})})).status""",
        [f"/sites/{sid}/integrations/pbx"],
    )
    assert status == 403
    pbx = tab.live.api.get(f"/api/v1/sites/{sid}/pbx").json()["items"]
    assert len(pbx) == 1  # the world's own, nothing forged
    # Signing in needs the token too (no login CSRF).
    other = tab_factory().page
    other.goto(tab.live.base + "/login")
    other.eval_on_selector("input[name=csrf_token]", "input => input.value = 'forged'")
    other.fill("input[name=email]", ADMIN_EMAIL)
    other.fill("input[name=password]", PASSWORD)
    with other.expect_navigation() as navigation:
        other.click("button[type=submit]")
    assert navigation.value is not None
    assert navigation.value.status == 403


def test_what_users_typed_is_escaped(world: World, admin: uuid.UUID, tab: Tab) -> None:
    """A site name, a campaign, a referrer: whatever arrived is shown as text, never run."""
    hostile = world.create_site('<img src=x onerror="window.pwned=1">Evil</script>')
    world.site = hostile
    world.live.api.post(
        f"/api/v1/sites/{hostile['id']}/pbx", json={"provider": "generic"}
    ).raise_for_status()
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    tab.page.on("dialog", dismiss)
    tab.sign_in()
    tab.go(f"/sites/{hostile['id']}/overview")
    page = tab.page
    assert '<img src=x onerror="window.pwned=1">Evil</script>' in page.inner_text(
        "[data-testid=site-switcher] summary"
    )
    assert page.evaluate("window.pwned") is None
    assert page.locator("img[src=x]").count() == 0
    assert dialogs == []


def test_a_disabled_account_loses_its_session(
    world: World, admin: uuid.UUID, tab_factory: Callable[[], Tab]
) -> None:
    sid = uuid.UUID(world.site["id"])
    from app.dashboard.service import Role

    create_user(world.live, email=VIEWER, role=Role.VIEWER, site_ids=(sid,))
    viewer = tab_factory().sign_in(VIEWER, PASSWORD)
    admin_tab = tab_factory().sign_in()
    admin_tab.go("/users")
    admin_tab.page.click(f"tr[data-email='{VIEWER}'] form[action$='/disable'] button")
    admin_tab.page.wait_for_url("**notice=user-disabled")
    viewer.page.goto(viewer.live.base + f"/sites/{sid}/calls")
    assert "/login" in viewer.page.url
