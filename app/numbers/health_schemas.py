"""Response body of the pool health endpoint."""

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
        description=(
            "numbers that give 99 % of the sessions a dynamic number at the busiest quarter "
            "hour's rate"
        )
    )
    # Sizing by peaks: what recommended_size rests on, and what the hourly mean would say.
    peak_15min_sessions: int = Field(
        description="most sessions that asked the pool within any 15 minutes of the window"
    )
    busiest_hour_sessions: int = Field(
        description="most sessions that asked the pool within any 60 minutes of the window"
    )
    recommended_size_hourly_mean: int = Field(
        description=(
            "numbers for 99 % at the busiest hour's mean rate: too few when traffic comes in "
            "bursts shorter than an hour"
        )
    )
    refused_sessions: dict[str, int] = Field(
        description=(
            "sessions refused a dynamic number by the anti-draining rules in the window, by "
            "reason: not_on_site (no Origin or Referer of the site's domains), not_a_browser, "
            "address_cap and network_cap (live leases per address and per /24 or /64), "
            "rate_cap (new leases per minute); not counted in sessions or fallback_sessions"
        )
    )
