"""CPU per Redis script call: redis-py's pool (as kmcbot configured it before) vs
kmcbot's pipelined connection (kmcbot/storage/redis_pipe.py), 64 callers at once.

    .venv/bin/python bench/redis_calls.py [--redis-url redis://127.0.0.1:6379/9] [--calls 40000]

Prints calls per second and microseconds of this process's CPU per call;
asserts nothing. Uses only the key "bench:redis-calls:*" of the db it is given.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import uvloop

from kmcbot.storage.redis_pipe import PipelinedRedis

SCRIPT = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"
CALLERS = 64


async def measure(name: str, calls: int, call: Callable[[str, int], Awaitable[object]]) -> None:
    async def caller(n: int) -> None:
        for i in range(calls // CALLERS):
            await call(f"bench:redis-calls:{n}", i)

    await call("bench:redis-calls:warm", 0)
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:44} {calls / wall:9.0f} calls/s {1e6 * cpu / calls:7.1f} us CPU/call")


async def main(url: str, calls: int) -> None:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=64, timeout=5, socket_timeout=5
    )
    client = aioredis.Redis(connection_pool=pool)
    script = client.register_script(SCRIPT)
    await measure("redis-py, blocking pool of 64, 5 s timeouts", calls,
                  lambda k, v: script(keys=[k], args=[v]))  # fmt: skip
    await client.delete(*[f"bench:redis-calls:{n}" for n in range(CALLERS)])
    await client.aclose()
    await pool.disconnect()

    pipe = PipelinedRedis(url)
    piped = pipe.register_script(SCRIPT)
    await measure("kmcbot.storage.redis_pipe, one connection", calls,
                  lambda k, v: piped(keys=[k], args=[v]))  # fmt: skip
    await pipe.execute_command("DEL", *[f"bench:redis-calls:{n}" for n in range(CALLERS)])
    await pipe.execute_command("DEL", "bench:redis-calls:warm")
    await pipe.aclose()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    p.add_argument("--calls", type=int, default=40_000)
    args = p.parse_args()
    uvloop.run(main(args.redis_url, args.calls))
