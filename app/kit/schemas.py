"""Pydantic bases shared by every API schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, SecretStr, field_validator

from app.kit.clock import isoformat_z
from app.kit.text import NUL

# The contract writes timestamps as ISO-8601 UTC with a `Z`.
UtcTimestamp = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]


def has_nul(value: object) -> bool:
    """Whether a NUL byte hides anywhere in a value: a string, or a list's or a mapping's
    (keys included) at any depth. Nested models check their own fields."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, SecretStr):
        return NUL in value.get_secret_value()
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_nul(item) for item in value)
    return False


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_bytes(cls, value: Any) -> Any:
        # PostgreSQL refuses a NUL byte in text and JSONB (a 500 at the INSERT, after the
        # request did its work): refused here, with the field's name, for every body at once.
        if has_nul(value):
            raise ValueError("must not contain NUL bytes")
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
