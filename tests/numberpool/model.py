"""A small reference model of the pool rules: plain dicts and linear scans, no heaps, no Lua.

The stores must answer exactly as this model does, step for step. It is written from the rules
in the issue, not from either store, so a shortcut taken by a store shows up as a difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from numberpool.rules import GENERATION_SLOTS, NumberRecord, PoolSettings, from_ms, to_ms
from numberpool.store import Closed, Exhausted, Lease, NotHeld, PoolStats, Swept


@dataclass
class ModelNumber:
    id: str
    generation: int = 0
    holder: tuple[str, str | None] | None = None  # (session, visitor) of the current/last lease
    started: int = 0
    capped: bool = False
    expires: int | None = None  # while leased
    ended: int = 0  # last release (0: never)


@dataclass
class ModelPool:
    settings: PoolSettings
    numbers: dict[str, ModelNumber] = field(default_factory=dict)

    @classmethod
    def fresh(cls, numbers: list[str], settings: PoolSettings) -> ModelPool:
        return cls(settings, {n: ModelNumber(n) for n in numbers})

    @classmethod
    def restored(cls, records: list[NumberRecord], settings: PoolSettings) -> ModelPool:
        pool = cls(settings)
        for record in records:
            number = ModelNumber(record.number, record.generation)
            if record.state != "free":
                assert record.session_id is not None
                assert record.started_at is not None
                number.holder = (record.session_id, record.visitor_id)
                number.started = to_ms(record.started_at)
                number.capped = record.capped
            until = to_ms(record.until) if record.until else 0
            if record.state == "leased":
                number.expires = until
            else:
                number.ended = until
            pool.numbers[number.id] = number
        return pool

    # --- the rules ---------------------------------------------------------------------------

    def _sweep(self, now: int, closed: list[Closed]) -> None:
        due = sorted(
            (n.expires, n.id) for n in self.numbers.values() if n.expires and n.expires <= now
        )
        for expires, number_id in due:
            number = self.numbers[number_id]
            self._end(number, expires, closed, capped=expires >= number.started + self._max)

    def _end(self, number: ModelNumber, at: int, closed: list[Closed], *, capped: bool) -> None:
        number.expires, number.ended, number.capped = None, at, capped
        closed.append(Closed(number.id, number.generation, from_ms(at)))

    @property
    def _max(self) -> int:
        return self.settings.max_ms

    def _resting(self, number: ModelNumber, now: int) -> bool:
        return number.expires is None and number.ended + self.settings.cooldown_ms > now

    def _holding(
        self, *, session: str | None = None, visitor: str | None = None
    ) -> ModelNumber | None:
        """The number whose latest lease is this session's (or visitor's); the newest if several."""
        found = [
            n
            for n in self.numbers.values()
            if n.holder is not None
            and (n.holder[0] == session if session is not None else n.holder[1] == visitor)
        ]
        return max(found, key=lambda n: n.started) if found else None

    def _start(
        self, number: ModelNumber, session: str, visitor: str | None, now: int, closed: list[Closed]
    ) -> Lease:
        number.generation += 1
        number.holder, number.started, number.capped = (session, visitor), now, False
        number.expires = min(now + self.settings.idle_ms, now + self._max)
        return self._lease(number, True, closed)

    def _lease(self, number: ModelNumber, is_new: bool, closed: list[Closed]) -> Lease:
        assert number.expires is not None
        return Lease(
            number.id,
            number.generation,
            from_ms(number.started),
            from_ms(number.expires),
            is_new,
            tuple(closed),
        )

    def _extend(self, number: ModelNumber, now: int, closed: list[Closed]) -> Lease:
        number.expires = min(now + self.settings.idle_ms, number.started + self._max)
        return self._lease(number, False, closed)

    def serve(
        self, session: str, visitor: str | None, now_at: datetime, *, ping: bool
    ) -> Lease | Exhausted | NotHeld:
        now, closed = to_ms(now_at), list[Closed]()
        self._sweep(now, closed)
        skip = None
        known = False
        own = self._holding(session=session)
        if own is not None:
            known = True
            if own.expires is not None:
                return self._extend(own, now, closed)
            if own.capped:
                skip = own.id
            elif self._resting(own, now):
                return self._start(own, session, visitor, now, closed)
        if visitor is not None:
            mine = self._holding(visitor=visitor)
            if mine is not None and mine.id != skip:
                if mine.expires is not None:
                    if ping:
                        return self._extend(mine, now, closed)
                    closed.append(Closed(mine.id, mine.generation, from_ms(now)))
                    return self._start(mine, session, visitor, now, closed)
                if not mine.capped and self._resting(mine, now):
                    return self._start(mine, session, visitor, now, closed)
        if ping and not known:
            return NotHeld(tuple(closed))
        free = [
            n
            for n in self.numbers.values()
            if n.expires is None and n.ended + self.settings.cooldown_ms <= now
        ]
        if not free:
            return Exhausted(tuple(closed))
        best = min(free, key=lambda n: (n.ended, min(n.generation, GENERATION_SLOTS - 1), n.id))
        return self._start(best, session, visitor, now, closed)

    def release(self, session: str, now_at: datetime) -> Swept:
        now, closed = to_ms(now_at), list[Closed]()
        self._sweep(now, closed)
        own = self._holding(session=session)
        if own is not None and own.expires is not None:
            self._end(own, now, closed, capped=False)
        return Swept(tuple(closed))

    def sweep(self, now_at: datetime) -> Swept:
        closed: list[Closed] = []
        self._sweep(to_ms(now_at), closed)
        return Swept(tuple(closed))

    def stats(self, now_at: datetime) -> PoolStats:
        now = to_ms(now_at)
        rested = now - self.settings.cooldown_ms
        leased = sum(1 for n in self.numbers.values() if n.expires is not None and n.expires > now)
        cooling = sum(
            1
            for n in self.numbers.values()
            if not (n.expires is not None and n.expires > now)
            and (n.expires if n.expires is not None else n.ended) > rested
        )
        return PoolStats(size=len(self.numbers), leased=leased, cooling=cooling)
