"""The offer job against real PostgreSQL and Redis (kmcbot/waitlist/job.py): each
offer reaches the citizen's outbox once, with Book / Not now in the 24-hour window
and as the approved template outside it; two jobs at once tell each offer once;
the waiting gauge reaches /metrics."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from kmcbot import metrics
from kmcbot.booking import admin_repo
from kmcbot.waitlist import store
from kmcbot.waitlist.job import OfferJob
from tests.support.factories import make_centre, make_slot
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
