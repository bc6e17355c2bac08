"""Day-before reminders: queued as `notifications` rows, sent by the relay.

Every server process runs the scheduler; the partial unique index
notifications_one_reminder (sql/003) with `ON CONFLICT DO NOTHING` makes each
reminder exist once however many processes insert it at the same moment. So
the scheduler can simply run often: a booking made in the afternoon for
tomorrow still gets its reminder on the next pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import asyncpg
import structlog

from kmcbot import metrics
from kmcbot.booking.model import IST
from kmcbot.jobs.periodic import Periodic

log = structlog.get_logger()

EVERY_S = 300.0
# No reminders are queued at night; someone who books tomorrow's slot late in
# the evening has just got the ticket, and a reminder at 23:00 would be a nuisance.
UNTIL_HOUR = 20

_SCHEDULE = """
INSERT INTO notifications (booking_id, kind, remind_day)
SELECT b.id, 'reminder', s.day
FROM slots s JOIN bookings b ON b.slot_id = s.id AND b.status = 'booked'
WHERE s.status = 'open' AND s.day = $1 AND s.starts_at >= $2 AND s.starts_at < $3
  AND b.wa_id IS NOT NULL
ON CONFLICT (booking_id, remind_day) WHERE kind = 'reminder' DO NOTHING
"""


async def schedule_reminders(pool: asyncpg.Pool, now: datetime) -> int:
    """Queue a reminder for each active booking of tomorrow (IST) that has none; how many."""
    tomorrow = now.astimezone(IST).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(0), IST)
    # The starts_at range lets PostgreSQL use the index of open slots by time.
    status = await pool.execute(_SCHEDULE, tomorrow, start, start + timedelta(days=1))
    return int(status.split()[-1])  # "INSERT 0 <rows>"


def due(now: datetime, from_hour: int) -> bool:
    """Whether reminders are queued at `now`: from `from_hour` IST until the evening."""
    hour = now.astimezone(IST).hour
    return from_hour <= hour < max(UNTIL_HOUR, from_hour + 1)


class ReminderScheduler(Periodic):
    def __init__(
        self,
        pool: asyncpg.Pool,
        from_hour: int,
        *,
        every_s: float = EVERY_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.from_hour = from_hour
        self.every_s = every_s
        self.clock = clock
        super().__init__()

    async def run(self) -> None:
        async def one_pass() -> bool:
            now = self.clock()
            if due(now, self.from_hour):
                created = await schedule_reminders(self.pool, now)
                metrics.REMINDERS_LAST_PASS.set(now.timestamp())
                if created:
                    log.info("reminders_scheduled", created=created)
            return False  # the next pass in every_s

        await self.repeat(one_pass, self.every_s, "reminders_error")
