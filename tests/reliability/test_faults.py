"""Dependencies fail and come back: Redis, PostgreSQL and the Graph API, each
reached through tests/support/faultproxy.py (or, for "Redis lost its
data", a private redis-server restarted empty), in front of the real app.

The promises: a webhook never answers 200 without having stored the message's
session and replies (so WhatsApp delivers again); the bot comes back by
itself when the dependency does; nothing is half-booked; replies are retried
with backoff until WhatsApp takes them, and permanent refusals are counted,
not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import asyncpg
import orjson
import pytest
import structlog

from kmcbot.messages import Choice, Text
from tests.support.factories import assert_counts_consistent, eventually, make_centre, make_slot
from tests.support.faultproxy import FaultProxy
from tests.support.reliability import (
    Plan,
    base_url,
    counts,
    drive_to_confirm,
    new_wa_id,
    one,
    outbox_drained,
    plans,
    target_of,
    through,
)


async def one_citizen_for_a_new_slot(pg: asyncpg.Pool) -> Plan:
    """A citizen's booking plan for a fresh slot with 5 places."""
    centre = await make_centre(pg)
    slot_id = await make_slot(pg, centre, capacity=5)
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot_id)
    (plan,) = plans(1, centre, day, slot_id)
    return plan


async def first_reply(standin, wa_id: str, n: int = 1, timeout: float = 10) -> dict:
    return (await standin.wait_for(wa_id, n, timeout=timeout))[n - 1]


def options(body: dict) -> list[str]:
    inter = body.get("interactive", {})
    action = inter.get("action", {})
    if inter.get("type") == "button":
        return [b["reply"]["id"] for b in action["buttons"]]
    if inter.get("type") == "list":
        return [r["id"] for s in action["sections"] for r in s["rows"]]
    return []


def unhandled(logs: list[dict]) -> list[dict]:
    """Log events that are not a message failing cleanly (which answers 5xx)."""
    return [
        e
        for e in logs
        if e.get("log_level") in ("error", "critical", "exception")
        and e.get("event") not in ("message", "sender_error")
    ]


# ---------------------------------------------------------------- Redis


async def _ready(client) -> bool:
    return (await client.get("/readyz")).status == 200


async def test_redis_cut_answers_5xx_and_the_bot_recovers_without_restart(
    redis_url, app_factory, hook, standin
) -> None:
    async with FaultProxy(*target_of(redis_url)) as proxy:
        client = await app_factory(redis_url=through(redis_url, proxy))
        url = base_url(client)
        alice = new_wa_id()
        assert await hook.post(url, one(alice, Text("Hi"))) == 200
        await first_reply(standin, alice)

        proxy.drop()
        bob = new_wa_id()
        hi = one(bob, Text("Hi"))
        with structlog.testing.capture_logs() as logs:
            down = [await hook.post(url, hi) for _ in range(3)]
            ready = await client.get("/readyz")
        assert all(500 <= s < 600 for s in down), down
        assert ready.status == 503 and (await ready.json())["redis"] != "ok"
        assert unhandled(logs) == []

        proxy.passing()
        statuses = await hook.deliver(url, hi, tries=20)
        assert statuses[-1] == 200
        welcome = await first_reply(standin, bob)
        assert options(welcome) == ["lang:en", "lang:bn", "lang:hi"]
        # Ready again by itself (a connection dropped mid-outage may fail one probe first).
        await eventually(lambda: _ready(client), timeout=5, every=0.1)


@pytest.mark.slow
async def test_redis_that_stops_answering_gets_5xx_within_seconds(
    redis_url, app_factory, hook, standin
) -> None:
    """Blackholed Redis: the webhook must give up (5xx), not hang for ever; and
    answer again once Redis does."""
    async with FaultProxy(*target_of(redis_url)) as proxy:
        client = await app_factory(redis_url=through(redis_url, proxy))
        url = base_url(client)
        warm = new_wa_id()
        assert await hook.post(url, one(warm, Text("Hi"))) == 200
        await first_reply(standin, warm)  # the sender is up and running
        wa_id = new_wa_id()
        proxy.blackhole()
        started = time.perf_counter()
        status = await hook.post(url, one(wa_id, Text("Hi")), timeout=40)
        waited = time.perf_counter() - started
        print(f"\n[faults] blackholed Redis: {status} after {waited:.1f} s")
        assert 500 <= status < 600 and waited < 15
        proxy.passing()
        assert (await hook.deliver(url, one(wa_id, Text("Hi"))))[-1] == 200
        await first_reply(standin, wa_id, timeout=30)


async def test_the_sender_outlives_a_redis_outage_as_it_starts(redis, redis_url, standin) -> None:
    import aiohttp
    import redis.asyncio as aioredis

    from kmcbot.outbox.entry import OutboxEntry
    from kmcbot.outbox.rate import SharedRateLimiter
    from kmcbot.outbox.sender import Sender
    from kmcbot.whatsapp.graph import GraphTransport

    async with FaultProxy(*target_of(redis_url)) as proxy, aiohttp.ClientSession() as http:
        proxy.drop()  # Redis is unreachable as the sender starts (e.g. failing over)
        flaky = aioredis.from_url(through(redis_url, proxy))
        sender = Sender(
            flaky,
            ["kmcbot:{0}:outbox"],
            GraphTransport(http, standin.url, "12345", standin.token),
            SharedRateLimiter(flaky, "kmcbot:send-rate", 100),
        )
        task = asyncio.create_task(sender.run())
        try:
            await asyncio.sleep(0.5)
            proxy.passing()  # Redis is back
            wa_id = new_wa_id()
            hello = {"messaging_product": "whatsapp", "to": wa_id, "type": "text",
                     "text": {"body": "hello"}}  # fmt: skip
            entry = OutboxEntry(wa_id, "t", (orjson.dumps(hello),))
            await redis.xadd("kmcbot:{0}:outbox", entry.fields())
            await standin.wait_for(wa_id, 1, timeout=2.5)
            assert not task.done()
        finally:
            sender.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            await flaky.aclose()


async def test_redis_restarted_empty_mid_booking_starts_the_citizen_again(
    pg, private_redis, redis, app_factory, hook, standin
) -> None:
    if private_redis is None:
        pytest.skip("no redis-server binary to restart")
    plan = await one_citizen_for_a_new_slot(pg)
    client = await app_factory()
    url = base_url(client)
    steps = plan.up_to_confirm()
    for content, via_list in steps[:7]:  # up to the name question
        assert await hook.post(url, one(plan.wa_id, content, via_list=via_list)) == 200
    await standin.wait_for(plan.wa_id, 7)

    with structlog.testing.capture_logs() as logs:
        await private_redis.restart_empty()
        # The citizen answers the name question; Redis has forgotten them.
        statuses = await hook.deliver(url, one(plan.wa_id, Text(plan.name)), tries=20)
        again = await first_reply(standin, plan.wa_id, 8, timeout=15)
    assert statuses[-1] == 200 and all(s in (200, 503) for s in statuses), statuses
    # Told to start again: the welcome (language choice), as for a new citizen.
    assert options(again) == ["lang:en", "lang:bn", "lang:hi"]
    assert unhandled(logs) == []
    # And they can book from the start, replies flowing (the sender made its group again).
    standin.by_user[plan.wa_id].clear()
    await drive_to_confirm(hook, url, plan)
    assert (await hook.deliver(url, plan.confirm()))[-1] == 200
    assert await pg.fetchval("SELECT count(*) FROM bookings WHERE wa_id = $1", plan.wa_id) == 1
    await eventually(lambda: len(standin.by_user[plan.wa_id]) >= 12, timeout=10)


async def test_a_burst_beyond_the_redis_pool_is_answered_without_errors(
    redis_url, app_factory, hook, standin
) -> None:
    """150 citizens write at the same moment to one process whose Redis answers
    in ~30 ms: more requests need a Redis connection at once than the pool
    holds (64). They must wait for one, not fail. (Found failing with
    MaxConnectionsError -> 503; fixed by the blocking pool of e83f5d4.)"""
    async with FaultProxy(*target_of(redis_url)) as proxy:
        client = await app_factory(redis_url=through(redis_url, proxy))
        url = base_url(client)
        assert await hook.post(url, one(new_wa_id(), Text("Hi"))) == 200  # warm
        proxy.delay(15)
        with structlog.testing.capture_logs() as logs:
            statuses = await asyncio.gather(
                *(hook.post(url, one(new_wa_id(), Text("Hi"))) for _ in range(150))
            )
        errors = {e.get("error") for e in logs if e.get("log_level") == "error"}
        assert (sorted(set(statuses)), errors) == ([200], set())


# ----------------------------------------------------------- PostgreSQL


async def test_postgres_cut_mid_booking_answers_503_and_books_nothing_half(
    pg, pg_url, redis, app_factory, hook, standin
) -> None:
    plan = await one_citizen_for_a_new_slot(pg)
    async with FaultProxy(*target_of(pg_url)) as proxy:
        client = await app_factory(database_url=through(pg_url, proxy))
        url = base_url(client)
        await drive_to_confirm(hook, url, plan)
        await standin.wait_for(plan.wa_id, 11)

        # Hold the slot's row, confirm, and cut PostgreSQL while the booking (one
        # statement, sql/004) waits inside the server for that row.
        holder = await pg.acquire()
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM slots WHERE id = $1 FOR UPDATE", plan.slot_id)
        confirm = plan.confirm()
        answer = asyncio.create_task(hook.post(url, confirm, timeout=60))
        await eventually(
            lambda: pg.fetchval(
                """SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kmcbot'
               AND datname = current_database() AND wait_event_type = 'Lock'"""
            ),
            timeout=20,
            every=0.005,
        )
        proxy.drop()
        status = await answer
        assert 500 <= status < 600
        await hold.rollback()
        await pg.release(holder)
        # The server finished or abandoned the statement alone: never half of it.
        await eventually(
            lambda: pg.fetchval(
                """SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'kmcbot'
               AND datname = current_database() AND state = 'active'
               AND pid <> pg_backend_pid()"""
            ),
            timeout=10,
        )
        assert await counts(pg, plan.slot_id) in ((0, 0, 5), (1, 1, 5))
        await assert_counts_consistent(pg)

        # Still down: another citizen's first message is not acknowledged either.
        # Past the availability cache's idle_s: a message then waits for the reload
        # (before that, one reloading in the background uses the last snapshot).
        await asyncio.sleep(3.1)
        assert 500 <= await hook.post(url, one(new_wa_id(), Text("Hi"))) < 600

        # Back: WhatsApp's redelivery of the same Confirm books, once.
        proxy.passing()
        statuses = await hook.deliver(url, confirm, tries=30)
        assert statuses[-1] == 200
        assert await counts(pg, plan.slot_id) == (1, 1, 5)
        await assert_counts_consistent(pg)
        reference = await pg.fetchval("SELECT reference FROM bookings WHERE wa_id = $1", plan.wa_id)
        await eventually(
            lambda: any(reference in str(m) for m in standin.by_user[plan.wa_id]), timeout=10
        )


async def test_redis_cut_after_the_booking_committed_answers_503_and_redelivery_books_once(
    pg, pg_url, redis_url, redis, app_factory, hook, standin
) -> None:
    """The booking is committed in PostgreSQL, then Redis fails before the turn is
    saved: the webhook must not answer 200 (the reply is not stored), and
    WhatsApp's redelivery must give the citizen their ticket without a second booking."""
    plan = await one_citizen_for_a_new_slot(pg)
    async with FaultProxy(*target_of(redis_url)) as proxy:
        # A short lease, so that the redelivery need not wait 10 s for the first try's mark.
        client = await app_factory(redis_url=through(redis_url, proxy), lock_lease_ms=1500)
        url = base_url(client)
        await drive_to_confirm(hook, url, plan)
        await standin.wait_for(plan.wa_id, 11)
        blocker = await asyncpg.connect(pg_url)
        try:
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", plan.wa_id
            )
            confirm = plan.confirm()
            answer = asyncio.create_task(hook.post(url, confirm, timeout=60))
            await eventually(
                lambda: pg.fetchval(
                    """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                   AND database = (SELECT oid FROM pg_database
                                   WHERE datname = current_database())"""
                ),
                timeout=5,
            )
            proxy.drop()  # Redis goes while the booking waits for its lock
            await tx.commit()  # ... and the booking then commits
        finally:
            await blocker.close()
        status = await answer
        assert 500 <= status < 600
        assert await counts(pg, plan.slot_id) == (1, 1, 5)
        proxy.passing()
        statuses = await hook.deliver(url, confirm, tries=40, max_pause=0.5)
        assert statuses[-1] == 200
        assert await counts(pg, plan.slot_id) == (1, 1, 5)  # the redelivery did not book again
        await assert_counts_consistent(pg)
        reference = await pg.fetchval("SELECT reference FROM bookings WHERE wa_id = $1", plan.wa_id)
        await eventually(
            lambda: any(reference in str(m) for m in standin.by_user[plan.wa_id]), timeout=10
        )


async def test_redeliveries_during_an_outage_do_not_use_up_the_citizens_rate_limit(
    pg, pg_url, app_factory, hook, standin
) -> None:
    plan = await one_citizen_for_a_new_slot(pg)
    async with FaultProxy(*target_of(pg_url)) as proxy:
        client = await app_factory(database_url=through(pg_url, proxy))
        url = base_url(client)
        await drive_to_confirm(hook, url, plan)
        proxy.drop()  # a PostgreSQL outage: WhatsApp keeps redelivering the Confirm
        confirm = plan.confirm()
        outage = [await hook.post(url, confirm) for _ in range(12)]
        proxy.passing()
        await asyncio.sleep(0.2)
        statuses = await hook.deliver(url, confirm, tries=20)
        booked = await pg.fetchval("SELECT count(*) FROM bookings WHERE wa_id = $1", plan.wa_id)
        assert (booked, statuses[-1]) == (1, 200), (outage, statuses)


@pytest.mark.slow
async def test_postgres_that_stops_answering_gets_5xx_within_seconds(
    pg, pg_url, app_factory, hook, standin
) -> None:
    await make_slot(pg, await make_centre(pg), capacity=5)
    async with FaultProxy(*target_of(pg_url)) as proxy:
        client = await app_factory(database_url=through(pg_url, proxy))
        url = base_url(client)
        await asyncio.sleep(1.1)
        proxy.blackhole()
        await asyncio.sleep(1.1)  # the availability cache is stale: the next message reads PG
        started = time.perf_counter()
        status = await hook.post(url, one(new_wa_id(), Text("Hi")), timeout=90)
        waited = time.perf_counter() - started
        print(f"\n[faults] blackholed PostgreSQL: {status} after {waited:.1f} s")
        assert 500 <= status < 600 and waited < 10  # within the message's lease


# ------------------------------------------------------------- Graph API


def metric(text: str, name: str, code: str) -> float:
    found = re.search(rf'^{name}{{code="{code}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_graph_rate_limits_5xx_and_dropped_connections_are_retried_until_sent(
    app_factory, hook, standin
) -> None:
    host, port = standin.url.removeprefix("http://").split(":")
    async with FaultProxy(host, int(port)) as proxy:
        client = await app_factory(graph_url=f"http://{proxy.address}")
        url = base_url(client)

        # Throttled (HTTP 400 with 130429), then a 503: three attempts, one message.
        wa_id = new_wa_id()
        standin.failures = [(400, 130429), (503, None)]
        started = time.perf_counter()
        assert await hook.post(url, one(wa_id, Text("Hi"))) == 200
        await first_reply(standin, wa_id, timeout=15)
        waited = time.perf_counter() - started
        assert standin.attempts_by_user[wa_id] == 3 and len(standin.by_user[wa_id]) == 1
        assert waited >= 1.4  # backoff 0.5 + 1 s

        # HTTP 429 (no code): retried too.
        throttled = new_wa_id()
        standin.failures = [(429, None)]
        assert await hook.post(url, one(throttled, Text("Hi"))) == 200
        await first_reply(standin, throttled, timeout=15)
        assert standin.attempts_by_user[throttled] == 2

        # The Graph API unreachable (connections reset) for a second, then back.
        other = new_wa_id()
        proxy.drop()
        assert await hook.post(url, one(other, Text("Hi"))) == 200  # stored: WhatsApp is done
        await asyncio.sleep(0.3)
        assert standin.by_user[other] == []
        proxy.passing()
        await first_reply(standin, other, timeout=15)
        await eventually(lambda: outbox_drained(client.app[_redis_key()]), timeout=10)


def _redis_key():
    from kmcbot.web.keys import REDIS

    return REDIS


@pytest.mark.slow
async def test_graph_timeouts_are_retried_until_sent(app_factory, hook, standin) -> None:
    """A Graph API that accepts and never answers: the send times out (the
    transport's 15 s) and is retried once it answers again."""
    host, port = standin.url.removeprefix("http://").split(":")
    async with FaultProxy(host, int(port)) as proxy:
        client = await app_factory(graph_url=f"http://{proxy.address}")
        wa_id = new_wa_id()
        proxy.blackhole()
        started = time.perf_counter()
        assert await hook.post(base_url(client), one(wa_id, Text("Hi"))) == 200
        await asyncio.sleep(15.2)  # past the first attempt's timeout, before its retry
        assert standin.by_user[wa_id] == []
        proxy.passing()
        await first_reply(standin, wa_id, timeout=60)
        took = time.perf_counter() - started
        print(
            f"\n[faults] reply sent {took:.1f} s after the Graph API went silent for 15.2 s "
            f"(the first attempt timed out, the retry went through)"
        )
        assert took >= 15 and standin.attempts_by_user[wa_id] == 1


async def test_permanent_graph_errors_are_not_retried_and_are_counted(
    app_factory, hook, standin
) -> None:
    client = await app_factory()
    url = base_url(client)
    before = await (await client.get("/metrics")).text()
    gone, late = new_wa_id(), new_wa_id()
    # 131026: not a WhatsApp user / cannot receive; 131047: outside the 24-hour window.
    standin.failures = [(400, 131026)]
    assert await hook.post(url, one(gone, Text("Hi"))) == 200
    await eventually(lambda: standin.attempts_by_user.get(gone) == 1, timeout=5)
    standin.failures = [(400, 131047)]
    assert await hook.post(url, one(late, Text("Hi"))) == 200
    await eventually(lambda: standin.attempts_by_user.get(late) == 1, timeout=5)
    await eventually(lambda: outbox_drained(client.app[_redis_key()]), timeout=5)
    await asyncio.sleep(1.0)  # a retry would have come by now (first backoff: 0.5 s)
    assert standin.attempts_by_user[gone] == 1 and standin.attempts_by_user[late] == 1
    assert standin.by_user[gone] == [] and standin.by_user[late] == []
    after = await (await client.get("/metrics")).text()
    for code in ("131026", "131047"):
        name = "kmcbot_replies_failed_total"
        assert metric(after, name, code) - metric(before, name, code) == 1, code
    # The next reply to the same citizen goes out normally.
    assert await hook.post(url, one(gone, Choice("lang:en", "English"))) == 200
    await first_reply(standin, gone, timeout=5)


async def test_graph_token_rejected_is_retried_not_dropped(app_factory, hook, standin) -> None:
    """An expired token (401 / code 190) is ops' to fix: the reply must wait, not vanish."""
    client = await app_factory()
    wa_id = new_wa_id()
    standin.failures = [(401, 190)]
    assert await hook.post(base_url(client), one(wa_id, Text("Hi"))) == 200
    await first_reply(standin, wa_id, timeout=10)
    assert standin.attempts_by_user[wa_id] == 2
