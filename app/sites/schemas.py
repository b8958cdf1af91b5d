from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from app.i18n import gettext
from app.kit.currencies import check_currency
from app.kit.domains import normalise_domain
from app.kit.phones import is_known_country
from app.kit.schemas import InputModel, OutputModel, UtcTimestamp

# Ten years: a longer setting is a typo, not a policy.
MAX_RETENTION_MONTHS = 120


def _check_country(value: str) -> str:
    country = value.upper()
    if not is_known_country(country):
        raise ValueError(
            gettext(
                "%(value)s is not an ISO 3166 country code known for phone numbers",
                value=repr(value),
            )
        )
    return country


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            gettext("%(value)s is not an IANA time zone such as Europe/Moscow", value=repr(value))
        ) from exc
    return value


def _check_domains(values: list[str]) -> list[str]:
    normalised: list[str] = []
    for raw in values:
        domain = normalise_domain(raw)
        if domain not in normalised:
            normalised.append(domain)
    return normalised


class SiteCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    domains: list[str] = Field(min_length=1, max_length=50)
    country: str = Field(min_length=2, max_length=2)
    timezone: str = Field(default="UTC", max_length=64)
    # None: the country's own currency.
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    # The snippet captures form submissions as leads; only consented ones if asked.
    forms_enabled: bool = False
    forms_consent_required: bool = False
    # Months of visits, calls and form leads kept; 0: for ever.
    retention_months: int = Field(default=0, ge=0, le=MAX_RETENTION_MONTHS)

    _country = field_validator("country")(_check_country)
    _timezone = field_validator("timezone")(_check_timezone)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)

    _domains = field_validator("domains")(_check_domains)


class SiteUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    domains: list[str] | None = Field(default=None, min_length=1, max_length=50)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    timezone: str | None = Field(default=None, max_length=64)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    forms_enabled: bool | None = None
    forms_consent_required: bool | None = None
    retention_months: int | None = Field(default=None, ge=0, le=MAX_RETENTION_MONTHS)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return None if value is None else check_currency(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else _check_country(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_domains(value)


class SiteOut(OutputModel):
    id: uuid.UUID
    public_key: str
    name: str
    domains: list[str]
    country: str
    timezone: str
    currency: str
    forms_enabled: bool
    forms_consent_required: bool
    retention_months: int
    snippet: str
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None


class SiteList(OutputModel):
    items: list[SiteOut]
