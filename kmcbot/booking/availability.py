"""A read-only snapshot of centres and free places, taken by the shell.

The dialogue lists centres, dates and slots from it without touching
PostgreSQL. It may be a few seconds old: booking re-checks everything under
`SELECT ... FOR UPDATE`, so a stale snapshot costs a "just filled" answer,
never an overbooking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kmcbot.booking.model import Centre, Interval, Slot, Vaccine


@dataclass(frozen=True)
class Availability:
    centres: Mapping[int, Centre]
    slots: tuple[Slot, ...]  # sorted by (day, start, centre_id)
    intervals: Mapping[Vaccine, Interval] = field(default_factory=dict)
