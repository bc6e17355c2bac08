"""One hot slot: many concurrent booking attempts on a slot with few places.

All attempts go through `kmcbot.booking.repository.book` on a real asyncpg
pool against a fresh database (created and dropped here), each by a
different citizen (number and ID). Exactly `capacity` must succeed; the
rest must be refused as full, and the slot's count must equal its bookings.

    .venv/bin/python bench/hot_slot.py [--attempts 10000 --capacity 500 --pool 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import asyncpg

from kmcbot.booking.commands import Book, Booked, Refused
from kmcbot.booking.model import IST, Vaccine
from kmcbot.booking.repository import book
from kmcbot.devtools.loadgen.report import overbooking
from kmcbot.settings import SQL_DIR
from kmcbot.storage import postgres as db


async def make_slot(url: str, capacity: int) -> int:
    day = datetime.now(IST).date() + timedelta(days=2)
    conn = await asyncpg.connect(url)
    try:
        centre = await conn.fetchval(
            """INSERT INTO centres (code, name, kind, ward, address, latitude, longitude)
               VALUES ('HOT', 'Hot Slot Hall', 'mega', 46, 'Esplanade, Kolkata', 22.56, 88.35)
               RETURNING id"""
        )
        slot = await conn.fetchval(
            """INSERT INTO slots (centre_id, vaccine, day, start_time, end_time, starts_at,
                                  capacity)
               VALUES ($1, 'covishield', $2, '10:00', '12:00', $3, $4) RETURNING id""",
            centre,
            day,
            datetime.combine(day, clock(10), IST),
            capacity,
        )
    finally:
        await conn.close()
    return int(slot)


def attempt(slot_id: int, n: int) -> Book:
    return Book(
        slot_id=slot_id,
        vaccine=Vaccine.COVISHIELD,
        first_dose=datetime.now(UTC).date() - timedelta(days=120),
        id_type="aadhaar",
        id_hash=f"hot-{n}",  # a distinct ID each: one booking per ID is a rule
        id_last4=f"{n % 10000:04d}",
        name=f"Citizen {n}",
        lang="en",
        message_id=f"wamid.hot.{os.getpid()}.{n}",
    )


async def main(args: argparse.Namespace) -> None:
    name = f"kmcbot_hot_slot_{os.getpid()}"
    admin = await asyncpg.connect(args.pg_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = args.pg_url.rsplit("/", 1)[0] + "/" + name
    try:
        await db.migrate(url, SQL_DIR)
        slot_id = await make_slot(url, args.capacity)
        pool = await db.create_pool(url, min_size=args.pool, max_size=args.pool)
        outcomes: Counter[str] = Counter()

        async def one(n: int) -> None:
            try:
                result = await book(pool, f"9197{n:08d}", attempt(slot_id, n))
            except Exception as exc:  # noqa: BLE001 - counted and shown, not hidden
                outcomes[f"error {type(exc).__name__}"] += 1
                return
            match result:
                case Booked():
                    outcomes["booked"] += 1
                case Refused(reason):
                    outcomes[f"refused {reason}"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(args.attempts)))
        seconds = time.perf_counter() - started
        await pool.close()

        conn = await asyncpg.connect(url)
        try:
            booked, capacity = await conn.fetchrow(
                "SELECT booked, capacity FROM slots WHERE id = $1", slot_id
            )
            rows = await conn.fetchval(
                "SELECT count(*) FROM bookings WHERE slot_id = $1 AND status = 'booked'", slot_id
            )
        finally:
            await conn.close()
        violations, slots = await overbooking(url)
        print(
            f"hot slot: {args.attempts} concurrent attempts on 1 slot of capacity "
            f"{args.capacity}, pool of {args.pool} connections, {os.cpu_count()} CPUs (noisy)"
        )
        print(f"  time            {seconds:.2f} s, {args.attempts / seconds:.0f} attempts/s")
        print("  outcomes        " + ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())))
        ok = "ok" if booked == rows == args.capacity else "WRONG"
        print(
            f"  booked          slot.booked = {booked}, active booking rows = {rows}, "
            f"capacity = {capacity}: {ok} (must be exactly {args.capacity})"
        )
        print(
            f"  consistency     {violations} slots violating booked == active bookings "
            f"<= capacity ({slots} checked)"
        )
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--attempts", type=int, default=10_000)
    p.add_argument("--capacity", type=int, default=500)
    p.add_argument("--pool", type=int, default=10, help="connections (kmcbot's pool default)")
    asyncio.run(main(p.parse_args()))
