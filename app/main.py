"""The app factory: routes of every domain, error handling, metrics, and a lifespan that opens
and closes the database and the pool store."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry

from app import health
from app.api_docs import install_docs_ui, install_error_docs
from app.calls import endpoints as calls_endpoints
from app.config import Settings, get_settings
from app.costs import endpoints as costs_endpoints
from app.costs.accounts import endpoints as ad_accounts_endpoints
from app.costs.accounts.schedule import import_due as import_ad_costs
from app.dashboard.endpoints import install as install_dashboard
from app.dashboard.templating import static_url
from app.db import create_engine, create_sessionmaker
from app.demo import endpoints as demo_endpoints
from app.errors import install_error_handlers
from app.exports import endpoints as exports_endpoints
from app.json_bodies import FormLabelledJson
from app.kit import crypto
from app.kit.clock import Clock, utcnow
from app.leads import endpoints as leads_endpoints
from app.metrics import HttpMetrics, MetricsMiddleware
from app.numbers import endpoints as numbers_endpoints
from app.numbers import health_endpoints as pool_health_endpoints
from app.partitions import keep_partitions
from app.proxies import TrustedProxies
from app.ratelimit import PublicLimits, create_rate_limiter
from app.reports import endpoints as reports_endpoints
from app.reports.rollups import keep_rollups
from app.retention import apply_retention
from app.sites import endpoints as sites_endpoints
from app.state import AppState, Connections
from app.state import install as install_state
from app.tracking import endpoints as tracking_endpoints
from app.tracking.site_config import SiteConfigCache
from app.tracking.snippet import FORMS_SOURCE, build_snippet, snippet_response
from crm_push import alerts_endpoints
from crm_push import endpoints as crm_endpoints
from crm_push import hooks as crm_hooks
from crm_push.destinations import endpoints as destination_endpoints
from crm_push.worker import run_worker
from numberpool.housekeeping import run_housekeeping
from numberpool.metrics import PoolMetrics
from numberpool.stores import create_store
from pbx_webhooks import endpoints as pbx_endpoints
from pbx_webhooks import hooks as pbx_hooks
from pbx_webhooks.integrations import HookCache


def tune_gc_for_serving() -> None:
    """For a serving process, once its app is built.

    What exists now (modules, models, routes, the app) lives as long as the process, so it is
    taken out of the garbage collector's sight: full collections walked it all and stalled
    every request in flight for 70-130 ms (measured in bench/pbx_webhooks.py), which set the
    p99 of the tracker and the webhooks.

    Young collections then run every 50,000 allocations instead of every 700: a request
    allocates a few thousand objects and frees nearly all of them by reference counting, so
    the frequent collections found almost nothing and cost 10 % of the tracker's CPU
    (bench/tracker_sessions.py: 1.01 to 0.92 ms per session). One young collection of at
    most 50,000 survivors takes a few milliseconds.
    """
    gc.collect()
    gc.freeze()
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(50_000, older, oldest)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = utcnow,
    public_limits: PublicLimits | None = None,
    with_worker: bool = False,
) -> FastAPI:
    settings = settings or get_settings()
    admin_token = settings.require_admin_token()
    # Once per process, before any credentials are read: the models' EncryptedJSON uses it.
    crypto.configure(crypto.Keyring(settings.require_secret_key()))

    registry = CollectorRegistry()
    state = AppState(
        settings=settings,
        admin_token=admin_token,
        clock=clock,
        public_limits=public_limits or PublicLimits(),
        registry=registry,
        pool_metrics=PoolMetrics(registry),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        connections = Connections(
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            pool_store=create_store(settings.redis_url),
            rate_limiter=create_rate_limiter(settings.redis_url),
        )
        state.attach(connections)
        # Fresh configuration snapshots with every start.
        state.provide(SiteConfigCache())
        state.provide(HookCache())
        stop = asyncio.Event()
        background: list[asyncio.Task[object]] = [
            asyncio.create_task(
                run_housekeeping(
                    connections.sessionmaker, connections.pool_store, clock=clock, stop_event=stop
                )
            )
        ]
        if with_worker:
            background.append(
                asyncio.create_task(
                    run_worker(
                        connections.sessionmaker,
                        settings,
                        stop_event=stop,
                        clock=clock,
                        steps=(import_ad_costs, keep_partitions, keep_rollups, apply_retention),
                    )
                )
            )
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*background)
            await connections.rate_limiter.close()
            await connections.pool_store.close()
            await engine.dispose()
            state.detach()

    app = FastAPI(
        title="Callsource",
        summary="Self-hosted call tracking: dynamic number insertion, PBX webhooks, CRM push.",
        version="0.1.0",
        lifespan=lifespan,
        # /docs is served from the installation (install_docs_ui); ReDoc exists only on a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_state(app, state)
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    app.add_middleware(FormLabelledJson)
    trusted_proxies = settings.trusted_proxy_networks()
    if trusted_proxies:
        # Added last, so it runs first: everything after it sees the forwarded client.
        app.add_middleware(TrustedProxies, networks=trusted_proxies)
    install_error_handlers(app)
    install_error_docs(app)
    install_docs_ui(app, favicon_url=static_url("favicon.svg"))

    # Routes are matched in order: the two that take the traffic (every page view of every
    # visitor, every PBX event) come first.
    app.include_router(tracking_endpoints.router)
    app.include_router(leads_endpoints.tracker)
    app.include_router(pbx_hooks.router)
    app.include_router(health.router)
    app.include_router(sites_endpoints.router)
    app.include_router(numbers_endpoints.router)
    app.include_router(pool_health_endpoints.router)
    app.include_router(pbx_endpoints.admin_router)
    app.include_router(crm_endpoints.admin_router)
    app.include_router(crm_endpoints.deals_router)
    app.include_router(destination_endpoints.router)
    app.include_router(alerts_endpoints.router)
    app.include_router(crm_hooks.hooks_router)
    app.include_router(calls_endpoints.router)
    app.include_router(leads_endpoints.router)
    app.include_router(reports_endpoints.router)
    app.include_router(costs_endpoints.router)
    app.include_router(ad_accounts_endpoints.router)
    app.include_router(exports_endpoints.router)

    snippet = build_snippet()

    @app.get("/t/tracker.js", include_in_schema=False)
    @app.get("/static/tracker.js", include_in_schema=False)
    async def tracker_js(request: Request) -> Response:
        return snippet_response(request, snippet)

    forms_snippet = build_snippet(FORMS_SOURCE)

    @app.get("/t/forms.js", include_in_schema=False)
    @app.get("/static/forms.js", include_in_schema=False)
    async def forms_js(request: Request) -> Response:
        return snippet_response(request, forms_snippet, name="forms.js", module=True)

    # The dashboard (HTML pages, sign-in) and its static files under /dashboard/static.
    install_dashboard(app)
    # The demo's public pages (404 unless `callsource demo` created the demo site).
    app.include_router(demo_endpoints.router)
    app.include_router(demo_endpoints.hooks)

    return app
