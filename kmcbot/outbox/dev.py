"""Without a WhatsApp token, the replies are kept in Redis for `GET /dev/messages`,
and uploaded images for `GET /dev/media/{id}` (the chat page shows them)."""

from __future__ import annotations

import hashlib

import orjson
import redis.asyncio as aioredis

from kmcbot.whatsapp.graph import (
    SendResult,
    Sent,
)

KEEP_S = 24 * 3600


class DevTransport:
    """Without a WhatsApp token, replies are kept in Redis for `GET /dev/messages`."""

    KEEP = 500

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, to: str) -> str:
        return f"{self.prefix}:dev:{to}"

    def media_key(self, media_id: str) -> str:
        return f"{self.prefix}:dev-media:{media_id}"

    async def send(self, to: str, body: bytes) -> SendResult:
        key = self.key(to)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, body)
            pipe.ltrim(key, -self.KEEP, -1)
            pipe.expire(key, KEEP_S)
            await pipe.execute()
        return SendResult(Sent.OK)

    async def upload(self, data: bytes, mime: str) -> SendResult:
        """Kept a day, under an id made from the bytes (hex only: it goes in a URL)."""
        if mime != "image/png":
            return SendResult(Sent.PERMANENT, code=131053)  # the Cloud API's "media upload error"
        media_id = "dev" + hashlib.sha256(data).hexdigest()[:29]
        await self.redis.set(self.media_key(media_id), data, ex=KEEP_S)
        return SendResult(Sent.OK, media_id=media_id)

    async def media(self, media_id: str) -> bytes | None:
        data = await self.redis.get(self.media_key(media_id))
        return data.encode() if isinstance(data, str) else data

    async def messages(self, to: str) -> list[object]:
        return [orjson.loads(b) for b in await self.redis.lrange(self.key(to), 0, -1)]
