"""Notification rules as the admin API takes and shows them; the bot token goes in, never out."""

from __future__ import annotations

import re
import uuid
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from app.kit.schemas import InputModel, OutputModel, UtcTimestamp

AlertEvent = Literal["missed_call", "call", "form_lead", "daily_digest"]
Channel = Literal["email", "telegram"]

_ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\".]+$")
# A numeric chat id (negative for groups and channels) or a public channel's @username.
_CHAT_ID = re.compile(r"^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
# "123456789:AA...": the bot's id, a colon, the secret.
_BOT_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$")
MAX_RECIPIENTS = 20


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


class NotificationCreate(InputModel):
    channel: Channel
    name: str | None = Field(default=None, max_length=200)
    # E-mail: one address, several separated by commas, or a list.
    to: list[str] | str | None = Field(default=None, examples=[["sales@example.com"]])
    chat_id: str | int | None = Field(default=None, examples=["-1001234567890"])
    bot_token: SecretStr | None = Field(default=None, max_length=200)
    events: list[AlertEvent] = Field(min_length=1, examples=[["missed_call", "daily_digest"]])
    # The Bot API's address (a self-hosted Bot API server, tests); https://api.telegram.org.
    api_base: str | None = Field(default=None, max_length=500)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str] | str | None) -> list[str] | None:
        if value is None:
            return None
        items = value.split(",") if isinstance(value, str) else value
        addresses = [a.strip() for a in items if a.strip()]
        if not addresses:
            return None
        if len(addresses) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} addresses")
        for address in addresses:
            if len(address) > 320 or not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return list(dict.fromkeys(addresses))

    @field_validator("chat_id")
    @classmethod
    def _chat_id(cls, value: str | int | None) -> str | None:
        if value is None or value == "":
            return None
        text = str(value).strip()
        if not _CHAT_ID.match(text):
            raise ValueError("must be a numeric chat id (-100… for groups) or a @channel name")
        return text

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _BOT_TOKEN.match(value.get_secret_value()):
            raise ValueError("must look like 123456789:AAH… (the token @BotFather gave)")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        return _http_url(value) if value else None

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[AlertEvent]) -> list[AlertEvent]:
        return sorted(set(value), key=value.index)


class NotificationOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    channel: Channel
    name: str | None
    events: list[str]
    to: list[str] | None = None
    chat_id: str | None = None
    api_base: str | None = None
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None
    # The channel's health: the last failure and how many deliveries gave up.
    last_error: str | None = None
    last_error_at: UtcTimestamp | None = None
    dead: int = 0
    pending: int = 0


class NotificationList(OutputModel):
    items: list[NotificationOut]


class TestResult(OutputModel):
    ok: bool
    detail: str
