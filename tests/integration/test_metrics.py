"""The gauges /metrics reads from Redis, against a real Redis."""

from __future__ import annotations

import redis.asyncio as aioredis

from kmcbot import metrics
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore


async def add_sessions(redis, first: int, count: int) -> None:
    store = SessionStore(redis, "kmcbot")
    for n in range(first, first + count):
        await redis.set(store.keys(user_tag(b"pepper", f"91980000{n:04d}"))["session"], "{}")


async def test_active_sessions_are_scanned_once_per_period_for_every_scraper(redis) -> None:
    await add_sessions(redis, 0, 30)
    await redis.set("kmcbot:unrelated", "1")  # other keys are not sessions
    assert await metrics.active_sessions(redis, "kmcbot") == 30

    await add_sessions(redis, 30, 5)
    # Within the period every scrape (any process) reads the count kept in Redis...
    assert await metrics.active_sessions(redis, "kmcbot") == 30
    ttl = await redis.ttl("kmcbot:metrics:sessions")
    assert 0 < ttl <= metrics.SESSIONS_CACHE_S
    # ...and after it, the next one counts again.
    await redis.delete("kmcbot:metrics:sessions")
    assert await metrics.active_sessions(redis, "kmcbot") == 35


async def test_the_counters_are_scraped_while_redis_does_not_answer() -> None:
    """A Redis outage is when the error counters matter most: /metrics leaves out
    the gauges it cannot read, not everything."""
    dead = aioredis.Redis(port=1, socket_connect_timeout=1)
    metrics.HANDLED.labels("error").inc()
    resp = await metrics.handler_for(dead, "kmcbot", 1)
    await dead.aclose()
    assert resp.status == 200
    text = resp.body.decode()
    assert 'kmcbot_messages_handled_total{outcome="error"}' in text
    assert "kmcbot_outbox_depth" not in text
