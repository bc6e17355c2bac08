"""The availability snapshot reloaded from the last one (AvailabilityLoader): the same
snapshot as a fresh load, with the unchanged slots' objects kept."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from kmcbot.booking.model import kolkata_today
from kmcbot.booking.repository import AvailabilityLoader, load_availability
from kmcbot.devtools.seed import DEMO_CSV, seed


async def test_a_reload_sees_every_change_and_keeps_the_unchanged_slots(
    pg: asyncpg.Pool, pg_url: str
) -> None:
    await seed(pg_url, DEMO_CSV, kolkata_today(), days=3)
    loader = AvailabilityLoader(pg)
    now = datetime.now(UTC)
    first = await loader(now)
    assert len(first.slots) > 10
    assert list(first.slots) == sorted(first.slots, key=lambda s: (s.day, s.start, s.centre_id))
    taken, filled, cancelled = first.slots[0], first.slots[1], first.slots[2]
    await pg.execute("UPDATE slots SET booked = booked + 1 WHERE id = $1", taken.id)
    await pg.execute("UPDATE slots SET booked = capacity WHERE id = $1", filled.id)
    await pg.execute("UPDATE slots SET status = 'cancelled' WHERE id = $1", cancelled.id)

    second = await loader(now)
    assert second.slots == (await load_availability(pg, now)).slots  # as a fresh load
    by_id = second.by_id
    assert by_id[taken.id].free == taken.free - 1
    assert filled.id not in by_id and cancelled.id not in by_id
    kept = [s for s in second.slots if s.id != taken.id]
    assert all(s is first.by_id[s.id] for s in kept)  # not made again
    assert by_id[taken.id] is not first.by_id[taken.id]
