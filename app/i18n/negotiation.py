"""Which of our languages a request gets: the user's own choice, else the browser's
`Accept-Language`, else the server's `CALLSOURCE_LANGUAGE`."""

from __future__ import annotations

from app.i18n.catalogs import DEFAULT_LANGUAGE, LANGUAGES


def accept_language_match(header: str | None) -> str | None:
    """The best of our languages for an `Accept-Language` header (RFC 9110 12.5.4), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if quality > 0 and primary in LANGUAGES:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def choose_language(
    *, user: str | None, chosen: str | None, accept_language: str | None, default: str
) -> str:
    """`user`: the signed-in user's setting; `chosen`: what this browser picked while signed out."""
    for candidate in (user, chosen, accept_language_match(accept_language), default):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE
