"""In-process snapshots of configuration the hot paths read on every request.

The tracker reads a site's targets, pools and rules on every page view, and the PBX hook reads
its integration on every event; they change a few times a month. A snapshot is kept per key:

- in this process, a commit of a session that called `configuration_changed` (every service
  writing configuration does) drops every snapshot at once, so the admin API and the
  dashboard see their change on the very next request;
- other processes (several workers, several hosts) pick a change up within `ttl_s`;
- while the database is unreachable, the last copy is served however old it is: a site keeps
  showing its source-level and target numbers through an outage;
- one request at a time renews a key: when only the TTL has run out, the others keep serving the
  copy until it is renewed; after a change they wait for the renewal rather than load again.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from app.outages import is_database_outage

TTL_S = 5.0
MAX_KEYS = 10_000

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


class SnapshotCache(Generic[_Key, _Value]):
    def __init__(
        self, *, ttl_s: float = TTL_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        # Freshness is wall-clock housekeeping, not business time: tests that freeze `now`
        # still see their changes, through the change counter.
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._entries: dict[_Key, tuple[float, int, _Value]] = {}
        # Per key, the renewal in flight and the change count it loads for: requests that
        # need the same one wait for it instead of loading the same rows.
        self._renewing: dict[_Key, tuple[int, asyncio.Future[_Value]]] = {}

    async def get(self, key: _Key, load: Callable[[], Awaitable[_Value]]) -> _Value:
        now = self._monotonic()
        entry = self._entries.get(key)
        version = _changes.seen  # read before loading: a change committed meanwhile reloads
        if entry is not None and entry[1] == version and now - entry[0] < self._ttl_s:
            return entry[2]
        renewing = self._renewing.get(key)
        if renewing is not None and renewing[0] == version:
            if entry is not None and entry[1] == version:
                # Only the TTL ran out, and another request is already renewing: this one
                # keeps the copy it would have had a moment ago, rather than load the same
                # rows again (every request in flight did when a TTL ended: a burst of loads
                # every ttl_s under load).
                return entry[2]
            try:
                return await asyncio.shield(renewing[1])
            except asyncio.CancelledError:
                if not renewing[1].cancelled():
                    raise  # this request was cancelled, not the renewal
            # The request that renewed was cancelled: load here instead.
        return await self._renew(key, entry, version, load, now)

    async def _renew(
        self,
        key: _Key,
        entry: tuple[float, int, _Value] | None,
        version: int,
        load: Callable[[], Awaitable[_Value]],
        now: float,
    ) -> _Value:
        renewed: asyncio.Future[_Value] = asyncio.get_running_loop().create_future()
        self._renewing[key] = (version, renewed)
        try:
            try:
                value = await load()
            except Exception as exc:
                if entry is not None and is_database_outage(exc):
                    value = entry[2]
                    renewed.set_result(value)
                    return value
                renewed.set_exception(exc)
                renewed.exception()  # retrieved: nobody may be waiting for it
                raise
            except BaseException:
                renewed.cancel()
                raise
            if len(self._entries) >= MAX_KEYS:
                self._entries.clear()  # a flood of made-up keys must not grow the process
            self._entries[key] = (now, version, value)
            renewed.set_result(value)
            return value
        finally:
            if self._renewing.get(key, (None, None))[1] is renewed:
                del self._renewing[key]


class _Changes:
    """Counts commits that changed configuration, in this process."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.seen = 0

    def bump(self) -> None:
        self.seen = next(self._counter)


_changes = _Changes()
_PENDING = "callsource.config_changed"  # in Session.info: this transaction changed configuration
_HOOKED = "callsource.config_hooks"  # in Session.info: this session has the two hooks below


def configuration_changed(db: AsyncSession | Session) -> None:
    """Note that `db`'s transaction writes configuration (sites, their numbers and pools, PBX
    integrations, CRM connectors): every snapshot is renewed once it commits, and a rollback
    forgets the change.

    Every service that writes those tables calls this (app.crud's repositories do it for what
    they add, update and retire). Nothing is published before the commit: were it, a reader
    renewing in between would load the old rows and keep them, as fresh, until the TTL.
    """
    session = db.sync_session if isinstance(db, AsyncSession) else db
    if not session.in_transaction():
        # The change belongs to a transaction, begun here as any write would (no connection
        # yet): a rollback before the first statement ends it, and the mark with it.
        session.begin()
    session.info[_PENDING] = True
    if not session.info.get(_HOOKED):
        # Hooks on this session instance only, added on its first change: sessions that never
        # write configuration (every page view and PBX event) pay nothing.
        event.listen(session, "after_commit", _publish)
        event.listen(session, "after_transaction_end", _forget)
        session.info[_HOOKED] = True


def _publish(session: Session) -> None:
    # A savepoint's release fires after_commit too; its changes are published with the
    # transaction around it.
    if not session.in_nested_transaction() and session.info.pop(_PENDING, False):
        _changes.bump()


def _forget(session: Session, transaction: SessionTransaction) -> None:
    # The transaction is over: committed (published just before), rolled back or closed.
    # A savepoint's end keeps the mark: a change noted before it may still commit, and one
    # renewal too many only reloads the same rows.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
