"""The booking rules, each written once.

PostgreSQL has the last word: kmcbot_book (sql/004) checks a booking and
repository.move a move, and its unique indexes hold under races. The dialogue
checks the same rules early, for a friendly answer, and the tests' fake
(tests/support/fakes.py) follows them; tests/integration/test_booking_rules.py
runs one set of cases against the fake and against PostgreSQL, so that neither
drifts. The checks go in the order the SQL makes them: the first rule broken
is the one the citizen hears about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from kmcbot.booking.model import BookingStatus, Interval, Refusal, Vaccine

# Family members on one phone: at most this many active bookings per WhatsApp number.
MAX_ACTIVE_PER_NUMBER = 4
# What counts against that limit: a booking still to come.
COUNTS_FOR_NUMBER = frozenset({BookingStatus.BOOKED})
# What keeps an ID from booking again: a booking to come, or the dose given
# (bookings_one_per_id, sql/005). A cancelled or missed booking frees the ID.
HOLDS_ID = frozenset({BookingStatus.BOOKED, BookingStatus.ATTENDED})


def eligible_from(interval: Interval | None, first_dose: date) -> date:
    """First day the second dose may be given. An unknown interval (the table not
    loaded yet) means no lower bound here: PostgreSQL still checks."""
    return first_dose + timedelta(days=interval.min_days if interval else 0)


def due_until(interval: Interval | None, first_dose: date) -> date | None:
    """Last day of the usual interval (a later dose is still given), if known."""
    return first_dose + timedelta(days=interval.max_days) if interval else None


@dataclass(frozen=True, slots=True)
class SlotState:
    """What the rules look at in a slot, as it is now."""

    open: bool  # not cancelled by the centre
    started: bool
    vaccine: Vaccine
    day: date
    interval: Interval | None  # the slot's vaccine's
    full: bool


def slot_refusal(slot: SlotState | None, vaccine: Vaccine, first_dose: date) -> Refusal | None:
    """Why this slot cannot take this dose (a booking or a move), or None."""
    if slot is None or not slot.open:
        return Refusal.SLOT_GONE
    if slot.started:
        return Refusal.SLOT_STARTED
    if slot.vaccine != vaccine:
        return Refusal.VACCINE_MISMATCH
    if slot.day < eligible_from(slot.interval, first_dose):
        return Refusal.NOT_ELIGIBLE
    if slot.full:
        return Refusal.SLOT_FULL
    return None


def book_refusal(
    slot: SlotState | None,
    vaccine: Vaccine,
    first_dose: date,
    *,
    active_on_number: int,
    id_held: bool,
) -> Refusal | None:
    """Why this booking cannot be made, or None. A full slot first: kmcbot_book
    refuses it before taking any lock (the hot-slot rush), whatever else is
    wrong. Then the slot's rules, the number's limit and the ID's one booking."""
    if slot is not None and slot.full:
        return Refusal.SLOT_FULL
    refusal = slot_refusal(slot, vaccine, first_dose)
    if refusal is not None:
        return refusal
    if active_on_number >= MAX_ACTIVE_PER_NUMBER:
        return Refusal.NUMBER_LIMIT
    if id_held:
        return Refusal.ID_ALREADY_BOOKED
    return None
