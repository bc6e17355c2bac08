"""Without a WhatsApp token, the replies are kept in Redis for `GET /dev/messages`."""

from __future__ import annotations

import orjson
import redis.asyncio as aioredis

from kmcbot.whatsapp.graph import (
    SendResult,
    Sent,
)


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
            pipe.rpush(key, body)
            pipe.ltrim(key, -self.KEEP, -1)
            pipe.expire(key, 24 * 3600)
            await pipe.execute()
        return SendResult(Sent.OK)

    async def messages(self, to: str) -> list[object]:
        return [orjson.loads(b) for b in await self.redis.lrange(self.key(to), 0, -1)]
