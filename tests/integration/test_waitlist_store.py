"""The waitlist against a real PostgreSQL (kmcbot/waitlist/store.py, sql/014):
joining, holds that keep places from the ordinary path, taking and passing on
offers, and several processes running offers at once without offering a place
twice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from kmcbot.booking import admin_repo, repository
from kmcbot.booking.commands import Booked, Joined, OfferDeclined, Refused, WaitlistLeft
from kmcbot.booking.model import Refusal
from kmcbot.booking.snapshot import Snapshots
from kmcbot.waitlist import store
from tests.support.factories import assert_counts_consistent, book_effect, make_centre, make_slot
from tests.support.waitlist import assert_holds_consistent, join_effect

HOLD = timedelta(minutes=30)


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
async def full_slot(pg: asyncpg.Pool) -> int:
    """A session with its one place booked."""
    slot = await make_slot(pg, await make_centre(pg), capacity=1)
    assert isinstance(await repository.book(pg, "919700000000", book_effect(slot, 10_000)), Booked)
    return slot


async def _join(pg: asyncpg.Pool, n: int, **kw) -> Joined | Refused:
    return await store.join(pg, f"9198{n:08d}", join_effect(n, **kw))


async def test_joining_tells_the_position_once_per_id_and_four_per_number(pg) -> None:
    assert await _join(pg, 1) == Joined(1)
    assert await _join(pg, 2) == Joined(2)
    earlier = datetime.now(UTC).date() - timedelta(days=3)
    assert await _join(pg, 3, earliest=earlier) == Joined(1)  # due first: first in line
    assert await store.join(pg, "919900000000", join_effect(1)) == Refused(Refusal.ALREADY_WAITING)
    family = "919911111111"
    for n in range(10, 14):
        assert isinstance(await store.join(pg, family, join_effect(n)), Joined)
    assert await store.join(pg, family, join_effect(14)) == Refused(Refusal.WAITLIST_LIMIT)
    waiting = (await repository.list_bookings(pg, family)).waiting
    assert [w.position for w in waiting] == [4, 5, 6, 7]


async def test_an_entry_keeps_its_area_and_my_bookings_shows_it(pg) -> None:
    """Issue 22: the area the chat asked (a borough; a location; neither: the city)."""
    family = "919922222222"
    in_borough = replace(join_effect(20), borough=7)
    # A location and a borough both given: the location is her area, one area only.
    near = replace(join_effect(21), near=(22.54, 88.36), borough=7)
    for effect in (in_borough, near, join_effect(22)):
        assert isinstance(await store.join(pg, family, effect), Joined)
    rows = await pg.fetch("SELECT borough, near_lat, radius_km FROM waitlist ORDER BY id")
    assert [tuple(r) for r in rows] == [(7, None, None), (None, 22.54, 5.0), (None, None, None)]
    waiting = (await repository.list_bookings(pg, family)).waiting
    assert [(w.borough, w.near) for w in waiting] == [(7, False), (None, True), (None, False)]


async def test_a_booking_made_in_the_chat_ends_the_same_ids_wait(pg) -> None:
    slot = await make_slot(pg, await make_centre(pg), capacity=5)
    await _join(pg, 1)
    assert isinstance(await repository.book(pg, "919800000001", book_effect(slot, 1)), Booked)
    assert await pg.fetchval("SELECT status FROM waitlist") == "booked"
    assert (await store.run_offers(pg, now(), HOLD)).made == ()


async def test_an_offer_whose_id_was_booked_another_way_is_never_told_and_passes_on(
    pg, full_slot
) -> None:
    await _join(pg, 1)
    await _join(pg, 2)
    await admin_repo.set_capacity(pg, full_slot, 2)
    (first,) = (await store.run_offers(pg, now(), HOLD)).made
    # Before the offer is told, the same ID books elsewhere (the chat, a walk-in).
    other = await make_slot(pg, await make_centre(pg, "Elsewhere"), capacity=5)
    assert isinstance(await repository.book(pg, "919800000001", book_effect(other, 1)), Booked)
    async with pg.acquire() as conn, conn.transaction():
        assert [n.offer_id for n in await store.unqueued(conn, 10)] == []
    run = await store.run_offers(pg, now(), HOLD)
    assert await pg.fetchval("SELECT status FROM offers WHERE id = $1", first) == "void"
    [passed] = run.made  # the place went to the next in line, in the same run
    assert await pg.fetchval("SELECT entry_id FROM offers WHERE id = $1", passed) == (
        await pg.fetchval("SELECT id FROM waitlist WHERE status = 'waiting'")
    )
    await assert_holds_consistent(pg)


async def test_an_id_with_a_booking_cannot_wait(pg, full_slot) -> None:
    assert await store.join(pg, "919900000001", join_effect(10_000)) == Refused(
        Refusal.ID_ALREADY_BOOKED
    )


async def test_a_raised_capacity_is_offered_in_order_and_held_from_the_lists(pg, full_slot) -> None:
    for n in range(1, 6):
        await _join(pg, n)
    await admin_repo.set_capacity(pg, full_slot, 4)
    run = await store.run_offers(pg, now(), HOLD)
    assert len(run.made) == 3
    offered = await pg.fetch("SELECT entry_id FROM offers ORDER BY id")
    entries = await pg.fetch("SELECT id FROM waitlist ORDER BY earliest, joined_at, id LIMIT 3")
    assert [r["entry_id"] for r in offered] == [r["id"] for r in entries]
    # The held places are no one else's: the ordinary path is refused, the lists show none.
    assert await repository.book(pg, "919700000001", book_effect(full_slot, 77)) == Refused(
        Refusal.SLOT_FULL
    )
    snapshot = await Snapshots(pg, 60)(now())
    assert [s.free for s in snapshot.slots if s.id == full_slot] == [0]
    # A second run offers nothing more: nothing is free.
    assert (await store.run_offers(pg, now(), HOLD)).made == ()
    await assert_holds_consistent(pg)


async def test_taking_an_offer_books_in_one_transaction_and_a_redelivery_books_once(
    pg, full_slot
) -> None:
    await _join(pg, 1)
    await admin_repo.set_capacity(pg, full_slot, 2)
    (offer,) = (await store.run_offers(pg, now(), HOLD)).made
    taken = await store.take(pg, "919800000001", offer, "wamid.take")
    assert isinstance(taken, Booked) and taken.booking.slot_id == full_slot
    again = await store.take(pg, "919800000001", offer, "wamid.take")
    assert isinstance(again, Booked) and again.booking.reference == taken.booking.reference
    row = await pg.fetchrow("SELECT booked, held FROM slots WHERE id = $1", full_slot)
    assert (row["booked"], row["held"]) == (2, 0)
    assert await pg.fetchval("SELECT status FROM waitlist") == "booked"
    assert await pg.fetchval("SELECT status FROM offers") == "taken"
    # Another number cannot take someone's offer.
    assert await store.take(pg, "919800000002", offer, "wamid.x") == Refused(Refusal.OFFER_GONE)
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg)


async def test_not_now_and_an_expired_hold_pass_the_place_on(pg, full_slot) -> None:
    for n in range(1, 4):
        await _join(pg, n)
    await admin_repo.set_capacity(pg, full_slot, 2)
    (first,) = (await store.run_offers(pg, now(), HOLD)).made
    assert await store.decline(pg, "919800000001", None) == OfferDeclined(True, typed=True)
    (second,) = (await store.run_offers(pg, now(), HOLD)).made
    assert await pg.fetchval("SELECT wa_id FROM offers WHERE id = $1", second) == "919800000002"
    # Citizen 2 lets it run out: at the next run after the hold it goes to citizen 3.
    later = now() + HOLD + timedelta(seconds=1)
    run = await store.run_offers(pg, later, HOLD)
    assert len(run.expired) == 1 and len(run.made) == 1
    assert await pg.fetchval("SELECT wa_id FROM offers WHERE id = $1", run.made[0]) == (
        "919800000003"
    )
    assert await store.take(pg, "919800000002", second, "wamid.late") == Refused(Refusal.OFFER_GONE)
    # A typed "yes" with no offer is told so.
    assert await store.take(pg, "919800000001", None, "wamid.y") == Refused(Refusal.NO_OFFER)
    await assert_holds_consistent(pg)


async def test_leaving_and_a_lowered_capacity_and_a_cancelled_session_free_the_holds(
    pg, full_slot
) -> None:
    for n in range(1, 5):
        await _join(pg, n)
    await admin_repo.set_capacity(pg, full_slot, 4)
    assert len((await store.run_offers(pg, now(), HOLD)).made) == 3
    assert await store.leave(pg, "919800000001", None) == WaitlistLeft(1)
    # Her place stays held, reserved for citizen 4 until the next run.
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", full_slot) == 3
    await assert_holds_consistent(pg, reserved=True)
    # Lowered to 2: the reserved place goes first, then the newest offer.
    await admin_repo.set_capacity(pg, full_slot, 2)
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", full_slot) == 1
    await assert_holds_consistent(pg)
    await admin_repo.cancel_slot(pg, full_slot, "supply_not_arrived")
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", full_slot) == 0
    assert await pg.fetchval("SELECT count(*) FROM offers WHERE status = 'held'") == 0
    await assert_holds_consistent(pg)


async def test_delete_my_data_leaves_the_waitlist_and_keeps_nothing_personal(pg, full_slot) -> None:
    await _join(pg, 1)
    await admin_repo.set_capacity(pg, full_slot, 2)
    await store.run_offers(pg, now(), HOLD)
    await repository.forget(pg, "919800000001")
    await store.forget(pg, "919800000001")
    row = await pg.fetchrow("SELECT wa_id, id_hash, name, status FROM waitlist")
    assert dict(row) == {"wa_id": None, "id_hash": None, "name": None, "status": "left"}
    assert await pg.fetchval("SELECT count(*) FROM offers WHERE wa_id IS NOT NULL") == 0
    # Her place stays reserved until the next run, which finds nobody and gives it back.
    await assert_holds_consistent(pg, reserved=True)
    assert (await store.run_offers(pg, now(), HOLD)).made == ()
    assert await pg.fetchval("SELECT held FROM slots WHERE id = $1", full_slot) == 0
    await assert_holds_consistent(pg)


async def test_the_messages_that_joined_left_and_declined_are_erased_with_her(
    pg, full_slot
) -> None:
    """A wamid carries the number: the message ids a retried turn is matched by
    (sql/018) go with her other fields."""
    number = "919800000001"
    assert await store.join(pg, number, join_effect(1), message_id="wamid.j1") == Joined(1)
    assert await store.join(pg, number, join_effect(2), message_id="wamid.j2") == Joined(2)
    await admin_repo.set_capacity(pg, full_slot, 2)
    (offer,) = (await store.run_offers(pg, now(), HOLD)).made
    declined = await store.decline(pg, number, offer, message_id="wamid.no")
    assert (
        declined
        == OfferDeclined(True)
        == await store.decline(pg, number, offer, message_id="wamid.no")
    )
    assert await store.leave(pg, number, None, message_id="wamid.stop") == WaitlistLeft(2)
    assert await store.leave(pg, number, None, message_id="wamid.stop") == WaitlistLeft(2)
    assert await store.leave(pg, number, None, message_id="wamid.other") == WaitlistLeft(0)
    await repository.forget(pg, number)
    await store.forget(pg, number)
    kept = await pg.fetchval(
        "SELECT count(*) FROM waitlist WHERE joined_by IS NOT NULL OR left_by IS NOT NULL"
    ) + await pg.fetchval("SELECT count(*) FROM offers WHERE declined_by IS NOT NULL")
    assert kept == 0


_RUNNER = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
from kmcbot.storage import postgres as db
from kmcbot.waitlist import store

async def main():
    pool = await db.create_pool(sys.argv[1], min_size=1, max_size=2)
    made = skipped = 0
    for _ in range(int(sys.argv[2])):
        run = await store.run_offers(pool, datetime.now(UTC), timedelta(seconds=0.3))
        made += len(run.made)
        skipped += not run.ran
        await asyncio.sleep(0.01)
    await pool.close()
    print(made, skipped)

asyncio.run(main())
"""


# The test's own log of offers made and ended, stamped when the row changes. A place
# is offered again only after a statement saw it freed, so after that change was
# committed: the stamps keep that order.
_EVENT_LOG = """
CREATE TABLE offer_events (slot_id bigint, at timestamptz, d integer);
CREATE FUNCTION log_offer_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status = 'held' THEN
        INSERT INTO offer_events VALUES (NEW.slot_id, clock_timestamp(), 1);
    ELSIF TG_OP = 'UPDATE' AND OLD.status = 'held' AND NEW.status <> 'held' THEN
        INSERT INTO offer_events VALUES (NEW.slot_id, clock_timestamp(), -1);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER offer_events AFTER INSERT OR UPDATE ON offers
    FOR EACH ROW EXECUTE FUNCTION log_offer_event();
"""


async def test_several_processes_running_offers_at_once_never_offer_a_place_twice(
    pg, pg_url, full_slot
) -> None:
    """4 processes run offers in a loop while places are released in steps, citizens
    take and decline, and holds of 0.3 s run out: afterwards, once a last run has
    settled the reservations, every slot holds exactly its live offers, nothing is
    overbooked, and no citizen ever held two offers."""
    for n in range(1, 41):
        await _join(pg, n)
    await pg.execute(_EVENT_LOG)
    runners = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RUNNER,
            pg_url,
            "60",
            stdout=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    capacity = 1
    for step in range(10):
        capacity += 3
        await admin_repo.set_capacity(pg, full_slot, capacity)
        await asyncio.sleep(0.1)
        live = await pg.fetch("SELECT id, wa_id FROM offers WHERE status = 'held' ORDER BY id")
        for i, offer in enumerate(live):
            if i % 3 == 0:
                await store.take(pg, offer["wa_id"], offer["id"], f"wamid.{step}.{i}")
            elif i % 3 == 1:
                await store.decline(pg, offer["wa_id"], offer["id"])
        await assert_holds_consistent(pg, reserved=True)
    outputs = [await r.communicate() for r in runners]
    assert all(r.returncode == 0 for r in runners)
    made = [int(out.split()[0]) for out, _ in outputs]
    assert sum(made) > 0
    print("offers made per process:", made, "runs skipped:", [o.split()[1] for o, _ in outputs])
    # Every offer ever made was for a place free at the time: replayed in order, the
    # live offers of a slot never outnumbered its places. In the order the rows
    # changed (clock_timestamp() in a trigger), not made_at/ended_at: those are
    # their transactions' start times, and a run that began before a citizen's
    # decline may offer the place that decline freed (it failed once so).
    events = await pg.fetch("SELECT slot_id, at, d FROM offer_events ORDER BY at, d")
    live = peak = 0
    for e in events:
        live += e["d"]
        peak = max(peak, live)
    assert peak <= capacity
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg, reserved=True)
    # One more run settles every reservation: offered, or given back.
    await store.run_offers(pg, now(), timedelta(seconds=0.3))
    await assert_holds_consistent(pg)
    assert await pg.fetchval("SELECT booked + held <= capacity FROM slots WHERE id = $1", full_slot)
