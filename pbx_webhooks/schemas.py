"""PBX integrations as the admin API takes and shows them; credentials go in, never out."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator

from app.kit.schemas import InputModel, OutputModel, UtcTimestamp

Secret = Annotated[SecretStr, Field(min_length=1, max_length=500)]


class _IntegrationBase(InputModel):
    name: str | None = Field(default=None, max_length=200)


class GenericCreate(_IntegrationBase):
    provider: Literal["generic"]


class TwilioCreate(_IntegrationBase):
    provider: Literal["twilio"]
    auth_token: Secret


class ZadarmaCreate(_IntegrationBase):
    provider: Literal["zadarma"]
    api_secret: Secret
    # Zadarma writes call_start in the account's local time.
    timezone: str = "Europe/Moscow"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        return value


class MangoCreate(_IntegrationBase):
    provider: Literal["mango"]
    api_key: Secret
    api_salt: Secret


class TelnyxCreate(_IntegrationBase):
    provider: Literal["telnyx"]
    public_key: Secret

    @field_validator("public_key")
    @classmethod
    def _ed25519_key(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(
                "must be the base64 Ed25519 public key from the Telnyx portal"
            ) from exc
        if len(raw) != 32:
            raise ValueError("must decode to the 32 bytes of an Ed25519 public key")
        return value


PbxIntegrationCreate = Annotated[
    GenericCreate | TwilioCreate | ZadarmaCreate | MangoCreate | TelnyxCreate,
    Field(discriminator="provider"),
]


class PbxIntegrationUpdate(InputModel):
    name: str | None = Field(default=None, max_length=200)


class PbxIntegrationOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    provider: str
    name: str | None
    webhook_url: str
    settings: dict[str, Any]
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None


class PbxIntegrationCreated(PbxIntegrationOut):
    # Shown once, in the answer to the creation (generic integrations only).
    secret: str | None = None


class PbxIntegrationList(OutputModel):
    items: list[PbxIntegrationOut]


class SecretRotated(OutputModel):
    id: uuid.UUID
    secret: str
