"""A read-only snapshot of centres and free places, taken by the shell.

The dialogue lists centres, dates and slots from it without touching
PostgreSQL. It may be a few seconds old: booking re-checks everything under
`SELECT ... FOR UPDATE`, so a stale snapshot costs a "just filled" answer,
never an overbooking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from kmcbot.booking.model import Centre, Interval, Slot, Vaccine

Key = tuple[Vaccine, int]  # (vaccine, centre id)


@dataclass(frozen=True)
class Availability:
    centres: Mapping[int, Centre]
    slots: tuple[Slot, ...]  # sorted by (day, start, centre_id)
    intervals: Mapping[Vaccine, Interval] = field(default_factory=dict)
    # The index of with_places, when the loader keeps it up to date itself
    # (booking/snapshot.py); else built from `slots` on first use.
    places: Mapping[Key, tuple[Slot, ...]] | None = field(default=None, compare=False)

    @cached_property
    def _with_places(self) -> Mapping[Key, tuple[Slot, ...]]:
        if self.places is not None:
            return self.places
        index: dict[tuple[Vaccine, int], list[Slot]] = defaultdict(list)
        for s in self.slots:
            if s.free > 0:
                index[s.vaccine, s.centre_id].append(s)
        return {key: tuple(found) for key, found in index.items()}

    @cached_property
    def ward_boroughs(self) -> dict[int, int]:
        """Each ward's borough, from the centres' data: a citizen joining the
        waitlist types her ward number, and waits for places in its borough."""
        return {
            c.ward: c.borough
            for c in self.centres.values()
            if c.ward is not None and c.borough is not None
        }

    @cached_property
    def by_id(self) -> dict[int, Slot]:
        return {s.id: s for s in self.slots}

    def with_places(self, vaccine: Vaccine, centre_id: int) -> tuple[Slot, ...]:
        """The centre's slots of `vaccine` with places left, by (day, start): the
        dialogue asks several times per message, so the index is built once per
        snapshot instead of scanning every slot each time."""
        return self._with_places.get((vaccine, centre_id), ())
