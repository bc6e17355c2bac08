"""Counters in Redis that stop guessing: logins per account and per address, and
wrong check-in codes per booking reference. A fixed window each: the first
failure starts it, and it ends WINDOW_S later."""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

WINDOW_S = 15 * 60
LOGIN_PER_ACCOUNT = 5
LOGIN_PER_ADDRESS = 20
WRONG_CODES_PER_REFERENCE = 5


class Limiter:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:staff-limit"

    def _key(self, kind: str, subject: str) -> str:
        # Hashed: no login, address or reference in Redis's key space.
        digest = hashlib.sha256(subject.encode("utf-8", "replace")).hexdigest()[:32]
        return f"{self.prefix}:{kind}:{digest}"

    async def count(self, kind: str, subject: str) -> int:
        return int(await self.redis.get(self._key(kind, subject)) or 0)

    async def fail(self, kind: str, subject: str) -> int:
        key = self._key(kind, subject)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, WINDOW_S, nx=True)
            n, _ = await pipe.execute()
        return int(n)

    async def clear(self, kind: str, subject: str) -> None:
        await self.redis.delete(self._key(kind, subject))

    async def login_blocked(self, login: str, address: str) -> bool:
        return (
            await self.count("login", login) >= LOGIN_PER_ACCOUNT
            or await self.count("address", address) >= LOGIN_PER_ADDRESS
        )

    async def checkin_blocked(self, reference: str) -> bool:
        return await self.count("code", reference) >= WRONG_CODES_PER_REFERENCE
