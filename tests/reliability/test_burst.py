"""Finding 2 of issue 18: one number's burst must not slow everyone.

A real `kmcbot serve` process, its own Redis: 400 messages at once from one
number while other citizens keep writing. The number's queue is bounded (the
messages beyond it are answered 503 at once), waiting costs O(1) per poll,
and the other citizens' p90 stays under 100 ms (printed, with Redis's CPU).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest
import redis.asyncio as aioredis

from kmcbot.messages import Text
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from tests.support.reliability import PEPPER, PREFIX, Bots, new_wa_id, one

MAX_WAITING = 10  # kmcbot.storage.sessions.MAX_WAITING (spelled out: run on the code before it too)


async def redis_cpu(redis: aioredis.Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def burst(bots: Bots, hook, redis, size: int, others: int, rounds: int) -> dict:
    [bot] = await bots.spawn(1)
    loud = new_wa_id()
    queue = SessionStore(redis, PREFIX).keys(user_tag(PEPPER, loud))["queue"]
    # Every other citizen says Hi first: their session exists, as in a busy hour.
    quiet = [new_wa_id() for _ in range(others)]
    for wa_id in quiet:
        assert await hook.post(bot.url, one(wa_id, Text("Hi"))) == 200
    took: list[float] = []
    deepest = 0
    done = asyncio.Event()

    async def citizen(wa_id: str) -> None:
        while not done.is_set():
            started = time.perf_counter()
            status = await hook.post(bot.url, one(wa_id, Text("Hi")))
            took.append(time.perf_counter() - started)
            assert status == 200
            await asyncio.sleep(0.05)

    async def watch_queue() -> None:
        nonlocal deepest
        while not done.is_set():
            deepest = max(deepest, await redis.zcard(queue))
            await asyncio.sleep(0.01)

    cpu_before = await redis_cpu(redis)
    background = [asyncio.create_task(citizen(w)) for w in quiet]
    background.append(asyncio.create_task(watch_queue()))
    await asyncio.sleep(1.5)
    quiet_p90 = statistics.quantiles(took, n=10)[-1] * 1000  # before the burst
    took.clear()
    started = time.perf_counter()
    statuses: list[int] = []
    for n in range(rounds):
        if n:
            await asyncio.sleep(1)  # WhatsApp delivers the refused ones again, later
        statuses += await asyncio.gather(
            *(hook.post(bot.url, one(loud, Text("Hi")), timeout=30) for _ in range(size))
        )
    seconds = time.perf_counter() - started
    await asyncio.sleep(0.3)
    done.set()
    await asyncio.gather(*background)
    cpu = await redis_cpu(redis) - cpu_before
    cuts = statistics.quantiles(took, n=10)
    figures = {
        "burst": size * rounds,
        "200": statuses.count(200),
        "503": statuses.count(503),
        "other": len(statuses) - statuses.count(200) - statuses.count(503),
        "seconds": round(seconds, 2),
        "others_answers": len(took),
        "others_p50_ms": round(statistics.median(took) * 1000, 1),
        "others_p90_ms": round(cuts[-1] * 1000, 1),
        "others_p90_before_ms": round(quiet_p90, 1),
        "deepest_queue": deepest,
        "redis_cpu_s": round(cpu, 2),
    }
    print(f"\nburst of {size} x {rounds} from one number: {figures}")
    return figures


async def test_a_burst_from_one_number_does_not_slow_the_others(bots: Bots, hook, redis) -> None:
    figures = await burst(bots, hook, redis, size=400, others=10, rounds=1)
    assert figures["other"] == 0  # 200 or 503, never a timeout
    assert figures["deepest_queue"] <= MAX_WAITING
    # Under 100 ms on a quiet machine; while other test runs load it (make test
    # beside others), within 3 times the p90 just before the burst. (Before the
    # fix: 1,907 ms against 10 ms.) `make stress` asserts 100 ms flat.
    assert figures["others_p90_ms"] < max(100, 3 * figures["others_p90_before_ms"])


@pytest.mark.slow
async def test_repeated_bursts_from_one_number_do_not_slow_the_others(
    bots: Bots, hook, redis
) -> None:
    figures = await burst(bots, hook, redis, size=400, others=20, rounds=10)
    assert figures["other"] == 0
    assert figures["deepest_queue"] <= MAX_WAITING
    assert figures["others_p90_ms"] < 100
