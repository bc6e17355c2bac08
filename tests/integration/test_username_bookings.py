"""A citizen known only by a business-scoped user id (BSUID), against real
PostgreSQL and Redis: at most 4 active bookings per WhatsApp user, the
reminder and the centre's notices go out in `recipient`, and the rate limit
counts them as anyone."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as clock

import orjson

from kmcbot.booking import repository
from kmcbot.booking.commands import Booked, Refused
from kmcbot.booking.model import IST, Refusal
from kmcbot.dialogue.notices import Templates
from kmcbot.jobs.reminders import schedule_reminders
from kmcbot.outbox.relay import Relay
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import RATE_LIMIT_PER_MINUTE, Begin, SessionStore
from tests.support.factories import book_effect, make_centre, make_slot

PEPPER = b"username-test-pepper"
USER_ID = "IN.1502576394655843"
TEMPLATES = Templates("kmcbot_booking_update", "kmcbot_slot_cancelled", "kmcbot_reminder")


async def outbox_bodies(redis) -> list[tuple[str, dict]]:
    return [
        (fields[b"to"].decode(), body)
        for _, fields in await redis.xrange("kmcbot:{0}:outbox")
        for body in orjson.loads(fields[b"bodies"])
    ]


async def test_at_most_4_active_bookings_per_whatsapp_user(pg) -> None:
    centre = await make_centre(pg)
    slots = [await make_slot(pg, centre, capacity=5, start=t) for t in _hours(5)]
    for n, slot in enumerate(slots[:4]):
        assert isinstance(await repository.book(pg, USER_ID, book_effect(slot, 100 + n)), Booked)
    fifth = await repository.book(pg, USER_ID, book_effect(slots[4], 104))
    assert fifth == Refused(Refusal.NUMBER_LIMIT)
    # Another user id is another WhatsApp user.
    assert isinstance(await repository.book(pg, "IN.77", book_effect(slots[4], 105)), Booked)


async def test_reminders_and_notices_reach_a_username_citizen_in_recipient(pg, redis) -> None:
    centre = await make_centre(pg)
    tomorrow = datetime.now(IST).date() + timedelta(days=1)
    slot = await make_slot(pg, centre, day=tomorrow)
    booked = await repository.book(pg, USER_ID, replace(book_effect(slot, 200), lang="hi"))
    assert isinstance(booked, Booked)
    # The citizen wrote an hour ago: the news goes as a session message.
    profile = SessionStore(redis).keys(user_tag(PEPPER, USER_ID))["profile"]
    await redis.set(profile, orjson.dumps({"lang": "hi", "open": 0, "seen": int(time.time())}))
    await pg.execute("UPDATE notifications SET created_at = now() - interval '1 hour'")
    assert await schedule_reminders(pg, datetime.now(UTC)) == 1

    relay = Relay(pg, redis, pepper=PEPPER, templates=TEMPLATES)
    assert await relay.relay_once() >= 1
    sent = await outbox_bodies(redis)
    assert len(sent) == 2, sent  # the booking's news and tomorrow's reminder
    for to, body in sent:
        assert to == USER_ID
        assert body["recipient"] == USER_ID and "to" not in body


async def test_the_rate_limit_counts_a_username_citizen(redis) -> None:
    store = SessionStore(redis)
    tag = user_tag(PEPPER, USER_ID)
    over = []
    for n in range(RATE_LIMIT_PER_MINUTE + 2):
        # A millisecond apart: messages of the same millisecond rank by id in the window.
        await asyncio.sleep(0.002)
        loaded = await store.begin(tag, f"wamid.rate.{n}")
        assert loaded.status is Begin.OK
        over.append(loaded.over_limit)
        await store.abort(tag, f"wamid.rate.{n}", loaded)
    assert over[-2:] == [1, 2] and set(over[:-2]) == {0}


def _hours(n: int) -> list[clock]:
    return [clock(8 + 2 * i, 0) for i in range(n)]
