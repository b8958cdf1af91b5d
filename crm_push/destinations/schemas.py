"""Destinations as the admin API takes and shows them; credentials go in, never out."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from app.i18n import gettext
from app.kit.schemas import InputModel, OutputModel, UtcTimestamp

DestinationKind = Literal["ga4", "yandex_metrika", "google_ads"]

# GA4's rules for event names: a letter first, then letters, digits and underscores, at most
# 40 characters, and none of the prefixes and names GA4 keeps for itself.
_GA4_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_GA4_RESERVED_PREFIXES = ("firebase_", "ga_", "google_", "gtag.")
_GA4_RESERVED = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure",
        "app_background", "app_clear_data", "app_exception", "app_remove", "app_store_refund",
        "app_store_subscription_cancel", "app_store_subscription_convert",
        "app_store_subscription_renew", "app_update", "app_upgrade", "dynamic_link_app_open",
        "dynamic_link_app_update", "dynamic_link_first_open", "error", "first_open",
        "first_visit", "in_app_purchase", "notification_dismiss", "notification_foreground",
        "notification_open", "notification_receive", "os_update", "session_start",
        "session_start_with_rollout", "user_engagement",
    }
)  # fmt: skip
_METRIKA_TARGET = re.compile(r"^[A-Za-z0-9_\-.]{1,100}$")


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(gettext("%(value)s is not an http(s) URL", value=repr(value)))
    return value.rstrip("/")


def ga4_event_name(value: str) -> str:
    if not _GA4_NAME.match(value):
        raise ValueError(
            gettext(
                "a GA4 event name starts with a letter and has only letters, digits and "
                "underscores, at most 40 characters"
            )
        )
    if value in _GA4_RESERVED or value.lower().startswith(_GA4_RESERVED_PREFIXES):
        raise ValueError(gettext("%(value)s is a name GA4 reserves for itself", value=repr(value)))
    return value


class RuleIn(InputModel):
    """Which calls qualify, and whether a won deal's revenue goes as the value."""

    min_talk_s: int | None = Field(default=None, ge=0, le=36000)
    first_time_only: bool | None = None
    answered_only: bool | None = None
    exclude_spam: bool | None = None
    send_value: bool | None = None


class _DestinationBase(RuleIn):
    name: str | None = Field(default=None, max_length=200)
    # The platform's address, for a self-hosted proxy (and the tests' stand-ins).
    api_base: str | None = Field(default=None, max_length=300)

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        return _http_url(value)


class Ga4Create(_DestinationBase):
    kind: Literal["ga4"]
    measurement_id: str = Field(pattern=r"^G-[A-Z0-9]{4,20}$", examples=["G-ABC123DEF4"])
    api_secret: SecretStr = Field(min_length=8, max_length=200)
    event_name: str = Field(default="phone_call", max_length=40)
    deal_event_name: str = Field(default="purchase", max_length=40)

    @field_validator("event_name", "deal_event_name")
    @classmethod
    def _names(cls, value: str) -> str:
        return ga4_event_name(value)


class YandexMetrikaCreate(_DestinationBase):
    kind: Literal["yandex_metrika"]
    counter_id: int = Field(ge=1, le=10**12, examples=[12345678])
    token: SecretStr = Field(min_length=10, max_length=500)
    # The goal identifiers of JavaScript-event goals created in Metrika for these conversions.
    target: str = Field(default="call", pattern=_METRIKA_TARGET.pattern)
    deal_target: str = Field(default="deal_won", pattern=_METRIKA_TARGET.pattern)
    # Calls through Metrika's calls upload (its call reports) rather than as goal conversions.
    upload_calls: bool = False


class GoogleAdsCreate(_DestinationBase):
    kind: Literal["google_ads"]
    customer_id: str = Field(examples=["123-456-7890"])
    # The conversion action's id (the ctId in its URL) or its resource name.
    conversion_action: str = Field(
        max_length=100, examples=["987654321", "customers/1234567890/conversionActions/987654321"]
    )
    login_customer_id: str | None = None
    developer_token: SecretStr = Field(min_length=10, max_length=200)
    client_id: str = Field(min_length=10, max_length=300)
    client_secret: SecretStr = Field(min_length=6, max_length=300)
    refresh_token: SecretStr = Field(min_length=10, max_length=1000)

    @field_validator("customer_id", "login_customer_id")
    @classmethod
    def _customer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = value.replace("-", "").replace(" ", "")
        if not re.fullmatch(r"\d{10}", digits):
            raise ValueError(gettext("a Google Ads customer id has 10 digits, as 123-456-7890"))
        return digits

    @field_validator("conversion_action")
    @classmethod
    def _action(cls, value: str) -> str:
        found = re.fullmatch(r"(?:customers/\d{10}/conversionActions/)?(\d{1,20})", value)
        if not found:
            raise ValueError(
                gettext(
                    "give the conversion action's id (ctId) or customers/ID/conversionActions/ID"
                )
            )
        return found.group(1)


DestinationCreate = Annotated[
    Ga4Create | YandexMetrikaCreate | GoogleAdsCreate, Field(discriminator="kind")
]


class DestinationUpdate(RuleIn):
    name: str | None = Field(default=None, max_length=200)


class RuleOut(OutputModel):
    min_talk_s: int
    first_time_only: bool
    answered_only: bool
    exclude_spam: bool
    send_value: bool


class DestinationOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    kind: str
    name: str | None
    config: dict[str, Any]
    rule: RuleOut
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None


class DestinationList(OutputModel):
    items: list[DestinationOut]
