"""The admin token check: constant-time, and the token never echoed."""

from __future__ import annotations

import hmac

from fastapi.security.utils import get_authorization_scheme_param

from app.exceptions import Unauthorized


def token_matches(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())


def check_admin_token(authorization: str | None, expected: str) -> None:
    """An `Authorization: Bearer <admin token>` header, or 401 (app.deps.AdminOnly)."""
    scheme, presented = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized(
            "missing bearer token: send Authorization: Bearer <CALLSOURCE_ADMIN_TOKEN>"
        )
    if not token_matches(presented, expected):
        raise Unauthorized("invalid admin token")
