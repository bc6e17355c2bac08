"""Delivery as WhatsApp reports it: status webhooks (sent, delivered, read,
failed with an error code) matched to the replies and notices kmcbot sent.

Each body kmcbot sends carries `biz_opaque_callback_data` (outbox/entry.py's
callback_data: the correlation id, and the booking news the message carries),
which WhatsApp hands back in that message's status webhooks, so such a status
needs no lookup to be matched. A status without it (WhatsApp may leave it off;
a tester posts the documented shape, with the message id alone) is matched by
its id: for each message with booking news WhatsApp accepted, the sender kept
the callback data under a keyed hash of the wamid for SENT_NEWS_TTL_S
(outbox/acks.py, storage/keys.sent_key), looked up here (SentNews); replies
without news are not kept, so a status of one is only counted.

Every status is counted (`kmcbot_deliveries_total{status,code}`), matched or
not. Log lines, so that the logs stay readable at a thousand messages a
second: a notice's delivered, read and failed (`notice_*`, per booking), a
reply's delivered (`reply_delivered`, info) and failed (`reply_failed`,
warning); a reply's "sent" and "read" and every unmatched status are only
counted. A failed message that carried booking news marks its booking in
PostgreSQL (sql/015: the staff console's roster and the admin roster show it)
and is counted (`kmcbot_notices_failed_total{kind,code}`); a later message
of the same kind for that booking delivered clears the mark. A relayed notice
that failed with 131047 (the 24-hour window had closed: it went as free text)
is made "not accepted" again, so the relay sends it once more, as the approved
template, when it next looks (outbox/relay.py: RESEND_S, at most MAX_TRIES).

A POST's statuses are recorded all or nothing (the writes first, then the
counts and lines) and only after its messages are stored (web/webhook.py), so
WhatsApp's redelivery after a 503 counts them once.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Sequence

import asyncpg
import structlog

from kmcbot import metrics
from kmcbot.messages import Status
from kmcbot.observe.events import Event
from kmcbot.outbox.entry import News, read_callback
from kmcbot.storage.keys import Keys, sent_key
from kmcbot.storage.scripts import lua
from kmcbot.storage.sessions import Commands

log = structlog.get_logger()

_REFERENCE = re.compile(r"[A-Z0-9-]{1,20}")
KINDS = frozenset({"booked", "moved", "cancelled", "slot_cancelled", "reminder", "on_list"})
_NOTICE_EVENTS = {
    "delivered": Event.NOTICE_DELIVERED,
    "read": Event.NOTICE_READ,
    "failed": Event.NOTICE_FAILED,
}

_MARK_FAILED = """
UPDATE bookings b SET notice_failed_kind = t.kind, notice_failed_code = t.code,
       notice_failed_at = now()
FROM unnest($1::text[], $2::text[], $3::int[]) AS t(reference, kind, code)
WHERE b.reference = t.reference
"""
# 131047: free text outside the 24-hour window; the template would have gone.
WINDOW_CLOSED = 131047
_SEND_AGAIN = """
UPDATE notifications SET accepted_at = NULL
WHERE id = ANY($1::bigint[]) AND queued_entry IS NOT NULL
"""
_CLEAR = """
UPDATE bookings b SET notice_failed_kind = NULL, notice_failed_code = NULL,
       notice_failed_at = NULL
FROM unnest($1::text[], $2::text[]) AS t(reference, kind)
WHERE b.reference = t.reference AND b.notice_failed_kind = t.kind
"""


class SentNews:
    """The callback data the sender kept of the messages with booking news it sent,
    by their wamid (outbox/acks.py); read only for statuses that come without it."""

    def __init__(self, commands: Commands, keys: Keys, pepper: bytes) -> None:
        self._recall = commands.register_script(lua("recall"))
        self.keys = keys
        self.pepper = pepper

    async def recall(self, message_ids: Sequence[str]) -> dict[str, str]:
        """message id: its callback data, for those kept; one script per shard."""
        by_slot: dict[str, dict[str, str]] = defaultdict(dict)
        for message_id in message_ids:
            key = sent_key(self.keys.prefix, self.keys.shards, self.pepper, message_id)
            by_slot[key.partition("}")[0]][key] = message_id
        answers = await asyncio.gather(
            *(self._recall(keys=list(keys), args=[]) for keys in by_slot.values())
        )
        found: dict[str, str] = {}
        for keys, values in zip(by_slot.values(), answers, strict=True):
            for message_id, value in zip(keys.values(), values, strict=True):
                if value is not None:
                    found[message_id] = value.decode() if isinstance(value, bytes) else value
        return found


def _code(status: Status) -> str:
    return str(status.error_codes[0]) if status.error_codes else ""


def _news(news: Sequence[News]) -> list[News]:
    """Only what kmcbot can have written: the callback comes from outside."""
    return [(r, k) for r, k in news if _REFERENCE.fullmatch(r) and k in KINDS]


async def record(
    pool: asyncpg.Pool, statuses: Sequence[Status], sent: SentNews | None = None
) -> None:
    """Count, log and (for failed news) mark one webhook POST's statuses; those
    without callback data matched by their message id through `sent`.

    All or nothing, so that WhatsApp's redelivery after a failure here counts
    them once: the writes go first, in one transaction, and only once they are
    committed is anything counted or logged."""
    failed: list[tuple[str, str, int]] = []
    delivered: list[News] = []
    again: list[int] = []
    lines: list[tuple[bool, str, dict[str, str | int]]] = []  # (a warning?, event, fields)
    counted: list[tuple[str, str]] = []  # kind and code of each failed notice
    unnamed = {s.message_id for s in statuses if not s.callback}
    kept = await sent.recall(sorted(unnamed)) if unnamed and sent is not None else {}
    for status in statuses:
        code = _code(status)
        callback = status.callback or kept.get(status.message_id, "")
        if not callback:
            continue  # not ours to match (a reply without news, sent by hand, or long ago)
        cid, carried = read_callback(callback)
        news = _news(carried)
        if cid.startswith("n"):
            notice = _NOTICE_EVENTS.get(status.status)
            for reference, kind in news if notice else ():
                fields: dict[str, str | int] = {"reference": reference, "kind": kind, "cid": cid}
                if notice is Event.NOTICE_FAILED:
                    lines.append((True, notice, {**fields, "code": code}))
                elif notice is not None:
                    lines.append((False, notice, fields))
        elif status.status == "delivered":
            lines.append((False, Event.REPLY_DELIVERED, {"cid": cid}))
        elif status.status == "failed":
            lines.append((True, Event.REPLY_FAILED, {"cid": cid, "code": code, "news": len(news)}))
        if status.status == "failed":
            row = cid[1:]
            relayed = cid.startswith("n") and row.isascii() and row.isdigit() and len(row) < 18
            if relayed and code == str(WINDOW_CLOSED):
                again.append(int(row))
            failed += [(reference, kind, int(code) if code else 0) for reference, kind in news]
            counted += [(kind, code) for _, kind in news]
        elif status.status in ("delivered", "read"):
            delivered += news
    await _write(pool, failed, again, delivered)
    for status in statuses:
        metrics.DELIVERIES.labels(status.status, _code(status)).inc()
    for kind, code in counted:
        metrics.NOTICES_FAILED.labels(kind, code).inc()
    for warning, line, fields in lines:
        (log.warning if warning else log.info)(line, **fields)


async def _write(
    pool: asyncpg.Pool, failed: list[tuple[str, str, int]], again: list[int], delivered: list[News]
) -> None:
    """The marks, the resends and the clearings of one POST, in one transaction."""
    writes: list[tuple[str, tuple[object, ...]]] = []
    if failed:
        writes.append((_MARK_FAILED, ([f[0] for f in failed], [f[1] for f in failed],
                                      [f[2] for f in failed])))  # fmt: skip
    if again:
        writes.append((_SEND_AGAIN, (again,)))
    if delivered:
        writes.append((_CLEAR, ([d[0] for d in delivered], [d[1] for d in delivered])))
    if len(writes) == 1:  # nearly always: no transaction's round trips
        await pool.execute(writes[0][0], *writes[0][1])
    elif writes:
        async with pool.acquire() as conn, conn.transaction():
            for query, args in writes:
                await conn.execute(query, *args)
