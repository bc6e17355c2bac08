"""Waitlist rows for tests: citizens joining, and the invariants of holds and offers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg

from kmcbot.booking.commands import JoinWaitlist
from kmcbot.booking.model import Vaccine


def join_effect(n: int, *, earliest: date | None = None) -> JoinWaitlist:
    """Citizen number `n` (a distinct ID hash each), due from `earliest` (today)."""
    return JoinWaitlist(
        vaccine=Vaccine.COVISHIELD,
        first_dose=datetime.now(UTC).date() - timedelta(days=120),
        earliest=earliest or datetime.now(UTC).date(),
        id_type="aadhaar",
        id_hash=f"hash-{n}",
        id_last4=f"{n % 10000:04d}",
        name=f"Citizen {n}",
        lang="en",
    )


async def assert_holds_consistent(pool: asyncpg.Pool, *, reserved: bool = False) -> None:
    """Every slot holds exactly its live offers (at least, if places may be
    `reserved` for the waitlist and not offered yet), booked + held <= capacity,
    and no WhatsApp user or entry has two live offers."""
    bad = await pool.fetch(
        f"""SELECT s.id, s.held, s.booked, s.capacity, count(o.id) AS live
           FROM slots s LEFT JOIN offers o ON o.slot_id = s.id AND o.status = 'held'
           GROUP BY s.id
           HAVING (s.held {">=" if reserved else "="} count(o.id)) IS NOT TRUE
               OR s.booked + s.held > s.capacity"""
    )
    assert bad == [], [dict(r) for r in bad]
    twice = await pool.fetch(
        """SELECT wa_id FROM offers WHERE status = 'held' GROUP BY wa_id HAVING count(*) > 1
           UNION ALL
           SELECT entry_id::text FROM offers WHERE status = 'held'
           GROUP BY entry_id HAVING count(*) > 1"""
    )
    assert twice == []
