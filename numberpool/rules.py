"""The pool's rules as pure functions: settings, time in milliseconds, what a logged lease means.

Both stores keep time as integer milliseconds since the Unix epoch: exact, cheap to compare, and
what Redis sorted-set scores hold without rounding.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

# Idle numbers are ordered by (released at, assignments); a sorted-set score packs both as
# released_ms * GENERATION_SLOTS + min(generation, GENERATION_SLOTS - 1). Milliseconds up to the
# year 2248 times 1024 stay below 2**53, so the score is an exact integer in a double.
GENERATION_SLOTS = 1024


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (floor), for an aware datetime."""
    return (moment - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """How long a number stays with a visitor; the pool row's columns, in seconds."""

    idle_timeout_s: float = 300
    cooldown_s: float = 900
    max_lease_s: float = 14400

    def __post_init__(self) -> None:
        if self.idle_timeout_s <= 0 or self.cooldown_s < 0 or self.max_lease_s <= 0:
            raise ValueError("idle_timeout_s and max_lease_s must be positive, cooldown_s >= 0")

    @property
    def idle_ms(self) -> int:
        return round(self.idle_timeout_s * 1000)

    @property
    def cooldown_ms(self) -> int:
        return round(self.cooldown_s * 1000)

    @property
    def max_ms(self) -> int:
        return round(self.max_lease_s * 1000)


def lease_expiry_ms(*, started_ms: int, now_ms: int, settings: PoolSettings) -> int:
    """Keep-alive: `now + idle`, but never past `started + max_lease`."""
    return min(now_ms + settings.idle_ms, started_ms + settings.max_ms)


def is_capped(*, started_ms: int, ended_ms: int, settings: PoolSettings) -> bool:
    """Whether a lease ended because it hit max_lease; such a number is not given back sticky."""
    return ended_ms >= started_ms + settings.max_ms


def idle_order(ended_ms: int, generation: int) -> tuple[int, int]:
    """Sort key of an idle number: least recently released first, then fewest assignments."""
    return ended_ms, min(generation, GENERATION_SLOTS - 1)


NumberState = Literal["free", "leased", "cooling"]


@dataclass(frozen=True, slots=True)
class LoggedLease:
    """The latest row of the assignment log for one number, as read back for a rebuild."""

    generation: int
    session_id: str
    visitor_id: str | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class NumberRecord:
    """What a store must know about one number to serve the pool again after losing it.

    `until` is the lease's expiry for a leased number and the release time otherwise (None for
    a number never released).
    """

    number: str
    generation: int
    state: NumberState
    session_id: str | None = None
    visitor_id: str | None = None
    started_at: datetime | None = None
    until: datetime | None = None
    capped: bool = False


def restore_record(
    number: str, latest: LoggedLease | None, *, settings: PoolSettings, now: datetime
) -> NumberRecord:
    """The store's view of `number` rebuilt from its latest log row.

    An open row may have been kept alive by pings the log never saw, so it is restored as a
    lease with a full idle timeout from now (capped by max_lease): the rebuild errs towards
    keeping a number with its holder, never towards handing it to someone else early.
    """
    if latest is None:
        return NumberRecord(number=number, generation=0, state="free")
    now_ms = to_ms(now)
    started_ms = to_ms(latest.started_at)
    if latest.ended_at is None:
        expires_ms = lease_expiry_ms(started_ms=started_ms, now_ms=now_ms, settings=settings)
        if expires_ms > now_ms:
            return NumberRecord(
                number=number,
                generation=latest.generation,
                state="leased",
                session_id=latest.session_id,
                visitor_id=latest.visitor_id,
                started_at=latest.started_at,
                until=from_ms(expires_ms),
            )
        ended_ms = expires_ms
    else:
        ended_ms = to_ms(latest.ended_at)
    state: NumberState = "cooling" if ended_ms + settings.cooldown_ms > now_ms else "free"
    return NumberRecord(
        number=number,
        generation=latest.generation,
        state=state,
        session_id=latest.session_id if state == "cooling" else None,
        visitor_id=latest.visitor_id if state == "cooling" else None,
        started_at=latest.started_at if state == "cooling" else None,
        until=from_ms(ended_ms),
        capped=is_capped(started_ms=started_ms, ended_ms=ended_ms, settings=settings),
    )


def fresh_records(numbers: list[str]) -> list[NumberRecord]:
    """A pool that has never leased anything (the simulator's and the benchmarks' start)."""
    return [NumberRecord(number=number, generation=0, state="free") for number in numbers]


def restore_order(records: Sequence[NumberRecord]) -> list[NumberRecord]:
    """Records in the order a store loads them: by lease start, so a visitor or session that
    appears twice points at its latest number."""
    return sorted(records, key=lambda r: (to_ms(r.started_at) if r.started_at else -1, r.number))


# --- anti-draining limits ------------------------------------------------------------------

# Why a session the tracker will not give a dynamic number to was refused before the pool was
# asked: no Origin or Referer of the site's domains, or not a browser's user agent.
VisitRefusal = Literal["not_on_site", "not_a_browser"]
FallbackReason = Literal[
    "exhausted",
    "store_unavailable",
    "not_on_site",
    "not_a_browser",
    "address_cap",
    "network_cap",
    "rate_cap",
]
# Sessions refused a dynamic number so that nobody can drain the pool (the anti-draining
# rules), as against the pool being too small or down: counted apart in pool health.
REFUSAL_REASONS: tuple[FallbackReason, ...] = (
    "not_on_site",
    "not_a_browser",
    "address_cap",
    "network_cap",
    "rate_cap",
)

# The prefix one household, office or small provider block usually shares: a /24 of IPv4, a
# /64 of IPv6 (what a single customer is given).
IPV4_NETWORK_BITS = 24
IPV6_NETWORK_BITS = 64
_NO_ADDRESS = bytes(16)


@dataclass(frozen=True, slots=True)
class DrainLimits:
    """What one client may take from a pool, so that a script cannot lease every number.

    `per_address` and `per_network` cap the live leases held from one address and from its
    /24 (IPv4) or /64 (IPv6); `new_per_minute_share` caps the new leases a pool hands out per
    minute at that share of its size, but never below `new_per_minute_min`, so a distributed
    flood takes minutes, not seconds, and is seen in pool health while it does."""

    per_address: int = 3
    per_network: int = 10
    new_per_minute_share: float = 0.5
    new_per_minute_min: int = 10

    def __post_init__(self) -> None:
        if min(self.per_address, self.per_network, self.new_per_minute_min) < 1:
            raise ValueError("drain limits must allow at least one lease")
        if self.new_per_minute_share <= 0:
            raise ValueError("new_per_minute_share must be positive")

    def new_per_minute(self, size: int) -> int:
        return max(self.new_per_minute_min, math.ceil(size * self.new_per_minute_share))


@dataclass(frozen=True, slots=True)
class ClientKey:
    """Who asks for a lease, as the stores count it: the address and its network, 16 bytes
    each (IPv4 as IPv4-mapped IPv6). All zeros means unknown: no per-address cap applies."""

    address: bytes
    network: bytes

    @classmethod
    def of(cls, address: str) -> ClientKey:
        """The key of a client address; something that is not an IP address (a test client's
        name, a Unix socket) counts as an address and a network of its own."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            digest = hashlib.blake2b(address.encode(), digest_size=16).digest()
            return cls(digest, digest)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if isinstance(ip, ipaddress.IPv4Address):
            network = ipaddress.ip_network(f"{ip}/{IPV4_NETWORK_BITS}", strict=False)
            mapped = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed)
            net = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + network.network_address.packed)
            return cls(mapped.packed, net.packed)
        network6 = ipaddress.ip_network(f"{ip}/{IPV6_NETWORK_BITS}", strict=False)
        return cls(ip.packed, network6.network_address.packed)

    @property
    def known(self) -> bool:
        return self.address != _NO_ADDRESS


UNKNOWN_CLIENT = ClientKey(_NO_ADDRESS, _NO_ADDRESS)
