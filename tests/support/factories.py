"""Rows for tests: a centre and its slots, inserted into a real database."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from kmcbot.booking.commands import Book
from kmcbot.booking.model import IST, Vaccine

_n = itertools.count(1)


async def make_centre(pool: asyncpg.Pool, name: str = "Roxy Cinema") -> int:
    n = next(_n)
    return await pool.fetchval(
        """INSERT INTO centres (code, name, kind, ward, address, latitude, longitude)
           VALUES ($1, $2, 'mega', 46, '5 Chowringhee Place, Kolkata 700013', 22.5620, 88.3510)
           RETURNING id""",
        f"C{n}",
        name,
    )


async def make_slot(
    pool: asyncpg.Pool,
    centre_id: int,
    *,
    capacity: int = 10,
    vaccine: Vaccine = Vaccine.COVISHIELD,
    day: date | None = None,
    start: time = time(10, 0),
) -> int:
    day = day or (datetime.now(IST).date() + timedelta(days=2))
    end = time(start.hour + 2, start.minute)
    return await pool.fetchval(
        """INSERT INTO slots (centre_id, vaccine, day, start_time, end_time, starts_at, capacity)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        centre_id,
        str(vaccine),
        day,
        start,
        end,
        datetime.combine(day, start, IST),
        capacity,
    )


def book_effect(
    slot_id: int, n: int, *, vaccine: Vaccine = Vaccine.COVISHIELD, message_id: str | None = None
) -> Book:
    """A valid booking of citizen number `n` (a distinct ID hash each)."""
    return Book(
        slot_id=slot_id,
        vaccine=vaccine,
        first_dose=datetime.now(UTC).date() - timedelta(days=120),
        id_type="aadhaar",
        id_hash=f"hash-{n}",
        id_last4=f"{n % 10000:04d}",
        name=f"Citizen {n}",
        lang="en",
        message_id=message_id or f"wamid.book.{n}.{next(_n)}",
    )


async def assert_counts_consistent(pool: asyncpg.Pool) -> None:
    """Every slot: booked == its booked, attended and missed bookings <= capacity."""
    bad = await pool.fetch(
        """SELECT s.id, s.booked, s.capacity, count(b.id) AS active
           FROM slots s LEFT JOIN bookings b
                ON b.slot_id = s.id AND b.status IN ('booked', 'attended', 'missed')
           GROUP BY s.id HAVING s.booked <> count(b.id) OR s.booked > s.capacity"""
    )
    assert bad == [], [dict(r) for r in bad]


async def eventually(check, timeout: float = 5.0, every: float = 0.02):
    """Wait until `check()` (sync or async) returns something truthy; return it."""
    import asyncio
    import inspect

    async with asyncio.timeout(timeout):
        while True:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(every)
