"""The compiled catalogs and the gettext functions that read the request's language.

`.po` files are the source (committed); `.mo` files are built from them by the wheel's build
step (setup.py), by `scripts/i18n compile`, or here on first use when a checkout's `.mo` is
missing or older than its `.po` (an editable install never runs the build step).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("en", "ru", "es")
DEFAULT_LANGUAGE = "en"
# Each language named in itself: that is how a reader who does not know the current one finds his.
LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "es": "Español"}

log = logging.getLogger(__name__)
_language: ContextVar[str] = ContextVar("callsource_language", default=DEFAULT_LANGUAGE)


def po_path(language: str, directory: Path = LOCALE_DIR) -> Path:
    return directory / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalog(po: Path, mo: Path) -> None:
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    # Written aside and renamed: another process starting at the same time reads the old
    # file or the new one, never half of one.
    partial = mo.with_name(f".{mo.name}.{os.getpid()}")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, mo)


def compile_all(directory: Path = LOCALE_DIR, *, force: bool = False) -> list[Path]:
    """Compile each `.po` whose `.mo` is missing or older; answer the `.mo` files written."""
    written = []
    for po in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        if force or not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            compile_catalog(po, mo)
            written.append(mo)
    return written


@cache
def translations(language: str) -> NullTranslations:
    po = po_path(language)
    mo = po.with_suffix(".mo")
    if po.exists() and (not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime):
        try:
            compile_catalog(po, mo)
        except OSError:
            # A read-only installation: compile in memory instead.
            with po.open("rb") as source:
                buffer = io.BytesIO()
                write_mo(buffer, read_po(source, locale=language))
            buffer.seek(0)
            return Translations(buffer, domain=DOMAIN)
    if not mo.exists():
        if language != DEFAULT_LANGUAGE:
            log.warning("no catalog for language %s: showing English", language)
        return NullTranslations()
    with mo.open("rb") as fp:
        return Translations(fp, domain=DOMAIN)


def current_language() -> str:
    return _language.get()


@contextmanager
def use_language(language: str) -> Iterator[None]:
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


def set_language(language: str) -> None:
    """For the rest of this request (context): a request handler sets it once it knows."""
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def gettext(message: str, **values: Any) -> str:
    text = translations(_language.get()).gettext(message)
    return text % values if values else text


def plural_count(n: float) -> int:
    """gettext chooses forms by whole numbers; a fraction (a call shared between visits)
    reads as 2 does in all three languages ("1,5 звонка", "1.5 calls")."""
    return int(n) if float(n).is_integer() else 2


def ngettext(singular: str, plural: str, n: float, **values: Any) -> str:
    text = translations(_language.get()).ngettext(singular, plural, plural_count(n))
    return text % {"num": n, **values}


def lazy_gettext(message: str, **values: Any) -> str:
    """Translated when read, in the language of whoever reads it: for module-level texts."""
    proxy: Any = LazyProxy(gettext, message, enable_cache=False, **values)
    return proxy  # type: ignore[no-any-return]


def N_(message: str) -> str:
    """Marks a text for the catalogs only; it is translated where shown (`_(label)`)."""
    return message


# Jinja's newstyle gettext formats `%(name)s` itself; these only look the text up.
def jinja_gettext(message: str) -> str:
    return translations(_language.get()).gettext(message)


def jinja_ngettext(singular: str, plural: str, n: float) -> str:
    return translations(_language.get()).ngettext(singular, plural, plural_count(n))
