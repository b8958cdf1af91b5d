"""The anti-draining limits of the engine, on both stores: live leases per client address and
per /24 (/64) network, counted in the lease's own atomic step, and new leases per minute."""

from __future__ import annotations

from datetime import datetime, timedelta

from numberpool.rules import ClientKey, DrainLimits, PoolSettings, fresh_records
from numberpool.store import Exhausted, Lease, PingOutcome, PoolStats, PoolStore, Refused
from tests.numberpool.conftest import T0, ids

SETTINGS = PoolSettings(idle_timeout_s=300, cooldown_s=900, max_lease_s=3600)
# The rate cap out of the way unless a test is about it.
LIMITS = DrainLimits(per_address=3, per_network=5, new_per_minute_min=10_000)


class Pool:
    def __init__(self, store: PoolStore, size: int, limits: DrainLimits = LIMITS) -> None:
        self.store, self.limits, self.now = store, limits, T0
        self.id = ids(1, base=950)[0]
        self.numbers = ids(size, base=1000)
        self.sessions = ids(size * 4, base=5000)

    async def load(self) -> None:
        token = await self.store.begin_rebuild(self.id)
        assert token is not None
        assert await self.store.restore(self.id, fresh_records(self.numbers), token=token)

    def at(self, seconds: float) -> datetime:
        self.now = T0 + timedelta(seconds=seconds)
        return self.now

    async def lease(self, s: int, address: str, *, visitor: int | None = None) -> PingOutcome:
        return await self.store.lease(
            self.id,
            session_id=self.sessions[s],
            visitor_id=None if visitor is None else self.sessions[visitor],
            settings=SETTINGS,
            now=self.now,
            client=ClientKey.of(address),
            limits=self.limits,
        )

    async def ping(self, s: int, address: str) -> PingOutcome:
        return await self.store.ping(
            self.id,
            session_id=self.sessions[s],
            visitor_id=None,
            settings=SETTINGS,
            now=self.now,
            client=ClientKey.of(address),
            limits=self.limits,
        )

    async def release(self, s: int) -> None:
        await self.store.release(
            self.id, session_id=self.sessions[s], settings=SETTINGS, now=self.now
        )


def refused(outcome: object) -> str:
    assert isinstance(outcome, Refused), outcome
    return outcome.reason


async def test_one_address_holds_at_most_its_cap_of_live_leases(store: PoolStore) -> None:
    pool = Pool(store, 6)
    await pool.load()
    for s in range(3):
        assert isinstance(await pool.lease(s, "203.0.113.7"), Lease)
    assert refused(await pool.lease(3, "203.0.113.7")) == "address_cap"
    # Another address of another network is served; so is the same session asking again.
    assert isinstance(await pool.lease(4, "198.51.100.9"), Lease)
    assert isinstance(await pool.lease(0, "203.0.113.7"), Lease)
    assert isinstance(await pool.ping(1, "203.0.113.7"), Lease)
    stats = await store.stats(pool.id, settings=SETTINGS, now=pool.now)
    assert stats == PoolStats(size=6, leased=4, cooling=0)


async def test_a_released_or_expired_lease_gives_the_address_its_slot_back(
    store: PoolStore,
) -> None:
    pool = Pool(store, 8)
    await pool.load()
    for s in range(3):
        assert isinstance(await pool.lease(s, "203.0.113.7"), Lease)
    await pool.release(0)
    assert isinstance(await pool.lease(3, "203.0.113.7"), Lease)
    assert refused(await pool.lease(4, "203.0.113.7")) == "address_cap"
    pool.at(301)  # every lease idled out
    assert isinstance(await pool.lease(4, "203.0.113.7"), Lease)
    assert isinstance(await pool.lease(5, "203.0.113.7"), Lease)
    assert isinstance(await pool.lease(6, "203.0.113.7"), Lease)
    assert refused(await pool.lease(7, "203.0.113.7")) == "address_cap"


async def test_addresses_of_one_ipv4_slash_24_share_a_larger_cap(store: PoolStore) -> None:
    pool = Pool(store, 12)
    await pool.load()
    for s in range(5):
        assert isinstance(await pool.lease(s, f"198.51.100.{s + 1}"), Lease)
    assert refused(await pool.lease(5, "198.51.100.200")) == "network_cap"
    assert isinstance(await pool.lease(6, "198.51.101.1"), Lease)  # the next /24
    # An IPv4-mapped IPv6 address is the same client as the IPv4 one.
    assert refused(await pool.lease(7, "::ffff:198.51.100.77")) == "network_cap"


async def test_addresses_of_one_ipv6_slash_64_share_the_cap(store: PoolStore) -> None:
    pool = Pool(store, 12)
    await pool.load()
    for s in range(5):
        assert isinstance(await pool.lease(s, f"2001:db8:1:2::{s + 1:x}"), Lease)
    assert refused(await pool.lease(5, "2001:db8:1:2:ffff::1")) == "network_cap"
    assert isinstance(await pool.lease(6, "2001:db8:1:3::1"), Lease)


async def test_a_capped_client_is_refused_even_when_the_pool_is_full(store: PoolStore) -> None:
    pool = Pool(store, 4)
    await pool.load()
    for s in range(3):
        assert isinstance(await pool.lease(s, "203.0.113.7"), Lease)
    assert isinstance(await pool.lease(3, "198.51.100.1"), Lease)
    assert refused(await pool.lease(4, "203.0.113.7")) == "address_cap"
    assert isinstance(await pool.lease(5, "192.0.2.1"), Exhausted)


async def test_a_visitors_second_tab_from_the_same_address_takes_its_lease_over(
    store: PoolStore,
) -> None:
    pool = Pool(store, 6)
    await pool.load()
    for s in range(3):
        assert isinstance(await pool.lease(s, "203.0.113.7", visitor=s), Lease)
    # At the cap, but the new session takes over the visitor's live lease: no new number.
    outcome = await pool.lease(3, "203.0.113.7", visitor=0)
    assert isinstance(outcome, Lease)
    assert outcome.is_new
    # From another address of another network it moves that client's count instead.
    moved = await pool.lease(4, "198.51.100.1", visitor=1)
    assert isinstance(moved, Lease)
    assert isinstance(await pool.lease(5, "203.0.113.7"), Lease)  # the slot it left


async def test_new_leases_per_minute_are_capped_relative_to_the_pool_size(
    store: PoolStore,
) -> None:
    limits = DrainLimits(per_address=3, per_network=100, new_per_minute_share=0.25)
    pool = Pool(store, 48, limits)
    await pool.load()
    pool.at(1)
    for s in range(12):  # a quarter of 48
        assert isinstance(await pool.lease(s, f"198.51.{s}.1"), Lease)
    assert refused(await pool.lease(12, "198.51.12.1")) == "rate_cap"
    # Sessions that hold a number keep it; the next minute opens again.
    assert isinstance(await pool.ping(0, "198.51.0.1"), Lease)
    pool.at(60)
    assert isinstance(await pool.lease(12, "198.51.12.1"), Lease)


async def test_a_small_pool_still_allows_the_minimum_rate(store: PoolStore) -> None:
    limits = DrainLimits(per_address=3, per_network=100, new_per_minute_min=4)
    pool = Pool(store, 6, limits)
    await pool.load()
    for s in range(4):
        assert isinstance(await pool.lease(s, f"198.51.{s}.1"), Lease)
    assert refused(await pool.lease(4, "198.51.4.1")) == "rate_cap"


async def test_without_limits_nothing_is_capped(store: PoolStore) -> None:
    pool = Pool(store, 5)
    await pool.load()
    for s in range(5):
        outcome = await store.lease(
            pool.id,
            session_id=pool.sessions[s],
            visitor_id=None,
            settings=SETTINGS,
            now=pool.now,
            client=ClientKey.of("203.0.113.7"),
        )
        assert isinstance(outcome, Lease)
