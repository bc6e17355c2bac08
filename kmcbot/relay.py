"""The relay: news of a booking, written to `notifications` in PostgreSQL in the
same transaction as the change, moved onto the citizen's Redis outbox stream.

One relay runs in every server process. Each pass is one short transaction:
`SELECT ... FOR UPDATE SKIP LOCKED` takes a batch of unrelayed rows that no
other relay holds, their replies are appended to the outbox, `queued_at` is
set, commit. A crash after the append and before the commit sends those rows
again on the next pass: a duplicate message, never a lost one.

Each entry carries its news, and the sender sets `relayed_at` (`mark_relayed`)
only once WhatsApp accepted the message. A row queued RESEND_S ago and still
not relayed (Redis lost the entry, or WhatsApp refused it, e.g. because the
24-hour window closed while it waited) is sent again, as the template, which
WhatsApp accepts in the window and out of it; after MAX_TRIES it is given up.

'booked', 'moved' and 'cancelled' news is normally sent by the chat itself, in
the turn that made the change; the pipeline then marks the rows relayed
(`mark_relayed`). The relay takes those kinds only after a grace period, so it
sends just the news whose chat turn crashed after PostgreSQL committed.
'slot_cancelled' and 'reminder' rows have no chat turn and go at once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence

import asyncpg
import orjson
import redis.asyncio as aioredis
import structlog

from kmcbot.booking import repository
from kmcbot.dialogue.notices import Kind, Notice, Templates, render
from kmcbot.periodic import Periodic
from kmcbot.sessions import SessionStore, user_tag
from kmcbot.whatsapp.outbound import body as cloud_body

log = structlog.get_logger()

# The chat's own reply carries booking news; the sender marks it relayed once
# WhatsApp accepted it. Only news still unmarked after this long is sent again
# from here: long enough for a backlog in the outbox (a duplicate is the cost of
# a shorter one), short enough that a citizen whose turn died hears soon.
GRACE_S = 300.0
# WhatsApp takes free-form messages only within 24 h of the citizen's last
# message. The reply may wait in the outbox (rate limit, retries), so the
# relay treats the window as closing half an hour early.
WINDOW_S = 24 * 3600 - 30 * 60
BATCH = 100
# Queued this long ago and still not accepted: sent again. Longer than a backlog
# in the outbox usually lasts (a duplicate is the cost of a shorter one).
RESEND_S = 600.0
MAX_TRIES = 3
POLL_S = 1.0

# The booking's columns are the repository's own view query, so that the
# BookingView built here always matches the one the chat renders.
_PENDING = (
    repository.VIEW_SQL.replace(
        "SELECT",
        """SELECT n.id AS notification_id, n.kind, n.remind_day, n.tries, b.wa_id,
       s.status AS slot_status, s.cancel_reason AS slot_reason, s.starts_at <= now() AS started,
       EXISTS (SELECT 1 FROM notifications later
               WHERE later.booking_id = n.booking_id AND later.id > n.id
                 AND later.kind IN ('booked', 'moved', 'cancelled')) AS superseded,""",
        1,
    )
    + """
JOIN notifications n ON n.booking_id = b.id
WHERE n.relayed_at IS NULL
  AND (n.queued_at IS NULL OR n.queued_at <= now() - make_interval(secs => $3))
  AND (n.kind IN ('slot_cancelled', 'reminder')
       OR n.created_at <= now() - make_interval(secs => $1))
ORDER BY n.id
LIMIT $2
FOR UPDATE OF n SKIP LOCKED
"""
)

_MARK = """
UPDATE notifications n SET relayed_at = now()
FROM bookings b, unnest($1::text[], $2::text[]) AS t(reference, kind)
WHERE b.reference = t.reference AND n.booking_id = b.id AND n.kind = t.kind
  AND n.relayed_at IS NULL
"""


async def mark_relayed(pool: asyncpg.Pool, news: Sequence[tuple[str, str]]) -> None:
    """The chat has sent this news, (booking reference, kind), itself: WhatsApp took it."""
    if news:
        await pool.execute(_MARK, [r for r, _ in news], [k for _, k in news])


def encode_news(news: Sequence[tuple[str, str]]) -> str:
    """News as one outbox-entry field: "KMC-4K7P2Q:booked;KMC-...:cancelled"."""
    return ";".join(f"{reference}:{kind}" for reference, kind in news)


def decode_news(field: str) -> list[tuple[str, str]]:
    pairs = (item.partition(":") for item in field.split(";") if item)
    return [(reference, kind) for reference, _, kind in pairs if kind]


def notice_of(row: asyncpg.Record) -> Notice | None:
    """What to send for a pending row; None when there is nothing (any more) to say."""
    kind = Kind(row["kind"])
    if row["wa_id"] is None:
        return None  # the citizen's data was erased: there is no one to tell
    if kind in (Kind.BOOKED, Kind.MOVED) and (row["superseded"] or row["status"] != "booked"):
        return None  # later news of this booking replaces this ticket
    if kind is Kind.REMINDER and (
        row["status"] != "booked"
        or row["slot_status"] != "open"
        or row["started"]
        or row["day"] != row["remind_day"]
    ):
        return None  # cancelled, moved to another day, or too late since it was queued
    return Notice(kind, repository.view_of(row), reason=row["slot_reason"] or "")


class Relay(Periodic):
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        pepper: bytes,
        templates: Templates,
        prefix: str = "kmcbot",
        shards: int = 1,
        grace_s: float = GRACE_S,
        resend_s: float = RESEND_S,
        batch: int = BATCH,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.store = SessionStore(redis, prefix, shards=shards)  # for its key names only
        self.pepper = pepper
        self.templates = templates
        self.grace_s = grace_s
        self.resend_s = resend_s
        self.batch = batch
        self.poll_s = poll_s
        self.clock = clock
        super().__init__()

    async def run(self) -> None:
        async def one_batch() -> bool:  # a full batch: more may wait
            return await self.relay_once() >= self.batch

        await self.repeat(one_batch, self.poll_s, "relay_error")

    async def relay_once(self) -> int:
        """One batch: append its replies to the outbox and mark them queued (the
        sender marks them relayed once WhatsApp accepted them); rows with nothing
        (more) to send are marked relayed at once. How many rows were handled."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_PENDING, self.grace_s, self.batch, self.resend_s)
            if not rows:
                return 0
            entries, queued, done = await self._entries(rows)
            by_stream: dict[str, list[dict[str, str | bytes]]] = defaultdict(list)
            for entry in entries:
                by_stream[self.store.outbox_of(str(entry["tag"]))].append(entry)
            for stream, appended in by_stream.items():  # a stream's share or none of it
                async with self.redis.pipeline(transaction=True) as pipe:
                    for entry in appended:
                        pipe.xadd(stream, entry)
                    await pipe.execute()
            # A crash here, after the append and before the commit, sends this batch twice.
            await conn.execute(
                "UPDATE notifications SET queued_at = now(), tries = tries + 1"
                " WHERE id = ANY($1::bigint[])",
                queued,
            )
            await conn.execute(
                "UPDATE notifications SET relayed_at = now() WHERE id = ANY($1::bigint[])", done
            )
        log.info("news_relayed", rows=len(queued) + len(done), sent=len(entries))
        return len(queued) + len(done)

    async def _entries(
        self, rows: list[asyncpg.Record]
    ) -> tuple[list[dict[str, str | bytes]], list[int], list[int]]:
        """The outbox entries (to, tag, bodies, news) for a batch, the ids of the rows
        they carry, and those of the rows with nothing (more) to send."""
        tags = {r["wa_id"]: user_tag(self.pepper, r["wa_id"]) for r in rows if r["wa_id"]}
        seen = await self._last_seen(list(tags.values()))
        now = self.clock()
        entries: list[dict[str, str | bytes]] = []
        queued: list[int] = []
        done: list[int] = []
        for row in rows:
            if row["tries"] >= MAX_TRIES:
                log.error("news_undelivered", notification=row["notification_id"])
                done.append(row["notification_id"])
                continue
            try:
                notice = notice_of(row)
                if notice is not None:
                    tag = tags[row["wa_id"]]
                    last = seen.get(tag)
                    # Sent again: maybe refused because the window had closed.
                    in_window = last is not None and now - last < WINDOW_S and not row["tries"]
                    reply = render(notice, in_window=in_window, templates=self.templates)
                    body = orjson.dumps([cloud_body(row["wa_id"], reply)])
                    news = encode_news([(notice.booking.reference, notice.kind.value)])
                    entries.append({"to": row["wa_id"], "tag": tag, "bodies": body, "news": news})
            except Exception:  # noqa: BLE001 - the others still go
                # Left unrelayed, so it goes out once the bug is fixed: kept, never lost.
                log.exception("news_unrenderable", notification=row["notification_id"])
                continue
            (done if notice is None else queued).append(row["notification_id"])
        return entries, queued, done

    async def _last_seen(self, tags: list[str]) -> dict[str, float]:
        """When each citizen last wrote (the pipeline keeps it in the profile as "seen")."""
        if not tags:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.get(self.store.keys(tag)["profile"])
            stored = await pipe.execute()
        seen: dict[str, float] = {}
        for tag, raw in zip(tags, stored, strict=True):
            try:
                value = orjson.loads(raw)["seen"] if raw else None
            except (ValueError, TypeError, KeyError):
                value = None  # unknown: only a template may be sent
            if isinstance(value, int | float) and not isinstance(value, bool):
                seen[tag] = float(value)
        return seen
