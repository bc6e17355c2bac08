"""The SQL of a centre's day for the console: sessions and their roster (with a
cancelled session's citizens), the list confirmed, the supply recorded.

Check-in and cancelling are admin_repo's own (one set of locking rules); this
module only adds what the console needs around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from kmcbot.booking.reference import normalise_reference

# Sessions of a centre's day with their counts. `booked` counts the places held
# (booked, attended, missed); `waiting` those still to come.
_SESSIONS = """
SELECT s.id, s.vaccine, s.day, s.start_time, s.end_time, s.capacity, s.booked, s.status,
       s.cancel_reason, s.cancel_note, s.starts_at,
       count(b.id) FILTER (WHERE b.status = 'booked') AS waiting,
       count(b.id) FILTER (WHERE b.status = 'attended') AS attended,
       count(b.id) FILTER (WHERE b.status = 'missed') AS missed,
       count(b.id) FILTER (WHERE b.status = 'cancelled'
                           AND b.cancel_reason LIKE 'slot_cancelled:%') AS told
FROM slots s LEFT JOIN bookings b ON b.slot_id = s.id
WHERE s.centre_id = $1 AND s.day = $2
GROUP BY s.id
ORDER BY s.start_time, s.vaccine, s.id
"""

# Who to expect, who came, who missed; and a cancelled session's citizens (who
# were told). A citizen's own cancellation is not on the roster.
_ROSTER = """
SELECT b.slot_id, b.reference, b.name, b.id_type, b.id_last4, b.status, b.attended_at, b.lang,
       (b.wa_id IS NOT NULL) AS has_whatsapp, b.notice_failed_kind, b.notice_failed_code
FROM bookings b JOIN slots s ON s.id = b.slot_id
WHERE s.centre_id = $1 AND s.day = $2
  AND (b.status <> 'cancelled' OR b.cancel_reason LIKE 'slot_cancelled:%')
  AND ($3::text IS NULL
       OR b.reference = $4
       OR b.name ILIKE '%' || $3 || '%'
       OR b.id_last4 = upper($3))
ORDER BY s.start_time, s.id, b.name NULLS LAST, b.reference
"""


@dataclass(frozen=True, slots=True)
class Day:
    sessions: list[asyncpg.Record]
    people: dict[int, list[asyncpg.Record]]  # slot id -> its roster rows
    confirmed_at: object | None
    supply: dict[str, int]


def _like_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def day(pool: asyncpg.Pool, centre_id: int, on: date, query: str = "") -> Day:
    query = query.strip()[:60]
    reference = normalise_reference(query) if query else None
    async with pool.acquire() as conn:
        sessions = await conn.fetch(_SESSIONS, centre_id, on)
        rows = await conn.fetch(_ROSTER, centre_id, on, _like_safe(query) or None, reference)
        confirmed = await conn.fetchval(
            "SELECT confirmed_at FROM list_confirmations WHERE centre_id = $1 AND day = $2",
            centre_id,
            on,
        )
        supply = await conn.fetch(
            "SELECT vaccine, doses FROM centre_supply WHERE centre_id = $1 AND day = $2",
            centre_id,
            on,
        )
    people: dict[int, list[asyncpg.Record]] = {s["id"]: [] for s in sessions}
    for r in rows:
        people[r["slot_id"]].append(r)
    return Day(sessions, people, confirmed, {r["vaccine"]: r["doses"] for r in supply})


async def centre_of_booking(pool: asyncpg.Pool, reference: str) -> int | None:
    return await pool.fetchval(
        "SELECT s.centre_id FROM bookings b JOIN slots s ON s.id = b.slot_id "
        "WHERE b.reference = $1",
        reference,
    )


async def centre_of_slot(pool: asyncpg.Pool, slot_id: int) -> int | None:
    return await pool.fetchval("SELECT centre_id FROM slots WHERE id = $1", slot_id)


async def confirm_list(pool: asyncpg.Pool, centre_id: int, on: date, staff_id: int) -> int:
    """ "We have the list": each citizen booked at the centre that day (with a
    WhatsApp number) is told once. Confirming again tells only those booked since.
    Returns how many are told now."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO list_confirmations (centre_id, day, confirmed_by)
               VALUES ($1, $2, $3) ON CONFLICT (centre_id, day) DO NOTHING""",
            centre_id,
            on,
            staff_id,
        )
        return int(
            await conn.fetchval(
                """WITH told AS (
                       INSERT INTO notifications (booking_id, kind, remind_day)
                       SELECT b.id, 'on_list', s.day
                       FROM bookings b JOIN slots s ON s.id = b.slot_id
                       WHERE s.centre_id = $1 AND s.day = $2 AND s.status = 'open'
                         AND b.status = 'booked' AND b.wa_id IS NOT NULL
                       ON CONFLICT (booking_id, remind_day) WHERE kind = 'on_list' DO NOTHING
                       RETURNING 1)
                   SELECT count(*) FROM told""",
                centre_id,
                on,
            )
        )


async def record_supply(
    pool: asyncpg.Pool, centre_id: int, on: date, doses: dict[str, int], staff_id: int
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for vaccine, n in doses.items():
            await conn.execute(
                """INSERT INTO centre_supply (centre_id, day, vaccine, doses, recorded_by)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (centre_id, day, vaccine) DO UPDATE
                   SET doses = EXCLUDED.doses, recorded_by = EXCLUDED.recorded_by,
                       recorded_at = now()""",
                centre_id,
                on,
                vaccine,
                n,
                staff_id,
            )


def beyond_supply(sessions: list[asyncpg.Record], supply: dict[str, int]) -> set[int]:
    """The open sessions the recorded doses cannot cover, by start time: the first
    sessions of a vaccine take the doses, the later ones are beyond them."""
    left = dict(supply)
    beyond: set[int] = set()
    for s in sessions:
        if s["status"] != "open" or s["vaccine"] not in left:
            continue
        need = s["waiting"] + s["attended"]
        if need > left[s["vaccine"]]:
            beyond.add(s["id"])
        left[s["vaccine"]] = max(left[s["vaccine"]] - need, 0)
    return beyond
