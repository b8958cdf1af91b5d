from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import Field, model_validator

from app.i18n import gettext
from app.kit.schemas import InputModel, OutputModel, UtcTimestamp
from app.models.pool import (
    DEFAULT_COOLDOWN_S,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_LATE_CALL_WINDOW_S,
    DEFAULT_MAX_LEASE_S,
)

# A week: after that a call is not pinned on a visit however quiet the number was.
MAX_LATE_CALL_WINDOW_S = 604_800


class PoolCreate(InputModel):
    target_number: str = Field(min_length=3, max_length=40)
    numbers: list[str] = Field(min_length=1, max_length=1000)
    idle_timeout_s: int = Field(
        default=DEFAULT_IDLE_TIMEOUT_S, ge=30, le=86_400, description="lease life after a ping"
    )
    cooldown_s: int = Field(
        default=DEFAULT_COOLDOWN_S, ge=0, le=604_800, description="rest before reuse"
    )
    max_lease_s: int = Field(
        default=DEFAULT_MAX_LEASE_S, ge=60, le=604_800, description="cap from lease start"
    )
    late_call_window_s: int = Field(
        default=DEFAULT_LATE_CALL_WINDOW_S,
        ge=0,
        le=MAX_LATE_CALL_WINDOW_S,
        description="a call this long after the lease and cooldown still goes to the last holder",
    )

    @model_validator(mode="after")
    def _lease_cap_covers_idle(self) -> Self:
        if self.max_lease_s < self.idle_timeout_s:
            raise ValueError(gettext("max_lease_s must be at least idle_timeout_s"))
        return self


class PoolUpdate(InputModel):
    numbers: list[str] | None = Field(default=None, min_length=1, max_length=1000)
    idle_timeout_s: int | None = Field(default=None, ge=30, le=86_400)
    cooldown_s: int | None = Field(default=None, ge=0, le=604_800)
    max_lease_s: int | None = Field(default=None, ge=60, le=604_800)
    late_call_window_s: int | None = Field(default=None, ge=0, le=MAX_LATE_CALL_WINDOW_S)


class PoolOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    target_number: str
    numbers: list[str]
    idle_timeout_s: int
    cooldown_s: int
    max_lease_s: int
    late_call_window_s: int
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None


class PoolList(OutputModel):
    items: list[PoolOut]


class StaticNumberCreate(InputModel):
    number: str = Field(min_length=3, max_length=40)
    kind: Literal["source", "offline"]
    target_number: str | None = Field(default=None, min_length=3, max_length=40)
    source: str | None = Field(default=None, min_length=1, max_length=200)
    medium: str | None = Field(default=None, min_length=1, max_length=200)
    campaign: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _source_numbers_need_their_rule(self) -> Self:
        if self.kind == "source":
            if self.target_number is None:
                raise ValueError(
                    gettext(
                        "target_number is required for kind=source: say which number it replaces"
                    )
                )
            if self.source is None:
                raise ValueError(
                    gettext("source is required for kind=source: say which visitors see it")
                )
        elif self.source is None and self.campaign is None:
            raise ValueError(
                gettext("an offline number needs a campaign or a source to attribute its calls to")
            )
        return self


class StaticNumberUpdate(InputModel):
    source: str | None = Field(default=None, min_length=1, max_length=200)
    medium: str | None = Field(default=None, min_length=1, max_length=200)
    campaign: str | None = Field(default=None, min_length=1, max_length=500)


class StaticNumberOut(OutputModel):
    id: uuid.UUID
    site_id: uuid.UUID
    number: str
    kind: str
    target_number: str | None
    source: str | None
    medium: str | None
    campaign: str | None
    created_at: UtcTimestamp
    retired_at: UtcTimestamp | None


class StaticNumberList(OutputModel):
    items: list[StaticNumberOut]
