"""The operators' waitlist page against a real PostgreSQL: the queue in its order
and each offer's history, nothing personal on it, and operators only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kmcbot.waitlist import store
from tests.support.factories import eventually
from tests.support.waitlist import join_effect


async def test_an_operator_sees_the_queue_and_each_offers_history(browsers, pg, city) -> None:
    for n in range(1, 4):
        await store.join(pg, f"9198000{n:05d}", join_effect(200 + n))
    # The served app's own offer job runs too (one run at a time): whichever runs.
    await store.run_offers(pg, datetime.now(UTC), timedelta(minutes=30))
    await eventually(lambda: pg.fetchval("SELECT count(*) = 3 FROM offers"), timeout=10)
    offer = await pg.fetchval("SELECT id FROM offers WHERE wa_id = '919800000001'")
    await store.decline(pg, "919800000001", offer)
    await eventually(lambda: pg.fetchval("SELECT count(*) = 4 FROM offers"), timeout=10)

    b = browsers()
    await b.login("op")
    status, page = await b.get("/staff/waitlist")
    assert status == 200
    assert "Covishield: 3 waiting" in page  # the chat's name, not the code
    assert "declined (Not now)" in page and "held" in page
    assert page.index("#1<") < page.index("#2<") < page.index("#3<")  # the order of the line
    for personal in ("Citizen 201", "hash-201", "919800000001"):
        assert personal not in page
    entry = await pg.fetchval("SELECT entry_id FROM offers WHERE id = $1", offer)
    status, page = await b.get(f"/staff/waitlist?entry={entry}")
    assert status == 200 and f"Offers of entry #{entry}" in page
    history = page.split(f"Offers of entry #{entry}")[1]
    others = await pg.fetch("SELECT id FROM waitlist WHERE id <> $1", entry)
    assert others and all(f'?entry={r["id"]}"' not in history for r in others)
    assert history.count(f'?entry={entry}"') == await pg.fetchval(
        "SELECT count(*) FROM offers WHERE entry_id = $1", entry
    )

    await b.post("/staff/lang", {"lang": "bn", "next": "/staff/waitlist"})
    status, page = await b.get("/staff/waitlist")
    assert status == 200 and "অপেক্ষার তালিকা" in page


async def test_a_clerk_cannot_see_the_waitlist(browsers) -> None:
    b = browsers()
    await b.login("clerk.a")
    status, _ = await b.get("/staff/waitlist")
    assert status == 403
