"""Credentials at rest: sealed with Fernet under a key derived from CALLSOURCE_SECRET_KEY.

The configured secret is any long random string, not necessarily Fernet's 32 url-safe base64
bytes, so the Fernet key is derived from its text with HKDF-SHA256 (a fixed salt and label: the
same secret must give the same key in every process and after every restart).

One Keyring per process, configured once at start (`configure`) by create_app and by the
commands that touch credentials; reading credentials without one is an error that says so,
never a silent plaintext fallback. A keyring may also hold older keys: tokens sealed under any
of them open, new tokens are always sealed under the first (MultiFernet), which is what
`callsource secrets rotate` needs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"callsource secret key"
_INFO = b"callsource credentials v1"


class CredentialsLocked(RuntimeError):
    """Credentials cannot be read or written: no key, or not the key that sealed them."""


def fernet_key(secret: str) -> bytes:
    """The Fernet key (url-safe base64 of 32 bytes) derived from the configured secret."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(derived)


class Keyring:
    def __init__(self, secret: str, *older: str) -> None:
        self._primary = Fernet(fernet_key(secret))
        self._all = MultiFernet([self._primary, *(Fernet(fernet_key(o)) for o in older)])

    def seal(self, value: dict[str, Any]) -> str:
        return self._primary.encrypt(json.dumps(value, sort_keys=True).encode()).decode("ascii")

    def open(self, token: str) -> dict[str, Any]:
        try:
            plain = self._all.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise CredentialsLocked(
                "stored credentials do not open with CALLSOURCE_SECRET_KEY: they were sealed "
                "under another key (give it as CALLSOURCE_OLD_SECRET_KEY to "
                "`callsource secrets rotate`)"
            ) from None
        value: dict[str, Any] = json.loads(plain)
        return value

    def sealed_under_primary(self, token: str) -> bool:
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True


_current: Keyring | None = None


def configure(keyring: Keyring | None) -> None:
    """Set (or, with None, clear) this process's keyring."""
    global _current
    _current = keyring


def current() -> Keyring:
    if _current is None:
        raise CredentialsLocked(
            "stored credentials need CALLSOURCE_SECRET_KEY, and this process was started without it"
        )
    return _current
