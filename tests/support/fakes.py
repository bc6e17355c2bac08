"""In-memory stand-ins for the shell's services, for pure tests.

`FakeBookings` runs the dialogue's effects with the rules PostgreSQL enforces,
taken from kmcbot/booking/rules.py (and one booking per inbound message id),
and answers with the same Results; tests/integration/test_booking_rules.py
checks it against PostgreSQL case by case.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from kmcbot.booking import rules
from kmcbot.booking.availability import Availability
from kmcbot.booking.commands import (
    Book,
    Booked,
    BookingsListed,
    CancelBooking,
    Cancelled,
    DeclineOffer,
    Effect,
    ForgetMe,
    Forgotten,
    Joined,
    JoinWaitlist,
    LeaveWaitlist,
    ListBookings,
    MoveBooking,
    Moved,
    OfferDeclined,
    Refused,
    Result,
    TakeOffer,
    Waiting,
    WaitlistLeft,
)
from kmcbot.booking.model import (
    IST,
    BookingStatus,
    BookingView,
    Centre,
    Interval,
    Refusal,
    Slot,
    Vaccine,
)
from kmcbot.booking.reference import new_code, new_reference
from kmcbot.devtools.data.city import ward_borough

INTERVALS = {
    Vaccine.COVISHIELD: Interval(84, 112),
    Vaccine.COVAXIN: Interval(28, 42),
    Vaccine.SPUTNIK_V: Interval(21, 90),
}

# (name, address, ward, lat, lon, vaccine): 11 Covishield centres, so the
# centre list needs a second page; one each for Covaxin and Sputnik V.
CENTRES = [
    (
        "Roxy Cinema Hall Vaccination Centre",
        "Chowringhee Place, Kolkata 700013",
        46,
        22.5615,
        88.3520,
        Vaccine.COVISHIELD,
    ),
    ("Sealdah UPHC", "Acharya P.C. Road, Kolkata 700009", 49, 22.5665, 88.3700, Vaccine.COVISHIELD),
    ("Ballygunge UPHC", "Gariahat Road, Kolkata 700019", 68, 22.5270, 88.3660, Vaccine.COVISHIELD),
    (
        "Behala Borough XIII Clinic",
        "Diamond Harbour Road, Kolkata 700034",
        118,
        22.4985,
        88.3170,
        Vaccine.COVISHIELD,
    ),
    (
        "Chetla Health Centre",
        "Chetla Central Road, Kolkata 700027",
        82,
        22.5200,
        88.3380,
        Vaccine.COVISHIELD,
    ),
    (
        "Dum Dum Municipal Hospital",
        "Nager Bazar, Kolkata 700074",
        None,
        22.6300,
        88.4200,
        Vaccine.COVISHIELD,
    ),
    ("Entally UPHC", "Convent Road, Kolkata 700014", 55, 22.5530, 88.3780, Vaccine.COVISHIELD),
    (
        "Garden Reach Borough Office",
        "Garden Reach Road, Kolkata 700024",
        134,
        22.5400,
        88.2900,
        # Covaxin: the Covishield list's first page (8 centres and its two
        # navigation rows) keeps Roxy, the centre most tests book at.
        Vaccine.COVAXIN,
    ),
    (
        "Jadavpur UPHC",
        "Raja S.C. Mallick Road, Kolkata 700032",
        102,
        22.4990,
        88.3710,
        Vaccine.COVISHIELD,
    ),
    (
        "Kasba Health Centre",
        "Rajdanga Main Road, Kolkata 700107",
        107,
        22.5160,
        88.3880,
        Vaccine.COVISHIELD,
    ),
    (
        "Shyambazar UPHC",
        "Bhupen Bose Avenue, Kolkata 700004",
        10,
        22.6010,
        88.3720,
        Vaccine.COVISHIELD,
    ),
    (
        "Tollygunge Covaxin Centre",
        "Deshapran Sasmal Road, Kolkata 700033",
        94,
        22.4980,
        88.3450,
        Vaccine.COVAXIN,
    ),
    (
        "Park Circus Sputnik V Centre",
        "Park Circus, Kolkata 700017",
        64,
        22.5400,
        88.3650,
        Vaccine.SPUTNIK_V,
    ),
]

SLOT_TIMES = ((time(10), time(12)), (time(14), time(16)))
CAPACITY = 40
DAYS = 14


def make_availability(today: date, capacity: int = CAPACITY) -> Availability:
    """A small city: 13 centres, two slots a day for 14 days from `today`."""
    centres = {}
    slots = []
    for n, (name, address, ward, lat, lon, vaccine) in enumerate(CENTRES, 1):
        borough = ward_borough().get(ward)  # the city data's grouping
        centres[n] = Centre(n, f"C{n:03d}", name, address, ward, lat, lon, borough)
        for d in range(DAYS):
            for start, end in SLOT_TIMES:
                day = today + timedelta(days=d)
                slots.append(Slot(0, n, vaccine, day, start, end, capacity))
    slots.sort(key=lambda s: (s.day, s.start, s.centre_id))
    numbered = tuple(replace(s, id=i) for i, s in enumerate(slots, 1))
    return Availability(centres, numbered, dict(INTERVALS))


@dataclass
class _Booking:
    view: BookingView
    wa_id: str
    id_hash: str
    message_id: str


class FakeBookings:
    """The booking rules over an in-memory availability; deterministic."""

    def __init__(self, availability: Availability, seed: int = 0) -> None:
        self._centres = availability.centres
        self._intervals = availability.intervals
        self._slots = {s.id: s for s in availability.slots}
        self._new_ids = itertools.count(max(self._slots, default=0) + 1)  # never one removed
        self._bookings: dict[str, _Booking] = {}
        self._random = random.Random(seed)
        # The waitlist, as far as the dialogue's tests need it (the rules and the
        # order are tested against PostgreSQL: tests/integration/test_waitlist_store.py).
        self.waiting: dict[int, tuple[str, JoinWaitlist]] = {}  # entry id -> (number, join)
        self.offers: dict[int, tuple[str, int, int]] = {}  # live offer -> (number, entry, slot)
        self._entry_ids = itertools.count(1)

    def snapshot(self) -> Availability:
        """The availability as the shell would read it now."""
        slots = tuple(sorted(self._slots.values(), key=lambda s: (s.day, s.start, s.centre_id)))
        return Availability(self._centres, slots, self._intervals)

    def take(self, slot_id: int, places: int | None = None) -> None:
        """Someone else books `places` (default: all) of a slot."""
        s = self._slots[slot_id]
        self._slots[slot_id] = replace(s, free=max(0, s.free - (places or s.free)))

    def remove(self, slot_id: int) -> None:
        """The centre cancels a session."""
        del self._slots[slot_id]

    def add_slot(self, vaccine: Vaccine, day: date, start: time, capacity: int) -> int:
        """A new session at the first centre."""
        slot_id = next(self._new_ids)
        end = time(start.hour + 2, start.minute)
        self._slots[slot_id] = Slot(slot_id, min(self._centres), vaccine, day, start, end, capacity)
        return slot_id

    def free(self, slot_id: int) -> int:
        return self._slots[slot_id].free

    def start(self, slot_id: int, now: datetime) -> None:
        """Time passes: the session began an hour ago."""
        begun = (now - timedelta(hours=1)).astimezone(IST)
        self._slots[slot_id] = replace(self._slots[slot_id], day=begun.date(), start=begun.time())

    def set_status(self, reference: str, status: BookingStatus) -> None:
        """The centre checks the citizen in (attended), or the sweep marks them missed."""
        b = self._bookings[reference]
        b.view = replace(b.view, status=status)

    def active(self, wa_id: str | None = None) -> list[BookingView]:
        return [
            b.view
            for b in self._bookings.values()
            if b.view.status in rules.COUNTS_FOR_NUMBER and wa_id in (None, b.wa_id)
        ]

    def run(self, wa_id: str, effect: Effect, now: datetime) -> Result:
        match effect:
            case Book():
                return self._book(wa_id, effect, now)
            case ListBookings(also=also):
                last = [
                    b.view
                    for b in self._bookings.values()
                    if b.wa_id == wa_id
                    and b.view.reference == also
                    and b.view.status != BookingStatus.BOOKED
                ]
                waiting = tuple(
                    Waiting(i, j.vaccine, j.name, self._position(i), j.borough, j.near is not None)
                    for i, (number, j) in self.waiting.items()
                    if number == wa_id
                )
                return BookingsListed((*self.active(wa_id), *last), waiting)
            case JoinWaitlist():
                if any(j.id_hash == effect.id_hash for _, j in self.waiting.values()):
                    return Refused(Refusal.ALREADY_WAITING)
                if sum(n == wa_id for n, _ in self.waiting.values()) >= 4:
                    return Refused(Refusal.WAITLIST_LIMIT)
                entry = next(self._entry_ids)
                self.waiting[entry] = (wa_id, effect)
                return Joined(self._position(entry))
            case LeaveWaitlist(entry_id=entry_id):
                gone = [i for i, (n, _) in self.waiting.items()
                        if n == wa_id and entry_id in (None, i)]  # fmt: skip
                for i in gone:
                    del self.waiting[i]
                    self.offers = {o: v for o, v in self.offers.items() if v[1] != i}
                return WaitlistLeft(len(gone))
            case TakeOffer(offer_id=offer_id, message_id=message_id):
                return self._take(wa_id, offer_id, message_id, now)
            case DeclineOffer(offer_id=offer_id):
                mine = [
                    o for o, v in self.offers.items() if v[0] == wa_id and offer_id in (None, o)
                ]
                for o in mine:
                    del self.offers[o]
                return OfferDeclined(bool(mine), offer_id is None)
            case CancelBooking(reference):
                return self._cancel(wa_id, reference, now)
            case MoveBooking():
                return self._move(wa_id, effect, now)
            case ForgetMe():
                return self._forget(wa_id, now)
        raise TypeError(f"unknown effect {effect!r}")

    def _position(self, entry: int) -> int:
        """Her place in her vaccine's line: earliest due date first, then who joined
        first (the waitlist's fair order, sql/014)."""
        mine = self.waiting[entry][1]
        return sum(
            j.vaccine == mine.vaccine and (j.earliest, i) <= (mine.earliest, entry)
            for i, (_, j) in self.waiting.items()
        )

    def offer(self, wa_id: str, slot_id: int) -> int:
        """The offer job offers `slot_id` to this number's first waiting entry."""
        entry = next(i for i, (n, _) in self.waiting.items() if n == wa_id)
        offer_id = 100 + len(self.offers) + next(self._entry_ids)
        self.offers[offer_id] = (wa_id, entry, slot_id)
        return offer_id

    def _take(self, wa_id: str, offer_id: int | None, message_id: str, now: datetime) -> Result:
        mine = [o for o, v in self.offers.items() if v[0] == wa_id and offer_id in (None, o)]
        if not mine:
            return Refused(Refusal.NO_OFFER if offer_id is None else Refusal.OFFER_GONE)
        _, entry, slot_id = self.offers.pop(mine[0])
        _, j = self.waiting.pop(entry)
        book = Book(slot_id, j.vaccine, j.first_dose, j.id_type, j.id_hash, j.id_last4,
                    j.name, j.lang, message_id)  # fmt: skip
        return self._book(wa_id, book, now)

    # ------------------------------------------------------------ rules

    def _slot_state(self, slot_id: int, now: datetime) -> rules.SlotState | None:
        s = self._slots.get(slot_id)
        if s is None:
            return None
        return rules.SlotState(
            open=True,
            started=s.starts_at <= now,
            vaccine=s.vaccine,
            day=s.day,
            interval=self._intervals.get(s.vaccine),
            full=s.free <= 0,
        )

    def _book(self, wa_id: str, e: Book, now: datetime) -> Result:
        for b in self._bookings.values():
            if b.message_id == e.message_id:
                return Booked(b.view)  # a redelivered message never books twice
        refusal = rules.book_refusal(
            self._slot_state(e.slot_id, now),
            e.vaccine,
            e.first_dose,
            active_on_number=len(self.active(wa_id)),
            id_held=any(
                b.id_hash == e.id_hash
                and b.view.id_type == e.id_type
                and b.view.status in rules.HOLDS_ID
                for b in self._bookings.values()
            ),
        )
        if refusal is not None:
            return Refused(refusal)
        s = self._slots[e.slot_id]
        reference = new_reference(self._random.choice)
        view = BookingView(
            reference=reference,
            code=new_code(self._random.randrange),
            status=BookingStatus.BOOKED,
            centre=self._centres[s.centre_id],
            slot_id=s.id,
            day=s.day,
            start=s.start,
            end=s.end,
            vaccine=e.vaccine,
            first_dose=e.first_dose,
            id_type=e.id_type,
            id_last4=e.id_last4,
            name=e.name,
            lang=e.lang,
            id_hash=e.id_hash,
        )
        self._slots[s.id] = replace(s, free=s.free - 1)
        self._bookings[reference] = _Booking(view, wa_id, e.id_hash, e.message_id)
        return Booked(view)

    def _find(self, wa_id: str, reference: str) -> _Booking | Refusal:
        b = self._bookings.get(reference)
        if b is None or b.wa_id != wa_id:
            return Refusal.NOT_FOUND
        if b.view.status != BookingStatus.BOOKED:
            return Refusal.NOT_ACTIVE
        return b

    def _cancel(self, wa_id: str, reference: str, now: datetime) -> Result:
        b = self._find(wa_id, reference)
        if isinstance(b, Refusal):
            return Refused(b)
        s = self._slots.get(b.view.slot_id)
        if s is not None and s.starts_at <= now:
            return Refused(Refusal.BOOKING_STARTED)
        self._release(b.view.slot_id)
        b.view = replace(b.view, status=BookingStatus.CANCELLED)
        return Cancelled(reference)

    def _move(self, wa_id: str, e: MoveBooking, now: datetime) -> Result:
        b = self._find(wa_id, e.reference)
        if isinstance(b, Refusal):
            return Refused(b)
        old = self._slots.get(b.view.slot_id)
        if old is not None and old.starts_at <= now:
            return Refused(Refusal.BOOKING_STARTED)
        refusal = rules.slot_refusal(
            self._slot_state(e.slot_id, now), b.view.vaccine, b.view.first_dose
        )
        if refusal is not None:
            return Refused(refusal)
        s = self._slots[e.slot_id]
        self._release(b.view.slot_id)
        self._slots[s.id] = replace(s, free=s.free - 1)
        b.view = replace(
            b.view,
            centre=self._centres[s.centre_id],
            slot_id=s.id,
            day=s.day,
            start=s.start,
            end=s.end,
        )
        return Moved(b.view)

    def _forget(self, wa_id: str, now: datetime) -> Forgotten:
        """As repository.forget: bookings still to come are cancelled (their places go
        back); every booking of the number loses the number, the name and the ID."""
        for b in self._bookings.values():
            if b.wa_id != wa_id:
                continue
            status = b.view.status
            s = self._slots.get(b.view.slot_id)
            if status == BookingStatus.BOOKED and (s is None or s.starts_at > now):
                self._release(b.view.slot_id)
                status = BookingStatus.CANCELLED
            b.view = replace(b.view, name="", id_last4="", id_hash="", status=status)
            b.wa_id, b.id_hash = "", ""
        return Forgotten()

    def _release(self, slot_id: int) -> None:
        s = self._slots.get(slot_id)
        if s is not None:
            self._slots[slot_id] = replace(s, free=s.free + 1)
