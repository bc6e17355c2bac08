"""Finding 3 of issue 18: a message id is unique per sender, not across senders.

Number V books with message id M; number Q, at its own confirm step, sends
its Confirm with the same id M (a forged or colliding id). Q must get a
booking of its own, and never V's reference, code, name or masked ID; a
redelivery of V's or Q's message still books nothing more. Through the real
webhook (the real app on a real port), Redis and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from kmcbot.booking.repository import load_availability
from tests.support.factories import make_centre, make_slot
from tests.support.reliability import base_url, plans, seed_confirm_session


async def test_same_message_id_from_another_sender_is_a_new_message(
    app_factory, hook, pg, redis, standin
) -> None:
    client = await app_factory(run_sender=False)
    url = base_url(client)
    centre = await make_centre(pg)
    slot = await make_slot(pg, centre, capacity=10)
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot)
    now = datetime.now(UTC)
    availability = await load_availability(pg, now)
    v, q = plans(2, centre, day, slot, start=300)
    for plan in (v, q):
        await seed_confirm_session(redis, pg, plan, now, availability)
    shared_id = "wamid.SHARED-ID-" + v.wa_id

    assert await hook.post(url, v.confirm(msg_id=shared_id)) == 200
    assert await hook.post(url, q.confirm(msg_id=shared_id)) == 200
    # Redeliveries of both: nothing more is booked.
    assert await hook.post(url, v.confirm(msg_id=shared_id)) == 200
    assert await hook.post(url, q.confirm(msg_id=shared_id)) == 200

    rows = await pg.fetch(
        "SELECT wa_id, reference, code, name FROM bookings WHERE slot_id = $1 ORDER BY id", slot
    )
    assert [r["wa_id"] for r in rows] == [v.wa_id, q.wa_id]
    assert rows[1]["name"] == q.name
    # Q's replies (in the outbox, not yet sent) hold Q's booking and nothing of V's.
    entries = await redis.xrange("kmcbot:{0}:outbox")
    to_q = " ".join(
        orjson.loads(f[b"bodies"]).__repr__() for _, f in entries if f[b"to"].decode() == q.wa_id
    )
    v_row = rows[0]
    assert rows[1]["reference"] in to_q
    for secret in (v_row["reference"], v.name, v.number[-4:]):
        assert secret not in to_q, secret
