"""CRM connectors as the admin API takes and shows them; tokens and secrets go in, never out."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PlainSerializer, SecretStr, field_validator

from app.i18n import gettext
from app.kit.schemas import InputModel, OutputModel, UtcTimestamp

CallEvent = Literal["call.started", "call.attributed"]
# What a webhook connector may ask for: the call events, "form" for form leads and
# "call.updated" for tag and status changes made on a call's page.
WebhookEvent = Literal["call.started", "call.attributed", "form", "call.updated"]

_BITRIX_PATH = re.compile(r"^/rest/\d+/[A-Za-z0-9_]+/?$")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(gettext("%(value)s is not an http(s) URL", value=repr(value)))
    return value


class _ConnectorBase(InputModel):
    name: str | None = Field(default=None, max_length=200)


class AmoCrmCreate(_ConnectorBase):
    kind: Literal["amocrm"]
    base_url: str = Field(max_length=300, examples=["https://example.amocrm.ru"])
    token: SecretStr = Field(min_length=1, max_length=4000)
    pipeline_id: int | None = Field(default=None, ge=1)
    # amoCRM keeps one currency per account; deals coming back are recorded in it.
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    # Tag and status changes made on a call's page update the call's lead (call.updated).
    send_updates: bool = True

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return value.upper() if value else None

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/")


class Bitrix24Create(_ConnectorBase):
    kind: Literal["bitrix24"]
    # The incoming-webhook URL embeds its secret, so the whole URL is a credential.
    webhook_url: SecretStr = Field(max_length=500)
    # The outgoing webhook's token (ONCRMDEALUPDATE): deal webhooks are refused without it.
    application_token: SecretStr | None = Field(default=None, min_length=1, max_length=200)
    # Tag and status changes made on a call's page update the call's lead (call.updated).
    send_updates: bool = True

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr) -> SecretStr:
        return _bitrix_url(value)


def _bitrix_url(value: SecretStr) -> SecretStr:
    url = _http_url(value.get_secret_value())
    if not _BITRIX_PATH.match(urlsplit(url).path):
        raise ValueError(gettext("must look like https://PORTAL/rest/USER_ID/SECRET/"))
    return SecretStr(url if url.endswith("/") else url + "/")


class WebhookCreate(_ConnectorBase):
    kind: Literal["webhook"]
    url: str = Field(max_length=1000)
    # A delivery when the call ends (`call.attributed`), and also when it starts if asked;
    # `form`: each form lead too (docs/crm-webhook.md, "Form leads").
    # `call.updated`: tag and status changes (docs/crm-webhook.md, "Tag and status changes"),
    # sent for calls the receiver has had a call message of, so it needs a call event too.
    events: list[WebhookEvent] = Field(default=["call.attributed"], min_length=1)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[WebhookEvent]) -> list[WebhookEvent]:
        if "call.updated" in value and not {"call.started", "call.attributed"} & set(value):
            raise ValueError(
                gettext("call.updated needs call.started or call.attributed among the events")
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)


CrmConnectorCreate = Annotated[
    AmoCrmCreate | Bitrix24Create | WebhookCreate, Field(discriminator="kind")
]


class CrmConnectorUpdate(InputModel):
    """Rename, or rotate a credential (a renewed amoCRM token, a new Bitrix24 webhook)."""

    name: str | None = Field(default=None, max_length=200)
    token: SecretStr | None = Field(default=None, min_length=1, max_length=4000)
    webhook_url: SecretStr | None = Field(default=None, max_length=500)
    application_token: SecretStr | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _bitrix_url(value) if value is not None else None


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


# --- deliveries ----------------------------------------------------------------------------

DeliveryStatus = Literal["pending", "sent", "dead"]


class DeliveryAttemptOut(OutputModel):
    attempted_at: UtcTimestamp
    status_code: int | None
    outcome: str
    response_excerpt: str | None
    duration_ms: int


class DeliveryOut(OutputModel):
    id: uuid.UUID
    connector_id: uuid.UUID
    call_id: uuid.UUID | None
    # Set instead of `call_id` for a form lead's delivery (event `form`).
    lead_id: uuid.UUID | None = None
    event: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: UtcTimestamp | None
    last_error: str | None
    external_id: str | None
    created_at: UtcTimestamp
    updated_at: UtcTimestamp
    sent_at: UtcTimestamp | None


class DeliveryDetail(DeliveryOut):
    log: list[DeliveryAttemptOut]


class DeliveryList(OutputModel):
    items: list[DeliveryOut]


# --- deals ---------------------------------------------------------------------------------

DealStatusName = Literal["open", "won", "lost"]
# Money as a JSON number, as the reports show it.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float)]


class DealIn(InputModel):
    call_id: uuid.UUID | None = None
    caller: str | None = Field(default=None, max_length=64)
    external_id: str = Field(min_length=1, max_length=100)
    status: DealStatusName
    revenue: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class DealOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    call_id: uuid.UUID | None
    connector_id: uuid.UUID | None
    external_id: str
    status: str
    revenue: Money
    currency: str
    created_at: UtcTimestamp
    updated_at: UtcTimestamp
    closed_at: UtcTimestamp | None
    # The call's source, so a deal can be read against ad spend without another request.
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None


class DealList(OutputModel):
    items: list[DealOut]


class HookAnswer(OutputModel):
    received: int
    stored: int
