"""The admin token check: constant-time, and the token never echoed."""

from __future__ import annotations

import hmac

from fastapi import Request
from fastapi.security.utils import get_authorization_scheme_param

from app.exceptions import Unauthorized


def token_matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


async def require_admin(request: Request) -> None:
    """FastAPI dependency of every admin endpoint: `Authorization: Bearer <admin token>`."""
    scheme, presented = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized(
            "missing bearer token: send Authorization: Bearer <CALLSOURCE_ADMIN_TOKEN>"
        )
    expected: str = request.app.state.admin_token
    if not token_matches(presented, expected):
        raise Unauthorized("invalid admin token")
