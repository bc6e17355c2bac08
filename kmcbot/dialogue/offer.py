"""What can be offered to a citizen, read from the availability snapshot.

Pure queries: which centres, days and slots are open for a vaccine from the
eligible date on. "Open" means places left in the snapshot and not yet
started; PostgreSQL re-checks both when booking.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date, datetime

from kmcbot.booking import rules
from kmcbot.booking.availability import Availability
from kmcbot.booking.model import IST, Centre, Slot, Vaccine

MAX_DAYS = 10  # WhatsApp list rows
MAX_SLOTS = 10


def today(now: datetime) -> date:
    """The calendar day in Kolkata (the slots' days are IST days)."""
    return now.astimezone(IST).date()


def eligible_from(av: Availability, vaccine: Vaccine, first_dose: date) -> date:
    """First day the second dose may be given (rules.eligible_from)."""
    return rules.eligible_from(av.intervals.get(vaccine), first_dose)


def due_until(av: Availability, vaccine: Vaccine, first_dose: date) -> date | None:
    """Last day of the usual interval (rules.due_until)."""
    return rules.due_until(av.intervals.get(vaccine), first_dose)


def is_late(av: Availability, vaccine: Vaccine, first_dose: date, on: date) -> bool:
    until = due_until(av, vaccine, first_dose)
    return until is not None and on > until


def _open_at(
    av: Availability, vaccine: Vaccine, since: date, now: datetime, centre_id: int
) -> Iterator[Slot]:
    """The centre's open slots from `since` on, by (day, start)."""
    local = now.astimezone(IST)
    today, clock = local.date(), local.time()
    found = av.with_places(vaccine, centre_id)
    for i in range(bisect_left(found, max(since, today), key=_day), len(found)):
        s = found[i]
        if s.day > today or s.start > clock:  # not started yet (the days are IST days)
            yield s


def _day(s: Slot) -> date:
    return s.day


def _last_open(found: tuple[Slot, ...], first_day: date, local: datetime) -> bool:
    """any(_open_at(...)) without the walk. A centre's slots are sorted by (day, start),
    so its last one is open if any is
    (the latest day, and on today the latest start). Listing the centres asks this
    of every centre: 293 of them in the city."""
    if not found:
        return False
    last = found[-1]
    return last.day >= first_day and (last.day > local.date() or last.start > local.time())


def open_slots(av: Availability, vaccine: Vaccine, since: date, now: datetime) -> Iterator[Slot]:
    for centre_id in av.centres:
        yield from _open_at(av, vaccine, since, now, centre_id)


def centres(
    av: Availability,
    vaccine: Vaccine,
    since: date,
    now: datetime,
    near: tuple[float, float] | None,
) -> list[tuple[Centre, float | None]]:
    """Centres with an open slot: by distance from `near` (km), else by name."""
    local = now.astimezone(IST)
    first_day = max(since, local.date())
    found = [
        c for i, c in av.centres.items() if _last_open(av.with_places(vaccine, i), first_day, local)
    ]
    if near is None:
        return [(c, None) for c in sorted(found, key=lambda c: (c.name.casefold(), c.id))]
    with_km = [(c, haversine_km(near, (c.latitude, c.longitude))) for c in found]
    return sorted(with_km, key=lambda ck: (ck[1], ck[0].id))


def has_open(
    av: Availability, vaccine: Vaccine, since: date, now: datetime, centre_id: int
) -> bool:
    """Whether `centres` would list this centre, without listing the others (a
    pick of the list is checked so: one centre, not the city's 293)."""
    local = now.astimezone(IST)
    found = av.with_places(vaccine, centre_id)
    return centre_id in av.centres and _last_open(found, max(since, local.date()), local)


def days(
    av: Availability, vaccine: Vaccine, since: date, now: datetime, centre_id: int
) -> list[tuple[date, int]]:
    """Up to 10 days with places at the centre, with the places left that day."""
    free: dict[date, int] = {}
    for s in _open_at(av, vaccine, since, now, centre_id):
        free[s.day] = free.get(s.day, 0) + s.free
    return sorted(free.items())[:MAX_DAYS]


def slots(
    av: Availability, vaccine: Vaccine, since: date, now: datetime, centre_id: int, day: date
) -> list[Slot]:
    found = [s for s in _open_at(av, vaccine, since, now, centre_id) if s.day == day]
    return sorted(found, key=lambda s: (s.start, s.id))[:MAX_SLOTS]


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance; plenty for "which centre is nearest" in one city."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))
