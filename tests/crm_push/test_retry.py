"""Backoff with jitter over about a day; Retry-After in either of its forms."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from crm_push.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_backoff_doubles_up_to_an_hour_with_jitter_and_spans_about_a_day() -> None:
    policy, rng = RetryPolicy(), random.Random(1)
    delays = [policy.delay_s(n, retry_after_s=None, rng=rng) for n in range(1, policy.max_attempts)]

    assert 15 * 0.75 <= delays[0] <= 15 * 1.25
    assert 30 * 0.75 <= delays[1] <= 30 * 1.25
    assert max(delays) <= 3600 * 1.25
    assert 18 * 3600 < sum(delays) < 30 * 3600
    assert len({round(d, 6) for d in delays[-5:]}) == 5  # jittered, not in lockstep


def test_retry_after_is_never_undercut() -> None:
    policy, rng = RetryPolicy(), random.Random(2)
    for _ in range(100):
        assert 120 <= policy.delay_s(1, retry_after_s=120, rng=rng) <= 150
    assert policy.delay_s(1, retry_after_s=10**9, rng=rng) <= policy.max_retry_after_s * 1.25


def test_retry_after_as_seconds_or_an_http_date() -> None:
    assert parse_retry_after("30", now=NOW) == 30
    assert parse_retry_after("Mon, 02 Nov 2026 09:02:00 GMT", now=NOW) == 120
    assert parse_retry_after("soon", now=NOW) is None
    assert parse_retry_after(None, now=NOW) is None
