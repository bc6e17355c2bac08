"""Finding 5 of issue 18: "delete my data" leaves no copies in Redis.

A real redis-server started with `appendonly yes`, a real `kmcbot serve`
without its sender (so every reply waits in the outbox, as in a send
backlog), a citizen who books through the whole conversation and then asks
to be forgotten. Afterwards: the citizen's waiting replies and "seen" marks
are gone, and once the rewrite the erasure asks for is done, the
append-only file holds neither the name nor the booking reference, and the
number only in the one reply still waiting (the confirmation of the erasure).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from kmcbot.messages import Choice, Text
from kmcbot.storage.keys import outbox_key, user_tag
from kmcbot.storage.sessions import SessionStore
from tests.support.factories import make_centre, make_slot
from tests.support.net import free_port
from tests.support.reliability import (
    PEPPER,
    PREFIX,
    Bots,
    drive_to_confirm,
    one,
    plans,
    redis_binary,
)


async def aof_redis(workdir: Path) -> tuple[asyncio.subprocess.Process, str]:
    binary = redis_binary()
    if binary is None or not shutil.which(binary):
        pytest.skip("no redis-server binary")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        str(workdir),
        "--loglevel",
        "warning",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = aioredis.from_url(url)
    try:
        for _ in range(200):
            try:
                await client.ping()
                return proc, url
            except (aioredis.ConnectionError, OSError):
                await asyncio.sleep(0.05)
        raise RuntimeError("redis-server with AOF did not start")
    finally:
        await client.aclose()


def aof_bytes(workdir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(workdir.rglob("*.aof")) if p.is_file())


async def rewrite_done(redis: aioredis.Redis, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await redis.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the AOF rewrite did not end")


async def test_erasure_leaves_no_copies_in_the_outbox_seen_marks_or_aof(
    bots: Bots, hook, pg, tmp_path: Path
) -> None:
    workdir = tmp_path / "aof"
    workdir.mkdir()
    server, url = await aof_redis(workdir)
    redis = aioredis.from_url(url)
    try:
        [bot] = await bots.spawn(1, KMCBOT_REDIS_URL=url, KMCBOT_NO_SENDER="1")
        centre = await make_centre(pg)
        slot = await make_slot(pg, centre)
        day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot)
        [plan] = plans(1, centre, day, slot, start=700)
        await drive_to_confirm(hook, bot.url, plan)
        await hook.deliver(bot.url, plan.confirm())
        reference = await pg.fetchval("SELECT reference FROM bookings WHERE wa_id = $1", plan.wa_id)
        assert reference
        number, name = plan.wa_id.encode(), plan.name.encode()
        stream = outbox_key(PREFIX, 0)
        keys = SessionStore(redis, PREFIX).keys(user_tag(PEPPER, plan.wa_id))

        async def waiting() -> int:
            return sum(1 for _, f in await redis.xrange(stream) if f[b"to"] == number)

        before = (await waiting(), await redis.zcard(keys["seen"]))
        await hook.deliver(bot.url, one(plan.wa_id, Text("delete my data")))
        await hook.deliver(bot.url, one(plan.wa_id, Choice("forget:yes", "Yes")))
        assert await pg.fetchval("SELECT count(*) FROM bookings WHERE wa_id = $1", plan.wa_id) == 0
        in_aof = aof_bytes(workdir).count(number)

        after = (await waiting(), await redis.zcard(keys["seen"]))
        assert after == (1, 1), after  # the erasure's own reply, and its own mark

        deadline = time.monotonic() + 20
        while not any(e.get("event") == "aof_rewrite_asked" for e in bot.logs()):
            assert time.monotonic() < deadline, "no AOF rewrite was asked for"
            await asyncio.sleep(0.2)
        await rewrite_done(redis)
        aof = aof_bytes(workdir)
        print(
            f"\nerasure with a send backlog: waiting replies {before[0]} -> {after[0]}, "
            f"seen marks {before[1]} -> {after[1]}; the number in the AOF {in_aof} times "
            f"before the rewrite, {aof.count(number)} after; name {aof.count(name)}, "
            f"reference {aof.count(reference.encode())}"
        )
        assert aof.count(name) == 0 and aof.count(reference.encode()) == 0
        assert aof.count(number) <= 1  # the erasure's reply, until it is sent
    finally:
        await redis.aclose()
        server.kill()
        await server.wait()
