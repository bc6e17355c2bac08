"""The booking rules (kmcbot/booking/rules.py), one set of cases run against both
places they are carried out: PostgreSQL (the repository and sql/004) and the
in-memory fake the dialogue's tests use (tests/support/fakes.py). As aiogram runs
one storage suite over every backend: the fake cannot drift from the SQL again.

Each case drives a backend through the same small story and says what the
citizen would be told; the expectation is written once, for both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

import asyncpg
import pytest

from kmcbot.booking import repository
from kmcbot.booking.commands import (
    Book,
    Booked,
    BookingsListed,
    CancelBooking,
    Cancelled,
    Effect,
    ForgetMe,
    Forgotten,
    Joined,
    JoinWaitlist,
    ListBookings,
    MoveBooking,
    Moved,
    Refused,
    Result,
)
from kmcbot.booking.model import IST, BookingStatus, Interval, Refusal, Vaccine
from kmcbot.booking.rules import MAX_ACTIVE_PER_NUMBER
from kmcbot.waitlist import store
from tests.support.factories import book_effect, make_centre, make_slot
from tests.support.fakes import INTERVALS, FakeBookings, make_availability
from tests.support.waitlist import join_effect

NUMBER = "919800000001"
OTHER = "919800000002"


class Backend(Protocol):
    async def slot(
        self, vaccine: Vaccine = Vaccine.COVISHIELD, days_ahead: int = 2, capacity: int = 10
    ) -> int: ...
    async def run(self, wa_id: str, effect: Effect) -> Result: ...
    async def start(self, slot_id: int) -> None: ...
    async def cancel_slot(self, slot_id: int) -> None: ...
    async def set_status(self, reference: str, status: BookingStatus) -> None: ...
    async def free(self, slot_id: int) -> int: ...


class Postgres:
    def __init__(self, pool: asyncpg.Pool, centre: int) -> None:
        self.pool, self.centre = pool, centre
        self.starts = iter(range(6, 20))  # a slot's hour: no two alike on one day

    async def slot(self, vaccine=Vaccine.COVISHIELD, days_ahead=2, capacity=10) -> int:
        day = datetime.now(IST).date() + timedelta(days=days_ahead)
        return await make_slot(
            self.pool, self.centre, capacity=capacity, vaccine=vaccine, day=day,
            start=time(next(self.starts)),
        )  # fmt: skip

    async def run(self, wa_id: str, effect: Effect) -> Result:
        match effect:
            case Book():
                return await repository.book(self.pool, wa_id, effect)
            case CancelBooking(reference):
                return await repository.cancel(self.pool, wa_id, reference)
            case MoveBooking(reference, slot_id, message_id):
                return await repository.move(self.pool, wa_id, reference, slot_id, message_id)
            case ForgetMe():
                return await repository.forget(self.pool, wa_id)
            case ListBookings(also=also):
                return await repository.list_bookings(self.pool, wa_id, also)
            case JoinWaitlist():
                return await store.join(self.pool, wa_id, effect)
        raise TypeError(effect)

    async def start(self, slot_id: int) -> None:
        await self.pool.execute(
            "UPDATE slots SET starts_at = now() - interval '1 hour' WHERE id = $1", slot_id
        )

    async def cancel_slot(self, slot_id: int) -> None:
        await self.pool.execute("UPDATE slots SET status = 'cancelled' WHERE id = $1", slot_id)

    async def set_status(self, reference: str, status: BookingStatus) -> None:
        await self.pool.execute(
            "UPDATE bookings SET status = $2 WHERE reference = $1", reference, str(status)
        )

    async def free(self, slot_id: int) -> int:
        return await self.pool.fetchval(
            "SELECT capacity - booked FROM slots WHERE id = $1", slot_id
        )


class Fake:
    def __init__(self) -> None:
        self.fake = FakeBookings(make_availability(datetime.now(IST).date()))
        self.starts = iter(range(6, 20))

    async def slot(self, vaccine=Vaccine.COVISHIELD, days_ahead=2, capacity=10) -> int:
        day = datetime.now(IST).date() + timedelta(days=days_ahead)
        return self.fake.add_slot(vaccine, day, time(next(self.starts)), capacity)

    async def run(self, wa_id: str, effect: Effect) -> Result:
        return self.fake.run(wa_id, effect, datetime.now(UTC))

    async def start(self, slot_id: int) -> None:
        self.fake.start(slot_id, datetime.now(UTC))

    async def cancel_slot(self, slot_id: int) -> None:
        self.fake.remove(slot_id)

    async def set_status(self, reference: str, status: BookingStatus) -> None:
        self.fake.set_status(reference, status)

    async def free(self, slot_id: int) -> int:
        return self.fake.free(slot_id)


@pytest.fixture(params=["postgres", "fake"])
async def backend(request: pytest.FixtureRequest, pg: asyncpg.Pool) -> Backend:
    if request.param == "fake":
        return Fake()
    return Postgres(pg, await make_centre(pg))


def told(result: Result) -> str:
    """What the citizen hears, the same whichever backend answered."""
    match result:
        case Refused(reason):
            return str(reason)
        case Booked():
            return "booked"
        case Moved():
            return "moved"
        case Cancelled():
            return "cancelled"
        case Forgotten():
            return "forgotten"
        case Joined(position):
            return f"joined at {position}"
        case BookingsListed(bookings, waiting):
            places = ", ".join(f"{w.name} at {w.position}" for w in waiting)
            return f"{len(bookings)} booked; waiting: {places or 'none'}"
    raise TypeError(result)


_n = iter(range(1000, 10**6))


def booking(slot: int, *, first_dose_days_ago: int = 120, n: int | None = None, **kw) -> Book:
    """Citizen `n`'s booking (a distinct ID each unless `n` is given twice)."""
    effect = book_effect(slot, n if n is not None else next(_n), **kw)
    today = datetime.now(IST).date()  # the slots' days are Kolkata's
    return replace(effect, first_dose=today - timedelta(days=first_dose_days_ago))


async def booked(b: Backend, wa_id: str, slot: int, **kw) -> str:
    result = await b.run(wa_id, booking(slot, **kw))
    assert isinstance(result, Booked), result
    return result.booking.reference


async def fill(b: Backend, slot: int, vaccine: Vaccine = Vaccine.COVISHIELD) -> None:
    while await b.free(slot):
        await booked(b, f"9197{next(_n):08d}", slot, vaccine=vaccine)


async def bookings_on_number(b: Backend, wa_id: str, count: int) -> list[str]:
    return [await booked(b, wa_id, await b.slot()) for _ in range(count)]


Case = Callable[[Backend], Awaitable[str]]
CASES: dict[str, tuple[Case, str]] = {}


def case(expected: str) -> Callable[[Case], Case]:
    def register(story: Case) -> Case:
        CASES[story.__name__] = (story, expected)
        return story

    return register


# ---------------------------------------------------------------- a booking


@case("booked")
async def a_free_slot_is_booked(b: Backend) -> str:
    return told(await b.run(NUMBER, booking(await b.slot())))


@case("slot_gone")
async def a_slot_the_centre_cancelled(b: Backend) -> str:
    slot = await b.slot()
    await b.cancel_slot(slot)
    return told(await b.run(NUMBER, booking(slot)))


@case("slot_started")
async def a_started_slot_of_another_vaccine_is_refused_as_started(b: Backend) -> str:
    slot = await b.slot(vaccine=Vaccine.COVAXIN)
    await b.start(slot)
    return told(await b.run(NUMBER, booking(slot)))


@case("vaccine_mismatch")
async def a_slot_of_another_vaccine(b: Backend) -> str:
    return told(await b.run(NUMBER, booking(await b.slot(vaccine=Vaccine.COVAXIN))))


@case("slot_full")
async def a_full_slot_is_full_before_anything_else(b: Backend) -> str:
    slot = await b.slot(capacity=1, vaccine=Vaccine.COVAXIN)
    await fill(b, slot, Vaccine.COVAXIN)
    await b.start(slot)
    return told(await b.run(NUMBER, booking(slot, first_dose_days_ago=3)))


@case("not_eligible")
async def too_soon_after_the_first_dose(b: Backend) -> str:
    return told(await b.run(NUMBER, booking(await b.slot(), first_dose_days_ago=30)))


@case("not_eligible")
async def a_move_too_soon_after_the_first_dose_even_to_a_full_slot(b: Backend) -> str:
    slot = await b.slot(days_ahead=3, capacity=1)
    await fill(b, slot)
    reference = await booked(b, NUMBER, await b.slot(days_ahead=10), first_dose_days_ago=80)
    return told(await b.run(NUMBER, MoveBooking(reference, slot, "wamid.move.early")))


@case("booked")
async def eligible_on_the_first_day_of_the_interval(b: Backend) -> str:
    slot = await b.slot(days_ahead=3)
    return told(await b.run(NUMBER, booking(slot, first_dose_days_ago=84 - 3)))


@case("not_eligible")
async def not_eligible_the_day_before(b: Backend) -> str:
    slot = await b.slot(days_ahead=3)
    return told(await b.run(NUMBER, booking(slot, first_dose_days_ago=84 - 4)))


@case("slot_full")
async def a_full_slot_even_for_a_number_at_its_limit(b: Backend) -> str:
    await bookings_on_number(b, NUMBER, MAX_ACTIVE_PER_NUMBER)
    slot = await b.slot(capacity=1)
    await fill(b, slot)
    return told(await b.run(NUMBER, booking(slot)))


@case("number_limit")
async def one_more_than_the_number_may_hold(b: Backend) -> str:
    await bookings_on_number(b, NUMBER, MAX_ACTIVE_PER_NUMBER)
    return told(await b.run(NUMBER, booking(await b.slot())))


@case("number_limit")
async def the_number_limit_before_the_id_rule(b: Backend) -> str:
    await booked(b, OTHER, await b.slot(), n=7)
    await bookings_on_number(b, NUMBER, MAX_ACTIVE_PER_NUMBER)
    return told(await b.run(NUMBER, booking(await b.slot(), n=7)))


@case("booked")
async def only_bookings_to_come_count_for_the_number(b: Backend) -> str:
    done, missed, *_ = await bookings_on_number(b, NUMBER, MAX_ACTIVE_PER_NUMBER)
    await b.set_status(done, BookingStatus.ATTENDED)
    await b.set_status(missed, BookingStatus.MISSED)
    await b.run(NUMBER, CancelBooking((await bookings_on_number(b, NUMBER, 1))[0]))
    await booked(b, NUMBER, await b.slot())
    return told(await b.run(NUMBER, booking(await b.slot())))


@case("id_already_booked")
async def an_id_booked_from_another_number(b: Backend) -> str:
    await booked(b, OTHER, await b.slot(), n=8)
    return told(await b.run(NUMBER, booking(await b.slot(), n=8)))


@case("id_already_booked")
async def an_id_whose_dose_was_given(b: Backend) -> str:
    await b.set_status(await booked(b, OTHER, await b.slot(), n=9), BookingStatus.ATTENDED)
    return told(await b.run(NUMBER, booking(await b.slot(), n=9)))


@case("booked")
async def an_id_whose_booking_was_missed_or_cancelled_books_again(b: Backend) -> str:
    await b.set_status(await booked(b, OTHER, await b.slot(), n=10), BookingStatus.MISSED)
    await b.run(OTHER, CancelBooking(await booked(b, OTHER, await b.slot(), n=10)))
    return told(await b.run(NUMBER, booking(await b.slot(), n=10)))


@case("same booking")
async def a_redelivered_message_books_once(b: Backend) -> str:
    slot = await b.slot()
    effect = booking(slot)
    first, again = await b.run(NUMBER, effect), await b.run(NUMBER, effect)
    assert isinstance(first, Booked) and isinstance(again, Booked)
    same = first.booking.reference == again.booking.reference and await b.free(slot) == 9
    return "same booking" if same else "booked twice"


# ---------------------------------------------------------------- a move


async def move(b: Backend, to: int, vaccine: Vaccine = Vaccine.COVISHIELD) -> str:
    reference = await booked(b, NUMBER, await b.slot(vaccine=vaccine))
    return told(await b.run(NUMBER, MoveBooking(reference, to, f"wamid.move.{next(_n)}")))


@case("moved")
async def a_move_to_a_free_slot(b: Backend) -> str:
    return await move(b, await b.slot())


@case("slot_started")
async def a_move_to_a_started_slot_of_another_vaccine(b: Backend) -> str:
    slot = await b.slot(vaccine=Vaccine.COVAXIN)
    await b.start(slot)
    return await move(b, slot)


@case("vaccine_mismatch")
async def a_move_to_another_vaccine(b: Backend) -> str:
    return await move(b, await b.slot(vaccine=Vaccine.SPUTNIK_V))


@case("slot_full")
async def a_move_to_a_full_slot(b: Backend) -> str:
    slot = await b.slot(capacity=1)
    await fill(b, slot)
    return await move(b, slot)


@case("slot_gone")
async def a_move_to_a_cancelled_slot(b: Backend) -> str:
    slot = await b.slot()
    await b.cancel_slot(slot)
    return await move(b, slot)


@case("booking_started")
async def a_move_of_a_booking_whose_slot_began(b: Backend) -> str:
    slot = await b.slot()
    reference = await booked(b, NUMBER, slot)
    await b.start(slot)
    return told(await b.run(NUMBER, MoveBooking(reference, await b.slot(), "wamid.move.x")))


# ---------------------------------------------------------------- a cancellation


@case("not_found")
async def a_cancel_of_another_numbers_booking(b: Backend) -> str:
    reference = await booked(b, OTHER, await b.slot())
    return told(await b.run(NUMBER, CancelBooking(reference)))


@case("not_active")
async def a_cancel_of_a_cancelled_booking(b: Backend) -> str:
    reference = await booked(b, NUMBER, await b.slot())
    await b.run(NUMBER, CancelBooking(reference))
    return told(await b.run(NUMBER, CancelBooking(reference)))


@case("booking_started")
async def a_cancel_once_the_slot_began(b: Backend) -> str:
    slot = await b.slot()
    reference = await booked(b, NUMBER, slot)
    await b.start(slot)
    return told(await b.run(NUMBER, CancelBooking(reference)))


@case("cancelled, place back")
async def a_cancel_gives_the_place_back(b: Backend) -> str:
    slot = await b.slot()
    result = await b.run(NUMBER, CancelBooking(await booked(b, NUMBER, slot)))
    return told(result) + (", place back" if await b.free(slot) == 10 else ", place kept")


# ---------------------------------------------------------------- "delete my data"


@case("future place back, begun place kept, number and ID free")
async def forget_me(b: Backend) -> str:
    begun, later = await b.slot(), await b.slot()
    await booked(b, NUMBER, begun, n=11)
    for _ in range(MAX_ACTIVE_PER_NUMBER - 1):
        await booked(b, NUMBER, later)
    await b.start(begun)
    assert told(await b.run(NUMBER, ForgetMe())) == "forgotten"
    seen = [
        "future place back" if await b.free(later) == 10 else "future place kept",
        "begun place kept" if await b.free(begun) == 9 else "begun place back",
    ]
    again = told(await b.run(NUMBER, booking(await b.slot(), n=11)))
    seen.append("number and ID free" if again == "booked" else f"then {again}")
    return ", ".join(seen)


# ---------------------------------------------------------------- "My bookings"


@case("1 booked; waiting: Citizen 2 at 3, Citizen 4 at 1; then 0 booked; waiting: none")
async def my_bookings_lists_the_waiting_entries_with_their_place_in_line(b: Backend) -> str:
    today = datetime.now(IST).date()
    covaxin = replace(join_effect(3), vaccine=Vaccine.COVAXIN)  # another line
    due_earlier = join_effect(4, earliest=today - timedelta(days=1))  # first in line
    for wa_id, effect in [(OTHER, join_effect(1)), (OTHER, covaxin),
                          (NUMBER, join_effect(2)), (NUMBER, due_earlier)]:  # fmt: skip
        assert told(await b.run(wa_id, effect)).startswith("joined at")
    await booked(b, NUMBER, await b.slot())
    mine = told(await b.run(NUMBER, ListBookings()))
    return f"{mine}; then {told(await b.run('919700000001', ListBookings()))}"


@pytest.mark.parametrize("name", list(CASES))
async def test_the_rule(backend: Backend, name: str) -> None:
    story, expected = CASES[name]
    assert await story(backend) == expected


async def test_the_fake_knows_the_databases_dose_intervals(pg) -> None:
    rows = await pg.fetch("SELECT vaccine, min_days, max_days FROM dose_intervals")
    assert {
        Vaccine(r["vaccine"]): Interval(r["min_days"], r["max_days"]) for r in rows
    } == INTERVALS


def test_every_refusal_has_a_case() -> None:
    """Refusals the rules and the repository give; each must be checked on both.
    The waitlist's own (kmcbot/waitlist/store.py) are checked against PostgreSQL
    in tests/integration/test_waitlist_store.py: the fake's waitlist is only what
    the dialogue's tests need (joining, and the listing with positions above)."""
    covered = {expected for _, expected in CASES.values()}
    waitlist = {"offer_gone", "no_offer", "already_waiting", "waitlist_limit"}
    assert {str(r) for r in Refusal} - waitlist <= covered
