"""The sources report and the overview on PostgreSQL over a month of generated traffic:
1,000,000 visits of 300,000 visitors and 100,000 calls by default (issue 7: <= 1 s a page).

    .venv/bin/python -m bench.reports [--sessions 1000000] [--calls 100000] [--repeat 5]
        [--days 30] [--report-days 30] [--direct]
        [--no-http] [--explain-to FILE] [--keep]
        [--plan-cache-mode force_custom_plan] [--work-mem 64MB]   # what-ifs, this database only

`--days 300 --report-days 30` spreads the data over 300 days and reports the last 30 (a
month's report over ten months of history). The rollups (issue 19) are built as the worker
would (`rollups_built_s`) before the cases run; `--direct` first times every case without them
(the direct computation, as before issue 19).

A fresh database (`callsource_bench_reports`) is migrated and filled in SQL (INSERT ... SELECT
over generate_series): visitors, their visits over 30 days with a realistic mix of channels
(Yandex / Google / VK ads by campaign and keyword, organic search, social, referral, e-mail,
direct; returning visits are mostly direct), calls (mostly dynamic, from real visits and with
their attribution snapshot, some from source-level and offline numbers, some unattributed),
deals with revenue for a share of the leads, and ad costs per day and campaign. Then
VACUUM ANALYZE, and the timings go through the real services: `sources_report` for the 30 days
under every attribution model and grouping level, `analytics.overview` (what the Overview page
calls) under every model, and the pages over HTTP (the app in process, over ASGI, signed in).

Each case gets a new engine and runs: once ("first": new connection, nothing prepared; the data
is in the OS page cache, not on disk), 4 times more ("warm": up to the fifth run PostgreSQL plans
each prepared statement with its parameters' values), then --repeat times ("steady": from the
sixth run the plan cache may use a generic plan instead, as on a server that has been up a
while). Medians are reported. The output is JSON: the machine, the data shape, and per case the
timings and where the time went per SQL statement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import event, insert, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app import migrations
from app.config import Settings
from app.dashboard import analytics
from app.dashboard import service as dashboard_service
from app.db import create_engine, create_sessionmaker
from app.kit import crypto
from app.kit.secrets import new_admin_token, new_public_key
from app.main import create_app
from app.models import AdCost, PbxIntegration, Site
from app.reports import rollups
from app.reports import service as reports_service
from app.reports.attribution_models import GroupBy, Model
from app.state import state_of
from bench import stack

DATABASE = "callsource_bench_reports"
TIMEZONE = "Europe/Moscow"
SLOTS = 10_000  # a channel is drawn by a random slot; its share of the slots is its weight
EMAIL = "bench@shop.example"
PASSWORD = secrets.token_urlsafe(16)  # of the dashboard user the HTTP cases sign in as


# --- the channels ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Channel:
    source: str
    medium: str
    campaign: str | None
    term: str | None
    query: str  # the landing page's query string
    referrer: str | None
    first: float  # share of a visitor's first visits
    back: float  # share of returning visits
    cost_per_visit: float | None  # paid channels: what a visit costs (RUB)


KEYWORDS = ("купить {}", "{} недорого", "{} москва", "{} от производителя", "{} в рассрочку")
YANDEX_ADS = (
    ("search_brand", "уют мебель"),
    ("search_sofas", "диван"),
    ("search_beds", "кровать"),
    ("search_kitchens", "кухня"),
    ("search_wardrobes", "шкаф купе"),
    ("rsya_retargeting", None),
    ("rsya_interests", None),
    ("smart_banners", None),
)
GOOGLE_ADS = (
    ("brand", "уют мебель"),
    ("sofas", "диван"),
    ("beds", "кровать"),
    ("kitchens", "кухня"),
    ("pmax_all", None),
    ("remarketing", None),
)
VK_ADS = ("vk_lookalike", "vk_retargeting", "vk_interests")
ORGANIC = (
    ("yandex", "https://yandex.ru/"),
    ("google", "https://www.google.com/"),
    ("mail.ru", "https://go.mail.ru/"),
    ("bing", "https://www.bing.com/"),
    ("duckduckgo", "https://duckduckgo.com/"),
)
SOCIAL = (
    ("vk", "https://vk.com/"),
    ("telegram", "https://t.me/"),
    ("dzen", "https://dzen.ru/"),
    ("ok", "https://ok.ru/"),
    ("youtube", "https://www.youtube.com/"),
)
REFERRALS = (
    "2gis.ru",
    "avito.ru",
    "otzovik.com",
    "irecommend.ru",
    "zoon.ru",
    "pikabu.ru",
    "houzz.ru",
    "forum.ixbt.com",
    "mebelforum.ru",
    "market.yandex.ru",
)
NEWSLETTERS = ("weekly_digest", "sale_march", "new_collection", "abandoned_cart")
# A visitor's first visit by group; a returning visit is direct this often, else the same mix.
GROUPS = {
    "yandex_cpc": 0.27,
    "google_cpc": 0.11,
    "vk_cpc": 0.04,
    "organic": 0.22,
    "social": 0.05,
    "referral": 0.06,
    "email": 0.03,
    "direct": 0.22,
}
DIRECT_WHEN_BACK = 0.45
COST_PER_VISIT = {"yandex": 90.0, "google": 110.0, "vk": 40.0}


def _zipf(n: int) -> list[float]:
    weights = [1 / (i + 1) for i in range(n)]
    total = sum(weights)
    return [w / total for w in weights]


def _ad(source: str, campaign: str, term: str | None, share: float) -> tuple[Any, ...]:
    tags = {"utm_source": source, "utm_medium": "cpc", "utm_campaign": campaign}
    if term is not None:
        tags["utm_term"] = term
    referrer = {"yandex": "https://yandex.ru/", "google": "https://www.google.com/"}
    return (source, "cpc", campaign, term, "?" + urlencode(tags), referrer.get(source), share)


def channels() -> list[Channel]:
    raw: list[tuple[Any, ...]] = []  # source, medium, campaign, term, query, referrer, share
    for source, group, ads in (
        ("yandex", "yandex_cpc", YANDEX_ADS),
        ("google", "google_cpc", GOOGLE_ADS),
    ):
        for (campaign, product), c_share in zip(ads, _zipf(len(ads)), strict=True):
            share = GROUPS[group] * c_share
            if product is None:
                raw.append(_ad(source, campaign, None, share))
                continue
            for keyword, t_share in zip(KEYWORDS, _zipf(len(KEYWORDS)), strict=True):
                raw.append(_ad(source, campaign, keyword.format(product), share * t_share))
    for campaign, c_share in zip(VK_ADS, _zipf(len(VK_ADS)), strict=True):
        raw.append(_ad("vk", campaign, None, GROUPS["vk_cpc"] * c_share))
    for (engine, referrer), share in zip(ORGANIC, (0.58, 0.33, 0.05, 0.025, 0.015), strict=True):
        raw.append((engine, "organic", None, None, "", referrer, GROUPS["organic"] * share))
    for (network, referrer), share in zip(SOCIAL, _zipf(len(SOCIAL)), strict=True):
        raw.append((network, "social", None, None, "", referrer, GROUPS["social"] * share))
    for host, share in zip(REFERRALS, _zipf(len(REFERRALS)), strict=True):
        referrer = f"https://{host}/"
        raw.append((host, "referral", None, None, "", referrer, GROUPS["referral"] * share))
    for campaign, share in zip(NEWSLETTERS, _zipf(len(NEWSLETTERS)), strict=True):
        tags = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": campaign}
        query = "?" + urlencode(tags)
        raw.append(("newsletter", "email", campaign, None, query, None, GROUPS["email"] * share))
    raw.append(("(direct)", "(none)", None, None, "", None, GROUPS["direct"]))
    not_direct = 1 - GROUPS["direct"]
    return [
        Channel(
            source=source,
            medium=medium,
            campaign=campaign,
            term=term,
            query=query,
            referrer=referrer,
            first=share,
            back=DIRECT_WHEN_BACK
            if source == "(direct)"
            else share * (1 - DIRECT_WHEN_BACK) / not_direct,
            cost_per_visit=COST_PER_VISIT.get(source) if medium == "cpc" else None,
        )
        for source, medium, campaign, term, query, referrer, share in raw
    ]


def slots(weights: list[float]) -> list[int]:
    """SLOTS channel indexes, each channel as many times as its weight says (largest
    remainder, so that they add up exactly)."""
    exact = [w * SLOTS / sum(weights) for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: SLOTS - sum(counts)]:
        counts[i] += 1
    return [k for k, n in enumerate(counts) for _ in range(n)]


# --- generating the data -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    sessions: int
    calls: int
    visitors: int
    days: int

    @property
    def anonymous(self) -> int:
        """Visits without consent: no visitor id, no dynamic number."""
        return self.sessions * 3 // 100

    @property
    def returning(self) -> int:
        return self.sessions - self.visitors - self.anonymous

    @property
    def dynamic(self) -> int:
        return self.calls * 80 // 100


@dataclass(frozen=True, slots=True)
class Span:
    first_day: date
    last_day: date
    since: datetime
    until: datetime


def span_of(days: int) -> Span:
    """The last `days` whole local days up to today (today excluded)."""
    zone = ZoneInfo(TIMEZONE)
    today = datetime.now(zone).date()
    first_day, last_day = today - timedelta(days=days), today - timedelta(days=1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    until = datetime.combine(today, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    return Span(first_day=first_day, last_day=last_day, since=since, until=until)


PATHS = (
    "",
    "catalog/sofas",
    "catalog/beds",
    "catalog/kitchens",
    "catalog/wardrobes",
    "sale",
    "delivery",
    "contacts",
)
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36 YaBrowser/24.10",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
)
# Calls not from a visit: source-level numbers, offline numbers, unattributed.
SOURCE_NUMBER = "source-level number shown to every visitor from {}"
OFFLINE_NUMBER = "offline number of campaign '{}'"
STATIC_CALLS = (
    ("source", "yandex", "organic", None, 0.6, SOURCE_NUMBER.format("yandex")),
    ("source", "google", "organic", None, 0.6, SOURCE_NUMBER.format("google")),
    ("source", "2gis.ru", "referral", None, 0.6, SOURCE_NUMBER.format("2gis.ru")),
    ("source", "avito.ru", "referral", None, 0.6, SOURCE_NUMBER.format("avito.ru")),
    ("offline", "flyer", "offline", "metro_flyers", 0.9, OFFLINE_NUMBER.format("metro_flyers")),
    ("offline", "billboard", "offline", "mkad", 0.9, OFFLINE_NUMBER.format("mkad")),
    ("offline", "radio", "offline", "radio_spring", 0.9, OFFLINE_NUMBER.format("radio_spring")),
    ("none", None, None, None, 0.0, "the site's own number: no tracking number was dialled"),
)

SETUP_TEMP_TABLES = """
CREATE TEMP TABLE bench_channel (
    k int PRIMARY KEY, source text, medium text, campaign text, term text, query text,
    referrer text
);
CREATE TEMP TABLE bench_slot (back bool, slot int, k int, PRIMARY KEY (back, slot));
CREATE TEMP TABLE bench_static (
    j int PRIMARY KEY, method text, source text, medium text, campaign text,
    confidence float, reason text
);
CREATE TEMP TABLE bench_path (j int PRIMARY KEY, path text);
CREATE TEMP TABLE bench_ua (j int PRIMARY KEY, ua text)
"""

VISITORS = """
CREATE TEMP TABLE bench_v AS
SELECT g AS i, gen_random_uuid() AS id,
       CAST(:since AS timestamptz) + random() * (CAST(:until AS timestamptz)
           - CAST(:since AS timestamptz)) AS t0
FROM generate_series(1, :visitors) AS g
"""

# Every visitor's first visit; returning visits of the first 40% of the visitors (one in ten
# of them to the 1% who come back most); visits without consent. Inserted in time order, as
# the tracker writes them.
SESSIONS = """
INSERT INTO tracking_sessions (
    id, site_id, visitor_id, started_at, last_seen_at, ended_at, landing_url, referrer,
    source, medium, campaign, term, content, gclid, yclid, fbclid, ga_client_id, ym_client_id,
    user_agent, consent, is_bot
)
SELECT gen_random_uuid(), CAST(:site AS uuid), x.visitor_id, x.started_at,
       x.started_at + x.length, x.started_at + x.length,
       'https://shop.example/' || p.path || c.query, c.referrer,
       c.source, c.medium, c.campaign, c.term, NULL,
       CASE WHEN c.source = 'google' AND c.medium = 'cpc'
            THEN 'Cj0KCQiA' || md5(x.r::text) END,
       CASE WHEN c.source = 'yandex' AND c.medium = 'cpc'
            THEN (floor(x.r * 1e17))::bigint::text END,
       NULL,
       CASE WHEN x.visitor_id IS NOT NULL
            THEN (abs(hashtext(x.visitor_id::text)))::text || '.'
                 || (extract(epoch FROM x.t0))::bigint::text END,
       CASE WHEN x.visitor_id IS NOT NULL
            THEN (extract(epoch FROM x.t0))::bigint::text
                 || lpad((abs(hashtext(x.visitor_id::text || 'ym')) % 1000000000)::text, 9, '0')
       END,
       u.ua, x.visitor_id IS NOT NULL, x.r < 0.02
FROM (
    SELECT v.id AS visitor_id, v.t0, v.t0 AS started_at, false AS back,
           floor(random() * :slots)::int AS slot, random() AS r,
           random() * random() * interval '30 minutes' AS length
    FROM bench_v AS v
    UNION ALL
    SELECT v.id, v.t0, v.t0 + random() * (CAST(:until AS timestamptz) - v.t0), true,
           floor(random() * :slots)::int, random(),
           random() * random() * interval '30 minutes'
    FROM (
        SELECT CASE WHEN random() < 0.1 THEN 1 + floor(random() * :heavy)
                    ELSE 1 + floor(random() * :regular) END::int AS i
        FROM generate_series(1, :returning)
    ) AS pick
    JOIN bench_v AS v ON v.i = pick.i
    UNION ALL
    SELECT NULL, NULL,
           CAST(:since AS timestamptz) + random() * (CAST(:until AS timestamptz)
               - CAST(:since AS timestamptz)),
           false, floor(random() * :slots)::int, random(),
           random() * random() * interval '30 minutes'
    FROM generate_series(1, :anonymous)
) AS x
JOIN bench_slot AS s ON s.back = x.back AND s.slot = x.slot
JOIN bench_channel AS c ON c.k = s.k
JOIN bench_path AS p ON p.j = floor(x.r * 7919)::int % 8
JOIN bench_ua AS u ON u.j = floor(x.r * 104729)::int % 4
ORDER BY x.started_at
"""

VISITORS_INSERT = """
INSERT INTO visitors (id, site_id, created_at, last_seen_at)
SELECT v.id, CAST(:site AS uuid), v.t0, coalesce(seen.last, v.t0)
FROM bench_v AS v
LEFT JOIN (
    SELECT visitor_id, max(last_seen_at) AS last FROM tracking_sessions
    WHERE visitor_id IS NOT NULL GROUP BY visitor_id
) AS seen ON seen.visitor_id = v.id
"""

# Dynamic calls: visits drawn at random, ads twice as likely to call (weighted sampling
# without replacement: the smallest -ln(u)/w win), the call during the visit; the snapshot
# is the visit's. Then calls from source-level and offline numbers, and unattributed ones.
# A visitor calls from one phone; other callers come from a pool, so some call again.
CALLS = """
INSERT INTO calls (
    id, site_id, integration_id, provider_call_id, tracking_number_id, caller, called,
    status, reported_outcome, outcome, started_at, answered_at, ended_at, duration,
    talk_duration, recording_url, last_sequence, first_time_caller, possible_spam,
    attribution_method, confidence, confidence_reason, attribution_conflict, session_id,
    visitor_id, source, medium, campaign, term, content, landing_url, referrer, gclid, yclid,
    created_at, updated_at
)
SELECT gen_random_uuid(), CAST(:site AS uuid), CAST(:integration AS uuid),
       'bench-' || row_number() OVER (ORDER BY y.started_at), NULL, y.caller, '+74951234567',
       'ended', y.outcome, y.outcome, y.started_at,
       CASE WHEN y.outcome = 'answered' THEN y.started_at + y.wait END,
       y.started_at + y.wait + y.talk,
       (extract(epoch FROM y.wait + y.talk))::int, (extract(epoch FROM y.talk))::int,
       CASE WHEN y.outcome = 'answered'
            THEN 'https://pbx.example/rec/' || md5(y.started_at::text) || '.mp3' END,
       3, false, y.outcome = 'answered' AND y.r_spam < 0.04,
       y.method, y.confidence, y.reason, false, y.session_id, y.visitor_id,
       y.source, y.medium, y.campaign, y.term, NULL, y.landing_url, y.referrer, y.gclid,
       y.yclid, y.started_at + y.wait + y.talk, y.started_at + y.wait + y.talk
FROM (
    SELECT x.*,
           CASE WHEN x.r_out < 0.72 THEN 'answered' WHEN x.r_out < 0.94 THEN 'missed'
                WHEN x.r_out < 0.98 THEN 'busy' ELSE 'failed' END AS outcome,
           (5 + random() * 25) * interval '1 second' AS wait,
           CASE WHEN x.r_out < 0.72
                THEN (3 + 600 * random() * random()) * interval '1 second'
                ELSE interval '0' END AS talk,
           random() AS r_spam
    FROM (
        SELECT * FROM (
            SELECT s.id AS session_id, s.visitor_id,
                   least(s.started_at + random() * (s.ended_at - s.started_at),
                         CAST(:until AS timestamptz) - interval '1 second') AS started_at,
                   '+79' || lpad((abs(hashtext(s.visitor_id::text)) % 1000000000)::text, 9, '0')
                       AS caller,
                   'dynamic' AS method, 0.95 AS confidence,
                   'the number was leased to this visit alone when the call started' AS reason,
                   s.source, s.medium, s.campaign, s.term, s.landing_url, s.referrer,
                   s.gclid, s.yclid, random() AS r_out
            FROM tracking_sessions AS s
            WHERE s.site_id = CAST(:site AS uuid) AND s.visitor_id IS NOT NULL AND NOT s.is_bot
            ORDER BY -ln(1 - random()) / CASE WHEN s.medium = 'cpc' THEN 2.0 ELSE 1.0 END
            LIMIT :dynamic
        ) AS dynamic_calls
        UNION ALL
        SELECT NULL, NULL, g.at,
               '+79' || lpad(floor(random() * :callers)::text, 9, '0'),
               t.method, t.confidence, t.reason, t.source, t.medium, t.campaign, NULL, NULL,
               NULL, NULL, NULL, random()
        FROM (
            SELECT CAST(:since AS timestamptz) + random() * (CAST(:until AS timestamptz)
                       - CAST(:since AS timestamptz)) AS at,
                   CASE WHEN n <= :by_source THEN 1 + floor(random() * 4)
                        WHEN n <= :by_source + :by_offline THEN 5 + floor(random() * 3)
                        ELSE 8 END::int AS j
            FROM generate_series(1, :static) AS n
        ) AS g
        JOIN bench_static AS t ON t.j = g.j
    ) AS x
) AS y
ORDER BY y.started_at
"""

FIRST_TIME_CALLERS = """
UPDATE calls SET first_time_caller = true
WHERE id IN (
    SELECT DISTINCT ON (caller) id FROM calls WHERE site_id = CAST(:site AS uuid)
    ORDER BY caller, started_at
)
"""

# 30% of the leads become a deal in the CRM; 35% of those are won, 35% lost.
DEALS = """
INSERT INTO deals (
    id, site_id, call_id, connector_id, external_id, status, revenue, currency, created_at,
    updated_at, closed_at
)
SELECT gen_random_uuid(), CAST(:site AS uuid), d.id, NULL,
       'D-' || row_number() OVER (ORDER BY d.started_at),
       CASE WHEN d.r < 0.35 THEN 'won' WHEN d.r < 0.70 THEN 'lost' ELSE 'open' END,
       round((5000 * exp(random() * 3))::numeric, -2), 'RUB',
       d.started_at + interval '10 minutes', d.started_at + interval '10 minutes' + d.close,
       CASE WHEN d.r < 0.70 THEN d.started_at + interval '10 minutes' + d.close END
FROM (
    SELECT id, started_at, random() AS r, random() * interval '10 days' AS close
    FROM calls
    WHERE site_id = CAST(:site AS uuid) AND outcome = 'answered' AND NOT possible_spam
) AS d
WHERE random() < 0.30
"""

SHAPE = """
SELECT
    (SELECT count(*) FROM visitors) AS visitors,
    (SELECT count(*) FROM tracking_sessions) AS sessions,
    (SELECT count(*) FROM tracking_sessions WHERE source = '(direct)') AS direct_sessions,
    (SELECT count(*) FROM tracking_sessions WHERE visitor_id IS NULL) AS sessions_without_visitor,
    (SELECT count(*) FROM tracking_sessions WHERE is_bot) AS bot_sessions,
    (SELECT count(DISTINCT (source, medium, campaign, term)) FROM tracking_sessions)
        AS session_channels,
    (SELECT max(n) FROM (SELECT count(*) AS n FROM tracking_sessions
                         WHERE visitor_id IS NOT NULL GROUP BY visitor_id) AS j)
        AS longest_journey,
    (SELECT count(*) FROM tracking_sessions AS s WHERE s.visitor_id IS NOT NULL
        AND NOT EXISTS (SELECT FROM visitors AS v WHERE v.id = s.visitor_id)) AS orphan_sessions,
    (SELECT count(*) FROM calls) AS calls,
    (SELECT count(*) FROM calls WHERE first_time_caller) AS first_time_calls,
    (SELECT count(*) FROM calls WHERE outcome = 'answered') AS answered_calls,
    (SELECT count(*) FROM calls WHERE attribution_method = 'dynamic' AND source = '(direct)')
        AS dynamic_calls_from_direct_visits,
    (SELECT round(avg(n), 2) FROM (
        SELECT count(*) AS n FROM calls AS c JOIN tracking_sessions AS s
            ON s.visitor_id = c.visitor_id AND s.started_at <= c.started_at
        GROUP BY c.id) AS j) AS visits_per_caller_journey,
    (SELECT count(*) FROM deals) AS deals,
    (SELECT count(*) FROM deals WHERE status = 'won') AS deals_won,
    (SELECT sum(revenue) FROM deals WHERE status = 'won') AS revenue_won,
    (SELECT count(*) FROM ad_costs) AS ad_cost_rows,
    (SELECT sum(cost) FROM ad_costs) AS ad_cost_total,
    (SELECT pg_size_pretty(pg_total_relation_size('tracking_sessions'))) AS sessions_size,
    (SELECT pg_size_pretty(pg_total_relation_size('calls'))) AS calls_size
"""


async def _admin(statement: str) -> None:
    engine = create_engine(stack.ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


def fresh_database() -> str:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DATABASE}"'))
    url = make_url(stack.ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)
    migrations.upgrade(url)
    return url


def drop_database() -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))


async def _seed_site(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[Site, uuid.UUID]:
    now = datetime.now(UTC)
    site = Site(
        id=uuid.uuid4(),
        public_key=new_public_key(),
        name="Bench furniture shop",
        domains=["shop.example"],
        country="RU",
        timezone=TIMEZONE,
        created_at=now - timedelta(days=400),
        retired_at=None,
    )
    integration = PbxIntegration(
        id=uuid.uuid4(),
        site_id=site.id,
        provider="generic",
        name="bench",
        credentials={"secret": "x" * 32},
        settings={},
        created_at=site.created_at,
        retired_at=None,
    )
    async with sessionmaker() as db:
        db.add(site)
        await db.flush()
        db.add(integration)
        await dashboard_service.create_user(
            db,
            email=EMAIL,
            password=PASSWORD,
            role=dashboard_service.Role.ADMIN,
            site_ids=(),
            now=now,
        )
        await db.commit()
    return site, integration.id


def ad_costs(
    site_id: uuid.UUID, shape: Shape, span: Span, known: list[Channel], rng: random.Random
) -> list[dict[str, Any]]:
    """A row per day and paid campaign: the visits the campaign brings a day, at its price,
    give or take 30%."""
    visits: dict[tuple[str, str], float] = {}
    price: dict[tuple[str, str], float] = {}
    first_visits = shape.visitors + shape.anonymous
    for channel in known:
        if channel.cost_per_visit is None or channel.campaign is None:
            continue
        key = (channel.source, channel.campaign)
        expected = first_visits * channel.first + shape.returning * channel.back
        visits[key] = visits.get(key, 0.0) + expected / shape.days
        price[key] = channel.cost_per_visit
    rows = []
    day = span.first_day
    while day <= span.last_day:
        for (source, campaign), per_day in sorted(visits.items()):
            cost = per_day * price[(source, campaign)] * rng.uniform(0.7, 1.3)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "site_id": site_id,
                    "day": day,
                    "source": source,
                    "medium": "cpc",
                    "campaign": campaign,
                    "cost": Decimal(f"{cost:.2f}"),
                    "currency": "RUB",
                    "created_at": datetime.now(UTC),
                }
            )
        day += timedelta(days=1)
    return rows


async def _step(
    connection: AsyncConnection, log: dict[str, float], name: str, sql: str, **params: Any
) -> None:
    started = time.perf_counter()
    await connection.execute(text(sql), params)
    await connection.commit()
    log[name] = round(time.perf_counter() - started, 2)
    print(f"  {name}: {log[name]} s", file=sys.stderr)


async def generate(
    engine: AsyncEngine, site: Site, integration_id: uuid.UUID, shape: Shape, span: Span, seed: int
) -> dict[str, Any]:
    known = channels()
    rng = random.Random(seed)
    log: dict[str, float] = {}
    started = time.perf_counter()
    async with engine.connect() as connection:
        await connection.execute(text("SELECT setseed(:seed)"), {"seed": (seed % 1000) / 1000})
        await connection.execute(text("SET work_mem = '256MB'"))
        # Parents and children are inserted consistent by construction, visitors after their
        # visits (for last_seen_at): the foreign-key triggers would only slow the load down.
        await connection.execute(text("SET session_replication_role = replica"))
        for statement in SETUP_TEMP_TABLES.split(";"):
            await connection.execute(text(statement))
        await connection.execute(
            text("INSERT INTO bench_channel VALUES (:k, :s, :m, :c, :t, :q, :r)"),
            [
                {
                    "k": k,
                    "s": c.source,
                    "m": c.medium,
                    "c": c.campaign,
                    "t": c.term,
                    "q": c.query,
                    "r": c.referrer,
                }
                for k, c in enumerate(known)
            ],
        )
        slot_rows = [
            {"back": back, "slot": slot, "k": k}
            for back in (False, True)
            for slot, k in enumerate(slots([c.back if back else c.first for c in known]))
        ]
        await connection.execute(
            text("INSERT INTO bench_slot VALUES (:back, :slot, :k)"), slot_rows
        )
        await connection.execute(
            text("INSERT INTO bench_static VALUES (:j, :m, :s, :md, :c, :conf, :r)"),
            [
                {"j": j, "m": m, "s": s, "md": md, "c": c, "conf": conf, "r": r}
                for j, (m, s, md, c, conf, r) in enumerate(STATIC_CALLS, start=1)
            ],
        )
        await connection.execute(
            text("INSERT INTO bench_path VALUES (:j, :p)"),
            [{"j": j, "p": p} for j, p in enumerate(PATHS)],
        )
        await connection.execute(
            text("INSERT INTO bench_ua VALUES (:j, :u)"),
            [{"j": j, "u": u} for j, u in enumerate(USER_AGENTS)],
        )
        await connection.commit()

        period = {"since": span.since, "until": span.until}
        await _step(connection, log, "visitors_draft", VISITORS, visitors=shape.visitors, **period)
        regular = max(shape.visitors * 40 // 100, 1)
        await _step(
            connection,
            log,
            "sessions",
            SESSIONS,
            site=str(site.id),
            slots=SLOTS,
            heavy=max(shape.visitors // 100, 1),
            regular=regular,
            returning=shape.returning,
            anonymous=shape.anonymous,
            **period,
        )
        await _step(connection, log, "visitors", VISITORS_INSERT, site=str(site.id))
        static = shape.calls - shape.dynamic
        await _step(
            connection,
            log,
            "calls",
            CALLS,
            site=str(site.id),
            integration=str(integration_id),
            dynamic=shape.dynamic,
            static=static,
            by_source=static * 40 // 100,
            by_offline=static * 20 // 100,
            callers=max(shape.calls * 9 // 10, 1),
            **period,
        )
        await _step(connection, log, "first_time_callers", FIRST_TIME_CALLERS, site=str(site.id))
        await _step(connection, log, "deals", DEALS, site=str(site.id))
        await connection.execute(insert(AdCost), ad_costs(site.id, shape, span, known, rng))
        await connection.commit()
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        vacuum_started = time.perf_counter()
        await autocommit.execute(
            text("VACUUM (ANALYZE) visitors, tracking_sessions, calls, deals, ad_costs")
        )
        log["vacuum_analyze"] = round(time.perf_counter() - vacuum_started, 2)
    log["total"] = round(time.perf_counter() - started, 1)
    async with engine.connect() as connection:
        row = (await connection.execute(text(SHAPE))).mappings().one()
    figures = {
        name: (float(value) if isinstance(value, Decimal) else value) for name, value in row.items()
    }
    return {"generation_s": log, "counts": figures, "channels_defined": len(known)}


# --- timing ----------------------------------------------------------------------------------

# PostgreSQL plans a prepared statement afresh for its first five executions on a connection
# (custom plans, with the parameters' values), then may switch to one generic plan for good.
# The app's engine prepares and caches its statements per pooled connection, so a server that
# has been up a while runs the reports with whatever that choice was: the "steady" runs.
CUSTOM_PLANS = 5


@dataclass
class Statements:
    """Every SQL statement run while `on`, with its time: where a case's time goes."""

    on: bool = False
    seen: list[tuple[str, Any, float]] = field(default_factory=list)

    def attach(self, engine: AsyncEngine) -> None:
        def before(conn: Any, _cursor: Any, *_args: Any) -> None:
            conn.info["bench_started"] = time.perf_counter()

        def after(conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
            if self.on:
                took = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
                self.seen.append((statement, parameters, took))

        event.listen(engine.sync_engine, "before_cursor_execute", before)
        event.listen(engine.sync_engine, "after_cursor_execute", after)

    def take(self) -> list[tuple[str, Any, float]]:
        seen, self.seen = self.seen, []
        return seen


_LABELS = (
    ("SET LOCAL", "set jit off"),
    ("FROM ad_costs", "costs by channel"),
    ("SELECT DISTINCT deals.currency", "won deal currencies"),
    ("bucket", "calls by source and quarter hour (credited)"),
    ("credited", "calls by channel (credited, with deals)"),
    ("FROM tracking_sessions", "sessions by channel"),
    ("FROM calls", "recent calls"),
    ("FROM user_sites", "viewer's sites"),
    ("FROM users", "signed-in account"),
    ("FROM sites", "site"),
)


def label(statement: str) -> str:
    flat = re.sub(r"\s+", " ", statement)
    return next((name for key, name in _LABELS if key in flat), flat[:60])


Runner = Callable[[], Awaitable[int]]  # one page or report; returns rows (or bytes) shown


@dataclass
class Case:
    """One page or report, timed on its own new engine: a new connection, nothing prepared."""

    name: str
    setup: Callable[[], AbstractAsyncContextManager[tuple[Runner, AsyncEngine]]]
    runs: list[float] = field(default_factory=list)
    rows: int = 0
    breakdowns: dict[str, dict[str, float]] = field(default_factory=dict)
    slowest: tuple[str, Any, float] | None = None  # of the last steady run

    def first(self) -> float:
        return self.runs[0]

    def warm(self) -> list[float]:
        return self.runs[1:CUSTOM_PLANS]

    def steady(self) -> list[float]:
        return self.runs[CUSTOM_PLANS:]

    def summary(self) -> dict[str, Any]:
        warm, steady = self.warm(), self.steady()
        return {
            "first_s": round(self.first(), 3),
            "warm_median_s": round(statistics.median(warm), 3),
            "warm_range_s": [round(min(warm), 3), round(max(warm), 3)],
            "steady_median_s": round(statistics.median(steady), 3),
            "steady_range_s": [round(min(steady), 3), round(max(steady), 3)],
            "rows": self.rows,
            "sql_s": self.breakdowns,
        }


def _breakdown(seen: list[tuple[str, Any, float]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for statement, _params, took in seen:
        totals[label(statement)] = totals.get(label(statement), 0.0) + took
    return {name: round(s, 3) for name, s in totals.items()}


async def measure(case: Case, repeat: int) -> None:
    """The first run, the warm ones up to the fifth (custom plans), then `repeat` steady ones
    (whatever the plan cache chose at the sixth)."""
    kinds = ["first"] + ["warm"] * (CUSTOM_PLANS - 1) + ["steady"] * repeat
    statements = Statements()
    async with case.setup() as (run, engine):
        statements.attach(engine)
        for kind in kinds:
            statements.take()
            statements.on = True
            started = time.perf_counter()
            case.rows = await run()
            took = time.perf_counter() - started
            statements.on = False
            seen = statements.take()
            case.runs.append(took)
            case.breakdowns[kind] = _breakdown(seen)
            queries = [item for item in seen if not item[0].startswith("SET")]
            case.slowest = max(queries, key=lambda item: item[2], default=None)
    print(
        f"  {case.name}: first {case.first():.3f} s, "
        f"warm {statistics.median(case.warm()):.3f} s, "
        f"steady {statistics.median(case.steady()):.3f} s",
        file=sys.stderr,
    )


def service_cases(url: str, site: Site, span: Span) -> Iterator[Case]:
    view = analytics.period_of(
        site, span.first_day.isoformat(), span.last_day.isoformat(), now=span.until
    )
    assert (view.period.since, view.period.until) == (span.since, span.until)

    def report(
        model: Model, level: GroupBy
    ) -> Callable[[async_sessionmaker[AsyncSession]], Runner]:
        def make(sessionmaker: async_sessionmaker[AsyncSession]) -> Runner:
            async def run() -> int:
                async with sessionmaker() as db:
                    found = await reports_service.sources_report(
                        db,
                        site=site,
                        since=span.since,
                        until=span.until,
                        group_by=level,
                        model=model,
                    )
                    return len(found.rows)

            return run

        return make

    def overview(model: Model) -> Callable[[async_sessionmaker[AsyncSession]], Runner]:
        def make(sessionmaker: async_sessionmaker[AsyncSession]) -> Runner:
            async def run() -> int:
                async with sessionmaker() as db:
                    found = await analytics.overview(db, site=site, period=view, model=model)
                    return len(found.top_sources) + len(found.recent_calls)

            return run

        return make

    def on_new_engine(
        make: Callable[[async_sessionmaker[AsyncSession]], Runner],
    ) -> Callable[[], AbstractAsyncContextManager[tuple[Runner, AsyncEngine]]]:
        @asynccontextmanager
        async def setup() -> AsyncIterator[tuple[Runner, AsyncEngine]]:
            engine = create_engine(url)
            try:
                yield make(create_sessionmaker(engine)), engine
            finally:
                await engine.dispose()

        return setup

    for model in Model:
        yield Case(f"overview {model.value}", on_new_engine(overview(model)))
    for model in Model:
        for level in GroupBy:
            yield Case(
                f"sources {model.value} by {level.value}", on_new_engine(report(model, level))
            )


async def sign_in(client: AsyncClient) -> None:
    page = await client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if found is None:
        raise RuntimeError("no sign-in form")
    answer = await client.post(
        "/login", data={"csrf_token": found.group(1), "email": EMAIL, "password": PASSWORD}
    )
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"sign-in failed: HTTP {answer.status_code}")


def http_cases(url: str, site: Site, span: Span) -> Iterator[Case]:
    """The dashboard's pages over HTTP: a new app (its own engine) per case, signed in."""
    period = {"from": span.first_day.isoformat(), "to": span.last_day.isoformat()}

    def page(path: str, **query: str) -> Callable[[], AbstractAsyncContextManager[Any]]:
        @asynccontextmanager
        async def setup() -> AsyncIterator[tuple[Runner, AsyncEngine]]:
            settings = Settings(
                database_url=url,
                admin_token=SecretStr(new_admin_token()),
                secret_key=SecretStr(new_admin_token()),
                public_url="http://testserver",
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                transport = ASGITransport(app=app)
                async with AsyncClient(transport=transport, base_url="http://testserver") as client:
                    await sign_in(client)

                    async def run() -> int:
                        response = await client.get(
                            f"/sites/{site.id}/{path}", params={**period, **query}
                        )
                        if response.status_code != 200:
                            raise RuntimeError(f"{path}: HTTP {response.status_code}")
                        return len(response.content)

                    yield run, state_of(app).engine

        return setup

    yield Case("GET overview (last_non_direct)", page("overview"))
    yield Case("GET sources (default: by source, last_non_direct)", page("sources"))
    for model in Model:
        yield Case(
            f"GET sources by campaign, {model.value}",
            page("sources", group_by="campaign", model=model.value),
        )


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain(engine: AsyncEngine, statement: str, parameters: Any) -> list[str]:
    """EXPLAIN ANALYZE of a statement as the app ran it: its custom plan (the parameters'
    values known), then the generic plan PostgreSQL may settle on after five runs."""
    lines = ["-- custom plan (the first five runs on a connection)"]
    async with engine.connect() as connection:
        await connection.exec_driver_sql("SET LOCAL jit = off")
        plan = await connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
        )
        lines += [row[0] for row in plan]
        await connection.rollback()
    lines += ["", "-- generic plan (what the plan cache may switch to)"]
    async with engine.connect() as connection:
        # A prepared statement outlives the transaction: deallocated before the connection
        # goes back to the pool.
        await connection.exec_driver_sql("PREPARE bench_explained AS " + statement)
        try:
            await connection.exec_driver_sql("SET LOCAL jit = off")
            await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            values = ", ".join(_literal(value) for value in parameters)
            plan = await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_explained({values})"
            )
            lines += [row[0] for row in plan]
        finally:
            await connection.rollback()
            await connection.exec_driver_sql("DEALLOCATE bench_explained")
            await connection.commit()
    return lines


def last_days(span: Span, days: int) -> Span:
    """The last `days` local days of `span`: the month a report shows over a longer history."""
    zone = ZoneInfo(TIMEZONE)
    first_day = max(span.first_day, span.last_day - timedelta(days=days - 1))
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    return Span(first_day=first_day, last_day=span.last_day, since=since, until=span.until)


async def note_pending(engine: AsyncEngine, site: Site, span: Span, *, minutes: int) -> int:
    """Note every call of the span's last `minutes` as changed, as their events would have."""
    since = span.until - timedelta(minutes=minutes)
    async with engine.begin() as connection:
        noted = await connection.execute(
            text(
                "INSERT INTO credit_changes (call_id, site_id, started_at) "
                "SELECT id, site_id, started_at FROM calls "
                "WHERE site_id = :site AND started_at >= :since AND started_at < :until"
            ),
            {"site": site.id, "since": since, "until": span.until},
        )
    return int(noted.rowcount or 0)


async def build_rollups(
    sessionmaker: async_sessionmaker[AsyncSession], site: Site, span: Span
) -> dict[str, float]:
    """What the worker does for a site it has not built yet: every call's credits, then every
    day that is over rolled up (here all the generated days, as just after midnight)."""
    started = time.perf_counter()
    calls = await rollups.rebuild_calls(sessionmaker, site.id, now=span.until)
    credits_s = time.perf_counter() - started
    started = time.perf_counter()
    days = await rollups.roll_visits(
        sessionmaker, site.id, now=span.until + 2 * rollups.VISITS_SETTLE
    )
    visits_s = time.perf_counter() - started
    print(
        f"  credits of {calls} calls {credits_s:.1f} s, {days} days {visits_s:.1f} s",
        file=sys.stderr,
    )
    return {
        "credits_s": round(credits_s, 1),
        "calls": calls,
        "visit_days_s": round(visits_s, 1),
        "days": days,
    }


async def _database_settings(url: str, settings: dict[str, str]) -> None:
    """What-if settings for this database only (ALTER DATABASE): no app code changes."""
    for name, value in settings.items():
        if not re.fullmatch(r"[a-z_]+", name) or not re.fullmatch(r"[A-Za-z0-9_]+", value):
            raise ValueError(f"{name}={value}")
        await _admin(f"ALTER DATABASE \"{DATABASE}\" SET {name} = '{value}'")


async def run_benchmark(url: str, args: argparse.Namespace) -> dict[str, Any]:
    shape = Shape(
        sessions=args.sessions,
        calls=args.calls,
        visitors=args.visitors or args.sessions * 3 // 10,
        days=args.days,
    )
    span = span_of(shape.days)
    what_if = {
        name: value
        for name, value in (("plan_cache_mode", args.plan_cache_mode), ("work_mem", args.work_mem))
        if value
    }
    await _database_settings(url, what_if)
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    async with engine.connect() as connection:
        server = {
            name: await connection.scalar(text(f"SHOW {name}"))
            for name in ("server_version", "shared_buffers", "work_mem", "jit", "plan_cache_mode")
        }
    site, integration_id = await _seed_site(sessionmaker)
    print(f"generating {shape}", file=sys.stderr)
    data = await generate(engine, site, integration_id, shape, span, args.seed)
    shown = last_days(span, args.report_days or shape.days)

    results: dict[str, Any] = {}
    if args.direct:
        # Before the worker has built anything the reports compute directly (issue 7's way).
        print("direct computation", file=sys.stderr)
        direct = list(service_cases(url, site, shown))
        for case in direct:
            await measure(case, args.repeat)
        results["services_direct"] = {case.name: case.summary() for case in direct}
    print("building the rollups", file=sys.stderr)
    results["rollups_built_s"] = await build_rollups(sessionmaker, site, span)
    cases = list(service_cases(url, site, shown))
    for case in cases:
        await measure(case, args.repeat)
    results["services"] = {case.name: case.summary() for case in cases}
    if args.explain_to:
        slowest = max(cases, key=lambda c: statistics.median(c.steady()))
        plans = [f"-- slowest case (steady median): {slowest.name}"]
        if slowest.slowest is not None:
            statement, parameters, took = slowest.slowest
            plans += [f"-- its slowest statement, {took:.3f} s in the app:", statement, ""]
            plans += await explain(engine, statement, parameters)
        results["explained"] = slowest.name
        results["plan"] = plans
    await engine.dispose()
    if args.http:
        pages = list(http_cases(url, site, shown))
        for case in pages:
            await measure(case, args.repeat)
        results["http"] = {}
        for case in pages:
            summary = case.summary()
            summary["html_bytes"] = summary.pop("rows")
            results["http"][case.name] = summary
    # On a live server calls keep changing, and the worker rolls them up every 30 s: until
    # then a day a pending change names is counted from the credits of its settled calls and,
    # directly, its pending ones. Timed with the last 10 minutes' calls pending (twenty worker
    # rounds behind), then the whole last day's (more than rollups.PENDING_CALLS_NAMED: the
    # day is counted directly, as after a CRM sync that touched every deal of the day).
    for name, minutes in (("last_10_minutes", 10), ("last_day", 24 * 60)):
        print(f"pending: the {name.replace('_', ' ')}", file=sys.stderr)
        engine = create_engine(url)
        noted = await note_pending(engine, site, shown, minutes=minutes)
        results[f"pending_calls_{name}"] = noted
        await engine.dispose()
        pending = list(service_cases(url, site, shown))
        for case in pending:
            await measure(case, args.repeat)
        results[f"services_{name}_pending"] = {case.name: case.summary() for case in pending}
    return {
        "postgres": {**server, "what_if": what_if},
        "data": {
            "sessions": shape.sessions,
            "calls": shape.calls,
            "visitors": shape.visitors,
            "days": shape.days,
            "generated": [span.first_day.isoformat(), span.last_day.isoformat()],
            "period": [shown.first_day.isoformat(), shown.last_day.isoformat()],
            "timezone": TIMEZONE,
            **data,
        },
        **results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--visitors", type=int, default=0, help="default: 30%% of the sessions")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--report-days", type=int, default=0, help="report the last N days (default: all)"
    )
    parser.add_argument(
        "--direct", action="store_true", help="also time the direct computation (before rollups)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="steady runs (after 4 warm ones)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-http", dest="http", action="store_false")
    parser.add_argument("--explain-to", help="write EXPLAIN ANALYZE of the slowest query here")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--plan-cache-mode",
        choices=("auto", "force_custom_plan", "force_generic_plan"),
        help="what-if: this database's plan_cache_mode (default: the server's)",
    )
    parser.add_argument("--work-mem", help="what-if: this database's work_mem, e.g. 64MB")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    load = os.getloadavg()
    # The seeded PBX integration's credentials are sealed at rest, as on a server.
    crypto.configure(crypto.Keyring(stack.SECRET_KEY))
    url = fresh_database()
    try:
        results = asyncio.run(run_benchmark(url, args))
    finally:
        if not args.keep:
            drop_database()
    plan = results.pop("plan", None)
    if args.explain_to and plan is not None:
        with open(args.explain_to, "w", encoding="utf-8") as out:
            out.write("\n".join(plan) + "\n")
    print(
        json.dumps(
            {
                "machine": {
                    **stack.machine(),
                    "load_average_at_start": [round(x, 2) for x in load],
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                },
                **results,
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
