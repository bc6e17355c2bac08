"""PostgreSQL for the staff and operator API (/admin): centres, sessions, roster, check-in.

Each change is one short transaction. A booking's status and a slot's count
only change while that slot's row is locked (`FOR UPDATE`), the same rule
repository.py follows for bookings, so a citizen's booking or cancellation
racing an operator's change waits for it instead of slipping in between.
Several slots are locked in id order so that two operators cannot deadlock.

`slots.booked` counts 'booked', 'attended' and 'missed' bookings: a check-in
keeps the place (its dose was used), so does a booking nobody came for (the
place was held all day; missed.py), and only a cancellation gives one back.

Problems are raised as `NotFound`, `Conflict` or `WrongCode` with a message
that is safe to show to the operator; the transaction rolls back with them.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

import asyncpg

from kmcbot.booking.model import IST, Vaccine
from kmcbot.devtools.data.demo import CentreRow


class AdminProblem(Exception):
    """A request the data refuses; str(exc) is the message for the operator."""


class NotFound(AdminProblem):
    pass


class Conflict(AdminProblem):
    pass


class WrongCode(AdminProblem):
    pass


@dataclass(frozen=True, slots=True)
class Cancelled:
    slots: int
    bookings: int


_CENTRE_COLUMNS = (
    "id, code, name, kind, borough, ward, address, latitude, longitude, vaccines, active"
)
_SLOT_COLUMNS = """s.id, s.centre_id, s.vaccine, s.day, s.start_time, s.end_time, s.starts_at,
    s.capacity, s.booked, s.held, s.status, s.cancel_reason,
    (SELECT count(*) FROM bookings b
     WHERE b.slot_id = s.id AND b.status = 'attended') AS attended,
    (SELECT count(*) FROM bookings b
     WHERE b.slot_id = s.id AND b.status = 'missed') AS missed"""


# ---------------------------------------------------------------- centres


async def list_centres(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(f"SELECT {_CENTRE_COLUMNS} FROM centres ORDER BY code")


async def get_centre(conn: asyncpg.Pool | asyncpg.Connection, centre_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(f"SELECT {_CENTRE_COLUMNS} FROM centres WHERE id = $1", centre_id)
    if row is None:
        raise NotFound(f"centre {centre_id} does not exist")
    return row


async def upsert_centres(
    pool: asyncpg.Pool,
    centres: Sequence[CentreRow],
    active: bool | None = None,
    max_active: int | None = None,
) -> list[tuple[asyncpg.Record, bool]]:
    """Create or update each centre by code, all or none; returns (row, created) pairs.

    `active` None keeps an existing centre's flag (a new one starts active).
    More than `max_active` active centres afterwards: Conflict, nothing written.
    """
    async with pool.acquire() as conn, conn.transaction():
        saved = await upsert_centres_on(conn, centres, active)
        if max_active is not None:
            count = await conn.fetchval("SELECT count(*) FROM centres WHERE active")
            if count > max_active:
                raise Conflict(
                    f"the city would have {count} active centres; the bot serves at most "
                    f"{max_active}"
                )
        return saved


async def upsert_centres_on(
    conn: asyncpg.Connection, centres: Sequence[CentreRow], active: bool | None = None
) -> list[tuple[asyncpg.Record, bool]]:
    """upsert_centres inside the caller's transaction (the seed command adds slots too)."""
    out = []
    for c in centres:
        row = await conn.fetchrow(
            f"""INSERT INTO centres AS t (code, name, kind, borough, ward, address, latitude,
                                          longitude, vaccines, active)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, COALESCE($10, true))
                ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                    borough = EXCLUDED.borough, ward = EXCLUDED.ward,
                    address = EXCLUDED.address, latitude = EXCLUDED.latitude,
                    longitude = EXCLUDED.longitude, vaccines = EXCLUDED.vaccines,
                    active = COALESCE($10, t.active)
                -- xmax is 0 only on a row this statement inserted.
                RETURNING {_CENTRE_COLUMNS}, (xmax = 0) AS created""",
            c.code,
            c.name,
            c.kind,
            c.borough,
            c.ward,
            c.address,
            c.latitude,
            c.longitude,
            [str(v) for v in c.vaccines],
            active,
        )
        out.append((row, bool(row["created"])))
    return out


# ---------------------------------------------------------------- slots


async def list_slots(pool: asyncpg.Pool, centre_id: int, day: date) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        await get_centre(conn, centre_id)
        return await conn.fetch(
            f"""SELECT {_SLOT_COLUMNS} FROM slots s WHERE s.centre_id = $1 AND s.day = $2
                ORDER BY s.start_time, s.vaccine, s.id""",
            centre_id,
            day,
        )


async def create_slots(
    pool: asyncpg.Pool,
    centre_ids: Sequence[int],
    vaccine: Vaccine,
    days: Sequence[date],
    times: Sequence[tuple[time, time]],
    capacity: int,
    max_open: int | None = None,
    horizon_days: int = 60,
) -> tuple[int, int]:
    """Each (centre, day, time) session; existing ones are left alone. -> (created, existing).

    More than `max_open` open sessions starting within `horizon_days` afterwards:
    Conflict, nothing written."""
    async with pool.acquire() as conn, conn.transaction():
        centres = await conn.fetch(
            "SELECT id, code, vaccines FROM centres WHERE id = ANY($1::int[])", list(centre_ids)
        )
        missing = sorted(set(centre_ids) - {r["id"] for r in centres})
        if missing:
            raise NotFound(f"centre {missing[0]} does not exist")
        for r in centres:
            if r["vaccines"] is not None and str(vaccine) not in r["vaccines"]:
                raise Conflict(
                    f"centre {r['code']} does not give {vaccine}; "
                    "add it to the centre's vaccines first"
                )
        rows = [
            (centre, day, start, end, datetime.combine(day, start, IST))
            for centre in centre_ids
            for day in days
            for start, end in times
        ]
        # One statement for the whole batch; the unique key makes a repeat a no-op.
        added = await conn.fetch(
            """INSERT INTO slots (centre_id, vaccine, day, start_time, end_time, starts_at,
                                  capacity)
               SELECT c, $1, d, st, en, at, $2
               FROM unnest($3::int[], $4::date[], $5::time[], $6::time[], $7::timestamptz[])
                    AS x(c, d, st, en, at)
               ON CONFLICT (centre_id, vaccine, day, start_time) DO NOTHING
               RETURNING id""",
            str(vaccine),
            capacity,
            *(list(column) for column in zip(*rows, strict=True)),
        )
        created = len(added)
        await reserve_for_waitlist(conn, [r["id"] for r in added], [capacity] * created)
        if max_open is not None:
            count = await conn.fetchval(
                """SELECT count(*) FROM slots WHERE status = 'open'
                   AND starts_at > now() AND starts_at < now() + make_interval(days => $1)""",
                horizon_days,
            )
            if count > max_open:
                raise Conflict(
                    f"the city would have {count} open sessions in the next {horizon_days} "
                    f"days; the bot serves at most {max_open}"
                )
    return int(created), len(rows) - int(created)


async def set_capacity(pool: asyncpg.Pool, slot_id: int, capacity: int) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        # Locked first: a booking waits for this change (or this waits for it),
        # so "booked" below is the count the new capacity must hold.
        row = await conn.fetchrow(
            "SELECT booked, held, capacity, status FROM slots WHERE id = $1 FOR UPDATE", slot_id
        )
        if row is None:
            raise NotFound(f"slot {slot_id} does not exist")
        if row["status"] != "open":
            raise Conflict(f"slot {slot_id} is cancelled")
        if capacity < row["booked"]:
            raise Conflict(
                f"slot {slot_id} already has {row['booked']} booking(s); "
                f"capacity cannot go below that (asked for {capacity})"
            )
        # Counted under the slot's lock: a slot's offers change only under it.
        live = await conn.fetchval(
            "SELECT count(*) FROM offers WHERE slot_id = $1 AND status = 'held'", slot_id
        )
        over = max(row["booked"] + row["held"] - capacity, 0)
        # Beyond the new capacity go first the places reserved for the waitlist
        # and not yet offered, then the newest offers (their Book button then
        # says "no longer available").
        unreserved = min(row["held"] - live, over)
        await conn.execute(
            """WITH over AS (
                   SELECT o.id FROM offers o WHERE o.slot_id = $1 AND o.status = 'held'
                   ORDER BY o.made_at DESC, o.id DESC LIMIT $2 FOR UPDATE),
               gone AS (UPDATE offers o SET status = 'void', ended_at = now()
                        FROM over WHERE o.id = over.id RETURNING o.id)
               UPDATE slots SET held = held - $3 - (SELECT count(*) FROM gone) WHERE id = $1""",
            slot_id,
            over - unreserved,
            unreserved,
        )
        await conn.execute("UPDATE slots SET capacity = $2 WHERE id = $1", slot_id, capacity)
        if capacity > row["capacity"]:
            await reserve_for_waitlist(conn, [slot_id], [capacity - row["capacity"]])
        return await conn.fetchrow(f"SELECT {_SLOT_COLUMNS} FROM slots s WHERE s.id = $1", slot_id)


# ---------------------------------------------------------------- the waitlist first

# Places opened in bulk (new sessions, a capacity raised) go to the waitlist
# first (issue 22, item 3): in the transaction that opens them, as many of the
# new places as there are waiting citizens they could suit are added to
# `slots.held`, the count every booking path and the availability snapshot
# already keep from the lists. A slot's held places beyond its live offers are
# such reservations; the offer run (waitlist/store.py) turns them into offers
# in the documented order and gives back the rest. The matching rules are the
# allocation's (waitlist/allocate.suits, store._ENTRIES and _PLACES): the
# vaccine, due by the session's day, the area (a borough, a circle: 10 m of
# slack so that rounding never counts a citizen out), an active centre, a
# session in the offer run's horizon. It counts more rather than fewer (a
# citizen holding an offer elsewhere, or who declined this slot, still counts):
# too many reserved only waits for the next run, seconds later.
WAITLIST_HORIZON_DAYS = 60  # the offer run's horizon (waitlist/store.py)
_KM = """2 * 6371.0 * asin(least(1.0, sqrt(
    power(sin(radians(c.latitude - w.near_lat) / 2), 2)
    + cos(radians(w.near_lat)) * cos(radians(c.latitude))
      * power(sin(radians(c.longitude - w.near_lon) / 2), 2))))"""
# Waiting citizens are counted once per centre, vaccine and day (a bulk
# release is many times of few days), and only as far as needed (LIMIT). A
# citizen takes one place: the day's sessions together reserve at most as many
# places as wait (less what they reserve already), the earliest sessions first
# (a running sum, ordered by starts_at, id), not that many in every session.
_RESERVE = f"""
WITH asked AS (
    SELECT s.id, s.centre_id, s.vaccine, s.day, s.starts_at,
           least(t.n, s.capacity - s.booked - s.held) AS n
    FROM unnest($1::bigint[], $2::int[]) AS t(id, n) JOIN slots s ON s.id = t.id
    WHERE s.status = 'open' AND s.starts_at > now()
      AND s.starts_at < now() + make_interval(days => $3)),
kept AS (  -- what each day's sessions reserve already: held beyond their live offers
    SELECT g.centre_id, g.vaccine, g.day, sum(s.held - (
               SELECT count(*) FROM offers o WHERE o.slot_id = s.id AND o.status = 'held'))
           AS reserved
    FROM (SELECT DISTINCT centre_id, vaccine, day FROM asked) AS g
    JOIN slots s ON s.centre_id = g.centre_id AND s.vaccine = g.vaccine AND s.day = g.day
                AND s.held > 0 AND s.status = 'open'
    GROUP BY 1, 2, 3),
groups AS (
    SELECT a.centre_id, a.vaccine, a.day, coalesce(max(k.reserved), 0) AS reserved,
           sum(a.n) + coalesce(max(k.reserved), 0) AS enough
    FROM asked a LEFT JOIN kept k USING (centre_id, vaccine, day)
    GROUP BY 1, 2, 3),
suited AS MATERIALIZED (  -- counted once per group, not per slot
    SELECT g.centre_id, g.vaccine, g.day, (
        SELECT count(*) FROM (
            SELECT 1 FROM waitlist w
            WHERE w.status = 'waiting' AND w.wa_id IS NOT NULL AND w.vaccine = g.vaccine
              AND w.earliest <= g.day
              AND (w.borough IS NULL OR w.borough = c.borough)
              AND (w.near_lat IS NULL
                   OR coalesce({_KM}, 0) <= coalesce(nullif(w.radius_km, 0), 5) + 0.01)
            LIMIT g.enough) AS m) - g.reserved AS n
    FROM groups g JOIN centres c ON c.id = g.centre_id AND c.active),
want AS (
    SELECT a.id, least(a.n, w.n - coalesce(sum(a.n) OVER (
               PARTITION BY a.centre_id, a.vaccine, a.day ORDER BY a.starts_at, a.id
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS n
    FROM asked a JOIN suited w USING (centre_id, vaccine, day))
UPDATE slots s SET held = s.held + want.n FROM want WHERE s.id = want.id AND want.n > 0
RETURNING s.id, want.n
"""


# Whether anyone waits for these slots' vaccine by their day: one probe of the
# index waitlist_waiting_by_vaccine (sql/016) per slot, so that a place freed
# with nobody waiting (a cancellation, most days) costs next to nothing.
_ANYONE = """
SELECT coalesce(bool_or(s.day >= (SELECT min(w.earliest) FROM waitlist w
                                  WHERE w.vaccine = s.vaccine AND w.status = 'waiting'
                                    AND w.wa_id IS NOT NULL)), false)
FROM slots s WHERE s.id = ANY($1::bigint[])
"""


async def reserve_for_waitlist(
    conn: asyncpg.Connection, slot_ids: Sequence[int], new_places: Sequence[int]
) -> int:
    """Reserve up to `new_places` of each slot (locked or created by this
    transaction) for the waiting citizens it could suit. -> places reserved."""
    if not slot_ids or not await conn.fetchval(_ANYONE, list(slot_ids)):
        return 0
    rows = await conn.fetch(_RESERVE, list(slot_ids), list(new_places), WAITLIST_HORIZON_DAYS)
    return sum(r["n"] for r in rows)


# ---------------------------------------------------------------- supply failure


async def cancel_slot(
    pool: asyncpg.Pool, slot_id: int, reason: str, note: str | None = None
) -> Cancelled:
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT true FROM slots WHERE id = $1", slot_id):
            raise NotFound(f"slot {slot_id} does not exist")
        return await cancel_locked(conn, await _lock_open(conn, "id = $1", slot_id), reason, note)


async def cancel_centre_day(
    pool: asyncpg.Pool, centre_id: int, day: date, reason: str, note: str | None = None
) -> Cancelled:
    async with pool.acquire() as conn, conn.transaction():
        await get_centre(conn, centre_id)
        ids = await _lock_open(conn, "centre_id = $1 AND day = $2", centre_id, day)
        return await cancel_locked(conn, ids, reason, note)


async def _lock_open(conn: asyncpg.Connection, where: str, *args: object) -> list[int]:
    # In id order, like every multi-slot lock here and in repository.py. A slot
    # cancelled by someone else while this waited is re-checked and skipped,
    # which makes a repeated call harmless.
    rows = await conn.fetch(
        f"SELECT id FROM slots WHERE {where} AND status = 'open' ORDER BY id FOR UPDATE", *args
    )
    return [r["id"] for r in rows]


async def cancel_locked(
    conn: asyncpg.Connection, slot_ids: list[int], reason: str, note: str | None = None
) -> Cancelled:
    """Cancel these locked slots and their booked bookings, with one notification each.

    `reason` is a code of notices.REASON_CODES (the citizen reads its text in
    their language); `note` what staff typed, kept for staff only.

    One statement: the bookings, their notifications and the slots' counts
    change together, so `booked` always equals the active bookings.
    Attended bookings stay as they are (the dose was given).
    """
    if not slot_ids:
        return Cancelled(0, 0)
    row = await conn.fetchrow(
        """WITH gone AS (
               UPDATE bookings SET status = 'cancelled', cancel_reason = 'slot_cancelled: ' || $2,
                                   updated_at = now()
               WHERE slot_id = ANY($1::bigint[]) AND status = 'booked'
               RETURNING id, slot_id),
           noted AS (
               INSERT INTO notifications (booking_id, kind)
               SELECT id, 'slot_cancelled' FROM gone),
           per_slot AS (SELECT slot_id, count(*)::int AS n FROM gone GROUP BY slot_id),
           -- Places held for the waitlist go with the session (sql/014).
           withdrawn AS (
               UPDATE offers SET status = 'void', ended_at = now()
               WHERE slot_id = ANY($1::bigint[]) AND status = 'held'),
           closed AS (
               UPDATE slots s SET status = 'cancelled', cancel_reason = $2, cancel_note = $3,
                                  booked = s.booked - COALESCE(p.n, 0), held = 0
               FROM unnest($1::bigint[]) AS t(id) LEFT JOIN per_slot p ON p.slot_id = t.id
               WHERE s.id = t.id
               RETURNING s.id)
           SELECT (SELECT count(*) FROM closed) AS slots,
                  (SELECT count(*) FROM gone) AS bookings""",
        slot_ids,
        reason,
        note,
    )
    return Cancelled(int(row["slots"]), int(row["bookings"]))


# ---------------------------------------------------------------- roster and check-in


async def roster(
    pool: asyncpg.Pool, centre_id: int, day: date
) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    """The centre and its day: one row per slot and booking that is not cancelled.

    A slot without such bookings comes once with NULL booking columns, so the
    printed page still shows the session. Cancelled bookings are left out:
    the roster is who to expect (and, for a past day, who came and who missed);
    but a session the centre cancelled keeps the citizens it had, status
    "cancelled", so the desk can see who was told (and who may still turn up).
    """
    async with pool.acquire() as conn:
        centre = await get_centre(conn, centre_id)
        rows = await conn.fetch(
            """SELECT s.id AS slot_id, s.vaccine, s.start_time, s.end_time, s.capacity, s.booked,
                      s.status AS slot_status, s.cancel_reason,
                      b.reference, b.name, b.id_type, b.id_last4, b.status, b.attended_at,
                      b.notice_failed_kind, b.notice_failed_code, b.notice_failed_at
               FROM slots s
               LEFT JOIN bookings b ON b.slot_id = s.id
                 AND (b.status <> 'cancelled'
                      OR (s.status = 'cancelled' AND b.cancel_reason LIKE 'slot_cancelled:%'))
               WHERE s.centre_id = $1 AND s.day = $2
               ORDER BY s.start_time, s.vaccine, s.id, b.name NULLS LAST, b.reference""",
            centre_id,
            day,
        )
    return centre, rows


async def check_in(pool: asyncpg.Pool, reference: str, code: str, today: date) -> asyncpg.Record:
    """Mark a booking attended. `today` is the centre's date (IST)."""
    async with pool.acquire() as conn, conn.transaction():
        slot_id = await conn.fetchval(
            "SELECT slot_id FROM bookings WHERE reference = $1", reference
        )
        if slot_id is None:
            raise NotFound(f"no booking {reference}")
        # Slot before booking, the order every status change takes (see the module doc).
        # A move may have taken the booking elsewhere meanwhile: slot_id is checked below.
        await conn.execute("SELECT 1 FROM slots WHERE id = $1 FOR UPDATE", slot_id)
        row = await conn.fetchrow(
            """SELECT b.id, b.slot_id, b.code, b.status, b.attended_at, s.day
               FROM bookings b JOIN slots s ON s.id = b.slot_id
               WHERE b.reference = $1 FOR UPDATE OF b""",
            reference,
        )
        if row["slot_id"] != slot_id:
            raise Conflict(f"booking {reference} was just moved; try again")
        # Constant time, and before anything else about the booking is revealed.
        if not hmac.compare_digest(row["code"].encode(), code.encode()):
            raise WrongCode(f"wrong code for booking {reference}")
        if row["status"] == "cancelled":
            raise Conflict(f"booking {reference} is cancelled")
        if row["status"] == "missed":
            raise Conflict(
                f"booking {reference} was missed: its day {row['day'].isoformat()} is over"
            )
        if row["status"] == "attended":
            at = row["attended_at"].astimezone(IST) if row["attended_at"] else None
            when = at.strftime("%Y-%m-%d %H:%M IST") if at else "an earlier visit"
            raise Conflict(f"booking {reference} already checked in at {when}")
        if row["day"] != today:
            raise Conflict(
                f"booking {reference} is for {row['day'].isoformat()}, not today "
                f"({today.isoformat()})"
            )
        return await conn.fetchrow(
            """UPDATE bookings SET status = 'attended', attended_at = now(), updated_at = now()
               WHERE id = $1 RETURNING reference, name, status, attended_at, slot_id,
               (SELECT c.code FROM slots s JOIN centres c ON c.id = s.centre_id
                WHERE s.id = bookings.slot_id) AS centre_code""",
            row["id"],
        )
