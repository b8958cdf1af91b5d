"""Every dashboard page in Russian, English and Spanish, in real Chromium over a week of data:
the browser's language (its Accept-Language) decides, `<html lang>` says so, the landmarks are
translated, and the Russian navigation has no English left in it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import Page
from sqlalchemy.ext.asyncio import AsyncSession

from app.dashboard import links
from app.dashboard.service import Role
from tests.dashboard.conftest import Tab
from tests.dashboard.live import Live
from tests.dashboard.reading import text_of, value
from tests.dashboard.world import World

LOCALES = {"ru": "ru-RU", "en": "en-US", "es": "es-ES"}
TABS = {
    "ru": ["Обзор", "Источники", "Звонки", "Номера", "Интеграции", "Расходы", "Сайт"],
    "en": ["Overview", "Sources", "Calls", "Numbers", "Integrations", "Ad costs", "Site"],
    "es": ["Resumen", "Fuentes", "Llamadas", "Números", "Integraciones", "Costes", "Sitio"],
}
HEADER = {
    "ru": ["Новый сайт", "Пользователи", "Выйти"],
    "en": ["New site", "Users", "Sign out"],
    "es": ["Nuevo sitio", "Usuarios", "Cerrar sesión"],
}
# The headings each page must show, by language.
LANDMARKS: dict[str, dict[str, str]] = {
    "overview": {
        "ru": "Звонки по дням и источникам",
        "en": "Calls per day by source",
        "es": "Llamadas por día y fuente",
    },
    "sources": {"ru": "Источники", "en": "Sources", "es": "Fuentes"},
    "calls": {"ru": "Звонки", "en": "Calls", "es": "Llamadas"},
    "call": {
        "ru": "Путь посетителя",
        "en": "The visitor's journey",
        "es": "El recorrido del visitante",
    },
    "numbers": {"ru": "Номера источников", "en": "Numbers per source", "es": "Números por fuente"},
    "print": {"ru": "Офлайн-номера сайта", "en": "Offline numbers of", "es": "Números offline de"},
    "integrations": {"ru": "Коннекторы CRM", "en": "CRM connectors", "es": "Conectores de CRM"},
    "pbx": {"ru": "Подключение АТС", "en": "Connect a PBX", "es": "Conectar una centralita"},
    "pbx_detail": {
        "ru": "Последние полученные события",
        "en": "Last events received",
        "es": "Últimos eventos recibidos",
    },
    "costs": {"ru": "Загрузка CSV", "en": "Upload a CSV", "es": "Subir un CSV"},
    "site": {"ru": "Код отслеживания", "en": "The snippet", "es": "El fragmento"},
    "new_pool": {
        "ru": "Сколько нужно номеров?",
        "en": "How many numbers?",
        "es": "¿Cuántos números?",
    },
    "new_number": {
        "ru": "Новый номер источника или офлайн-номер",
        "en": "New source or offline number",
        "es": "Nuevo número de fuente u offline",
    },
    "new_site": {"ru": "Новый сайт", "en": "New site", "es": "Nuevo sitio"},
    "users": {"ru": "Пригласить коллегу", "en": "Invite someone", "es": "Invitar a alguien"},
    "account": {"ru": "Смена пароля", "en": "Change your password", "es": "Cambiar la contraseña"},
    "workspace": {
        "ru": "Сделка, указанная вручную",
        "en": "Deal set by hand",
        "es": "Venta indicada a mano",
    },
    "pool_edit": {
        "ru": "Изменить пул номеров",
        "en": "Edit the number pool",
        "es": "Editar el pool de números",
    },
    "number_edit": {"ru": "Отключить номер", "en": "Retire the number", "es": "Retirar el número"},
    "destinations": {
        "ru": "Конверсии в рекламные системы",
        "en": "Conversions to ad platforms",
        "es": "Conversiones a plataformas publicitarias",
    },
    "ad_accounts": {
        "ru": "Подключить рекламный кабинет",
        "en": "Connect an ad account",
        "es": "Conectar una cuenta publicitaria",
    },
}
# The pages of someone signed out: a forgotten password, and the invite link's own page.
SIGNED_OUT: dict[str, dict[str, str]] = {
    "forgot": {
        "ru": "Забыли пароль?",
        "en": "Forgot your password?",
        "es": "¿Olvidó su contraseña?",
    },
    "invite": {
        "ru": "Добро пожаловать в Callsource",
        "en": "Welcome to Callsource",
        "es": "Bienvenido a Callsource",
    },
}
# Latin words a Russian heading may hold: names of things and acronyms (ROMI, CRM, CSV, RUB),
# not English.
KEPT_IN_RUSSIAN = re.compile(
    r"\b(?:[A-Z]{2,5}|E-mail|Callsource|amoCRM|Bitrix24|Google|Analytics|Ads|OAuth|Measurement"
    r"|Protocol)\b"
)


def _pages(world: World) -> dict[str, str]:
    sid = world.site["id"]
    api = world.live.api
    pool = api.get(f"/api/v1/sites/{sid}/pools").json()["items"][0]
    offline = next(
        n
        for n in api.get(f"/api/v1/sites/{sid}/static-numbers").json()["items"]
        if n["kind"] == "offline"
    )
    return {
        "overview": f"/sites/{sid}/overview",
        "sources": f"/sites/{sid}/sources",
        "calls": f"/sites/{sid}/calls",
        "call": f"/sites/{sid}/calls/{world.calls['returning-5']['id']}",
        "numbers": f"/sites/{sid}/numbers",
        "print": f"/sites/{sid}/numbers/offline/print",
        "integrations": f"/sites/{sid}/integrations",
        "pbx": f"/sites/{sid}/pbx",
        "pbx_detail": f"/sites/{sid}/pbx/{world.pbx['id']}",
        "costs": f"/sites/{sid}/costs",
        "site": f"/sites/{sid}/site",
        "new_pool": f"/sites/{sid}/pools/new",
        "new_number": f"/sites/{sid}/static-numbers/new",
        "new_site": "/sites/new",
        "users": "/users",
        "account": "/account",
        "workspace": f"/sites/{sid}/calls/{world.calls['returning-5']['id']}",
        "pool_edit": f"/sites/{sid}/pools/{pool['id']}/edit",
        "number_edit": f"/sites/{sid}/static-numbers/{offline['id']}/edit",
        "destinations": f"/sites/{sid}/destinations",
        "ad_accounts": f"/sites/{sid}/ad-accounts",
    }


def _invite_path(live: Live) -> str:
    """A real invite link, as the Users page makes one."""
    now = live.clock.now

    async def make(db: AsyncSession) -> str:
        link = await links.invite(
            db, email="new.colleague@shop.example", role=Role.ADMIN, site_ids=[], now=now
        )
        return link.path()

    return live.db(make)


@pytest.mark.parametrize("language", ["ru", "en", "es"])
def test_every_page_in_each_language(
    world: World, admin: uuid.UUID, tab_factory: Callable[..., Tab], language: str
) -> None:
    tab = tab_factory(LOCALES[language])
    tab.sign_in()
    page = tab.page
    for name, path in _pages(world).items():
        tab.go(path)
        assert page.get_attribute("html", "lang") == language, path
        main = text_of(page.inner_text("main"))
        assert LANDMARKS[name][language] in main, f"{path}: {main[:300]}"
        header = [
            text_of(t).strip()
            for t in page.locator("header.top a, header.top button").all_inner_texts()
        ]
        for word in HEADER[language]:
            assert word in header, (path, header)
        if path.startswith("/sites/") and name != "new_site":
            tabs = [text_of(t).strip() for t in page.locator("nav.tabs a").all_inner_texts()]
            assert tabs == TABS[language], path
        if language == "ru":
            _no_english_in_russian_navigation(page, path)
    tab.assert_quiet()


@pytest.mark.parametrize("language", ["ru", "en", "es"])
def test_the_signed_out_pages_in_each_language(
    world: World, admin: uuid.UUID, tab_factory: Callable[..., Tab], language: str
) -> None:
    tab = tab_factory(LOCALES[language])
    page = tab.page
    for name, path in {"forgot": "/login/forgot", "invite": _invite_path(world.live)}.items():
        tab.go(path)
        assert page.get_attribute("html", "lang") == language, path
        main = text_of(page.inner_text("main"))
        assert SIGNED_OUT[name][language] in main, f"{path}: {main[:300]}"
        if language == "ru":
            _no_english_in_russian_navigation(page, path)
    tab.assert_quiet()


def _no_english_in_russian_navigation(page: Page, path: str) -> None:
    # Code in a sentence (<code>data-callsource-consent</code>) is not English: left out.
    texts = page.locator(
        "nav.tabs a, header.top a:not([href='/account']):not(.brand), "
        "header.top button:not([name=language]), main h2, main th, "
        "main label:not(:has(select, input[name=sites])), main button"
    ).evaluate_all(
        """elements => elements.map(e => {
            if (!e.querySelector("code")) return e.innerText;
            const copy = e.cloneNode(true);
            copy.querySelectorAll("code").forEach(c => c.remove());
            document.body.appendChild(copy);
            const text = copy.innerText;
            copy.remove();
            return text;
        })"""
    )
    for text in texts:
        rest = KEPT_IN_RUSSIAN.sub("", text)
        # Data may be Latin (sources, site names, numbers' labels): only words of the interface
        # are checked, i.e. texts with no digits, no slashes, no dots inside words.
        if re.search(r"[\d/@.:_=]", rest):
            continue
        english = re.findall(r"\b[A-Za-z]{3,}\b", rest)
        assert not english, f"{path}: English left in {text!r}"


def test_the_russian_report_writes_numbers_the_russian_way(
    world: World, admin: uuid.UUID, tab_factory: Callable[..., Tab]
) -> None:
    tab = tab_factory("ru-RU")
    tab.sign_in()
    tab.go(f"/sites/{world.site['id']}/costs")
    stored = text_of(tab.page.inner_text("[data-testid=stored-costs]"))
    assert re.search(r"\d \d{3},\d{2}", stored), stored  # "1 500,00"
    tab.go(f"/sites/{world.site['id']}/overview")
    figure = tab.page.inner_text("[data-figure=cost] .value")
    assert "," in figure
    assert "." not in figure
    assert value(figure, "ru") is not None
    # The period in words: "27 нояб. 2026 г." rather than 2026-11-27.
    head = text_of(tab.page.inner_text("main .head"))
    assert re.search(r"\d{1,2} [а-я]+\.? \d{4}", head), head


def test_the_switcher_in_the_header_changes_the_language(
    world: World, admin: uuid.UUID, tab: Tab
) -> None:
    tab.sign_in()
    page = tab.page
    tab.go(f"/sites/{world.site['id']}/calls")
    assert page.get_attribute("html", "lang") == "en"
    page.click("[data-testid=language-switcher] button[value=ru]")
    page.wait_for_load_state()
    assert page.url.endswith(f"/sites/{world.site['id']}/calls")  # the same page
    assert page.get_attribute("html", "lang") == "ru"
    assert page.inner_text("main h1") == "Звонки"
    # Kept on the account: the next page, and the next sign-in, are Russian too.
    tab.go("/account")
    assert page.get_attribute("html", "lang") == "ru"
    assert page.get_attribute("select[name=language] option[selected]", "value") == "ru"
