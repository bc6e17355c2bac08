"""Booking domain types shared by the pure dialogue and the PostgreSQL repository."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum

# India has had one offset and no daylight saving since 1945: a fixed offset
# needs no tz database (slim containers often lack one).
IST = timezone(timedelta(hours=5, minutes=30), "IST")


def kolkata_today() -> date:
    """The date at the centres: Kolkata's, whatever the server's zone."""
    return datetime.now(IST).date()


class Vaccine(StrEnum):
    COVISHIELD = "covishield"
    COVAXIN = "covaxin"
    SPUTNIK_V = "sputnik_v"


@dataclass(frozen=True, slots=True)
class Interval:
    """Days after the first dose within which the second is due (from dose_intervals)."""

    min_days: int
    max_days: int


@dataclass(frozen=True, slots=True)
class Centre:
    id: int
    code: str
    name: str
    address: str
    ward: int | None
    latitude: float
    longitude: float
    borough: int | None = None  # 1-16; the waitlist's area (a ward typed -> its borough)


@dataclass(frozen=True, slots=True)
class Slot:
    id: int
    centre_id: int
    vaccine: Vaccine
    day: date
    start: time
    end: time
    free: int  # capacity - booked - held (waitlist) when the snapshot was taken; PostgreSQL decides

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.day, self.start, IST)


class BookingStatus(StrEnum):
    """Every status sql/005 allows (bookings_status_check)."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    MISSED = "missed"  # not checked in by the end of its day (jobs/missed.py)


@dataclass(frozen=True, slots=True)
class BookingView:
    """A booking as the citizen sees it (no full ID number exists anywhere)."""

    reference: str
    code: str
    status: BookingStatus
    centre: Centre
    slot_id: int
    day: date
    start: time
    end: time
    vaccine: Vaccine
    first_dose: date
    id_type: str
    id_last4: str
    name: str
    lang: str
    id_hash: str = ""  # the keyed hash (never the number): lets the chat spot the same ID early


class Refusal(StrEnum):
    """Why PostgreSQL refused a booking, cancellation or move."""

    SLOT_FULL = "slot_full"
    SLOT_STARTED = "slot_started"
    BOOKING_STARTED = "booking_started"  # the booking's own slot: no cancel or move any more
    SLOT_GONE = "slot_gone"  # deleted or cancelled by the centre
    ID_ALREADY_BOOKED = "id_already_booked"
    NUMBER_LIMIT = "number_limit"
    VACCINE_MISMATCH = "vaccine_mismatch"
    NOT_ELIGIBLE = "not_eligible"
    NOT_FOUND = "not_found"
    NOT_ACTIVE = "not_active"  # already cancelled or attended
    # The waitlist (kmcbot/waitlist/):
    OFFER_GONE = "offer_gone"  # the offer expired, was passed on or withdrawn
    NO_OFFER = "no_offer"  # a typed "yes" with no offer live for this number
    ALREADY_WAITING = "already_waiting"  # this ID waits already
    WAITLIST_LIMIT = "waitlist_limit"  # the number waits for 4 people already
