from __future__ import annotations

import uuid
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SessionRequest(BaseModel):
    # Lenient on unknown fields: snippets cached on customers' pages may be older or newer.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    visitor_id: uuid.UUID | None = None
    url: str = Field(min_length=1, max_length=4096)
    referrer: str | None = Field(default=None, max_length=4096)
    consent: bool = True
    # Cut to their columns' size when stored rather than refused: an odd analytics id must
    # not cost the visit its numbers.
    ga_client_id: str | None = None
    ym_client_id: str | None = None

    @field_validator("url")
    @classmethod
    def _page_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be the page's http(s) URL")
        return value

    @field_validator("referrer", "ga_client_id", "ym_client_id")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class PingRequest(BaseModel):
    """A ping carries the page's state; only a consent given since the last call matters."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    visitor_id: uuid.UUID | None = None
    consent: bool | None = None
    # Cut to their columns' size when stored rather than refused: an odd analytics id must
    # not cost the visit its numbers.
    ga_client_id: str | None = None
    ym_client_id: str | None = None


class ShownNumber(BaseModel):
    target: str
    number: str
    kind: Literal["dynamic", "source", "target"]


class SessionAnswer(BaseModel):
    # Empty for visitors we do not track (bots): the snippet then shows the targets and stops.
    session_id: uuid.UUID | None
    visitor_id: uuid.UUID | None
    numbers: list[ShownNumber]
    ping_s: int
    # True when the user agent reads as a crawler or a headless browser: the answer carries the
    # targets themselves, no session, and the snippet stops (it says so on its tag: data-bot).
    bot: bool = False
    # Only for sites that take form leads (left out of the answer otherwise): the address the
    # snippet imports its forms part from (CALLSOURCE_PUBLIC_URL/t/forms.js), with
    # `?consent=required` when the site keeps only forms the visitor consented to.
    forms: str | None = None
