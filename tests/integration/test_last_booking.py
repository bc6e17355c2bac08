"""Issue 20: "Same as before?" reads the number's last booking from PostgreSQL,
whatever its status, by the reference the profile keeps; never another number's."""

from __future__ import annotations

from kmcbot.booking import repository
from kmcbot.booking.commands import Booked
from tests.support.factories import book_effect, make_centre, make_slot

MINE, OTHER = "919800003001", "919800003002"


async def test_the_last_booking_comes_back_in_any_status_and_only_for_its_number(pg) -> None:
    slot = await make_slot(pg, await make_centre(pg))
    mine = await repository.book(pg, MINE, book_effect(slot, 1))
    theirs = await repository.book(pg, OTHER, book_effect(slot, 2))
    assert isinstance(mine, Booked) and isinstance(theirs, Booked)
    ref = mine.booking.reference
    await repository.cancel(pg, MINE, ref)

    assert (await repository.list_bookings(pg, MINE)).bookings == ()  # active ones only
    [last] = (await repository.list_bookings(pg, MINE, also=ref)).bookings
    assert (last.reference, last.status, last.name) == (ref, "cancelled", "Citizen 1")
    # Another number's reference brings nothing of theirs.
    other_ref = theirs.booking.reference
    assert (await repository.list_bookings(pg, MINE, also=other_ref)).bookings == ()
    [active] = (await repository.list_bookings(pg, OTHER, also=ref)).bookings
    assert active.reference == other_ref
