"""The outbox sender against real Redis and a Graph API stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import orjson
import pytest

from kmcbot.outbox import GROUP, GraphTransport, RateLimiter, Sender, Sent, classify
from kmcbot.standin import GraphStandIn
from tests.factories import eventually

STREAM = "kmcbot:outbox"


@pytest.fixture
async def standin(aiohttp_server):
    fake = GraphStandIn()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


@contextlib.asynccontextmanager
async def running_sender(redis, standin, rate: float = 1000.0, claim_idle_ms: int = 60_000):
    async with aiohttp.ClientSession() as http:
        transport = GraphTransport(http, standin.url, "12345", standin.token)
        sender = Sender(redis, STREAM, transport, rate, consumer="test",
                        claim_idle_ms=claim_idle_ms)
        task = asyncio.create_task(sender.run())
        try:
            yield sender
        finally:
            sender.stop()
            await asyncio.wait_for(task, timeout=5)


async def queue(redis, to: str, text: str) -> None:
    body = orjson.dumps({"messaging_product": "whatsapp", "to": to, "type": "text",
                         "text": {"body": text}})
    await redis.xadd(STREAM, {"to": to, "tag": "t", "body": body})


def texts(messages) -> list[str]:
    return [m["text"]["body"] for m in messages]


async def test_replies_reach_the_graph_api_in_order_and_are_acknowledged(redis, standin) -> None:
    for i in range(5):
        await queue(redis, "919800000001", f"m{i}")
    async with running_sender(redis, standin) as sender:
        got = await standin.wait_for("919800000001", 5)
        await eventually(lambda: sender.sent == 5)
    assert texts(got) == [f"m{i}" for i in range(5)]
    assert await redis.xlen(STREAM) == 0
    assert (await redis.xpending(STREAM, GROUP))["pending"] == 0


async def test_rate_limits_and_server_errors_are_retried(redis, standin) -> None:
    standin.failures = [(429, 130429), (500, None), (503, 131000)]
    await queue(redis, "919800000001", "hello")
    async with running_sender(redis, standin) as sender:
        got = await standin.wait_for("919800000001", 1, timeout=10)
        await eventually(lambda: sender.sent == 1)
    assert texts(got) == ["hello"] and sender.sent == 1


async def test_permanent_errors_are_dropped_and_counted_not_retried(redis, standin) -> None:
    standin.failures = [(400, 131026)]
    await queue(redis, "919800000001", "undeliverable")
    await queue(redis, "919800000001", "next")
    async with running_sender(redis, standin) as sender:
        got = await standin.wait_for("919800000001", 1)
        await eventually(lambda: sender.sent == 1)
    assert texts(got) == ["next"]
    assert sender.failed == {131026: 1}
    assert await redis.xlen(STREAM) == 0


async def test_entries_of_a_crashed_sender_are_claimed_again(redis, standin) -> None:
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    await queue(redis, "919800000001", "orphan")
    # A sender read the entry and died before sending it.
    await redis.xreadgroup(GROUP, "dead-sender", {STREAM: ">"}, count=10)
    await asyncio.sleep(0.1)
    async with running_sender(redis, standin, claim_idle_ms=50):
        got = await standin.wait_for("919800000001", 1)
    assert texts(got) == ["orphan"]


def test_graph_errors_are_classified() -> None:
    assert classify(429, None) is Sent.RETRY
    assert classify(400, 130429) is Sent.RETRY
    assert classify(502, None) is Sent.RETRY
    assert classify(400, 131026) is Sent.PERMANENT
    assert classify(400, 131047) is Sent.PERMANENT


async def test_rate_limiter_keeps_to_its_rate() -> None:
    limiter = RateLimiter(50)
    started = time.monotonic()
    for _ in range(100):  # 50 from the initial burst, 50 more at 50/s
        await limiter.acquire()
    assert time.monotonic() - started >= 0.9


async def test_news_is_reported_only_once_whatsapp_accepted_the_entry(redis, standin) -> None:
    standin.failures = [(500, None)]
    reported: list[str] = []

    async def on_news(news: str) -> None:
        reported.append(news)

    await redis.xadd(STREAM, {"to": "919800000001", "tag": "t", "news": "KMC-4K7P2Q:booked",
                              "body": '{"to":"919800000001","type":"text","text":{"body":"ok"}}'})
    async with aiohttp.ClientSession() as http:
        sender = Sender(redis, STREAM, GraphTransport(http, standin.url, "1", standin.token),
                        1000, consumer="test", on_news=on_news)
        task = asyncio.create_task(sender.run())
        await standin.wait_for("919800000001", 1, timeout=10)
        await eventually(lambda: reported)
        sender.stop()
        await asyncio.wait_for(task, timeout=5)
    assert reported == ["KMC-4K7P2Q:booked"]  # once, after the 500 was retried
