"""The booking commands, and what carrying one out reports back.

The dialogue's step never does I/O: it returns these commands as its effects;
the pipeline runs them against PostgreSQL (repository.py) and feeds each
result back into the step as an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from kmcbot.booking.model import BookingView, Refusal, Vaccine

# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Book:
    slot_id: int
    vaccine: Vaccine
    first_dose: date
    id_type: str
    id_hash: str  # keyed hash; the clear number never leaves the step
    id_last4: str
    name: str
    lang: str
    message_id: str  # the inbound message that confirmed: a redelivery never books twice


@dataclass(frozen=True, slots=True)
class ListBookings:
    # Also this booking of the number's, whatever its status: the last one booked,
    # for "Same as before?" (the profile keeps only its reference).
    also: str | None = None


@dataclass(frozen=True, slots=True)
class CancelBooking:
    reference: str


@dataclass(frozen=True, slots=True)
class MoveBooking:
    reference: str
    slot_id: int
    message_id: str


@dataclass(frozen=True, slots=True)
class ForgetMe:
    """Erase this number's personal data (bookings keep only their counts)."""


Effect = Book | ListBookings | CancelBooking | MoveBooking | ForgetMe

# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Booked:
    booking: BookingView


@dataclass(frozen=True, slots=True)
class Moved:
    booking: BookingView


@dataclass(frozen=True, slots=True)
class Cancelled:
    reference: str


@dataclass(frozen=True, slots=True)
class BookingsListed:
    bookings: tuple[BookingView, ...]


@dataclass(frozen=True, slots=True)
class Forgotten:
    pass


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal


Result = Booked | Moved | Cancelled | BookingsListed | Forgotten | Refused
