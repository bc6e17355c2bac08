"""The relay's tests' helpers: a relay, a booking, a seen citizen, what the outbox holds."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from kmcbot.booking import repository
from kmcbot.booking.commands import Booked
from kmcbot.booking.model import BookingView
from kmcbot.dialogue.notices import Templates
from kmcbot.outbox.entry import OutboxEntry
from kmcbot.outbox.relay import Relay
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from tests.support.factories import book_effect

PEPPER = b"relay-test-pepper"


OUTBOX = "kmcbot:{0}:outbox"


TEMPLATES = Templates("kmcbot_booking_update", "kmcbot_slot_cancelled", "kmcbot_reminder")


def relay(pg: asyncpg.Pool, redis: aioredis.Redis, **kw: Any) -> Relay:
    return Relay(pg, redis, pepper=PEPPER, templates=TEMPLATES, **kw)


async def book(pg: asyncpg.Pool, slot: int, n: int, lang: str = "en") -> BookingView:
    result = await repository.book(pg, f"9198000{n:05d}", replace(book_effect(slot, n), lang=lang))
    assert isinstance(result, Booked)
    return result.booking


async def seen(redis: aioredis.Redis, wa_id: str, ago_s: float, lang: str = "en") -> None:
    """The profile the pipeline keeps, as if the citizen wrote `ago_s` seconds ago."""
    key = SessionStore(redis).keys(user_tag(PEPPER, wa_id))["profile"]
    await redis.set(key, orjson.dumps({"lang": lang, "open": 0, "seen": int(time.time() - ago_s)}))


async def outbox(redis: aioredis.Redis) -> list[dict[str, Any]]:
    entries = await redis.xrange(OUTBOX)
    return [
        {"to": entry.to, "tag": entry.tag, **orjson.loads(body)}
        for entry in (OutboxEntry.decode(fields) for _, fields in entries)
        for body in entry.bodies
    ]


async def unqueued(pg: asyncpg.Pool, kind: str) -> int:
    """Rows of `kind` not handed to the outbox yet (by the relay, or the chat's reply
    accepted): what a relay, of this version or an older one, would still send."""
    return await pg.fetchval(
        "SELECT count(*) FROM notifications WHERE kind = $1 AND relayed_at IS NULL", kind
    )
