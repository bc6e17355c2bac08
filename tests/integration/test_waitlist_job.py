"""The offer job against real PostgreSQL and Redis (kmcbot/waitlist/job.py): each
offer reaches the citizen's outbox once, with Book / Not now in the 24-hour window
and as the approved template outside it; two jobs at once tell each offer once;
the waiting gauge reaches /metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from kmcbot import metrics
from kmcbot.booking import admin_repo, repository
from kmcbot.booking.commands import Booked
from kmcbot.waitlist import store
from kmcbot.waitlist.job import OfferJob
from tests.support.factories import book_effect, make_centre, make_slot
from tests.support.relay import PEPPER, outbox, seen
from tests.support.waitlist import assert_holds_consistent, join_effect


def job(pg, redis, **kw) -> OfferJob:
    return OfferJob(
        pg, redis, pepper=PEPPER, hold=timedelta(minutes=30),
        template="kmcbot_waitlist_offer", **kw,
    )  # fmt: skip


async def _waiting(pg, n: int) -> None:
    for i in range(1, n + 1):
        await store.join(pg, f"9198000{i:05d}", join_effect(i))


async def test_each_offer_is_told_once_in_the_window_or_as_the_template(pg, redis) -> None:
    slot = await make_slot(pg, await make_centre(pg, "Roxy Cinema"), capacity=0)
    await _waiting(pg, 3)
    await seen(redis, "919800000001", ago_s=3600)  # wrote an hour ago
    await seen(redis, "919800000002", ago_s=25 * 3600)  # silent a day
    await admin_repo.set_capacity(pg, slot, 2)
    offers = job(pg, redis)
    await offers.one_pass()
    await offers.one_pass()  # nothing new: nothing told twice
    sent = {s["to"]: s for s in await outbox(redis)}
    assert set(sent) == {"919800000001", "919800000002"}
    live = sent["919800000001"]
    assert live["type"] == "interactive"
    assert "Roxy Cinema" in live["interactive"]["body"]["text"]
    ids = [b["reply"]["id"] for b in live["interactive"]["action"]["buttons"]]
    assert ids[0].startswith("offer:yes:") and ids[1].startswith("offer:no:")
    silent = sent["919800000002"]
    assert silent["type"] == "template"
    assert silent["template"]["name"] == "kmcbot_waitlist_offer"
    assert await pg.fetchval("SELECT count(*) FROM offers WHERE queued_at IS NULL") == 0
    await assert_holds_consistent(pg)


async def test_two_jobs_at_once_tell_each_offer_once(pg, redis) -> None:
    slot = await make_slot(pg, await make_centre(pg), capacity=0)
    await _waiting(pg, 30)
    await admin_repo.set_capacity(pg, slot, 20)
    first, second = job(pg, redis, batch=5), job(pg, redis, batch=5)
    for _ in range(6):
        await asyncio.gather(first.one_pass(), second.one_pass())
    told = [s["to"] for s in await outbox(redis)]
    assert len(told) == len(set(told)) == 20
    await assert_holds_consistent(pg)


async def test_the_waiting_gauge_reaches_metrics(pg, redis) -> None:
    await _waiting(pg, 3)
    await job(pg, redis).count_waiting()
    response = await metrics.handler_for(redis, "kmcbot", 1)
    text = response.body.decode()
    assert 'kmcbot_waitlist_waiting{area="city",vaccine="covishield"} 3' in text


async def test_the_run_goes_only_when_an_offer_may_be_made(pg, redis, monkeypatch) -> None:
    """Bookings move slots every second under load: the full run goes on what can
    make an offer (an entry joining or ending, a place reserved, a hold running
    out), not on every slot change."""
    runs = []
    real = store.run_offers

    async def counted(*args, **kw):
        runs.append(1)
        return await real(*args, **kw)

    monkeypatch.setattr(store, "run_offers", counted)
    slot = await make_slot(pg, await make_centre(pg), capacity=5)
    offers = job(pg, redis)
    await offers.one_pass()
    assert len(runs) == 1  # the first pass
    for n in range(100, 103):  # bookings (and nobody waiting): no run
        assert isinstance(await repository.book(pg, "919700000000", book_effect(slot, n)), Booked)
        await offers.one_pass()
    assert len(runs) == 1
    await _waiting(pg, 1)  # someone joins: a run, which offers her a free place
    await offers.one_pass()
    assert len(runs) == 2
    assert await pg.fetchval("SELECT count(*) FROM offers WHERE status = 'held'") == 1
    await offers.one_pass()
    assert len(runs) == 2
    # Her offer declined: its place is reserved for the waitlist: a run.
    offer_id = await pg.fetchval("SELECT id FROM offers")
    await store.decline(pg, "919800000001", offer_id)
    await offers.one_pass()
    assert len(runs) == 3
    await offers.one_pass()
    assert len(runs) == 3
    await store.leave(pg, "919800000001", None)  # an entry ends: a run
    await offers.one_pass()
    assert len(runs) == 4


async def test_a_run_with_nobody_waiting_reads_no_place(pg, monkeypatch) -> None:
    await make_slot(pg, await make_centre(pg), capacity=5)
    # Reading places fails (the query takes the same 4 arguments).
    failing = "SELECT 1 / 0, $1::timestamptz, $2::int, $3::text[], $4::date[]"
    monkeypatch.setattr(store, "_PLACES", failing)
    assert (await store.run_offers(pg, datetime.now(UTC), timedelta(minutes=30))).ran
    await _waiting(pg, 1)  # someone waits: the places are read
    with pytest.raises(asyncpg.DataError):
        await store.run_offers(pg, datetime.now(UTC), timedelta(minutes=30))
