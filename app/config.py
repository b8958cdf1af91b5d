"""Settings: exactly the CALLSOURCE_* variables of the public contract."""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.kit.outbound import OutboundPolicy

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./callsource.db"

# Values people paste from examples; a token like these would let anyone in.
PLACEHOLDER_TOKENS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "secret",
        "token",
        "admin",
        "password",
        "example",
        "your-token",
        "your_token",
        "your-admin-token",
        "xxx",
        "todo",
        "test",
    }
)
MIN_ADMIN_TOKEN_LENGTH = 16


class ConfigError(Exception):
    """The configuration cannot run the service; the message says what to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLSOURCE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # Empty means the embedded, in-process number pool.
    redis_url: str = ""
    admin_token: SecretStr | None = None
    public_url: str = "http://127.0.0.1:8000"
    # Encrypts stored credentials; `serve` refuses to start without one, `demo` generates one.
    secret_key: SecretStr | None = None
    # Comma-separated addresses or CIDRs whose forwarded headers are believed; empty: none.
    trusted_proxies: str = ""
    # Comma-separated hosts or CIDRs that outgoing connectors may reach although private.
    outbound_allow: str = ""
    # Bearer token for /metrics; empty: /metrics answers loopback peers only.
    metrics_token: SecretStr | None = None
    # Dashboard language when neither the user's setting nor Accept-Language decides.
    language: str = "en"
    # `smtp://user:pass@host:port` (or smtps://) and the sender; empty: no e-mail.
    smtp_url: SecretStr | None = None
    mail_from: str = ""
    # `text` or `json` (one JSON object per log line).
    log_format: str = "text"

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow(cls, value: str) -> str:
        OutboundPolicy.parse(value)  # ValueError names the entry that is neither
        return value

    @field_validator("admin_token", "secret_key", "metrics_token", "smtp_url", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def require_admin_token(self) -> str:
        """The admin token, or ConfigError when it is missing or obviously a placeholder."""
        if self.admin_token is None:
            raise ConfigError(
                "CALLSOURCE_ADMIN_TOKEN is not set: generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        token = self.admin_token.get_secret_value()
        if token.strip().lower() in PLACEHOLDER_TOKENS or len(set(token)) < 4:
            raise ConfigError("CALLSOURCE_ADMIN_TOKEN is a placeholder value: use a random token")
        if len(token) < MIN_ADMIN_TOKEN_LENGTH:
            raise ConfigError(
                "CALLSOURCE_ADMIN_TOKEN is too short: "
                f"use at least {MIN_ADMIN_TOKEN_LENGTH} characters"
            )
        return token


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
