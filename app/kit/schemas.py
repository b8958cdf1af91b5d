"""Pydantic bases shared by every API schema."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

from app.kit.clock import isoformat_z

# The contract writes timestamps as ISO-8601 UTC with a `Z`.
UtcTimestamp = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str)]


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
