"""Bookings against a real PostgreSQL: every rule, and races that try to break them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from kmcbot.booking import repository
from kmcbot.booking.commands import Booked, Cancelled, Moved, Refused
from kmcbot.booking.model import IST, Refusal, Vaccine
from kmcbot.booking.reference import ALPHABET
from tests.support.factories import assert_counts_consistent, book_effect, make_centre, make_slot


@pytest.fixture
async def slot(pg: asyncpg.Pool) -> int:
    return await make_slot(pg, await make_centre(pg), capacity=3)


async def test_a_booking_takes_a_place_and_gets_a_clean_reference_and_code(pg, slot) -> None:
    result = await repository.book(pg, "919800000001", book_effect(slot, 1))
    assert isinstance(result, Booked)
    ref = result.booking.reference
    assert ref.startswith("KMC-") and set(ref[4:]) <= set(ALPHABET)
    assert result.booking.code.isdigit() and len(result.booking.code) == 4
    assert await pg.fetchval("SELECT booked FROM slots WHERE id = $1", slot) == 1
    assert await pg.fetchval("SELECT count(*) FROM notifications WHERE kind = 'booked'") == 1
    await assert_counts_consistent(pg)


async def test_a_redelivered_message_never_books_twice(pg, slot) -> None:
    effect = book_effect(slot, 1, message_id="wamid.same")
    first = await repository.book(pg, "919800000001", effect)
    again = await repository.book(pg, "919800000001", effect)
    assert isinstance(first, Booked) and isinstance(again, Booked)
    assert first.booking.reference == again.booking.reference
    assert await pg.fetchval("SELECT count(*) FROM bookings") == 1


async def test_the_same_redelivered_message_raced_books_once(pg, slot) -> None:
    effect = book_effect(slot, 1, message_id="wamid.raced")
    results = await asyncio.gather(*(repository.book(pg, "919800000001", effect) for _ in range(5)))
    assert {r.booking.reference for r in results if isinstance(r, Booked)}.__len__() == 1
    assert await pg.fetchval("SELECT count(*) FROM bookings") == 1


async def test_a_full_slot_refuses(pg, slot) -> None:
    for n in range(3):
        assert isinstance(
            await repository.book(pg, f"9198000000{n:02d}", book_effect(slot, n)), Booked
        )
    assert await repository.book(pg, "919800000099", book_effect(slot, 99)) == Refused(
        Refusal.SLOT_FULL
    )


async def test_a_redelivery_after_the_slot_filled_still_gets_its_booking(pg, slot) -> None:
    """The full-slot shortcut (no queueing for the row lock) must not refuse it."""
    effect = book_effect(slot, 0, message_id="wamid.first")
    first = await repository.book(pg, "919800000000", effect)
    for n in range(1, 3):
        assert isinstance(
            await repository.book(pg, f"9198000000{n:02d}", book_effect(slot, n)), Booked
        )
    assert await repository.book(pg, "919800000000", effect) == first


async def test_a_cancelled_or_unknown_slot_is_gone(pg, slot) -> None:
    await pg.execute("UPDATE slots SET status = 'cancelled' WHERE id = $1", slot)
    gone = Refused(Refusal.SLOT_GONE)
    assert await repository.book(pg, "919800000001", book_effect(slot, 1)) == gone
    assert await repository.book(pg, "919800000001", book_effect(slot + 1000, 2)) == gone
    assert await pg.fetchval("SELECT count(*) FROM bookings") == 0
    assert await pg.fetchval("SELECT count(*) FROM notifications") == 0


async def test_one_active_booking_per_id_across_numbers(pg, slot) -> None:
    await repository.book(pg, "919800000001", book_effect(slot, 7))
    other_slot = await make_slot(pg, await make_centre(pg), capacity=5)
    again = await repository.book(pg, "919800000002", book_effect(other_slot, 7))
    assert again == Refused(Refusal.ID_ALREADY_BOOKED)


async def test_at_most_four_active_bookings_per_number(pg) -> None:
    slot = await make_slot(pg, await make_centre(pg), capacity=10)
    for n in range(4):
        assert isinstance(await repository.book(pg, "919800000001", book_effect(slot, n)), Booked)
    assert await repository.book(pg, "919800000001", book_effect(slot, 4)) == Refused(
        Refusal.NUMBER_LIMIT
    )


async def test_four_per_number_holds_when_raced(pg) -> None:
    slot = await make_slot(pg, await make_centre(pg), capacity=50)
    results = await asyncio.gather(
        *(repository.book(pg, "919800000001", book_effect(slot, n)) for n in range(12))
    )
    assert sum(isinstance(r, Booked) for r in results) == 4
    await assert_counts_consistent(pg)


async def test_the_slot_vaccine_must_match_the_first_dose(pg, slot) -> None:
    effect = replace(book_effect(slot, 1), vaccine=Vaccine.COVAXIN)
    assert await repository.book(pg, "919800000001", effect) == Refused(Refusal.VACCINE_MISMATCH)


async def test_a_slot_before_the_eligible_date_is_refused(pg, slot) -> None:
    effect = replace(book_effect(slot, 1), first_dose=datetime.now(UTC).date() - timedelta(days=10))
    assert await repository.book(pg, "919800000001", effect) == Refused(Refusal.NOT_ELIGIBLE)


async def test_a_slot_that_has_started_cannot_be_booked(pg) -> None:
    centre = await make_centre(pg)
    started = await make_slot(pg, centre, day=datetime.now(IST).date() - timedelta(days=1))
    assert await repository.book(pg, "919800000001", book_effect(started, 1)) == Refused(
        Refusal.SLOT_STARTED
    )


async def test_the_last_place_raced_by_many_goes_to_exactly_one(pg) -> None:
    slot = await make_slot(pg, await make_centre(pg), capacity=1)
    results = await asyncio.gather(
        *(repository.book(pg, f"9198{n:08d}", book_effect(slot, n)) for n in range(40))
    )
    assert sum(isinstance(r, Booked) for r in results) == 1
    assert all(r == Refused(Refusal.SLOT_FULL) for r in results if not isinstance(r, Booked))
    await assert_counts_consistent(pg)


async def test_cancel_frees_the_place_at_once(pg, slot) -> None:
    booked = await repository.book(pg, "919800000001", book_effect(slot, 1))
    assert isinstance(booked, Booked)
    ref = booked.booking.reference
    assert await repository.cancel(pg, "919800000001", ref) == Cancelled(ref)
    assert await pg.fetchval("SELECT booked FROM slots WHERE id = $1", slot) == 0
    assert await repository.cancel(pg, "919800000001", ref) == Refused(Refusal.NOT_ACTIVE)
    assert (await repository.list_bookings(pg, "919800000001")).bookings == ()


async def test_another_number_cannot_cancel_my_booking(pg, slot) -> None:
    booked = await repository.book(pg, "919800000001", book_effect(slot, 1))
    assert isinstance(booked, Booked)
    result = await repository.cancel(pg, "919800000002", booked.booking.reference)
    assert result == Refused(Refusal.NOT_FOUND)


async def test_a_move_is_atomic_and_keeps_the_old_place_if_the_new_one_is_gone(pg) -> None:
    centre = await make_centre(pg)
    old = await make_slot(pg, centre, capacity=5)
    full = await make_slot(pg, centre, capacity=1, start=datetime.min.time().replace(hour=12))
    free = await make_slot(pg, centre, capacity=5, start=datetime.min.time().replace(hour=14))
    await repository.book(pg, "919800000009", book_effect(full, 9))
    booked = await repository.book(pg, "919800000001", book_effect(old, 1))
    assert isinstance(booked, Booked)
    ref = booked.booking.reference
    assert await repository.move(pg, "919800000001", ref, full, "m1") == Refused(Refusal.SLOT_FULL)
    assert (await repository.list_bookings(pg, "919800000001")).bookings[0].slot_id == old
    moved = await repository.move(pg, "919800000001", ref, free, "m2")
    assert isinstance(moved, Moved) and moved.booking.slot_id == free
    assert moved.booking.reference == ref
    counts = dict(await pg.fetch("SELECT id, booked FROM slots"))
    assert counts[old] == 0 and counts[free] == 1
    await assert_counts_consistent(pg)


async def test_a_booking_whose_time_has_started_can_be_neither_moved_nor_cancelled(pg) -> None:
    """Its own slot started, not the one asked for: the citizen is told so, not
    "that time has already started" over a list of times that have not."""
    centre = await make_centre(pg)
    old = await make_slot(pg, centre, capacity=5)
    free = await make_slot(pg, centre, capacity=5, start=datetime.min.time().replace(hour=14))
    booked = await repository.book(pg, "919800000001", book_effect(old, 1))
    assert isinstance(booked, Booked)
    ref = booked.booking.reference
    await pg.execute("UPDATE slots SET starts_at = now() - interval '30 min' WHERE id = $1", old)
    started = Refused(Refusal.BOOKING_STARTED)
    assert await repository.move(pg, "919800000001", ref, free, "m1") == started
    assert await repository.cancel(pg, "919800000001", ref) == started
    [kept] = (await repository.list_bookings(pg, "919800000001")).bookings
    assert kept.slot_id == old
    await assert_counts_consistent(pg)


async def test_crossing_moves_do_not_deadlock(pg) -> None:
    centre = await make_centre(pg)
    a = await make_slot(pg, centre, capacity=50)
    b = await make_slot(pg, centre, capacity=50, start=datetime.min.time().replace(hour=12))
    refs = []
    for n in range(20):
        r = await repository.book(pg, f"9198{n:08d}", book_effect(a if n % 2 else b, n))
        assert isinstance(r, Booked)
        refs.append((f"9198{n:08d}", r.booking.reference, b if n % 2 else a))
    results = await asyncio.gather(
        *(repository.move(pg, wa, ref, to, f"mv{i}") for i, (wa, ref, to) in enumerate(refs))
    )
    assert all(isinstance(r, Moved) for r in results)
    await assert_counts_consistent(pg)


async def test_forget_cancels_future_bookings_and_erases_personal_data(pg, slot) -> None:
    await repository.book(pg, "919800000001", book_effect(slot, 1))
    await repository.book(pg, "919800000002", book_effect(slot, 2))
    await repository.forget(pg, "919800000001")
    row = await pg.fetchrow(
        "SELECT wa_id, name, id_hash, id_last4, status FROM bookings WHERE id_last4 IS NULL"
    )
    assert (row["wa_id"], row["name"], row["id_hash"], row["id_last4"]) == (None,) * 4
    assert row["status"] == "cancelled"  # the place went back to others
    assert await pg.fetchval("SELECT booked FROM slots WHERE id = $1", slot) == 1
    assert await pg.fetchval("SELECT count(*) FROM bookings") == 2  # kept, as a count
    await assert_counts_consistent(pg)


async def test_forget_replaces_the_message_ids_that_carry_the_number(pg, slot) -> None:
    """A wamid encodes the sender's number: an erased booking keeps a placeholder
    (the column is NOT NULL), a walk-in keeps its desk marker (a form key, nothing
    personal: the relay reads it), and another citizen's booking is untouched."""
    number = "919800000001"
    chat = await repository.book(pg, number, book_effect(slot, 1, message_id="wamid.HBgM91980"))
    desk = await repository.book(pg, number, book_effect(slot, 2, message_id="walkin:" + "k" * 16))
    other = await repository.book(pg, "919800000002", book_effect(slot, 3, message_id="wamid.x"))
    assert isinstance(chat, Booked) and isinstance(desk, Booked) and isinstance(other, Booked)
    await repository.forget(pg, number)
    await repository.forget(pg, number)  # a redelivery erases again: same result
    ids = dict(await pg.fetch("SELECT reference, source_message_id FROM bookings"))
    chat_id = await pg.fetchval(
        "SELECT id FROM bookings WHERE reference = $1", chat.booking.reference
    )
    assert ids == {
        chat.booking.reference: f"erased:{chat_id}",
        desk.booking.reference: "walkin:" + "k" * 16,
        other.booking.reference: "wamid.x",
    }


_MIGRATION_019 = (
    Path(__file__).resolve().parents[2] / "sql/019_erased_message_ids.sql"
).read_text()


async def test_migration_019_replaces_the_message_ids_of_rows_erased_before_it(pg, slot) -> None:
    """Rows erased by the version before keep their wamid: sql/019 replaces it,
    and leaves a walk-in's marker, a placeholder and a live booking alone."""
    refs = []
    for n, message_id in enumerate(("wamid.old", "walkin:" + "k" * 16, "wamid.live")):
        result = await repository.book(
            pg, f"91980000000{n}", book_effect(slot, n, message_id=message_id)
        )
        assert isinstance(result, Booked)
        refs.append(result.booking.reference)
    await pg.execute(  # erased as the version before did: number gone, message id kept
        """UPDATE bookings SET wa_id = NULL, name = NULL, id_hash = NULL, id_last4 = NULL,
                               erased_at = now() WHERE reference = ANY($1::text[])""",
        refs[:2],
    )
    for _ in range(2):  # safe twice
        await pg.execute(_MIGRATION_019)
    ids = dict(await pg.fetch("SELECT reference, source_message_id FROM bookings"))
    old_id = await pg.fetchval("SELECT id FROM bookings WHERE reference = $1", refs[0])
    assert ids == {
        refs[0]: f"erased:{old_id}",
        refs[1]: "walkin:" + "k" * 16,
        refs[2]: "wamid.live",
    }


async def test_the_database_itself_refuses_overbooking(pg, slot) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await pg.execute("UPDATE slots SET booked = capacity + 1 WHERE id = $1", slot)


async def test_availability_lists_only_open_future_slots_with_places(pg) -> None:
    centre = await make_centre(pg)
    open_slot = await make_slot(pg, centre, capacity=2)
    full = await make_slot(pg, centre, capacity=1, start=datetime.min.time().replace(hour=12))
    await make_slot(pg, centre, day=datetime.now(IST).date() - timedelta(days=1))
    await repository.book(pg, "919800000001", book_effect(full, 1))
    snapshot = await repository.load_availability(pg, datetime.now(UTC))
    assert [s.id for s in snapshot.slots] == [open_slot]
    assert snapshot.slots[0].free == 2
    assert snapshot.intervals[Vaccine.COVAXIN].min_days == 28


async def test_the_booking_function_returns_the_columns_of_the_view_query(pg) -> None:
    """sql/004 lists the view's columns again (SQL cannot share the Python
    constant): a column added to one and not the other would break bookings."""
    async with pg.acquire() as conn:
        view = await conn.prepare(repository.VIEW_SQL + " WHERE false")
        book = await conn.prepare(repository._BOOK)
        view_columns = [a.name for a in view.get_attributes()]
        book_columns = [a.name for a in book.get_attributes()]
    assert book_columns == ["outcome", *view_columns]


async def test_every_status_the_schema_allows_reads_as_a_booking_view(pg) -> None:
    """sql/005 allows 'missed' (the sweep's mark): a missed booking, read through the
    view query as the relay and the admin pages do, must not break view_of."""
    slot = await make_slot(pg, await make_centre(pg))
    booked = await repository.book(pg, "919800000001", book_effect(slot, 1))
    assert isinstance(booked, Booked)
    statuses = await pg.fetchval(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conname = 'bookings_status_check'"
    )
    for status in ("booked", "cancelled", "attended", "missed"):
        assert f"'{status}'" in statuses
        await pg.execute(
            "UPDATE bookings SET status = $2 WHERE reference = $1",
            booked.booking.reference,
            status,
        )
        row = await pg.fetchrow(
            repository.VIEW_SQL + " WHERE b.reference = $1", booked.booking.reference
        )
        assert repository.view_of(row).status == status
