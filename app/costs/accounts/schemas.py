"""Ad accounts as the admin API takes and shows them; tokens and secrets go in, never out."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from app.i18n import gettext
from app.kit.schemas import InputModel, OutputModel, UtcTimestamp

AdAccountKind = Literal["yandex_direct", "google_ads", "vk_ads"]
_GOOGLE_CUSTOMER = re.compile(r"^\d{3}-?\d{3}-?\d{4}$")
Secret = Annotated[SecretStr, Field(min_length=1, max_length=4000)]


def _api_base(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(gettext("%(value)s is not an http(s) URL", value=repr(value)))
    return value.rstrip("/")


class _AccountBase(InputModel):
    name: str | None = Field(default=None, max_length=200)
    # The platform's address instead of its own (a proxy, a test's stand-in).
    api_base: str | None = Field(default=None, max_length=300)
    # The account's currency when the platform's report does not say (Yandex, VK): the
    # site's currency by default.
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")

    @field_validator("api_base")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        return _api_base(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return value.upper() if value else None


class YandexDirectCreate(_AccountBase):
    kind: Literal["yandex_direct"]
    token: Secret
    # An agency's client: the advertiser's login, sent as Client-Login.
    client_login: str | None = Field(default=None, min_length=1, max_length=100)


def _customer(value: str) -> str:
    if not _GOOGLE_CUSTOMER.match(value):
        raise ValueError(gettext("must be a customer ID such as 123-456-7890"))
    return value.replace("-", "")


class GoogleAdsCreate(_AccountBase):
    kind: Literal["google_ads"]
    developer_token: Secret
    client_id: str = Field(min_length=1, max_length=300)
    client_secret: Secret
    refresh_token: Secret
    customer_id: str = Field(max_length=20)
    login_customer_id: str | None = Field(default=None, max_length=20)

    @field_validator("customer_id")
    @classmethod
    def _customer_id(cls, value: str) -> str:
        return _customer(value)

    @field_validator("login_customer_id")
    @classmethod
    def _login(cls, value: str | None) -> str | None:
        return _customer(value) if value else None


class VkAdsCreate(_AccountBase):
    kind: Literal["vk_ads"]
    # Either an access token, or the client credentials VK Ads issues tokens for.
    token: Secret | None = None
    client_id: str | None = Field(default=None, min_length=1, max_length=300)
    client_secret: Secret | None = None
    # The ad account (cabinet) ID, as VK Ads shows it, for finding it again.
    account_id: str = Field(min_length=1, max_length=100)
    # An agency's client, by the client's username in the agency cabinet.
    agency_client: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_way_in(self) -> VkAdsCreate:
        if self.token is None and (self.client_id is None or self.client_secret is None):
            raise ValueError(gettext("give token, or client_id and client_secret"))
        if self.token is not None and self.client_id is not None:
            raise ValueError(gettext("give token or client_id and client_secret, not both"))
        return self


AdAccountCreate = Annotated[
    YandexDirectCreate | GoogleAdsCreate | VkAdsCreate, Field(discriminator="kind")
]


class AdAccountUpdate(InputModel):
    """New credentials for an account (a token renewed or revoked), or a new name/currency;
    what is left out stays."""

    name: str | None = Field(default=None, max_length=200)
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    token: Secret | None = None
    developer_token: Secret | None = None
    client_id: str | None = Field(default=None, min_length=1, max_length=300)
    client_secret: Secret | None = None
    refresh_token: Secret | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return value.upper() if value else None


class AdAccountOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    kind: str
    name: str | None
    config: dict[str, Any]
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None
    next_import_at: UtcTimestamp | None
    last_import_at: UtcTimestamp | None
    last_import_status: str | None
    last_import_error: str | None
    last_import_rows: int | None


class AdAccountList(OutputModel):
    items: list[AdAccountOut]


class ImportedDay(OutputModel):
    date: dt.date
    rows: int
    cost: float


class ImportResult(OutputModel):
    account_id: uuid.UUID
    first_day: dt.date
    last_day: dt.date
    rows: int
    days: list[ImportedDay]


class MappingIn(InputModel):
    platform_campaign: str = Field(min_length=1, max_length=500)
    utm_campaign: str = Field(min_length=1, max_length=500)


class MappingOut(OutputModel):
    id: uuid.UUID
    platform_campaign: str
    utm_campaign: str


class MappingList(OutputModel):
    items: list[MappingOut]
