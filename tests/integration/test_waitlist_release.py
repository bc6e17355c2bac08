"""No race at release (issue 22, item 3) against a real PostgreSQL: places opened
in bulk (a capacity raised, new sessions) are reserved for the waiting citizens
they could suit in the transaction that opens them, so no list and no booking
sees them before the offer run; what nobody waiting can take is free at once,
and what the run cannot place goes back to the lists."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import asyncpg
import pytest

from kmcbot.booking import admin_repo, repository
from kmcbot.booking.commands import Booked, Cancelled, Joined, Moved, Refused
from kmcbot.booking.model import IST, Refusal, Vaccine
from kmcbot.booking.snapshot import Snapshots
from kmcbot.waitlist import store
from tests.support.factories import assert_counts_consistent, book_effect, make_centre, make_slot
from tests.support.waitlist import assert_holds_consistent, join_effect

HOLD = timedelta(minutes=30)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def full_slot(pg: asyncpg.Pool) -> int:
    """A session with its one place booked."""
    slot = await make_slot(pg, await make_centre(pg), capacity=1)
    assert isinstance(await repository.book(pg, "919700000000", book_effect(slot, 10_000)), Booked)
    return slot


async def _wait(pg: asyncpg.Pool, count: int, **kw) -> None:
    for n in range(1, count + 1):
        assert isinstance(await store.join(pg, f"9198{n:08d}", join_effect(n, **kw)), Joined)


async def _free_in_lists(pg: asyncpg.Pool, slot: int) -> tuple[int, int]:
    """The slot's free places in a fresh availability snapshot and in the lists'
    own query (repository.load_availability)."""
    snapshot = await Snapshots(pg, 60)(now())
    listed = await repository.load_availability(pg, now())
    return (
        sum(s.free for s in snapshot.slots if s.id == slot),
        sum(s.free for s in listed.slots if s.id == slot),
    )


async def test_a_capacity_raised_by_20_with_50_waiting_shows_no_place_until_all_are_offered(
    pg, full_slot
) -> None:
    await _wait(pg, 50)
    await admin_repo.set_capacity(pg, full_slot, 21)
    # Right after the change commits, before any offer run: nothing for anyone else.
    assert await _free_in_lists(pg, full_slot) == (0, 0)
    assert await repository.book(pg, "919700000001", book_effect(full_slot, 77)) == Refused(
        Refusal.SLOT_FULL
    )
    await assert_holds_consistent(pg, reserved=True)
    run = await store.run_offers(pg, now(), HOLD)
    assert len(run.made) == 20
    offered = await pg.fetch("SELECT entry_id FROM offers ORDER BY id")
    first = await pg.fetch("SELECT id FROM waitlist ORDER BY earliest, joined_at, id LIMIT 20")
    assert [r["entry_id"] for r in offered] == [r["id"] for r in first]
    assert await _free_in_lists(pg, full_slot) == (0, 0)
    await assert_holds_consistent(pg)


async def test_with_5_waiting_15_of_20_new_places_are_free_at_once(pg, full_slot) -> None:
    await _wait(pg, 5)
    await admin_repo.set_capacity(pg, full_slot, 21)
    assert await _free_in_lists(pg, full_slot) == (15, 15)
    assert len((await store.run_offers(pg, now(), HOLD)).made) == 5
    assert await _free_in_lists(pg, full_slot) == (15, 15)
    await assert_holds_consistent(pg)


async def test_new_sessions_reserve_only_for_citizens_they_suit(pg) -> None:
    centre = await make_centre(pg)
    await pg.execute("UPDATE centres SET borough = 7 WHERE id = $1", centre)
    day = datetime.now(IST).date() + timedelta(days=3)
    await _wait(pg, 2)  # due today, anywhere in the city: both sessions suit them
    late = day + timedelta(days=1)
    for n, effect in (
        (3, join_effect(3, earliest=late)),  # not due by the sessions' day
        (4, join_effect(4)),  # another borough (set below)
        (5, join_effect(5)),  # this borough
        (6, join_effect(6)),  # another vaccine (set below)
    ):
        assert isinstance(await store.join(pg, f"9198{n:08d}", effect), Joined)
    near = replace(join_effect(7), near=(22.5700, 88.3600))
    far = replace(join_effect(8), near=(22.9000, 88.3510))
    assert isinstance(await store.join(pg, "919800000007", near), Joined)  # about 1.3 km
    assert isinstance(await store.join(pg, "919800000008", far), Joined)  # about 37 km
    await pg.execute("UPDATE waitlist SET borough = 3 WHERE id_hash = 'hash-4'")
    await pg.execute("UPDATE waitlist SET borough = 7 WHERE id_hash = 'hash-5'")
    await pg.execute("UPDATE waitlist SET vaccine = 'covaxin' WHERE id_hash = 'hash-6'")
    created, _ = await admin_repo.create_slots(
        pg, [centre], Vaccine.COVISHIELD, [day], [(time(10), time(12)), (time(14), time(16))], 10
    )
    assert created == 2
    slots = [r["id"] for r in await pg.fetch("SELECT id FROM slots ORDER BY id")]
    # Citizens 1, 2, 5 and 7 could take a place in either session: 4 reserved in
    # all, in the earlier one.
    assert [await _free_in_lists(pg, s) for s in slots] == [(6, 6), (10, 10)]
    run = await store.run_offers(pg, now(), HOLD)
    assert len(run.made) == 4
    # Each citizen holds one offer: the places reserved beyond them are given back.
    assert sum([(await _free_in_lists(pg, s))[0] for s in slots]) == 16
    await assert_holds_consistent(pg)


async def test_a_day_of_sessions_reserves_at_most_as_many_places_as_wait(pg) -> None:
    """10 waiting, 12 sessions of 10 at a centre on one day: 10 places reserved,
    the earliest first (a running sum over the day's sessions), not 10 in each."""
    centre = await make_centre(pg)
    await _wait(pg, 10)
    day = datetime.now(IST).date() + timedelta(days=3)
    times = [(time(8 + h // 2, 30 * (h % 2)), time(9 + h // 2, 30 * (h % 2))) for h in range(12)]
    created, _ = await admin_repo.create_slots(pg, [centre], Vaccine.COVISHIELD, [day], times, 10)
    assert created == 12
    held = await pg.fetch("SELECT held FROM slots ORDER BY starts_at, id")
    assert [r["held"] for r in held] == [10] + [0] * 11
    # More places the same day (a capacity raised): the day already reserves enough.
    last = await pg.fetchval("SELECT id FROM slots ORDER BY starts_at DESC LIMIT 1")
    await admin_repo.set_capacity(pg, last, 20)
    assert await pg.fetchval("SELECT sum(held) FROM slots") == 10
    assert len((await store.run_offers(pg, now(), HOLD)).made) == 10
    await assert_holds_consistent(pg)


async def test_a_reservation_counts_what_the_day_holds_already(pg, full_slot) -> None:
    """3 waiting; 2 places already reserved on one session of the day: a second
    session of that day opening 5 places reserves 1 more."""
    await _wait(pg, 3)
    await admin_repo.set_capacity(pg, full_slot, 3)
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", full_slot) == 2
    centre, day = await pg.fetchrow("SELECT centre_id, day FROM slots WHERE id = $1", full_slot)
    other = await make_slot(pg, centre, capacity=0, day=day, start=time(15))
    await admin_repo.set_capacity(pg, other, 5)
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", other) == 1


async def test_a_declined_or_expired_offer_passes_on_unseen_then_goes_back(pg, full_slot) -> None:
    await _wait(pg, 2)
    await admin_repo.set_capacity(pg, full_slot, 2)
    (first,) = (await store.run_offers(pg, now(), HOLD)).made
    await store.decline(pg, "919800000001", first)
    # Declined: still held, reserved for citizen 2, until the next run offers it.
    assert await _free_in_lists(pg, full_slot) == (0, 0)
    (second,) = (await store.run_offers(pg, now(), HOLD)).made
    assert await pg.fetchval("SELECT wa_id FROM offers WHERE id = $1", second) == "919800000002"
    # Citizen 2 lets it run out; nobody else waits who was not offered it: back to the lists.
    run = await store.run_offers(pg, now() + HOLD + timedelta(seconds=1), HOLD)
    assert (len(run.expired), run.made) == (1, ())
    assert await _free_in_lists(pg, full_slot) == (1, 1)
    assert isinstance(await repository.book(pg, "919700000002", book_effect(full_slot, 78)), Booked)
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg)


async def test_a_lowered_capacity_gives_up_reserved_places_before_offers(pg, full_slot) -> None:
    await _wait(pg, 3)
    await admin_repo.set_capacity(pg, full_slot, 3)  # 2 reserved
    assert len((await store.run_offers(pg, now(), HOLD)).made) == 2
    await store.decline(pg, "919800000001", None)  # 1 offer, 1 reserved
    await admin_repo.set_capacity(pg, full_slot, 2)
    row = await pg.fetchrow("SELECT booked, held FROM slots WHERE id = $1", full_slot)
    assert (row["booked"], row["held"]) == (1, 1)
    assert await pg.fetchval("SELECT count(*) FROM offers WHERE status = 'held'") == 1
    await assert_holds_consistent(pg)


async def test_an_offer_refused_at_booking_passes_on_unseen(pg, full_slot) -> None:
    await _wait(pg, 2)
    await admin_repo.set_capacity(pg, full_slot, 2)
    (first,) = (await store.run_offers(pg, now(), HOLD)).made
    # Citizen 1's ID books elsewhere meanwhile (another number, another session).
    other = await make_slot(pg, await make_centre(pg), capacity=5)
    assert isinstance(await repository.book(pg, "919700000009", book_effect(other, 1)), Booked)
    taken = await store.take(pg, "919800000001", first, "wamid.refused")
    assert taken == Refused(Refusal.ID_ALREADY_BOOKED)
    assert await _free_in_lists(pg, full_slot) == (0, 0)  # reserved for citizen 2
    (second,) = (await store.run_offers(pg, now(), HOLD)).made
    assert await pg.fetchval("SELECT wa_id FROM offers WHERE id = $1", second) == "919800000002"
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg)


# A single place freed (issue 22, item 2/3): a citizen's cancellation, a booking
# moved away, the booking's data erased: in the transaction that frees it, the
# place is reserved for a waiting citizen it suits, so the offer run offers it
# before any list or booking can take it.


async def test_a_cancelled_place_is_held_for_the_waiting_citizen_and_offered(pg, full_slot) -> None:
    await _wait(pg, 1)
    reference = await pg.fetchval("SELECT reference FROM bookings")
    assert isinstance(await repository.cancel(pg, "919700000000", reference), Cancelled)
    assert await _free_in_lists(pg, full_slot) == (0, 0)
    assert await repository.book(pg, "919700000001", book_effect(full_slot, 77)) == Refused(
        Refusal.SLOT_FULL
    )
    await assert_holds_consistent(pg, reserved=True)
    (offer,) = (await store.run_offers(pg, now(), HOLD)).made
    assert await pg.fetchval("SELECT w.id_hash FROM offers o JOIN waitlist w ON w.id = o.entry_id")
    assert await pg.fetchval("SELECT slot_id FROM offers WHERE id = $1", offer) == full_slot
    await assert_holds_consistent(pg)
    await assert_counts_consistent(pg)


async def test_a_cancelled_place_nobody_waiting_can_take_is_free_at_once(pg, full_slot) -> None:
    await _wait(pg, 1)
    await pg.execute("UPDATE waitlist SET vaccine = 'covaxin'")  # waits for another vaccine
    reference = await pg.fetchval("SELECT reference FROM bookings")
    assert isinstance(await repository.cancel(pg, "919700000000", reference), Cancelled)
    assert await _free_in_lists(pg, full_slot) == (1, 1)
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", full_slot) == 0


async def test_a_place_a_booking_moved_away_from_or_erased_is_held_for_the_waiting(
    pg, full_slot
) -> None:
    await _wait(pg, 2)
    centre, day = await pg.fetchrow("SELECT centre_id, day FROM slots WHERE id = $1", full_slot)
    # Another booking on a second full session, erased below.
    other = await make_slot(pg, centre, capacity=1, day=day, start=time(15))
    assert isinstance(await repository.book(pg, "919700000002", book_effect(other, 10_001)), Booked)
    elsewhere = await make_slot(pg, await make_centre(pg, "Elsewhere"), capacity=5)
    await pg.execute("UPDATE slots SET vaccine = 'covaxin' WHERE id = $1", elsewhere)
    await pg.execute("UPDATE bookings SET vaccine = 'covaxin' WHERE slot_id = $1", full_slot)
    reference = await pg.fetchval("SELECT reference FROM bookings WHERE slot_id = $1", full_slot)
    moved = await repository.move(pg, "919700000000", reference, elsewhere, "wamid.move.1")
    assert isinstance(moved, Moved), moved
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", full_slot) == 1
    await repository.forget(pg, "919700000002")
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", other) == 1
    assert len((await store.run_offers(pg, now(), HOLD)).made) == 2
    await assert_holds_consistent(pg)
    await assert_counts_consistent(pg)
