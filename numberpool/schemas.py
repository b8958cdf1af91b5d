"""Response bodies of the pool endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PoolHealthOut(BaseModel):
    size: int = Field(description="active numbers in the pool")
    in_use: int = Field(description="numbers leased or resting now")
    peak_in_use: int = Field(description="most numbers in use at once within the window")
    sessions: int = Field(description="sessions that asked the pool for a number in the window")
    fallback_sessions: int = Field(description="of those, sessions shown a fallback number")
    fallback_share: float = Field(description="fallback_sessions / sessions")
    recommended_size: int = Field(
        description="numbers that give 99 % of the busiest hour's sessions a dynamic number"
    )
