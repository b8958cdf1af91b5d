"""The last snippet requests refused for their origin, per site, so the site's page can say
"requests from other.example were refused: add it to the domains" when no visit was stored.

Off the hot path: nothing is written for an accepted request. A refused one costs one write,
at most once a minute per site and host in each process (a foreign page left open, or someone
hammering the endpoint, cannot turn refusals into a write per request), and only the newest
KEPT of a site stay. Like pbx_webhooks.refusals, its SQL lives here: it writes on its own
connection, outside the request's (rolled back) session.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.models import SnippetRefusal

KEPT: Final = 20
EVERY: Final = timedelta(seconds=60)
# Forgetting the throttle is harmless (one more write): it only bounds the memory it takes.
THROTTLE_ENTRIES: Final = 10_000

log = logging.getLogger(__name__)


def refused_host(origin: str) -> str:
    """The host of the page that asked, as people write it in the site's domains."""
    host = urlsplit(origin).hostname or origin
    return host.lower().removeprefix("www.")[:255]


class SnippetRefusals:
    """This app's throttle of refusal writes (one per app: `AppState.part`)."""

    def __init__(self) -> None:
        self._last: dict[tuple[uuid.UUID, str], datetime] = {}

    async def record(
        self, engine: AsyncEngine, *, site_id: uuid.UUID, origin: str, now: datetime
    ) -> None:
        host = refused_host(origin)
        key = (site_id, host)
        last = self._last.get(key)
        if last is not None and now - last < EVERY:
            return
        if len(self._last) >= THROTTLE_ENTRIES:
            self._last.clear()
        self._last[key] = now
        try:
            await _store(engine, site_id=site_id, host=host, now=now)
        except Exception:
            # The answer is a 403 either way; a refusal not kept must not make it a 500.
            log.warning("could not keep a snippet refusal for site %s", site_id, exc_info=True)


async def _store(engine: AsyncEngine, *, site_id: uuid.UUID, host: str, now: datetime) -> None:
    """Keep this refusal and drop what falls beyond the newest KEPT, in one transaction."""
    async with engine.begin() as connection:
        await connection.execute(
            SnippetRefusal.__table__.insert().values(  # type: ignore[attr-defined]
                id=uuid.uuid4(), site_id=site_id, received_at=now, host=host
            )
        )
        newest = (
            select(SnippetRefusal.id)
            .where(SnippetRefusal.site_id == site_id)
            .order_by(SnippetRefusal.received_at.desc(), SnippetRefusal.id.desc())
            .limit(KEPT)
        )
        await connection.execute(
            delete(SnippetRefusal).where(
                SnippetRefusal.site_id == site_id, SnippetRefusal.id.not_in(newest)
            )
        )


async def recent(db: AsyncSession, *, site_id: uuid.UUID) -> list[SnippetRefusal]:
    """The site's kept refusals, newest first."""
    query = (
        select(SnippetRefusal)
        .where(SnippetRefusal.site_id == site_id)
        .order_by(SnippetRefusal.received_at.desc(), SnippetRefusal.id.desc())
        .limit(KEPT)
    )
    return list((await db.execute(query)).scalars())
