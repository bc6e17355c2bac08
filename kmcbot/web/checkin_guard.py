"""Check-in codes are 4 digits: without a limit they are found in a few
thousand tries (issue 18, finding 4). Each reference may have MAX_WRONG wrong
codes per PERIOD_S, counted in Redis so that every process shares the count;
past that, every check-in of that reference is 429 until the period is over,
the right code too (else the guessing would simply go on).

An attempt is counted before its code is checked (INCR is atomic, so a burst
of parallel guesses cannot all slip in before the count), and given back when
the code was right. An unknown reference is counted and answered exactly
like a wrong code, so the answers do not tell which references exist.
"""

from __future__ import annotations

import redis.asyncio as aioredis

MAX_WRONG = 5
PERIOD_S = 15 * 60


class Locked(Exception):
    """Too many wrong codes for this reference: 429, `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class CheckinGuard:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, reference: str) -> str:
        return f"{self.prefix}:checkin-tries:{reference}"

    async def attempt(self, reference: str) -> int:
        """Counts one attempt; the attempts of this period, this one included.
        Raises Locked when they are more than MAX_WRONG."""
        key = self._key(reference)
        async with self.redis.pipeline(transaction=True) as pipe:
            # The period starts with the first attempt and is not extended by later ones.
            pipe.set(key, 0, ex=PERIOD_S, nx=True)
            pipe.incr(key)
            pipe.ttl(key)
            _, tries, ttl = await pipe.execute()
        if tries > MAX_WRONG:
            # This one is not a wrong code: the count stays at the limit.
            await self.redis.decr(key)
            raise Locked(max(int(ttl), 1))
        return int(tries)

    async def give_back(self, reference: str) -> None:
        """The code was right (or was never checked): the attempt does not count."""
        await self.redis.decr(self._key(reference))
