"""The outbox: a Redis Stream of Cloud API bodies, and the sender that drains it.

The pipeline appends replies in the same Lua script that saves the session.
The sender reads them through a consumer group, keeps to the configured rate,
sends each citizen's replies in order (different citizens concurrently),
retries rate limits and server errors with backoff, drops permanent failures
with a log line, and acknowledges an entry only after WhatsApp accepted it.
Entries a crashed sender had read are claimed again after a minute.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import aiohttp
import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError

from kmcbot import metrics

log = structlog.get_logger()

GROUP = "senders"
CLAIM_IDLE_MS = 60_000
MAX_TRIES_IN_A_ROW = 6

# Graph API error codes that mean "slow down" (retry later), from the Cloud API docs.
THROTTLE_CODES = {4, 80007, 130429, 131048, 131056}


class Sent(StrEnum):
    OK = "ok"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Sent
    code: int | None = None  # the Graph API error code, when there is one
    status: int | None = None  # the HTTP status


class Transport(Protocol):
    async def send(self, to: str, body: bytes) -> SendResult: ...


class GraphTransport:
    """POSTs bodies to `{graph_url}/{phone_number_id}/messages`."""

    def __init__(
        self, http: aiohttp.ClientSession, graph_url: str, phone_number_id: str, token: str
    ) -> None:
        self.http = http
        self.url = f"{graph_url}/{phone_number_id}/messages"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def send(self, to: str, body: bytes) -> SendResult:
        try:
            async with self.http.post(
                self.url, data=body, headers=self.headers, timeout=aiohttp.ClientTimeout(total=15)
            ) as resp:
                if resp.status < 300:
                    return SendResult(Sent.OK, status=resp.status)
                try:
                    code = int((await resp.json(content_type=None))["error"]["code"])
                except Exception:  # noqa: BLE001 - any unreadable error body is "no code"
                    code = None
                return SendResult(classify(resp.status, code), code, resp.status)
        except (aiohttp.ClientError, TimeoutError):
            return SendResult(Sent.RETRY)


def classify(status: int, code: int | None) -> Sent:
    if status == 429 or status >= 500 or code in THROTTLE_CODES:
        return Sent.RETRY
    if status in (401, 403) and code == 190:
        return Sent.RETRY  # an expired token is ops' to fix; the message must not be lost
    return Sent.PERMANENT


class DevTransport:
    """Without a WhatsApp token, replies are kept in Redis for `GET /dev/messages`."""

    KEEP = 500

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, to: str) -> str:
        return f"{self.prefix}:dev:{to}"

    async def send(self, to: str, body: bytes) -> SendResult:
        key = self.key(to)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, body).ltrim(key, -self.KEEP, -1).expire(key, 24 * 3600)
            await pipe.execute()
        return SendResult(Sent.OK)

    async def messages(self, to: str) -> list[object]:
        return [orjson.loads(b) for b in await self.redis.lrange(self.key(to), 0, -1)]


class RateLimiter:
    """A token bucket: at most `rate` sends a second, with bursts of up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class Sender:
    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        transport: Transport,
        rate: float,
        *,
        batch: int = 200,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        on_news: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.transport = transport
        self.limiter = RateLimiter(rate)
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.on_news = on_news  # told of the booking news an entry carried, once it is sent
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.sent = 0
        self.failed: dict[int | None, int] = defaultdict(int)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the batch in hand, then return from run() (within a quarter of a second)."""
        self._stopping.set()

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        grouped = False
        last_claim = 0.0
        claim_every = min(15.0, self.claim_idle_ms / 2000)
        # Stopped by a flag, not by cancelling: redis-py can hang when a blocking
        # XREADGROUP is cancelled, and a flag lets the batch in hand finish.
        while not self._stopping.is_set():
            try:
                if not grouped:  # inside the try: Redis may be down when we start
                    await self.ensure_group()
                    grouped = True
                if time.monotonic() - last_claim > claim_every:
                    last_claim = time.monotonic()
                    await self._send(await self._claim_stale())
                read = await self.redis.xreadgroup(
                    GROUP, self.consumer, {self.stream: ">"}, count=self.batch, block=250
                )
                for _, entries in read:
                    await self._send(entries)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis restarted empty: make the group again
                    grouped = False
                    continue
                log.error("sender_error", error=str(exc))
                await asyncio.sleep(1)
            except Exception as exc:  # noqa: BLE001 - the sender must outlive Redis outages
                log.error("sender_error", error=type(exc).__name__)
                await asyncio.sleep(1)

    async def _claim_stale(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        result = await self.redis.xautoclaim(
            self.stream, GROUP, self.consumer, min_idle_time=self.claim_idle_ms, count=self.batch
        )
        return [e for e in result[1] if e[1]]  # deleted entries come back empty

    async def _send(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        # One chain per citizen keeps their replies in order; chains run concurrently.
        chains: dict[bytes, list[tuple[bytes, dict[bytes, bytes]]]] = defaultdict(list)
        for entry in entries:
            chains[entry[1].get(b"to", b"")].append(entry)
        await asyncio.gather(*(self._send_chain(chain) for chain in chains.values()))

    async def _send_chain(self, chain: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for entry_id, fields in chain:
            if not await self._send_one(entry_id, fields):
                return  # leave the rest pending, in order, for a later claim

    async def _send_one(self, entry_id: bytes, fields: dict[bytes, bytes]) -> bool:
        to = fields.get(b"to", b"").decode()
        tag = fields.get(b"tag", b"").decode()
        for attempt in range(MAX_TRIES_IN_A_ROW):
            await self.limiter.acquire()
            result = await self.transport.send(to, fields.get(b"body", b""))
            if result.outcome is Sent.RETRY:
                log.warning(
                    "send_retry",
                    user=tag,
                    code=result.code,
                    status=result.status,
                    attempt=attempt + 1,
                )
                await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
                continue
            if result.outcome is Sent.OK:
                self.sent += 1
                metrics.REPLIES_SENT.inc()
                await self._news_sent(fields.get(b"news", b"").decode(), tag)
            else:
                self.failed[result.code] += 1
                metrics.REPLIES_FAILED.labels(str(result.code)).inc()
                log.error("send_failed", user=tag, code=result.code, status=result.status)
            await self._done(entry_id)
            return True
        return False

    async def _news_sent(self, news: str, tag: str) -> None:
        if not news or self.on_news is None:
            return
        try:
            await self.on_news(news)
        except Exception:  # noqa: BLE001 - unmarked news is relayed again later: a duplicate
            log.warning("news_mark_failed", user=tag)

    async def _done(self, entry_id: bytes) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, entry_id).xdel(self.stream, entry_id)
            await pipe.execute()
