"""Site domains: what a user types ("https://Shop.example/") normalised to a bare host name."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from app.i18n import gettext

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_domain(raw: str) -> str:
    """The lower-case ASCII host of `raw`; ValueError with a reason when it is not a host name."""
    text = raw.strip()
    host = urlsplit(text).hostname if "//" in text else text.split("/", 1)[0].split(":", 1)[0]
    if not host:
        raise ValueError(gettext("%(raw)s is not a domain", raw=repr(raw)))
    host = host.rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(gettext("%(raw)s is not a valid domain", raw=repr(raw))) from exc
    if host.startswith("www."):
        # The bare domain covers www and every other subdomain.
        host = host[4:]
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(gettext("%(raw)s is not a valid domain", raw=repr(raw)))
    return host


def origin_allowed(origin_host: str, domains: list[str]) -> bool:
    """An origin's host is allowed when it is one of the domains or a subdomain of one."""
    host = origin_host.lower().rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in domains)
