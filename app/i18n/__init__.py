"""Russian, English and Spanish: the gettext catalogs (`app/locale/`), the language of the
request, and numbers, money and dates written the way that language writes them.

The language lives in a context variable set once per request (`use_language`), so templates,
form errors and notices built anywhere in that request speak it without passing it around.
"""

from app.i18n.catalogs import (
    DEFAULT_LANGUAGE,
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    current_language,
    gettext,
    lazy_gettext,
    ngettext,
    use_language,
)
from app.i18n.negotiation import accept_language_match, choose_language

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "N_",
    "accept_language_match",
    "choose_language",
    "current_language",
    "gettext",
    "lazy_gettext",
    "ngettext",
    "use_language",
]
