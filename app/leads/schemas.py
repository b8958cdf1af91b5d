from __future__ import annotations

import uuid
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.kit.schemas import OutputModel, UtcTimestamp

MAX_FIELDS = 50


class FormRequest(BaseModel):
    """What the snippet (or a site's own code) posts for a form submitted on the site."""

    # Lenient on unknown fields, as the other tracker bodies: snippets cached on customers'
    # pages may be older or newer.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    url: str = Field(min_length=1, max_length=4096)
    form_id: str | None = Field(default=None, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict)
    # The visitor agreed to the form's data being kept (the site's consent checkbox or
    # callsource('consent', true)); required only where the site asks for it.
    consent: bool | None = None

    @field_validator("fields")
    @classmethod
    def _not_too_many(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(value) > MAX_FIELDS:
            raise ValueError(f"at most {MAX_FIELDS} fields")
        return value

    @field_validator("url")
    @classmethod
    def _page_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be the page's http(s) URL")
        return value

    @field_validator("form_id")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class FormAccepted(BaseModel):
    lead_id: uuid.UUID


class LeadAttributionOut(OutputModel):
    """As on calls. A form lead's method is `session`: it was sent from the visit itself, so
    its confidence is 1 (0 and method `none` when the visit is no longer known)."""

    method: Literal["dynamic", "source", "offline", "none", "session"]
    confidence: float
    reason: str | None
    conflict: bool
    session_id: uuid.UUID | None
    visitor_id: uuid.UUID | None
    source: str | None
    medium: str | None
    campaign: str | None
    term: str | None
    content: str | None
    landing_url: str | None
    referrer: str | None
    gclid: str | None
    yclid: str | None


class LeadOut(OutputModel):
    id: uuid.UUID
    kind: Literal["call", "form"]
    call_id: uuid.UUID | None
    phone: str | None
    email: str | None
    name: str | None
    # A form's other fields as the visitor filled them in; a call's are empty.
    fields: dict[str, str]
    # The form's page and id (empty for calls).
    url: str | None
    form_id: str | None
    created_at: UtcTimestamp
    attribution: LeadAttributionOut


class LeadList(OutputModel):
    items: list[LeadOut]
