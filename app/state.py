"""The application state: everything a request may reach, typed, in one object per app.

`app.main.create_app` builds one `AppState` and `install`s it as the app's only state
attribute; the lifespan `attach`es the connections it opens (database, pool store, rate
limiter) and detaches them when it closes them. Requests reach it through `app_state(request)`
(the typed dependencies of `app.deps` wrap it); nothing else reads `app.state`.

Domains keep their own per-app objects (their configuration snapshots, the demo's inbox) as
`part`s, keyed by type, so that this module needs no import of the domains above it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request

from app.config import Settings
from app.kit.clock import Clock
from app.ratelimit import PublicLimits, RateLimiter
from numberpool.metrics import PoolMetrics
from numberpool.store import PoolStore

_Part = TypeVar("_Part")


class NotStarted(RuntimeError):
    """A connection was asked for outside the app's lifespan."""


@dataclass(frozen=True, slots=True)
class Connections:
    """What the lifespan opens and closes."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    pool_store: PoolStore
    rate_limiter: RateLimiter


@dataclass(frozen=True, slots=True, eq=False)
class AppState:
    """Built once per app by its factory; a test that wants another clock or limits gives
    them to `create_app`."""

    settings: Settings
    admin_token: str
    clock: Clock
    public_limits: PublicLimits
    registry: CollectorRegistry
    pool_metrics: PoolMetrics
    # Set only by attach/detach: the one change after construction.
    _connections: Connections | None = field(default=None, init=False)
    _parts: dict[type, object] = field(default_factory=dict, init=False)

    def attach(self, connections: Connections) -> None:
        object.__setattr__(self, "_connections", connections)

    def detach(self) -> None:
        object.__setattr__(self, "_connections", None)

    @property
    def connections(self) -> Connections:
        found = self._connections
        if found is None:
            raise NotStarted("the app's connections open with its lifespan, and it is not running")
        return found

    @property
    def engine(self) -> AsyncEngine:
        return self.connections.engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.connections.sessionmaker

    @property
    def pool_store(self) -> PoolStore:
        return self.connections.pool_store

    @property
    def rate_limiter(self) -> RateLimiter:
        return self.connections.rate_limiter

    def part(self, kind: type[_Part]) -> _Part:
        """This app's one `kind`, made by `kind()` the first time it is asked for."""
        found = self._parts.get(kind)
        if isinstance(found, kind):
            return found
        made = kind()
        self._parts[kind] = made
        return made

    def provide(self, part: object) -> None:
        """Make `part` this app's one object of its type (a fresh one, or a test's own)."""
        self._parts[type(part)] = part


# Starlette's `app.state` is untyped: `callsource` is the one attribute of it this app uses.
def install(app: Starlette, state: AppState) -> None:
    app.state.callsource = state


def state_of(app: Starlette) -> AppState:
    state: AppState = app.state.callsource
    return state


def app_state(request: Request) -> AppState:
    """The state of the app serving `request`: the one accessor of `app.state`. Plain
    attribute reads, so the snippet's routes use it directly rather than as dependencies."""
    state: AppState = request.app.state.callsource
    return state
