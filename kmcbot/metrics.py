"""Prometheus metrics. Counters live in this process (or, with several workers,
in PROMETHEUS_MULTIPROC_DIR, which `kmcbot serve --workers N` sets up); the
outbox and session gauges are read from Redis when /metrics is scraped, so
every worker reports the same, city-wide figures."""

from __future__ import annotations

import asyncio
import os
import time

import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisClusterException, RedisError

from kmcbot.booking import commands as fx
from kmcbot.outbox.entry import written_at
from kmcbot.storage.keys import outbox_keys

INBOUND = Counter("kmcbot_inbound_messages_total", "Inbound messages, by type", ["type"])
HANDLED = Counter("kmcbot_messages_handled_total", "Inbound messages by outcome", ["outcome"])
REPLIES_SENT = Counter("kmcbot_replies_sent_total", "Replies WhatsApp accepted")
REPLIES_FAILED = Counter(
    "kmcbot_replies_failed_total", "Replies given up on, by Graph API error code", ["code"]
)
BOOKINGS = Counter(
    "kmcbot_bookings_total",
    "Booking events: made, moved, cancelled, refused (with reason), missed",
    ["event", "reason"],
)
DEAD_LETTERS = Counter(
    "kmcbot_outbox_dead_letters_total", "Outbox entries no sender could read (see <stream>:dead)"
)
WEBHOOK_IGNORED = Counter(
    "kmcbot_webhook_ignored_total",
    "Webhook items not acted on: changes for another phone number id or payloads for"
    " another object (foreign), updates past 1,000 in one POST (over_cap), items"
    " that could not be read (malformed)",
    ["reason"],
)
RECEIPTS = Counter(
    "kmcbot_receipts_total",
    "Read receipts: read, typing (read with the typing indicator), failed, skipped",
    ["outcome"],
)
RATE_LIMITED = Counter("kmcbot_rate_limited_total", "Messages over the per-citizen limit")
UNREADABLE_ITEMS = Counter(
    "kmcbot_unreadable_items_total",
    "Webhook items dropped because nothing could store them (the rest of the POST is handled)",
    ["reason"],
)
CHECKIN_REFUSED = Counter(
    "kmcbot_checkin_refused_total",
    "Admin check-ins refused: wrong_code (or unknown reference), locked (429)",
    ["reason"],
)
UPLOADS_REFUSED = Counter(
    "kmcbot_uploads_refused_total",
    "Webhook POSTs whose body was not read: unsigned, busy (over the body budget), "
    "timeout (too slow), disconnected",
    ["reason"],
)
FUNNEL_REACHED = Counter(
    "kmcbot_funnel_reached_total",
    "Turns that brought a citizen to a step of the conversation, by language and by"
    " how they answered (tap, typed, location, media)",
    ["step", "lang", "answer"],
)
FUNNEL_ENDED = Counter(
    "kmcbot_funnel_ended_total",
    "Booking conversations that ended at a step: booked, gave_up, expired",
    ["step", "lang", "how"],
)
DELIVERIES = Counter(
    "kmcbot_deliveries_total",
    "Status webhooks of messages kmcbot sent: sent, delivered, read, failed (with the"
    " Graph error code), whether or not they were matched to a reply or notice",
    ["status", "code"],
)
NOTICES_FAILED = Counter(
    "kmcbot_notices_failed_total",
    "Notices (reminder, on_list, slot_cancelled, booking news) WhatsApp reported failed,"
    " marked on their booking",
    ["kind", "code"],
)
WEBHOOK_RESPONSES = Counter(
    "kmcbot_webhook_responses_total", "Webhook POSTs answered, by HTTP status", ["status"]
)
# Set by the reminder scheduler after each pass inside its hours: the alert
# "reminders not run by their hour" compares it with kmcbot_reminders_due.
REMINDERS_LAST_PASS = Gauge(
    "kmcbot_reminders_last_pass_timestamp_seconds",
    "When the reminder scheduler last completed a pass within its hours (Unix s)",
    multiprocess_mode="max",
)
SENDERS_WINDOW_MS = 10_000  # a sender says it is alive every few seconds (outbox/sender.py)
# The waitlist (kmcbot/waitlist/): offers by what became of them, and how long
# a citizen waited from joining to a booking. Waiting citizens are a gauge the
# offer job writes to Redis (WAITING_KEY) and every scrape reads.
OFFERS = Counter(
    "kmcbot_waitlist_offers_total",
    "Places offered from the waitlist: made, taken, declined, expired, withdrawn",
    ["event"],
)
TIME_TO_PLACE = Histogram(
    "kmcbot_waitlist_time_to_place_seconds",
    "From joining the waitlist to booking an offered place",
    buckets=(60, 600, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400),
)
WAITING_KEY = "metrics:waiting"  # under the Redis prefix: {"<area>|<vaccine>": n}
SESSIONS_CACHE_S = 15  # how stale kmcbot_active_sessions may be
REDIS_GAUGES_S = 5  # a scrape waits no longer for the gauges read from Redis
WEBHOOK_SECONDS = Histogram(
    "kmcbot_webhook_seconds",
    "Time to answer one webhook POST",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def record_result(result: fx.Result) -> None:
    match result:
        case fx.Booked():
            BOOKINGS.labels("made", "").inc()
        case fx.Moved():
            BOOKINGS.labels("moved", "").inc()
        case fx.Cancelled():
            BOOKINGS.labels("cancelled", "").inc()
        case fx.Refused(reason=reason):
            BOOKINGS.labels("refused", str(reason)).inc()


async def redis_gauges(redis: aioredis.Redis, prefix: str, shards: int) -> dict[str, float]:
    """Outbox depth, age of its oldest entry, and active sessions, read from Redis."""
    depth, age = 0, 0.0
    for stream in outbox_keys(prefix, shards):
        depth += await redis.xlen(stream)
        oldest = await redis.xrange(stream, count=1)
        if oldest and oldest[0][0]:
            age = max(age, time.time() - written_at(oldest[0][0]))
    now_ms = int(time.time() * 1000)
    senders = await redis.zcount(f"{prefix}:senders", now_ms - SENDERS_WINDOW_MS, "+inf")
    return {
        "kmcbot_outbox_depth": depth,
        "kmcbot_outbox_oldest_age_seconds": age,
        "kmcbot_active_sessions": await active_sessions(redis, prefix),
        # Every process and machine on this Redis: 0 means nothing sends the outbox.
        "kmcbot_senders_alive": senders,
    }


async def active_sessions(redis: aioredis.Redis, prefix: str) -> int:
    """Session keys expire after 30 minutes, so their number is the active sessions.

    Counting them is a SCAN of every key (about 150 ms at 100,000 citizens), so
    the count is kept in Redis for SESSIONS_CACHE_S: however many processes and
    machines are scraped, one of them scans per period and the rest read it.
    """
    cache = f"{prefix}:metrics:sessions"
    cached = await redis.get(cache)
    if cached is not None:
        return int(cached)
    sessions = 0
    async for _ in redis.scan_iter(match=f"{prefix}:{{*}}:*:s", count=1000):
        sessions += 1
    await redis.set(cache, sessions, ex=SESSIONS_CACHE_S)
    return sessions


def render_counters() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def handler_for(
    redis: aioredis.Redis, prefix: str, shards: int, extra: dict[str, float] | None = None
) -> web.Response:
    """`extra`: more gauges read at scrape time, by name (with labels, if any)."""
    try:
        async with asyncio.timeout(REDIS_GAUGES_S):
            gauges: dict[str, float] = await redis_gauges(redis, prefix, shards)
        gauges['kmcbot_ready{component="redis"}'] = 1
    except (RedisError, RedisClusterException, OSError, TimeoutError):
        # Redis down or slow: the counters (its errors among them) still go out.
        gauges = {'kmcbot_ready{component="redis"}': 0}
    gauges |= extra or {}
    lines, typed = [], set()
    for name, value in sorted(gauges.items()):
        base = name.partition("{")[0]
        if base not in typed:
            typed.add(base)
            lines.append(f"# TYPE {base} gauge")
        lines.append(f"{name} {value}")
    waiting = {}
    if gauges['kmcbot_ready{component="redis"}']:  # else a second wait for a dead Redis
        try:
            async with asyncio.timeout(REDIS_GAUGES_S):
                waiting = await redis.hgetall(f"{prefix}:{WAITING_KEY}")
        except (RedisError, RedisClusterException, OSError, TimeoutError):
            pass
    if waiting:
        lines.append("# TYPE kmcbot_waitlist_waiting gauge")
        for key, n in sorted(waiting.items()):
            area, _, vaccine = (key.decode() if isinstance(key, bytes) else key).partition("|")
            count = int(n)
            lines.append(f'kmcbot_waitlist_waiting{{area="{area}",vaccine="{vaccine}"}} {count}')
    body = render_counters() + ("\n".join(lines) + "\n").encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
