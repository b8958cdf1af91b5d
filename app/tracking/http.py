"""The tracker's HTTP edges: CORS for the site's own domains, a body limit, client addresses."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from starlette.datastructures import Headers

from app.exceptions import BadRequest, Forbidden
from app.kit.domains import origin_allowed
from app.kit.http import read_body
from app.tracking.bots import looks_like_browser
from app.tracking.site_config import SiteConfig
from numberpool.rules import VisitRefusal

MAX_BODY_BYTES = 8 * 1024


def cors_headers(site: SiteConfig, origin: str | None) -> dict[str, str]:
    """A CORS grant for an origin among the site's domains (or their subdomains), else none."""
    if not origin:
        return {}
    host = urlsplit(origin).hostname
    if host is None or not origin_allowed(host, site.domains):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _on_site(site: SiteConfig, url: str | None) -> bool:
    host = urlsplit(url).hostname if url else None
    return host is not None and origin_allowed(host, site.domains)


def visit_refusal(site: SiteConfig, headers: Headers) -> VisitRefusal | None:
    """Why this request may not have a dynamic number, or None: only a browser on one of the
    site's pages may. The snippet's fetch always carries an Origin (and a Referer unless the
    page forbids it); a script calling the API directly carries neither, or a user agent no
    browser sends."""
    if not (_on_site(site, headers.get("origin")) or _on_site(site, headers.get("referer"))):
        return "not_on_site"
    if not looks_like_browser(headers.get("user-agent")):
        return "not_a_browser"
    return None


class OriginRefused(Forbidden):
    """A 403 for a page not on the site's domains; the tracker keeps a note of it."""

    def __init__(self, site: SiteConfig, origin: str) -> None:
        super().__init__(f"origin {origin} is not one of the site's domains")
        self.site_id = site.id
        self.origin = origin


def check_origin(site: SiteConfig, origin: str | None) -> None:
    """Browsers always say where a cross-site request comes from: a foreign page may not lease
    numbers of this site (someone else's page could otherwise drain its pool)."""
    if origin and origin != "null" and not cors_headers(site, origin):
        raise OriginRefused(site, origin)


async def read_json_body(request: Request) -> Any:
    """The body as JSON whether it came as text/plain (the snippet: no preflight) or JSON."""
    body = await read_body(request, limit=MAX_BODY_BYTES)
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc


def client_address(request: Request) -> str:
    """The client's address: the peer's, or what a trusted proxy says it forwarded for
    (app.proxies has rewritten the peer by then)."""
    return request.client.host if request.client else "unknown"
