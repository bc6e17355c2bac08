"""The offer job: every server process runs it (like the relay and the sweeps).

Each pass: the offer run (store.run_offers: holds that ran out expire, free
places go to waiting citizens in the documented order; one process at a time),
then every offer not yet told is rendered (dialogue/waitlist.offer_reply: Book /
Not now in the 24-hour window, the approved template outside it) and appended to
its citizen's outbox stream, where the sender keeps KMCBOT_SEND_RATE. Offers are
taken with SKIP LOCKED and marked `queued_at` in the same transaction, so
several processes queue each offer once; a crash between the append and the
commit sends it twice, never not at all.

Triggers: the pass runs every EVERY_S and at once when woken (`wake`): a
session created or its capacity raised (/admin, the staff console), supply
recorded, a session cancelled, a citizen's booking cancelled, an offer declined.
A pass runs the full offer run only when something may make an offer (_CHANGES
below). A booking marked missed frees no place (the slot keeps it counted,
sql/005), so it needs no trigger. Places opened in bulk, a place freed one at a
time (a cancellation, a move, an erasure: booking/repository.py) and those of
an offer that ended are already reserved for the waitlist when the job wakes
(admin_repo.reserve_for_waitlist, store._end_offers): the wake only makes the
run come sooner.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisClusterException, RedisError

from kmcbot import metrics
from kmcbot.booking.model import Vaccine
from kmcbot.dialogue.waitlist import OfferView, offer_reply
from kmcbot.jobs.periodic import Periodic
from kmcbot.outbox.entry import OutboxEntry
from kmcbot.outbox.relay import WINDOW_S
from kmcbot.storage.keys import Keys, user_tag
from kmcbot.storage.sessions import Profile
from kmcbot.waitlist import store
from kmcbot.whatsapp.outbound import body as cloud_body

log = structlog.get_logger()

EVERY_S = 2.0
# The full offer run goes only when something may make an offer: an entry
# joined (the highest id) or ended (left, booked: the latest ended_at; taking an
# offer ends its entry, which may free its number for a family member's offer),
# places reserved for the waitlist (held beyond the live offers: places opened
# in bulk, a place a cancellation freed, an offer that ended), a hold due to run
# out; and, to follow the clock (days pass, sessions start, a run that skipped
# a locked row), at least every FULL_EVERY_S. Not on every slot change: every
# booking moves slots.changed_at, every 2 s under load. Each is one index probe
# (sql/014, sql/016).
FULL_EVERY_S = 60.0
_CHANGES = """
SELECT (SELECT max(id) FROM waitlist) AS joined,
       (SELECT max(ended_at) FROM waitlist) AS ended,
       (SELECT min(expires_at) FROM offers WHERE status = 'held') AS next_expiry,
       (SELECT coalesce(sum(held), 0) FROM slots WHERE held > 0)
         > (SELECT count(*) FROM offers WHERE status = 'held') AS reserved
"""
BATCH = 1000  # offers queued per transaction; a pass goes on while batches are full
WAITING_EVERY_S = 30.0  # how often the waiting gauge is counted
_TAKEN_FIELDS = ("offer_id", "wa_id", "lang", "vaccine", "centre_code", "centre_name")


class OfferJob(Periodic):
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        pepper: bytes,
        hold: timedelta,
        template: str,
        prefix: str = "kmcbot",
        shards: int = 1,
        every_s: float = EVERY_S,
        batch: int = BATCH,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.pepper = pepper
        self.hold = hold
        self.template = template
        self.prefix = prefix
        self.keys = Keys(prefix, shards)
        self.every_s = every_s
        self.batch = batch
        self.clock = clock
        self._counted = 0.0
        self._seen: tuple[object, object] | None = None  # (joined, ended) at the last run
        self._ran_at = 0.0
        super().__init__()

    async def run(self) -> None:
        await self.repeat(self.one_pass, self.every_s, "offers_error")

    async def one_pass(self) -> bool:
        """Offers made and expired, then told; whether to go again at once."""
        now = self.clock()
        changes = await self.pool.fetchrow(_CHANGES)
        seen = (changes["joined"], changes["ended"])
        due = changes["next_expiry"] is not None and changes["next_expiry"] <= now
        if (
            seen != self._seen
            or due
            or changes["reserved"]
            or time.monotonic() - self._ran_at > FULL_EVERY_S
        ):
            run = await store.run_offers(self.pool, now, self.hold)
            if run.ran:
                self._seen, self._ran_at = seen, time.monotonic()
        else:
            run = store.RunResult((), (), False)
        for expired in run.expired:
            metrics.OFFERS.labels("expired").inc()
            log.info(
                "offer_expired",
                offer=expired.offer_id,
                slot=expired.slot_id,
                user=user_tag(self.pepper, expired.wa_id) if expired.wa_id else None,
            )
        queued = await self.queue_once()
        if time.monotonic() - self._counted > WAITING_EVERY_S:
            try:
                await self.count_waiting()
            except (RedisError, RedisClusterException, OSError) as exc:
                # Only the gauge waits for Redis: the next count brings it back.
                log.warning("waiting_gauge_skipped", error=type(exc).__name__)
        return queued >= self.batch

    async def queue_once(self) -> int:
        """Tell the citizens of up to `batch` offers made and not yet told."""
        async with self.pool.acquire() as conn, conn.transaction():
            notices = await store.unqueued(conn, self.batch)
            if not notices:
                return 0
            seen = await self._last_seen({n.wa_id for n in notices})
            now = time.time()
            by_stream: dict[str, list[tuple[store.OfferNotice, OutboxEntry]]] = defaultdict(list)
            for n in notices:
                tag = user_tag(self.pepper, n.wa_id)
                last = seen.get(tag)
                view = OfferView(
                    n.offer_id, n.lang, Vaccine(n.vaccine), n.centre_name, n.address,
                    n.day, n.start, n.end, n.expires_at,
                )  # fmt: skip
                in_window = last is not None and now - last < WINDOW_S
                reply = offer_reply(view, in_window=in_window, template=self.template)
                entry = OutboxEntry(n.wa_id, tag, (orjson.dumps(cloud_body(n.wa_id, reply)),), ())
                by_stream[self.keys.outbox_of(tag)].append((n, entry))
            for stream, entries in by_stream.items():
                async with self.redis.pipeline(transaction=True) as pipe:
                    for _, entry in entries:
                        pipe.xadd(stream, entry.fields())  # type: ignore[arg-type]
                    await pipe.execute()
            # A crash here, after the append and before the commit, tells these twice.
            await conn.execute(
                "UPDATE offers SET queued_at = now() WHERE id = ANY($1::bigint[])",
                [n.offer_id for n in notices],
            )
        for n in notices:
            metrics.OFFERS.labels("made").inc()
            log.info(
                "offer_made",
                offer=n.offer_id,
                slot=n.slot_id,
                centre=n.centre_code,
                vaccine=n.vaccine,
                lang=n.lang,
                user=user_tag(self.pepper, n.wa_id),
                until=n.expires_at.isoformat(),
            )
        return len(notices)

    async def _last_seen(self, numbers: set[str]) -> dict[str, float]:
        """When each citizen last wrote (the pipeline keeps it in the profile)."""
        tags = [user_tag(self.pepper, n) for n in numbers]
        async with self.redis.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.get(self.keys.of(tag)["profile"])
            stored = await pipe.execute()
        seen = {}
        for tag, raw in zip(tags, stored, strict=True):
            profile = Profile.decode(raw)
            if profile.seen is not None:
                seen[tag] = float(profile.seen)
        return seen

    async def count_waiting(self) -> None:
        """The waiting citizens by area and vaccine, for /metrics (any process's
        count serves every scrape: it is kept in Redis)."""
        self._counted = time.monotonic()
        rows = await self.pool.fetch(
            """SELECT CASE WHEN borough IS NOT NULL THEN 'borough_' || borough
                           WHEN near_lat IS NOT NULL THEN 'near' ELSE 'city' END AS area,
                      vaccine, count(*) AS n
               FROM waitlist WHERE status = 'waiting' GROUP BY 1, 2"""
        )
        key = f"{self.prefix}:{metrics.WAITING_KEY}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if rows:
                pipe.hset(key, mapping={f"{r['area']}|{r['vaccine']}": r["n"] for r in rows})
                pipe.expire(key, int(WAITING_EVERY_S * 4))
            await pipe.execute()
