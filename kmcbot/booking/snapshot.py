"""The availability snapshot, kept up to date from the rows that changed.

Issue 18, finding 9: with 44,000 open sessions a full reload took about half
a second of the event loop, every second, in every process. Now a full load
happens at start and every FULL_RELOAD_S; in between, each reload reads only
the slots and centres whose `changed_at` (sql/010) moved since a little
before the last read (OVERLAP_S: a change made inside a transaction that
commits up to that much later is still seen; a longer one waits for the next
full load), and the snapshot is rebuilt from the previous one: unchanged
slots, their order and their index entries are reused, and a row read again
within the overlap is skipped by its `changed_at`.

A slot that is full, cancelled or of an inactive centre stays in the
snapshot with no places (`free` 0), so nothing but new slots changes the order.
The snapshot may be a few seconds old, as before: booking re-checks
everything in PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg

from kmcbot.booking.availability import Availability, Key
from kmcbot.booking.model import Centre, Interval, Slot, Vaccine

FULL_RELOAD_S = 600.0  # also brings in the slots that enter the horizon as days pass
OVERLAP_S = 5.0

_CENTRE_FIELDS = ("id", "code", "name", "address", "ward", "latitude", "longitude", "borough")
_CENTRES = "SELECT id, code, name, address, ward, latitude, longitude, borough, active FROM centres"
_SLOTS = """
SELECT s.id, s.centre_id, s.vaccine, s.day, s.start_time, s.end_time,
       CASE WHEN s.status = 'open' THEN greatest(s.capacity - s.booked - s.held, 0) ELSE 0 END
           AS free,
       s.changed_at
FROM slots s
WHERE s.starts_at > $1 AND s.starts_at < $1 + make_interval(days => $2)
"""


def _order(s: Slot) -> tuple[object, ...]:
    return (s.day, s.start, s.centre_id, s.id)


class Snapshots:
    """`await snapshots(now)`: the current Availability (a loader for AvailabilityCache)."""

    def __init__(self, pool: asyncpg.Pool, horizon_days: int) -> None:
        self.pool = pool
        self.horizon_days = horizon_days
        self._since: datetime | None = None  # the database's clock at the last read
        self._full_at = 0.0
        self._centres: dict[int, Centre] = {}
        self._active: set[int] = set()
        self._intervals: dict[Vaccine, Interval] = {}
        self._members: dict[Key, dict[int, Slot]] = {}  # every slot, by (vaccine, centre)
        self._order: list[Slot] = []
        self._position: dict[int, int] = {}  # slot id -> index in _order
        self._places: dict[Key, tuple[Slot, ...]] = {}
        self._changed_at: dict[int, datetime] = {}  # slot id -> its changed_at when read
        self.last: Availability | None = None
        self.changed_rows = 0  # of the last reload (for tests and benchmarks)

    async def __call__(self, now: datetime) -> Availability:
        full = self._since is None or time.monotonic() - self._full_at > FULL_RELOAD_S
        async with self.pool.acquire() as conn:
            clock = await conn.fetchval("SELECT clock_timestamp()")
            if full:
                centres = await conn.fetch(_CENTRES)
                slots = await conn.fetch(_SLOTS + " AND s.status = 'open'", now, self.horizon_days)
                intervals = await conn.fetch(
                    "SELECT vaccine, min_days, max_days FROM dose_intervals"
                )
            else:
                assert self._since is not None
                since = self._since - timedelta(seconds=OVERLAP_S)
                centres = await conn.fetch(_CENTRES + " WHERE changed_at > $1", since)
                slots = await conn.fetch(
                    _SLOTS + " AND s.changed_at > $3", now, self.horizon_days, since
                )
        self._since = clock
        if full:
            self._full_at = time.monotonic()
            self._reset(intervals)
        self.changed_rows = len(centres) + len(slots)
        if full or centres or slots or self.last is None:
            self._apply(centres, slots)
            self.last = Availability(
                centres=dict(self._centres),
                slots=tuple(self._order),
                intervals=self._intervals,
                places=self._places,
            )
        return self.last

    def _reset(self, intervals: Iterable[asyncpg.Record]) -> None:
        self._centres, self._active, self._members = {}, set(), {}
        self._order, self._position, self._places, self._changed_at = [], {}, {}, {}
        self._intervals = {
            Vaccine(r["vaccine"]): Interval(r["min_days"], r["max_days"]) for r in intervals
        }

    def _apply(self, centres: Iterable[asyncpg.Record], slots: Iterable[asyncpg.Record]) -> None:
        touched: set[Key] = set()
        for r in centres:
            centre = Centre(**{k: r[k] for k in _CENTRE_FIELDS})
            if r["active"]:
                self._centres[centre.id] = centre
                self._active.add(centre.id)
            else:
                self._centres.pop(centre.id, None)
                self._active.discard(centre.id)
            touched |= {key for key in self._members if key[1] == centre.id}
        order = self._order
        resort = False
        for r in slots:
            if self._changed_at.get(r["id"]) == r["changed_at"]:
                continue  # read before, within the overlap
            self._changed_at[r["id"]] = r["changed_at"]
            slot = Slot(
                id=r["id"],
                centre_id=r["centre_id"],
                vaccine=Vaccine(r["vaccine"]),
                day=r["day"],
                start=r["start_time"],
                end=r["end_time"],
                free=r["free"],
            )
            key = (slot.vaccine, slot.centre_id)
            self._members.setdefault(key, {})[slot.id] = slot
            touched.add(key)
            at = self._position.get(slot.id)
            if at is not None and _order(order[at]) == _order(slot):
                if order is self._order:
                    order = list(order)  # the last Availability keeps the old list's tuple
                order[at] = slot
            else:
                resort = True
        if resort:
            order = sorted(
                (s for members in self._members.values() for s in members.values()), key=_order
            )
            self._position = {s.id: i for i, s in enumerate(order)}
        self._order = order
        places = dict(self._places)
        for key in touched:
            members = self._members.get(key, {})
            found = (
                sorted((s for s in members.values() if s.free > 0), key=_order)
                if key[1] in self._active
                else []
            )
            if found:
                places[key] = tuple(found)
            else:
                places.pop(key, None)
        self._places = places
