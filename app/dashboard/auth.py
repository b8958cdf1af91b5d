"""Passwords and the dashboard's session cookie.

The cookie is signed (not encrypted) with a key derived from the admin token, so there is no
extra secret to configure and rotating the admin token signs everybody out. It carries no
secret of its own: the user id, the CSRF token of the session and a fingerprint of the
password hash and the account's session generation, so that changing a password ends the
sessions opened with the old one and signing out ends them on the server (a copy of the cookie
replayed after sign-out opens nothing).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.i18n import gettext

COOKIE_NAME = "callsource_session"
SESSION_LIFETIME = timedelta(days=14)
MIN_PASSWORD_LENGTH = 10
# Domain separation: the admin token also authenticates the API, never use it as a key directly.
_KEY_CONTEXT = b"callsource/dashboard/session-cookie/v1"

# argon2id with the library's defaults (RFC 9106 "second recommended" profile).
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that the answer takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    # Hashing takes tens of milliseconds of CPU by design: keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return gettext("use at least %(num)s characters", num=MIN_PASSWORD_LENGTH)
    if len(password) > 1024:
        return gettext("use at most %(num)s characters", num=1024)
    return None


def fingerprint(password_hash: str, generation: int, key: bytes) -> str:
    """A short keyed digest of the password hash and the session generation: changes when the
    password does and when the account signs out."""
    message = f"{generation}:{password_hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class SessionData:
    """What the cookie says: every visitor has a CSRF token; a signed-in one has a user too."""

    csrf: str
    user_id: uuid.UUID | None = None
    auth: str | None = None  # fingerprint() of the user's password hash at sign-in

    @classmethod
    def anonymous(cls) -> SessionData:
        return cls(csrf=new_csrf_token())

    def signed_in(self, user_id: uuid.UUID, auth: str) -> SessionData:
        # A fresh CSRF token at sign-in: a token planted before it is worth nothing after.
        return replace(self, csrf=new_csrf_token(), user_id=user_id, auth=auth)


class SessionCodec:
    def __init__(self, admin_token: str) -> None:
        self.key = hmac.new(admin_token.encode(), _KEY_CONTEXT, hashlib.sha256).digest()
        self._serializer = URLSafeTimedSerializer(self.key, salt="dashboard-session")

    def dumps(self, data: SessionData) -> str:
        payload: dict[str, Any] = {"c": data.csrf}
        if data.user_id is not None:
            payload |= {"u": str(data.user_id), "a": data.auth}
        return self._serializer.dumps(payload)

    def loads(self, raw: str | None) -> SessionData | None:
        if not raw:
            return None
        try:
            payload = self._serializer.loads(raw, max_age=int(SESSION_LIFETIME.total_seconds()))
            csrf = payload["c"]
            user_id = uuid.UUID(payload["u"]) if "u" in payload else None
            auth = payload.get("a")
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if not isinstance(csrf, str) or not (auth is None or isinstance(auth, str)):
            return None
        return SessionData(csrf=csrf, user_id=user_id, auth=auth)
