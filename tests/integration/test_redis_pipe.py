"""The pipelined Redis connection against real Redis: answers reach the right
callers, errors stay with theirs, and a lost or silent server fails fast."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kmcbot.storage.redis_pipe import PipelinedRedis, supports

ECHO_KEY = "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) return {KEYS[1], v}"


@pytest.fixture
async def pipe(redis_url):
    client = PipelinedRedis(redis_url, timeout=1)
    yield client
    await client.aclose()


async def test_many_calls_at_once_each_get_their_own_answer(pipe, redis) -> None:
    script = pipe.register_script(ECHO_KEY)

    async def one(n: int) -> None:
        assert await script(keys=[f"k{n}"], args=[n]) == [f"k{n}".encode(), n]

    await asyncio.gather(*(one(n) for n in range(2000)))
    assert int(await redis.get("k1999")) == 1999  # in the db number the URL names


async def test_an_error_reply_goes_to_its_caller_only(pipe) -> None:
    await pipe.execute_command("SET", "text", "x")
    calls = [pipe.execute_command("INCR", "text"), pipe.execute_command("INCR", "counter")]
    failed, counted = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(failed, ResponseError) and counted == 1


async def test_scripts_load_again_after_redis_forgot_them(pipe) -> None:
    script = pipe.register_script("return 'hi'")
    assert await script() == b"hi"
    await pipe.execute_command("SCRIPT", "FLUSH")
    assert await script() == b"hi"


async def test_a_caller_that_gives_up_does_not_shift_the_answers(pipe) -> None:
    slow = asyncio.ensure_future(pipe.execute_command("BLPOP", "nothing", "0.2"))
    await asyncio.sleep(0.05)
    slow.cancel()
    assert await pipe.execute_command("ECHO", "after") == b"after"


async def test_a_killed_connection_fails_the_waiting_and_the_next_call_reconnects(
    pipe, redis
) -> None:
    client_id = await pipe.execute_command("CLIENT", "ID")
    waiting = asyncio.ensure_future(pipe.execute_command("BLPOP", "nothing", "1"))
    await asyncio.sleep(0.05)
    await redis.execute_command("CLIENT", "KILL", "ID", client_id)
    with pytest.raises(RedisConnectionError):
        await waiting
    assert await pipe.execute_command("ECHO", "back") == b"back"


async def test_a_silent_server_fails_the_calls_within_a_timeout_and_a_quarter() -> None:
    async def never_answer(reader, writer) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PipelinedRedis(f"redis://127.0.0.1:{port}", timeout=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(RedisTimeoutError):
            await client.execute_command("PING")
        assert 0.3 <= time.monotonic() - started < 1.0  # 0.375 s unless the machine is busy
    finally:
        await client.aclose()
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


async def test_nothing_listening_is_a_connection_error() -> None:
    with contextlib.closing(__import__("socket").socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        client = PipelinedRedis(f"redis://127.0.0.1:{port}")
        with pytest.raises(RedisConnectionError):
            await client.execute_command("PING")


def test_tls_urls_are_left_to_redis_py() -> None:
    assert supports("redis://127.0.0.1:6379/3") and supports("unix:///tmp/redis.sock?db=2")
    assert not supports("rediss://cache.example:6380/0")
