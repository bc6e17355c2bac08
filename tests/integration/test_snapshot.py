"""The incremental availability snapshot (booking/snapshot.py) against real
PostgreSQL: after each kind of change, what it offers equals a full load."""

from __future__ import annotations

from datetime import UTC, datetime, time

from kmcbot.booking import repository
from kmcbot.booking.availability import Availability
from kmcbot.booking.repository import HORIZON_DAYS, load_availability
from kmcbot.booking.snapshot import Snapshots
from tests.support.factories import book_effect, make_centre, make_slot


def offered(av: Availability) -> dict:
    keys = {(s.vaccine, s.centre_id) for s in av.slots}
    return {
        "centres": sorted(av.centres),
        "places": {
            k: [(s.id, s.free) for s in av.with_places(*k)]
            for k in sorted(keys)
            if k[1] in av.centres and av.with_places(*k)
        },
    }


async def test_the_incremental_snapshot_equals_a_full_load(pg) -> None:
    snapshots = Snapshots(pg, HORIZON_DAYS)

    async def same() -> int:
        now = datetime.now(UTC)
        incremental = await snapshots(now)
        assert offered(incremental) == offered(await load_availability(pg, now))
        return snapshots.changed_rows

    a, b = await make_centre(pg), await make_centre(pg)
    slots = [await make_slot(pg, c, capacity=2) for c in (a, b)]
    await same()  # the full load
    assert await same() <= 4  # nothing changed: only the overlap's rows, skipped
    # A booking, then the slot full.
    for n in (1, 2):
        await repository.book(pg, f"9198000{n:05d}", book_effect(slots[0], n))
        await same()
    # A new slot, a cancelled slot, an inactive centre, a centre again active.
    await make_slot(pg, b, capacity=5, start=time(14, 0))
    await same()
    await pg.execute("UPDATE slots SET status = 'cancelled' WHERE id = $1", slots[1])
    await same()
    await pg.execute("UPDATE centres SET active = false WHERE id = $1", b)
    await same()
    await pg.execute("UPDATE centres SET active = true WHERE id = $1", b)
    await same()
    # A cancellation frees a place of the full slot again.
    await pg.execute("UPDATE slots SET booked = booked - 1 WHERE id = $1", slots[0])
    await same()
