"""Bookings nobody came for, against real PostgreSQL: marked missed once their
day is over, and then they hold neither the ID nor one of the number's places."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import asyncpg
import pytest

from kmcbot import metrics
from kmcbot.booking import admin_repo, repository, rules
from kmcbot.booking.commands import Booked, Refused
from kmcbot.booking.model import IST, Refusal
from kmcbot.jobs.missed import MissedSweeper, mark_missed
from tests.support.factories import (
    assert_counts_consistent,
    book_effect,
    eventually,
    make_centre,
    make_slot,
)

NUMBER = "919800000001"


@pytest.fixture
async def centre(pg: asyncpg.Pool) -> int:
    return await make_centre(pg, "Roxy Cinema")


async def slot_in(pg: asyncpg.Pool, centre: int, days: int) -> tuple[int, object]:
    day = datetime.now(IST).date() + timedelta(days=days)
    return await make_slot(pg, centre, day=day, capacity=10), day


async def book(pg: asyncpg.Pool, slot: int, n: int, wa_id: str = NUMBER) -> Booked | Refused:
    return await repository.book(
        pg, wa_id, replace(book_effect(slot, n), message_id=f"m{slot}-{n}")
    )


async def status_of(pg: asyncpg.Pool, reference: str) -> str:
    return await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", reference)


async def test_a_missed_booking_frees_the_id_for_a_new_booking(pg, centre) -> None:
    (slot, day), (later, _) = await slot_in(pg, centre, 2), await slot_in(pg, centre, 4)
    first = await book(pg, slot, 1)
    assert isinstance(first, Booked)
    assert await book(pg, later, 1) == Refused(Refusal.ID_ALREADY_BOOKED)

    assert await mark_missed(pg, day) == 0  # its own day: the citizen may still come
    assert await mark_missed(pg, day + timedelta(days=1)) == 1
    assert await status_of(pg, first.booking.reference) == "missed"

    again = await book(pg, later, 1)
    assert isinstance(again, Booked)
    listed = await repository.list_bookings(pg, NUMBER)
    assert [b.reference for b in listed.bookings] == [again.booking.reference]
    # The missed booking's place stays counted: it was held all day.
    assert await pg.fetchval("SELECT booked FROM slots WHERE id = $1", slot) == 1
    await assert_counts_consistent(pg)


async def test_missed_bookings_free_the_numbers_places(pg, centre) -> None:
    (slot, day), (later, _) = await slot_in(pg, centre, 2), await slot_in(pg, centre, 4)
    for n in range(1, rules.MAX_ACTIVE_PER_NUMBER + 1):
        assert isinstance(await book(pg, slot, n), Booked)
    assert await book(pg, later, 99) == Refused(Refusal.NUMBER_LIMIT)
    assert await mark_missed(pg, day + timedelta(days=1)) == rules.MAX_ACTIVE_PER_NUMBER
    assert isinstance(await book(pg, later, 99), Booked)


async def test_attended_cancelled_and_later_bookings_are_left_alone(pg, centre) -> None:
    (slot, day), (next_day, _) = await slot_in(pg, centre, 2), await slot_in(pg, centre, 3)
    came, cancelled, missed = [(await book(pg, slot, n)).booking for n in (1, 2, 3)]
    tomorrows = (await book(pg, next_day, 4)).booking
    await admin_repo.check_in(pg, came.reference, came.code, today=day)
    await repository.cancel(pg, NUMBER, cancelled.reference)

    assert await mark_missed(pg, day + timedelta(days=1)) == 1
    assert await mark_missed(pg, day + timedelta(days=1)) == 0  # again: nothing more
    statuses = [await status_of(pg, b.reference) for b in (came, cancelled, missed, tomorrows)]
    assert statuses == ["attended", "cancelled", "missed", "booked"]
    await assert_counts_consistent(pg)


async def test_staff_see_a_missed_booking_and_cannot_check_it_in(pg, centre) -> None:
    slot, day = await slot_in(pg, centre, 2)
    missed = (await book(pg, slot, 1)).booking
    await mark_missed(pg, day + timedelta(days=1))

    with pytest.raises(admin_repo.Conflict, match="missed"):
        await admin_repo.check_in(pg, missed.reference, missed.code, today=day)
    _, rows = await admin_repo.roster(pg, centre, day)
    assert [(r["reference"], r["status"]) for r in rows] == [(missed.reference, "missed")]


async def test_a_booking_held_by_another_transaction_is_skipped_not_waited_for(pg, centre) -> None:
    slot, day = await slot_in(pg, centre, 2)
    held = (await book(pg, slot, 1)).booking
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM bookings WHERE reference = $1 FOR UPDATE", held.reference)
        skipped = await asyncio.wait_for(mark_missed(pg, day + timedelta(days=1)), timeout=2)
    assert skipped == 0
    assert await mark_missed(pg, day + timedelta(days=1)) == 1  # the next pass takes it


async def test_the_sweeper_marks_batch_after_batch_and_counts_them(pg, centre) -> None:
    slot, day = await slot_in(pg, centre, 2)
    for n in range(1, 6):
        await book(pg, slot, n, wa_id=f"9198000000{n:02d}")
    counter = metrics.BOOKINGS.labels("missed", "")
    before = counter._value.get()
    the_day_after = datetime.combine(day + timedelta(days=1), datetime.min.time(), IST)
    # A pause longer than the test: five rows in batches of 2 are marked only if a
    # full batch makes the sweeper go again at once.
    sweeper = MissedSweeper(pg, every_s=3600, batch=2, clock=lambda: the_day_after)
    task = asyncio.create_task(sweeper.run())
    try:
        await eventually(
            lambda: pg.fetchval("SELECT count(*) = 5 FROM bookings WHERE status = 'missed'")
        )
    finally:
        sweeper.stop()
        await asyncio.wait_for(task, timeout=5)
    assert counter._value.get() - before == 5
