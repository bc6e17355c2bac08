"""Rewrite Redis's append-only file after a "delete my data" (issue 18, finding 5).

With `appendonly yes` (as Production asks), the AOF keeps every write since
its last rewrite: after an erasure the citizen's number, session and replies
stay in it until Redis rewrites it, which by default happens only when the
file has doubled. An erasure sets `<prefix>:erased-since`
(SessionStore.mark_erased); every server process looks for it every CHECK_S,
and one of them asks Redis for BGREWRITEAOF, at most once per MIN_GAP_S
across all processes (a rewrite forks Redis and writes the whole data set).
Erased data therefore stays in the AOF for at most MIN_GAP_S + CHECK_S plus
the rewrite itself. With the AOF off, the mark is simply cleared.
"""

from __future__ import annotations

import redis.asyncio as aioredis
import structlog

from kmcbot.jobs.periodic import Periodic
from kmcbot.storage.keys import erased_key

log = structlog.get_logger()

CHECK_S = 5.0
MIN_GAP_S = 600


class AofRewrite(Periodic):
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        super().__init__()
        self.redis = redis
        self.mark = erased_key(prefix)
        self.gap = f"{prefix}:aof-rewritten"

    async def run(self) -> None:
        await self.repeat(self.one_pass, CHECK_S, "aof_rewrite_error")

    async def one_pass(self) -> bool:
        if not await self.redis.exists(self.mark):
            return False
        if not await self.redis.set(self.gap, 1, nx=True, ex=MIN_GAP_S):
            return False  # one was asked for less than MIN_GAP_S ago; the mark waits
        # Cleared before the rewrite is asked: an erasure after this sets it
        # again, and the rewrite (forked now) holds everything committed before.
        await self.redis.delete(self.mark)
        persistence = await self.redis.info("persistence")
        if int(persistence.get("aof_enabled", 0)):
            await self.redis.bgrewriteaof()
            log.info("aof_rewrite_asked")
        return False
