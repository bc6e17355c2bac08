"""The waitlist's locks against a real PostgreSQL: a booking of an ID that waits
under another number, crossing that number's leave or Book, never deadlocks
(sql/016: every path locks the number, the ID's waiting entry, the slot, the
offer, in that order).

The interleaving is forced, without sleeps: a third connection holds the slot's
row lock while the two sides start one after the other, each seen waiting for a
lock (pg_stat_activity) before the next goes; then the slot is let go. With the
old order (sql/014: the slot, then the entry) PostgreSQL aborts one side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from kmcbot.booking import admin_repo, repository
from kmcbot.booking.commands import Booked, Joined, Refused, WaitlistLeft
from kmcbot.storage import postgres as db
from kmcbot.waitlist import store
from tests.support.factories import assert_counts_consistent, book_effect, make_centre, make_slot
from tests.support.waitlist import assert_holds_consistent, join_effect

OWNER = "919800000001"  # the number the ID waits under
OTHER = "919811111111"  # another number booking the same ID (a family member's phone)


@pytest.fixture
async def actors(pg_url: str) -> AsyncIterator[list[asyncpg.Pool]]:
    """Three one-connection pools: the blocker and the two sides, each with its pid."""
    pools = [await db.create_pool(pg_url, min_size=1, max_size=1) for _ in range(3)]
    yield pools
    for p in pools:
        await p.close()


async def _offered(pg: asyncpg.Pool) -> tuple[int, int]:
    """The ID `hash-1` waits under OWNER with a live offer on a slot that still has
    a free place. -> (slot, offer)."""
    slot = await make_slot(pg, await make_centre(pg), capacity=1)
    assert await store.join(pg, OWNER, join_effect(1)) == Joined(1)
    await admin_repo.set_capacity(pg, slot, 2)
    run = await store.run_offers(pg, datetime.now(UTC), timedelta(minutes=30))
    assert len(run.made) == 1
    assert await pg.fetchval("SELECT capacity - booked - held FROM slots WHERE id = $1", slot) == 1
    return slot, run.made[0]


async def _waiting_for_a_lock(pg: asyncpg.Pool, pid: int) -> None:
    query = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1"
    for _ in range(500):
        if await pg.fetchval(query, pid) == "Lock":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never waited for the lock")


async def _crossed(
    pg: asyncpg.Pool, actors: list[asyncpg.Pool], slot: int, first, second
) -> tuple[object, object]:
    """Run first(pool) and second(pool) while the slot is locked, each seen waiting,
    then release the slot. -> both outcomes (an exception is returned, not raised)."""
    blocker, a, b = actors
    pids = [await p.fetchval("SELECT pg_backend_pid()") for p in (a, b)]
    async with blocker.acquire() as conn, conn.transaction():
        await conn.execute("SELECT id FROM slots WHERE id = $1 FOR UPDATE", slot)
        one: asyncio.Task = asyncio.ensure_future(_outcome(first(a)))
        await _waiting_for_a_lock(pg, pids[0])
        two: asyncio.Task = asyncio.ensure_future(_outcome(second(b)))
        await _waiting_for_a_lock(pg, pids[1])
    return await one, await two


async def _outcome(call: Awaitable[object]) -> object:
    try:
        return await call
    except asyncpg.PostgresError as exc:
        return exc


async def test_a_booking_of_the_id_and_its_owner_leaving_never_deadlock(pg, actors) -> None:
    slot, _ = await _offered(pg)
    booked, left = await _crossed(
        pg,
        actors,
        slot,
        lambda p: repository.book(p, OTHER, book_effect(slot, 1)),
        lambda p: store.leave(p, OWNER, None),
    )
    assert isinstance(booked, Booked), booked
    # The booking ended the wait first: nothing was left to leave.
    assert left == WaitlistLeft(0), left
    assert await pg.fetchval("SELECT status FROM waitlist") == "booked"
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg, reserved=True)


async def test_a_booking_of_the_id_and_its_owner_tapping_book_never_deadlock(pg, actors) -> None:
    slot, offer = await _offered(pg)
    taken, booked = await _crossed(
        pg,
        actors,
        slot,
        lambda p: store.take(p, OWNER, offer, "wamid.take.1"),
        lambda p: repository.book(p, OTHER, book_effect(slot, 1)),
    )
    assert isinstance(taken, Booked), taken
    assert isinstance(booked, Refused), booked  # the ID has its booking
    assert await pg.fetchval("SELECT count(*) FROM bookings WHERE status = 'booked'") == 1
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg, reserved=True)
