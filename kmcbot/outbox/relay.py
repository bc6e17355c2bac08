"""The relay: news of a booking, written to `notifications` in PostgreSQL in the
same transaction as the change, moved onto the citizen's Redis outbox stream.

One relay runs in every server process. Each pass is one short transaction:
`SELECT ... FOR UPDATE SKIP LOCKED` takes a batch of unrelayed rows that no
other relay holds, their replies are appended to the outbox, `relayed_at` and
the entry's id (`queued_entry`) are set, commit. A crash after the append and
before the commit sends those rows again on the next pass: a duplicate
message, never a lost one.

Each entry carries its news, and the sender sets `accepted_at` (`mark_accepted`)
once WhatsApp accepted the message. A row relayed RESEND_S ago and still not
accepted is looked up in its stream: still there, it is on its way (a backlog,
WhatsApp retrying) and is left alone; gone (Redis lost it, or WhatsApp refused
it, e.g. because the 24-hour window closed while it waited), it is sent again
as the template, which WhatsApp accepts in the window and out of it. After
MAX_TRIES it is given up (`news_undelivered`).

`relayed_at` means "handed to the outbox", as before `accepted_at` existed, so a
relay of an older version running beside this one (a rolling deploy) never
sends a row again that this one queued.

'booked', 'moved' and 'cancelled' news is normally sent by the chat itself, in
the turn that made the change; the sender marks the rows (`mark_accepted`) once
WhatsApp accepted that reply. The relay takes those kinds only after a grace
period, so it sends just the news whose chat turn crashed after PostgreSQL
committed. 'slot_cancelled', 'reminder' and 'on_list' rows have no chat turn and go at once.
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
from kmcbot.jobs.periodic import Periodic
from kmcbot.observe import events
from kmcbot.outbox.entry import News, OutboxEntry, callback_data
from kmcbot.storage.keys import Keys, user_tag
from kmcbot.storage.sessions import Profile
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
# Relayed this long ago and not accepted: is its entry still in the outbox?
RESEND_S = 600.0
MAX_TRIES = 3
POLL_S = 1.0


# The booking's columns are the repository's own view query, so that the
# BookingView built here always matches the one the chat renders.
def _rows(where: str) -> str:
    return f"""
SELECT n.id AS notification_id, n.kind, n.remind_day, n.tries, n.queued_entry,
       b.wa_id, s.status AS slot_status, s.cancel_reason AS slot_reason,
       s.starts_at <= now() AS started,
       EXISTS (SELECT 1 FROM notifications later
               WHERE later.booking_id = n.booking_id AND later.id > n.id
                 AND later.kind IN ('booked', 'moved', 'cancelled')) AS superseded,
       {repository.VIEW_COLUMNS}
FROM bookings b {repository.VIEW_JOINS}
JOIN notifications n ON n.booking_id = b.id
WHERE {where}
ORDER BY n.id
LIMIT $2
FOR UPDATE OF n SKIP LOCKED
"""


# Never handed to the outbox; chat news only after the grace period ($1).
_NEW = _rows(
    """n.relayed_at IS NULL
  AND (n.kind IN ('slot_cancelled', 'reminder', 'on_list')
       OR n.created_at <= now() - make_interval(secs => $1)
       -- booked at the staff console's desk: no chat turn will send its ticket
       OR b.source_message_id LIKE 'walkin:%')"""
)
# Handed to the outbox more than $1 seconds ago and not accepted by WhatsApp.
_UNACCEPTED = _rows(
    """n.accepted_at IS NULL AND n.queued_entry IS NOT NULL
  AND n.relayed_at <= now() - make_interval(secs => $1)"""
)

# Only rows still waiting for it: the chat's own news (not relayed), and what
# the relay queued (a row an older version relayed has no entry to wait for).
_MARK = """
UPDATE notifications n SET accepted_at = now(), relayed_at = coalesce(n.relayed_at, now())
FROM bookings b, unnest($1::text[], $2::text[]) AS t(reference, kind)
WHERE b.reference = t.reference AND n.booking_id = b.id AND n.kind = t.kind
  AND n.accepted_at IS NULL AND (n.relayed_at IS NULL OR n.queued_entry IS NOT NULL)
"""

_QUEUED = """
UPDATE notifications n SET relayed_at = now(), queued_entry = t.entry, tries = n.tries + 1
FROM unnest($1::bigint[], $2::text[]) AS t(id, entry) WHERE n.id = t.id
"""


async def mark_accepted(pool: asyncpg.Pool, news: Sequence[News]) -> None:
    """WhatsApp accepted a message carrying this news: its rows get `accepted_at`
    (and `relayed_at`, if the chat's own reply carried it)."""
    if news:
        await pool.execute(_MARK, [r for r, _ in news], [k for _, k in news])


def notice_of(row: asyncpg.Record) -> Notice | None:
    """What to send for a pending row; None when there is nothing (any more) to say."""
    kind = Kind(row["kind"])
    if row["wa_id"] is None:
        return None  # the citizen's data was erased: there is no one to tell
    if kind in (Kind.BOOKED, Kind.MOVED) and (row["superseded"] or row["status"] != "booked"):
        return None  # later news of this booking replaces this ticket
    if kind in (Kind.REMINDER, Kind.ON_LIST) and (
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
        self.keys = Keys(prefix, shards)
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
        """One batch: append the replies of new rows, and of rows whose entry left the
        outbox without WhatsApp accepting it, to the outbox; mark the rows with
        nothing (more) to send. How many rows were queued or finished."""
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await conn.fetch(_NEW, self.grace_s, self.batch)
            unaccepted = await conn.fetch(_UNACCEPTED, self.resend_s, self.batch)
            if not fresh and not unaccepted:
                return 0
            on_the_way = await self._on_the_way(unaccepted)
            again = [r for r in unaccepted if r["notification_id"] not in on_the_way]
            given_up = [r["notification_id"] for r in again if r["tries"] >= MAX_TRIES]
            for notification in given_up:
                log.error("news_undelivered", notification=notification)
            rows = fresh + [r for r in again if r["tries"] < MAX_TRIES]
            planned, done = await self._entries(rows)
            queued = await self._append(planned)
            tries = {r["notification_id"]: r["tries"] + 1 for r in rows}
            for row_id, entry in planned:
                if row_id in queued:
                    for reference, kind in entry.news:
                        events.notice_queued(
                            reference=reference, kind=kind, cid=entry.cid, tries=tries[row_id]
                        )
            # A crash here, after the append and before the commit, sends this batch twice.
            await conn.execute(_QUEUED, list(queued), list(queued.values()))
            await conn.execute(
                "UPDATE notifications SET relayed_at = now(), queued_entry = NULL"
                " WHERE id = ANY($1::bigint[])",
                done + given_up,
            )
            # Still in the outbox: looked at again RESEND_S from now.
            await conn.execute(
                "UPDATE notifications SET relayed_at = now() WHERE id = ANY($1::bigint[])",
                list(on_the_way),
            )
        handled = len(queued) + len(done) + len(given_up)
        log.info("news_relayed", rows=handled, sent=len(queued), on_the_way=len(on_the_way))
        return handled

    async def _on_the_way(self, rows: list[asyncpg.Record]) -> set[int]:
        """The rows whose outbox entry is still in its stream: not sent yet (the
        sender deletes an entry once WhatsApp accepted or refused it)."""
        rows = [r for r in rows if r["wa_id"]]
        if not rows:
            return set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for r in rows:
                stream = self.keys.outbox_of(user_tag(self.pepper, r["wa_id"]))
                pipe.xrange(stream, r["queued_entry"], r["queued_entry"])
            found = await pipe.execute()
        return {r["notification_id"] for r, f in zip(rows, found, strict=True) if f}

    async def _append(self, planned: list[tuple[int, OutboxEntry]]) -> dict[int, str]:
        """Append the entries, a stream's share in one transaction; row id -> entry id."""
        by_stream: dict[str, list[tuple[int, OutboxEntry]]] = defaultdict(list)
        for row_id, entry in planned:
            by_stream[self.keys.outbox_of(entry.tag)].append((row_id, entry))
        queued: dict[int, str] = {}
        for stream, appended in by_stream.items():
            async with self.redis.pipeline(transaction=True) as pipe:
                for _, entry in appended:
                    pipe.xadd(stream, entry.fields())  # type: ignore[arg-type]
                ids = await pipe.execute()
            for (row_id, _), entry_id in zip(appended, ids, strict=True):
                queued[row_id] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return queued

    async def _entries(
        self, rows: list[asyncpg.Record]
    ) -> tuple[list[tuple[int, OutboxEntry]], list[int]]:
        """The outbox entries for a batch, by row id, and the ids of the rows with
        nothing (more) to send."""
        tags = {r["wa_id"]: user_tag(self.pepper, r["wa_id"]) for r in rows if r["wa_id"]}
        seen = await self._last_seen(list(tags.values()))
        now = self.clock()
        planned: list[tuple[int, OutboxEntry]] = []
        done: list[int] = []
        for row in rows:
            try:
                notice = notice_of(row)
                if notice is None:
                    done.append(row["notification_id"])
                    continue
                tag = tags[row["wa_id"]]
                last = seen.get(tag)
                # Sent again: maybe refused because the window had closed.
                in_window = last is not None and now - last < WINDOW_S and not row["tries"]
                reply = render(notice, in_window=in_window, templates=self.templates)
                news = ((notice.booking.reference, notice.kind.value),)
                cid = events.notice_cid(row["notification_id"])
                body = orjson.dumps(cloud_body(row["wa_id"], reply, callback_data(cid, news)))
                planned.append(
                    (row["notification_id"], OutboxEntry(row["wa_id"], tag, (body,), news, cid))
                )
            except Exception:  # the others still go
                # Left unrelayed, so it goes out once the bug is fixed: kept, never lost.
                log.exception("news_unrenderable", notification=row["notification_id"])
        return planned, done

    async def _last_seen(self, tags: list[str]) -> dict[str, float]:
        """When each citizen last wrote (the pipeline keeps it in the profile)."""
        if not tags:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.get(self.keys.of(tag)["profile"])
            stored = await pipe.execute()
        seen: dict[str, float] = {}
        for tag, raw in zip(tags, stored, strict=True):
            profile = Profile.decode(raw)  # unreadable: unknown, only a template may be sent
            if profile.seen is not None:
                seen[tag] = float(profile.seen)
        return seen
