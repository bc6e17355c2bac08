"""Bookings nobody came for: marked 'missed' once their slot's day is over.

Without this, a citizen who could not come kept an "active" booking for ever:
the ID could not book again, the booking took one of the number's places, and
"My bookings" offered a cancel and a move that a started slot refuses.

Every server process runs the sweep (like the reminders): rows another
transaction holds are skipped (`SKIP LOCKED`, so no waiting and no deadlock
with a citizen's or an operator's change) and taken on a later pass. A pass
marks at most BATCH rows and goes again at once while there are more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import asyncpg
import structlog

from kmcbot import metrics
from kmcbot.booking.model import IST
from kmcbot.jobs.periodic import Periodic
from kmcbot.observe import events

log = structlog.get_logger()

EVERY_S = 300.0
BATCH = 5000

_MARK = """
WITH due AS (
    SELECT b.id FROM bookings b JOIN slots s ON s.id = b.slot_id
    WHERE b.status = 'booked' AND s.day < $1
    ORDER BY b.id LIMIT $2
    FOR UPDATE OF b SKIP LOCKED)
UPDATE bookings b SET status = 'missed', updated_at = now()
FROM due, slots s, centres c
WHERE b.id = due.id AND s.id = b.slot_id AND c.id = s.centre_id
RETURNING b.reference, b.slot_id, c.code AS centre
"""


async def mark_missed(pool: asyncpg.Pool, today: date, batch: int = BATCH) -> int:
    """Mark 'missed' the booked bookings of days before `today` (IST); how many.
    One `booking_missed` line each (a business event: once per booking)."""
    rows = await pool.fetch(_MARK, today, batch)
    for row in rows:
        events.booking_missed(reference=row["reference"], centre=row["centre"], slot=row["slot_id"])
    return len(rows)


class MissedSweeper(Periodic):
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        every_s: float = EVERY_S,
        batch: int = BATCH,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.every_s = every_s
        self.batch = batch
        self.clock = clock
        super().__init__()

    async def run(self) -> None:
        async def one_pass() -> bool:
            today = self.clock().astimezone(IST).date()
            marked = await mark_missed(self.pool, today, self.batch)
            if marked:
                metrics.BOOKINGS.labels("missed", "").inc(marked)
                log.info("bookings_missed", marked=marked)
            return marked == self.batch  # more may wait

        await self.repeat(one_pass, self.every_s, "missed_error")
