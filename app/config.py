"""Settings: exactly the CALLSOURCE_* variables of the public contract."""

from __future__ import annotations

import ipaddress
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
# The key's whole strength is its text (HKDF adds none): 32 characters of token_urlsafe is 190 bits.
MIN_SECRET_KEY_LENGTH = 32


class ConfigError(Exception):
    """The configuration cannot run the service; the message says what to fix."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str, *, variable: str) -> tuple[Network, ...]:
    """Comma-separated addresses or CIDRs; ConfigError naming the first bad entry."""
    networks: list[Network] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=True))
        except ValueError as exc:
            hint = ""
            if "host bits set" in str(exc):
                hint = f": did you mean {ipaddress.ip_network(entry, strict=False)}?"
            raise ConfigError(
                f"{variable}: {entry!r} is not an IP address or CIDR ({exc}){hint}"
            ) from exc
    return tuple(networks)


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

    @field_validator("log_format")
    @classmethod
    def _known_log_format(cls, value: str) -> str:
        if value.strip().lower() not in ("text", "json"):
            raise ValueError(f"must be text or json, not {value!r}")
        return value.strip().lower()

    @field_validator("outbound_allow")
    @classmethod
    def _outbound_allow(cls, value: str) -> str:
        OutboundPolicy.parse(value)  # ValueError names the entry that is neither
        return value

    @field_validator("admin_token", "secret_key", "metrics_token", "smtp_url", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        """CALLSOURCE_TRUSTED_PROXIES parsed; empty: the peer address is the client."""
        return parse_networks(self.trusted_proxies, variable="CALLSOURCE_TRUSTED_PROXIES")

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

    def require_secret_key(self) -> str:
        """The key that seals stored credentials, or ConfigError when missing or too weak."""
        return _require_secret("CALLSOURCE_SECRET_KEY", self.secret_key)


def require_old_secret_key(value: str | None) -> str:
    """CALLSOURCE_OLD_SECRET_KEY, read by `secrets rotate` alone (so not a Settings field)."""
    return _require_secret("CALLSOURCE_OLD_SECRET_KEY", SecretStr(value) if value else None)


def _require_secret(name: str, value: SecretStr | None) -> str:
    if value is None:
        raise ConfigError(
            f"{name} is not set: generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        )
    secret = value.get_secret_value()
    if secret.strip().lower() in PLACEHOLDER_TOKENS or len(set(secret)) < 8:
        raise ConfigError(f"{name} is a placeholder value: use a random key")
    if len(secret) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"{name} is too short: use at least {MIN_SECRET_KEY_LENGTH} characters")
    return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
