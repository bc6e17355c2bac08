"""Load centres and their slots into PostgreSQL (demo data or a CSV file)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path

import asyncpg

from kmcbot.booking.admin_repo import upsert_centres_on
from kmcbot.booking.model import IST
from kmcbot.devtools.data.demo import CentreRow, SlotRow, demo_slots, read_centres

DEMO_CSV = Path(__file__).resolve().parent / "data" / "centres.csv"


async def insert_slots(conn: asyncpg.Connection, ids: dict[str, int], slots: list[SlotRow]) -> int:
    """Add slots that do not exist yet (same centre, vaccine, day, start); returns how many."""
    rows = [
        (
            ids[s.centre_code],
            str(s.vaccine),
            s.day,
            s.start,
            s.end,
            datetime.combine(s.day, s.start, IST),
            s.capacity,
        )
        for s in slots
    ]
    before = await conn.fetchval("SELECT count(*) FROM slots")
    await conn.executemany(
        """INSERT INTO slots (centre_id, vaccine, day, start_time, end_time, starts_at, capacity)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (centre_id, vaccine, day, start_time) DO NOTHING""",
        rows,
    )
    return int(await conn.fetchval("SELECT count(*) FROM slots")) - int(before)


async def seed(url: str, csv_path: Path, today: date, days: int = 14) -> tuple[int, int]:
    """Centres from `csv_path` and `days` days of sessions for each; safe to run again."""
    return await seed_centres(url, read_centres(csv_path), today, days)


SlotRule = Callable[[Iterable[CentreRow], date, int], list[SlotRow]]


async def seed_centres(
    url: str,
    centres: list[CentreRow],
    today: date,
    days: int = 14,
    sessions: SlotRule = demo_slots,
) -> tuple[int, int]:
    """The centres (already read) and `days` days of `sessions` for each."""
    conn = await asyncpg.connect(url, statement_cache_size=0)  # PgBouncer-safe
    try:
        async with conn.transaction():
            ids = {row["code"]: row["id"] for row, _ in await upsert_centres_on(conn, centres)}
            added = await insert_slots(conn, ids, sessions(centres, today, days))
    finally:
        await conn.close()
    return len(centres), added


async def seed_city(url: str, today: date, days: int = 14) -> tuple[int, int]:
    """All of Kolkata (`kmcbot seed --city`): the demo's centres and generated ones."""
    from kmcbot.devtools.data.city import city_centres, city_slots

    return await seed_centres(url, city_centres(), today, days, city_slots)
