"""Where a visit came from: landing-page tags first, then click ids, then the referrer.

Precedence follows the market's rule: utm_* > gclid / yclid / fbclid > a known referrer (search
engines are organic, social networks social) > any other site (referral) > direct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

from app.kit.domains import origin_allowed

DIRECT = ("(direct)", "(none)")

# Host patterns (matched against the whole host or a parent domain) -> the name reports show.
_SEARCH_ENGINES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"(^|\.)google(\.[a-z]{2,3}){1,2}$", "google"),
        (r"(^|\.)yandex(\.[a-z]{2,3}){1,2}$", "yandex"),
        (r"(^|\.)ya\.ru$", "yandex"),
        (r"(^|\.)bing\.com$", "bing"),
        (r"(^|\.)duckduckgo\.com$", "duckduckgo"),
        (r"^go\.mail\.ru$", "mail.ru"),
        (r"^search\.yahoo\.(com|co\.jp)$|(^|\.)yahoo\.com$", "yahoo"),
        (r"(^|\.)baidu\.com$", "baidu"),
        (r"(^|\.)ecosia\.org$", "ecosia"),
        (r"^search\.brave\.com$", "brave"),
        (r"(^|\.)rambler\.ru$", "rambler"),
        (r"(^|\.)seznam\.cz$", "seznam"),
        (r"(^|\.)naver\.com$", "naver"),
        (r"(^|\.)startpage\.com$", "startpage"),
        (r"(^|\.)qwant\.com$", "qwant"),
        (r"(^|\.)ask\.com$", "ask"),
        (r"(^|\.)sogou\.com$", "sogou"),
    )
)
_SOCIAL_NETWORKS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"(^|\.)vk\.(com|ru)$", "vk"),
        (r"(^|\.)ok\.ru$", "ok"),
        (r"(^|\.)facebook\.com$|^fb\.me$", "facebook"),
        (r"(^|\.)instagram\.com$", "instagram"),
        (r"^t\.me$|(^|\.)telegram\.(org|me)$", "telegram"),
        (r"(^|\.)youtube\.com$|^youtu\.be$", "youtube"),
        (r"(^|\.)x\.com$|(^|\.)twitter\.com$|^t\.co$", "x"),
        (r"(^|\.)linkedin\.com$|^lnkd\.in$", "linkedin"),
        (r"(^|\.)pinterest\.[a-z.]+$", "pinterest"),
        (r"(^|\.)reddit\.com$", "reddit"),
        (r"(^|\.)tiktok\.com$", "tiktok"),
        (r"(^|\.)dzen\.ru$", "dzen"),
        (r"^wa\.me$|(^|\.)whatsapp\.com$", "whatsapp"),
        (r"(^|\.)threads\.(net|com)$", "threads"),
        (r"(^|\.)tenchat\.ru$", "tenchat"),
    )
)
_CLICK_IDS = (
    ("gclid", "google", "cpc"),
    ("yclid", "yandex", "cpc"),
    ("fbclid", "facebook", "social"),
)
_MAX = 500


@dataclass(frozen=True, slots=True)
class Touch:
    source: str
    medium: str
    campaign: str | None = None
    term: str | None = None
    content: str | None = None
    gclid: str | None = None
    yclid: str | None = None
    fbclid: str | None = None
    # The referrer is a page of the site itself: a continued visit, not a new source.
    internal: bool = False

    @property
    def is_direct(self) -> bool:
        return (self.source, self.medium) == DIRECT


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = [v.strip() for v in query.get(name, []) if v.strip()]
    return values[0][:_MAX] if values else None


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower().removeprefix("www.") if host else None


def _match(host: str, table: tuple[tuple[re.Pattern[str], str], ...]) -> str | None:
    return next((name for pattern, name in table if pattern.search(host)), None)


def classify(url: str, referrer: str | None, *, site_domains: list[str]) -> Touch:
    """The touch of a visit landing on `url` from `referrer`."""
    try:
        query = parse_qs(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        query = {}
    # Tags and click ids are kept whatever decides the source; only source / medium vary.
    base = Touch(
        source=DIRECT[0],
        medium=DIRECT[1],
        campaign=_first(query, "utm_campaign"),
        term=_first(query, "utm_term"),
        content=_first(query, "utm_content"),
        gclid=_first(query, "gclid"),
        yclid=_first(query, "yclid"),
        fbclid=_first(query, "fbclid"),
    )
    utm_source = _first(query, "utm_source")
    if utm_source:
        medium = _first(query, "utm_medium") or "(not set)"
        return replace(base, source=utm_source.lower(), medium=medium.lower())
    for name, source, medium in _CLICK_IDS:
        if getattr(base, name):
            return replace(base, source=source, medium=medium)

    host = _host(referrer)
    if host is None:
        return base
    if origin_allowed(host, site_domains):
        return replace(base, internal=True)
    if engine := _match(host, _SEARCH_ENGINES):
        return replace(base, source=engine, medium="organic")
    if network := _match(host, _SOCIAL_NETWORKS):
        return replace(base, source=network, medium="social")
    return replace(base, source=host, medium="referral")
