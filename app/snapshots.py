"""In-process snapshots of configuration the hot paths read on every request.

The tracker reads a site's targets, pools and rules on every page view, and the PBX hook reads
its integration on every event; they change a few times a month. A snapshot is kept per key:

- in this process, any committed change to a configuration table (through an ORM session, by
  unit of work or bulk statement) drops every snapshot at once, so the admin API and the
  dashboard see their change on the very next request;
- other processes (several workers, several hosts) pick a change up within `ttl_s`;
- while the database is unreachable, the last copy is served however old it is: a site keeps
  showing its source-level and target numbers through an outage.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from app.models import CrmConnector, PbxIntegration, Pool, Site, TargetNumber, TrackingNumber
from app.outages import is_database_outage

TTL_S = 5.0
MAX_KEYS = 10_000
_CONFIG_MODELS = (Site, TargetNumber, Pool, TrackingNumber, PbxIntegration, CrmConnector)

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

    async def get(self, key: _Key, load: Callable[[], Awaitable[_Value]]) -> _Value:
        now = self._monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._ttl_s and entry[1] == _changes.seen:
            return entry[2]
        version = _changes.seen  # read before loading: a change committed meanwhile reloads
        try:
            value = await load()
        except Exception as exc:
            if entry is not None and is_database_outage(exc):
                return entry[2]
            raise
        if len(self._entries) >= MAX_KEYS:
            self._entries.clear()  # a flood of made-up keys must not grow the process
        self._entries[key] = (now, version, value)
        return value


class _Changes:
    """Counts commits that changed configuration, in this process."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self.seen = 0

    def bump(self) -> None:
        self.seen = next(self._counter)


_changes = _Changes()
_CHANGED = "callsource.config_changed"


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, _context: Any) -> None:
    touched = itertools.chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, _CONFIG_MODELS) for obj in touched):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(state: ORMExecuteState) -> None:
    # update(Pool)... and friends bypass the flush.
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    mapper = state.bind_mapper
    if mapper is not None and issubclass(mapper.class_, _CONFIG_MODELS):
        state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _publish_changes(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        _changes.bump()


@event.listens_for(Session, "after_rollback")
def _forget_changes(session: Session) -> None:
    session.info.pop(_CHANGED, None)
