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


@dataclass(frozen=True, slots=True)
class JoinWaitlist:
    """Wait for a place (kmcbot/waitlist/): what a booking needs, and from when."""

    vaccine: Vaccine
    first_dose: date
    earliest: date  # the day the second dose falls due (or today, if later)
    id_type: str
    id_hash: str
    id_last4: str
    name: str
    lang: str
    near: tuple[float, float] | None = None  # a location she shared: places within RADIUS_KM
    borough: int | None = None  # or places in this borough (1-16); neither: the whole city


@dataclass(frozen=True, slots=True)
class LeaveWaitlist:
    entry_id: int | None  # None: every entry of this number ("stop")


@dataclass(frozen=True, slots=True)
class TakeOffer:
    """Book the place an offer holds; offer_id None: this number's live offer."""

    offer_id: int | None
    message_id: str


@dataclass(frozen=True, slots=True)
class DeclineOffer:
    offer_id: int | None  # None: this number's live offer


Effect = (
    Book
    | ListBookings
    | CancelBooking
    | MoveBooking
    | ForgetMe
    | JoinWaitlist
    | LeaveWaitlist
    | TakeOffer
    | DeclineOffer
)

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
class Waiting:
    """A waitlist entry as "My bookings" shows it."""

    entry_id: int
    vaccine: Vaccine
    name: str
    position: int  # 1: the next place that suits goes to her
    borough: int | None = None  # her area: a borough, a shared location, or the city
    near: bool = False


@dataclass(frozen=True, slots=True)
class BookingsListed:
    bookings: tuple[BookingView, ...]
    waiting: tuple[Waiting, ...] = ()


@dataclass(frozen=True, slots=True)
class Forgotten:
    pass


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal


@dataclass(frozen=True, slots=True)
class Joined:
    position: int


@dataclass(frozen=True, slots=True)
class WaitlistLeft:
    entries: int  # how many entries were left (0: none was waiting)


@dataclass(frozen=True, slots=True)
class OfferDeclined:
    found: bool  # False: no live offer (expired, taken, or never made)
    typed: bool = False  # a typed "no" about whatever offer is live (none named)


Result = (
    Booked
    | Moved
    | Cancelled
    | BookingsListed
    | Forgotten
    | Refused
    | Joined
    | WaitlistLeft
    | OfferDeclined
)
