"""Pydantic bases shared by every API schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, SecretStr, field_validator

from app.kit.clock import isoformat_z
from app.kit.text import unstorable

# The contract writes timestamps as ISO-8601 UTC with a `Z`.
UtcTimestamp = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]


def text_problem(value: object) -> str | None:
    """Why some text in a value cannot be stored (a NUL byte, a lone surrogate): in a string,
    a secret, or a list's or a mapping's (keys included) at any depth. Nested models check
    their own fields."""
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, SecretStr):
        return unstorable(value.get_secret_value())
    items: list[object] = []
    if isinstance(value, dict):
        items = [part for pair in value.items() for part in pair]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    return next((p for p in map(text_problem, items) if p is not None), None)


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        # PostgreSQL refuses a NUL byte in text and JSONB, no database takes a lone surrogate
        # (a 500 at the INSERT, after the request did its work): refused here, with the
        # field's name, for every body at once.
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
