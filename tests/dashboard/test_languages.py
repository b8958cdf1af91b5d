"""The language of the dashboard and the demo per request, over the ASGI app (both
databases): the user's own setting, else this browser's choice in the switcher, else
Accept-Language, else CALLSOURCE_LANGUAGE; `<html lang>` says which; form errors and notices
speak it too."""

from __future__ import annotations

import re

from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.dashboard.web import LANGUAGE_COOKIE
from app.demo.seed import ensure_demo_site
from app.models import User
from tests.clock import ManualClock
from tests.conftest import TEST_ADMIN_TOKEN
from tests.dashboard.conftest import ADMIN_EMAIL, PASSWORD, csrf_of

RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}
ES = {"Accept-Language": "es-ES,es;q=0.9"}


def lang_of(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def _admin(http: AsyncClient) -> None:
    token = csrf_of((await http.get("/setup")).text)
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


async def test_accept_language_decides_for_a_visitor(visitor: AsyncClient) -> None:
    page = await visitor.get("/setup", headers=RU)
    assert lang_of(page.text) == "ru"
    assert "Создание первого администратора" in page.text
    page = await visitor.get("/setup", headers=ES)
    assert lang_of(page.text) == "es"
    assert "Crear el primer administrador" in page.text
    page = await visitor.get("/setup")
    assert lang_of(page.text) == "en"
    assert "Create the first admin" in page.text


async def test_the_setting_decides_when_the_browser_does_not(
    visitor: AsyncClient, settings: Settings
) -> None:
    settings.language = "es"
    page = await visitor.get("/setup", headers={"Accept-Language": "de-DE,fr;q=0.8"})
    assert lang_of(page.text) == "es"
    assert lang_of((await visitor.get("/setup", headers=RU)).text) == "ru"


async def test_errors_beside_the_form_speak_the_language(visitor: AsyncClient) -> None:
    await _admin(visitor)
    token = csrf_of((await visitor.get("/")).text)
    await visitor.post("/logout", data={"csrf_token": token})
    token = csrf_of((await visitor.get("/login", headers=RU)).text)
    answer = await visitor.post(
        "/login",
        data={"csrf_token": token, "email": ADMIN_EMAIL, "password": "wrong password"},
        headers=RU,
    )
    assert answer.status_code == 401
    assert "Неверный e-mail или пароль." in answer.text


async def test_the_switcher_of_a_signed_out_browser_beats_accept_language(
    visitor: AsyncClient,
) -> None:
    token = csrf_of((await visitor.get("/setup", headers=RU)).text)
    answer = await visitor.post(
        "/language", data={"csrf_token": token, "language": "es", "next": "/setup"}, headers=RU
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/setup"
    assert visitor.cookies[LANGUAGE_COOKIE] == "es"
    page = await visitor.get("/setup", headers=RU)
    assert lang_of(page.text) == "es"
    # Back to the browser's own: the choice is forgotten.
    token = csrf_of(page.text)
    await visitor.post("/language", data={"csrf_token": token, "language": ""})
    assert lang_of((await visitor.get("/setup", headers=RU)).text) == "ru"


async def test_the_users_own_setting_beats_the_browser(
    visitor: AsyncClient, db: AsyncSession
) -> None:
    await _admin(visitor)
    account = await visitor.get("/account", headers=RU)
    assert lang_of(account.text) == "ru"
    assert "Ваша учётная запись" in account.text
    answer = await visitor.post(
        "/language",
        data={"csrf_token": csrf_of(account.text), "language": "es", "next": "/account"},
        headers=RU,
    )
    assert answer.headers["location"] == "/account?notice=language-saved"
    user = (await db.execute(select(User).where(User.email == ADMIN_EMAIL))).scalar_one()
    await db.refresh(user)
    assert user.language == "es"
    # Another browser of the same user, asking for Russian, gets the user's Spanish.
    visitor.cookies.delete(LANGUAGE_COOKIE)
    page = await visitor.get("/account?notice=language-saved", headers=RU)
    assert lang_of(page.text) == "es"
    assert "El panel ya habla su idioma." in page.text
    assert '<option value="es" lang="es" selected>' in page.text


async def test_a_language_we_do_not_have_is_refused(visitor: AsyncClient) -> None:
    token = csrf_of((await visitor.get("/setup")).text)
    answer = await visitor.post("/language", data={"csrf_token": token, "language": "de"})
    assert answer.status_code == 422
    assert "en, ru, es" in answer.text
    assert LANGUAGE_COOKIE not in visitor.cookies


async def test_the_switcher_needs_the_csrf_token(visitor: AsyncClient) -> None:
    await visitor.get("/setup")
    answer = await visitor.post("/language", data={"csrf_token": "forged", "language": "ru"})
    assert answer.status_code == 403


async def test_an_error_page_speaks_the_users_language(visitor: AsyncClient) -> None:
    await _admin(visitor)
    page = await visitor.get("/sites/00000000-0000-0000-0000-000000000000/overview", headers=ES)
    assert page.status_code == 404
    assert lang_of(page.text) == "es"
    assert "No encontrado" in page.text


async def test_the_demo_shop_and_inbox_speak_the_language(
    visitor: AsyncClient, db: AsyncSession, clock: ManualClock
) -> None:
    await ensure_demo_site(db, now=clock.now, public_url="https://testserver")
    await db.commit()
    shop = await visitor.get("/demo", headers=RU)
    assert lang_of(shop.text) == "ru"
    assert "Угловые диваны с доставкой по Москве завтра" in shop.text
    assert "Объявление Яндекс Директа" in shop.text  # the links' names, from Python
    inbox = await visitor.get("/demo/crm-inbox", headers=ES)
    assert lang_of(inbox.text) == "es"
    assert "Bandeja del CRM de demostración" in inbox.text
