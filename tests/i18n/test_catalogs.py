"""The catalogs against the code: every text of the templates and of app/ is in each
language's catalog, translated (every plural form), with the same placeholders; and the check
catches a text added without one, as a helper adding a template would."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

from app.i18n import catalogs, tooling
from app.i18n.catalogs import LANGUAGES, po_path


def test_every_text_is_in_every_catalog_and_translated() -> None:
    problems = tooling.check(tooling.extract())
    assert not problems, "\n".join(problems.lines) + "\nrun scripts/i18n update, then translate"


def test_the_extraction_finds_the_templates_and_the_python_texts() -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in tooling.extract() if m.id}
    assert "Sign in to Callsource" in ids  # a template
    assert "Wrong e-mail or password." in ids  # gettext() in app/
    assert "Last non-direct touch" in ids  # lazy_gettext()
    assert "The snippet is seen on the site" in ids  # N_()
    assert "%(num)s call" in ids  # ngettext()
    assert "Demo CRM inbox" in ids  # the demo's templates


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A small checkout: babel.cfg, one template, one module, and today's catalogs."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(tooling.ROOT / "babel.cfg", root / "babel.cfg")
    templates = root / "app" / "dashboard" / "templates"
    templates.mkdir(parents=True)
    (templates / "page.html").write_text('<h1>{{ _("Sign in") }}</h1>\n')
    (root / "app" / "module.py").write_text('from app.i18n import gettext\n\ngettext("Save")\n')
    shutil.copytree(catalogs.LOCALE_DIR, root / "app" / "locale")
    tooling.update(tooling.extract(root), root / "app" / "locale")
    return root


def _check(root: Path) -> list[str]:
    return tooling.check(tooling.extract(root), root / "app" / "locale").lines


def test_the_small_checkout_passes(checkout: Path) -> None:
    assert _check(checkout) == []


def test_a_new_template_text_fails_until_it_is_in_the_catalogs(checkout: Path) -> None:
    page = checkout / "app" / "dashboard" / "templates" / "page.html"
    page.write_text(page.read_text() + '<p>{{ _("A text nobody translated") }}</p>\n')
    found = _check(checkout)
    assert found == [
        f"{language}: not in the catalog (run scripts/i18n update): 'A text nobody translated'"
        for language in LANGUAGES
    ]
    # `scripts/i18n update` brings it in: English is done, the others still wait for words.
    tooling.update(tooling.extract(checkout), checkout / "app" / "locale")
    assert _check(checkout) == [
        "ru: not translated: 'A text nobody translated'",
        "es: not translated: 'A text nobody translated'",
    ]


def test_a_missing_translation_or_plural_form_or_placeholder_fails(checkout: Path) -> None:
    module = checkout / "app" / "module.py"
    module.write_text(
        module.read_text()
        + 'ngettext("%(num)s lead", "%(num)s leads", 2)\ngettext("Hello %(name)s")\n'
    )
    locale = checkout / "app" / "locale"
    tooling.update(tooling.extract(checkout), locale)
    ru = tooling.read(po_path("ru", locale), "ru")
    ru["%(num)s lead"].string = ("%(num)s заявка", "%(num)s заявки", "")
    ru["Hello %(name)s"].string = "Привет, %(who)s"
    tooling._write(ru, po_path("ru", locale))
    found = _check(checkout)
    assert "ru: not translated: '%(num)s lead'" in found
    assert "ru: placeholders differ from the original: 'Hello %(name)s'" in found
    assert "es: not translated: 'Hello %(name)s'" in found


def test_a_text_the_code_dropped_fails_too(checkout: Path) -> None:
    (checkout / "app" / "module.py").write_text("")
    assert "ru: no longer in the code (run scripts/i18n update): 'Save'" in _check(checkout)


def test_a_catalog_compiles_when_missing_or_older_than_its_po(tmp_path: Path) -> None:
    locale = tmp_path / "locale"
    shutil.copytree(catalogs.LOCALE_DIR, locale, ignore=shutil.ignore_patterns("*.mo"))
    assert sorted(p.parent.parent.name for p in catalogs.compile_all(locale)) == sorted(LANGUAGES)
    assert catalogs.compile_all(locale) == []  # up to date: nothing to do
    po = po_path("ru", locale)
    mo = po.with_suffix(".mo")
    older = po.stat().st_mtime - 10
    os.utime(mo, (older, older))
    assert catalogs.compile_all(locale) == [mo]


def test_plural_forms_come_from_the_languages_rules() -> None:
    assert Catalog(locale="ru").num_plurals == 3
    assert tooling.read(po_path("ru"), "ru").num_plurals == 3
    assert tooling.read(po_path("en"), "en").num_plurals == 2
