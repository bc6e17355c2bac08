"""Which waiting citizen is offered which place: a pure function, no I/O.

The order (README, "Waitlist"): the entry whose second dose fell due first
(its earliest date: the day she became eligible) goes first; among equal dates,
the one who joined first; then the entry's id, so that the order is total.
Each entry, in that order, is offered the earliest-starting place that suits it
(its vaccine, on or after its earliest date, in its area) and that it was not
offered before. A place is offered to one citizen at a time (a slot with n free
places makes at most n live offers), and a citizen (a WhatsApp user, who may
wait for family members too) holds at most one live offer.

An offer is held for `hold`, but never more than a quarter of the time left
until the session starts (a session tomorrow morning, offered tonight, is held
the full time; one in two hours, 30 minutes); a place whose hold would be
shorter than MIN_HOLD (or `hold` itself, if shorter) is not offered at all and
stays in the ordinary lists.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

MIN_HOLD = timedelta(minutes=10)
EARTH_KM = 6371.0


@dataclass(frozen=True, slots=True)
class Area:
    """Where an entry may be offered places: a borough, or a circle around the
    location she shared. No area: anywhere in the city."""

    borough: int | None = None
    near: tuple[float, float] | None = None
    radius_km: float = 5.0


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    citizen: str  # the WhatsApp user (or its keyed hash): at most one live offer each
    vaccine: str
    earliest: date  # the day her second dose falls due
    joined_at: datetime
    area: Area | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """A slot with places nobody booked or holds."""

    slot_id: int
    vaccine: str
    day: date
    starts_at: datetime
    free: int  # capacity - booked - held
    borough: int | None = None
    latitude: float = 0.0
    longitude: float = 0.0


@dataclass(frozen=True, slots=True)
class Live:
    """An offer made earlier and not yet taken, declined or expired."""

    id: int
    entry_id: int
    citizen: str
    slot_id: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewOffer:
    entry_id: int
    citizen: str
    slot_id: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    make: tuple[NewOffer, ...]
    expire: tuple[int, ...]  # ids of live offers whose hold ran out


def order_key(e: Entry) -> tuple[date, datetime, int]:
    """The documented order: earliest due date, then time of joining (then id)."""
    return (e.earliest, e.joined_at, e.id)


def hold_for(now: datetime, starts_at: datetime, hold: timedelta) -> timedelta | None:
    """How long an offer of a session starting at `starts_at` is held; None: too
    close to offer (it stays in the ordinary lists)."""
    held = min(hold, (starts_at - now) / 4)
    if held < min(hold, MIN_HOLD) or held <= timedelta(0):
        return None
    return held


def km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(h)))


def suits(entry: Entry, place: Place) -> bool:
    if place.vaccine != entry.vaccine or place.day < entry.earliest:
        return False
    area = entry.area
    if area is None:
        return True
    if area.borough is not None and place.borough != area.borough:
        return False
    return area.near is None or km(area.near, (place.latitude, place.longitude)) <= area.radius_km


def allocate(
    entries: Iterable[Entry],
    places: Iterable[Place],
    live: Iterable[Live],
    now: datetime,
    hold: timedelta,
    offered_before: frozenset[tuple[int, int]] = frozenset(),
) -> Plan:
    """The offers to make now, and the live offers to expire.

    `places` count only places nobody booked or holds; an offer expiring now
    gives its place back first. `offered_before` holds (entry id, slot id) pairs
    offered earlier (declined or expired): never offered again to that entry.
    """
    live = list(live)
    expire = tuple(o.id for o in live if o.expires_at <= now)
    free: dict[int, int] = defaultdict(int)
    by_vaccine: dict[str, list[Place]] = defaultdict(list)
    for p in places:
        free[p.slot_id] += p.free
        by_vaccine[p.vaccine].append(p)
    for o in live:
        if o.expires_at <= now:
            free[o.slot_id] += 1  # its place is back (if the slot is still open)
    holding = {o.citizen for o in live if o.expires_at > now}
    busy_entries = {o.entry_id for o in live if o.expires_at > now}
    # Per vaccine: the places still open, by start; holds computed once per place.
    queues: dict[str, list[tuple[Place, datetime]]] = {}
    for vaccine, found in by_vaccine.items():
        ordered = []
        for p in sorted(found, key=lambda p: (p.starts_at, p.slot_id)):
            held = hold_for(now, p.starts_at, hold)
            if held is not None and free[p.slot_id] > 0:
                ordered.append((p, now + held))
        queues[vaccine] = ordered
    days = {v: [p.day for p, _ in q] for v, q in queues.items()}
    made: list[NewOffer] = []
    for entry in sorted(entries, key=order_key):
        if entry.citizen in holding or entry.id in busy_entries:
            continue
        queue = queues.get(entry.vaccine)
        if not queue:
            continue
        at = bisect_left(days[entry.vaccine], entry.earliest)
        for i in range(at, len(queue)):
            place, expires = queue[i]
            if free[place.slot_id] <= 0 or (entry.id, place.slot_id) in offered_before:
                continue
            if not suits(entry, place):
                continue
            free[place.slot_id] -= 1
            made.append(NewOffer(entry.id, entry.citizen, place.slot_id, expires))
            holding.add(entry.citizen)
            if free[place.slot_id] == 0:
                del queue[i]  # the list shrinks: later entries do not walk spent places
                del days[entry.vaccine][i]
            break
        if not any(queues.values()):
            break
    return Plan(tuple(made), expire)
