"""CSRF protection of every dashboard form: a per-session token, sent back as a hidden field
and compared in constant time on every POST.

The session cookie is also SameSite=Lax, so a foreign site's POST arrives without it; the token
covers what that leaves open (older browsers, a sibling subdomain, a GET turned into a POST).
"""

from __future__ import annotations

import hmac

from fastapi import Depends, Request

from app.dashboard.web import load_session
from app.exceptions import Forbidden

FIELD = "csrf_token"


class CsrfFailed(Forbidden):
    pass


async def check_csrf(request: Request) -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    # Starlette caches the parsed form, so the handler's own Form() fields read it again free.
    form = await request.form()
    presented = form.get(FIELD)
    expected = load_session(request).csrf
    if not isinstance(presented, str) or not hmac.compare_digest(
        presented.encode(), expected.encode()
    ):
        raise CsrfFailed(
            "this form has expired or did not come from this dashboard: reload the page and "
            "try again"
        )


CsrfChecked = Depends(check_csrf)
