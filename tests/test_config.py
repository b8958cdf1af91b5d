"""Settings: the contract's variables, and a refusal to run on a missing or placeholder token."""

from __future__ import annotations

import pytest

from app.config import DEFAULT_DATABASE_URL, ConfigError, Settings
from app.main import create_app


def test_defaults_are_the_embedded_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "ADMIN_TOKEN", "PUBLIC_URL"):
        monkeypatch.delenv(f"CALLSOURCE_{name}", raising=False)

    settings = Settings()

    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///./callsource.db"
    assert settings.redis_url == ""
    assert settings.admin_token is None
    assert settings.public_url == "http://127.0.0.1:8000"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLSOURCE_DATABASE_URL", "postgresql+asyncpg://db/callsource")
    monkeypatch.setenv("CALLSOURCE_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("CALLSOURCE_ADMIN_TOKEN", "q8Vf3kLz0PwX7mNs2RtY")
    monkeypatch.setenv("CALLSOURCE_PUBLIC_URL", "https://calls.example.com/")

    settings = Settings()

    assert settings.database_url == "postgresql+asyncpg://db/callsource"
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.require_admin_token() == "q8Vf3kLz0PwX7mNs2RtY"
    assert settings.public_url == "https://calls.example.com"
    assert "q8Vf3kLz0PwX7mNs2RtY" not in repr(settings)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "not set"),
        ("", "not set"),
        ("changeme", "placeholder"),
        ("CHANGEME", "placeholder"),
        ("your-admin-token", "placeholder"),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", "placeholder"),
        ("Sh0rt-tok", "too short"),
    ],
)
def test_missing_or_placeholder_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, token: str | None, reason: str
) -> None:
    monkeypatch.delenv("CALLSOURCE_ADMIN_TOKEN", raising=False)
    if token is not None:
        monkeypatch.setenv("CALLSOURCE_ADMIN_TOKEN", token)

    settings = Settings()

    with pytest.raises(ConfigError, match=reason):
        settings.require_admin_token()
    with pytest.raises(ConfigError):
        create_app(settings)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, "not set"),
        ("", "not set"),
        ("changeme", "a placeholder"),
        ("ababababababababababababababababab", "a placeholder"),
        ("q8Vf3kLz0PwX7mNs2RtY", "too short"),
    ],
)
def test_missing_placeholder_or_short_secret_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, key: str | None, reason: str
) -> None:
    monkeypatch.delenv("CALLSOURCE_SECRET_KEY", raising=False)
    if key is not None:
        monkeypatch.setenv("CALLSOURCE_SECRET_KEY", key)

    with pytest.raises(ConfigError, match=f"CALLSOURCE_SECRET_KEY is {reason}"):
        Settings().require_secret_key()


def test_secret_key_is_read_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    key = "Zp4-rT9qLm2Xv7Ns1Kc8Wd3Hy6Bf0GjQe5A"
    monkeypatch.setenv("CALLSOURCE_SECRET_KEY", key)

    settings = Settings()

    assert settings.require_secret_key() == key
    assert key not in repr(settings)
