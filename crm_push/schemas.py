"""CRM connectors as the admin API takes and shows them; tokens and secrets go in, never out."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from app.kit.schemas import InputModel, OutputModel, UtcTimestamp

_BITRIX_PATH = re.compile(r"^/rest/\d+/[A-Za-z0-9_]+/?$")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class _ConnectorBase(InputModel):
    name: str | None = Field(default=None, max_length=200)


class AmoCrmCreate(_ConnectorBase):
    kind: Literal["amocrm"]
    base_url: str = Field(max_length=300, examples=["https://example.amocrm.ru"])
    token: SecretStr = Field(min_length=1, max_length=4000)
    pipeline_id: int | None = Field(default=None, ge=1)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")


class Bitrix24Create(_ConnectorBase):
    kind: Literal["bitrix24"]
    # The incoming-webhook URL embeds its secret, so the whole URL is a credential.
    webhook_url: SecretStr = Field(max_length=500)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr) -> SecretStr:
        url = _http_url(value.get_secret_value())
        if not _BITRIX_PATH.match(urlsplit(url).path):
            raise ValueError("must look like https://PORTAL/rest/USER_ID/SECRET/")
        return SecretStr(url if url.endswith("/") else url + "/")


class WebhookCreate(_ConnectorBase):
    kind: Literal["webhook"]
    url: str = Field(max_length=1000)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


CrmConnectorCreate = Annotated[
    AmoCrmCreate | Bitrix24Create | WebhookCreate, Field(discriminator="kind")
]


class CrmConnectorUpdate(InputModel):
    name: str | None = Field(default=None, max_length=200)


class CrmConnectorOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    kind: str
    name: str | None
    config: dict[str, Any]
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None


class CrmConnectorCreated(CrmConnectorOut):
    # Shown once, in the answer to the creation (webhook connectors only).
    secret: str | None = None


class CrmConnectorList(OutputModel):
    items: list[CrmConnectorOut]
