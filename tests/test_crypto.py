"""Credentials sealed at rest: a derived Fernet key, older keys that still open, no key no read."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from app.kit import crypto
from app.kit.crypto import CredentialsLocked, Keyring, fernet_key

KEY = "Zp4-rT9qLm2Xv7Ns1Kc8Wd3Hy6Bf0GjQe5A"
NEW_KEY = "N3w-kEy7Qp2Lm9Xv4Rt8Ws1Hy6Bf0GjZe5C"
CREDENTIALS = {"api_secret": "zadarma-secret-value", "timezone": "Europe/Moscow"}


@pytest.fixture
def no_keyring() -> Iterator[None]:
    try:
        kept: Keyring | None = crypto.current()
    except CredentialsLocked:
        kept = None
    crypto.configure(None)
    yield
    crypto.configure(kept)


def test_the_derived_key_is_a_fernet_key_and_stable() -> None:
    key = fernet_key(KEY)
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert key == fernet_key(KEY) != fernet_key(NEW_KEY)
    Fernet(key)  # accepted as a key


def test_sealed_credentials_open_and_hide_their_values() -> None:
    keyring = Keyring(KEY)
    token = keyring.seal(CREDENTIALS)
    assert "zadarma-secret-value" not in token
    assert "zadarma-secret-value" not in base64.urlsafe_b64decode(token).decode("latin-1")
    assert keyring.open(token) == CREDENTIALS
    # Same value, fresh IV each time: equal credentials do not show as equal tokens.
    assert keyring.seal(CREDENTIALS) != token


def test_another_key_does_not_open_them() -> None:
    token = Keyring(KEY).seal(CREDENTIALS)
    with pytest.raises(CredentialsLocked, match="CALLSOURCE_OLD_SECRET_KEY"):
        Keyring(NEW_KEY).open(token)


def test_a_rotating_keyring_opens_old_tokens_and_seals_under_the_new_key() -> None:
    old_token = Keyring(KEY).seal(CREDENTIALS)
    rotating = Keyring(NEW_KEY, KEY)

    assert rotating.open(old_token) == CREDENTIALS
    assert not rotating.sealed_under_primary(old_token)
    new_token = rotating.seal(CREDENTIALS)
    assert rotating.sealed_under_primary(new_token)
    assert Keyring(NEW_KEY).open(new_token) == CREDENTIALS
    with pytest.raises(CredentialsLocked):
        Keyring(KEY).open(new_token)


def test_a_tampered_token_is_refused() -> None:
    token = Keyring(KEY).seal(CREDENTIALS)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(CredentialsLocked):
        Keyring(KEY).open(tampered)


@pytest.mark.usefixtures("no_keyring")
def test_without_a_configured_key_credentials_cannot_be_read() -> None:
    with pytest.raises(CredentialsLocked, match="CALLSOURCE_SECRET_KEY"):
        crypto.current()
    crypto.configure(Keyring(KEY))
    assert crypto.current().open(crypto.current().seal(CREDENTIALS)) == CREDENTIALS
