"""Bookings in PostgreSQL: each change is one short transaction.

A booking is one call of the SQL function kmcbot_book (sql/004), a single
round trip. There, as in the moves and cancellations here, the slot row is
locked with `SELECT ... FOR UPDATE` before its count is checked and changed,
so two citizens can never take the last place together; the schema's CHECK
and unique indexes catch anything this code gets wrong.
Locks are always taken in one order (the citizen's number, then slots by id)
so that crossing reschedules cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import asyncpg

from kmcbot.booking import rules
from kmcbot.booking.admin_repo import reserve_for_waitlist
from kmcbot.booking.availability import Availability
from kmcbot.booking.commands import (
    Book,
    Booked,
    BookingsListed,
    Cancelled,
    Forgotten,
    Moved,
    Refused,
    Waiting,
)
from kmcbot.booking.model import (
    BookingStatus,
    BookingView,
    Centre,
    Interval,
    Refusal,
    Slot,
    Vaccine,
)
from kmcbot.booking.reference import new_code, new_reference

HORIZON_DAYS = 60  # how far ahead the availability snapshot looks
_VACCINES = {v.value: v for v in Vaccine}
# What an erased booking's source_message_id becomes (a NOT NULL column): a wamid
# encodes the sender's number, so it goes; a walk-in's desk marker ('walkin:' and
# a form key, nothing personal) stays, as the relay reads it (outbox/relay.py).
# Unique per row, and a wamid never starts with 'erased:' (jobs/purge.py, sql/019).
# Written for `UPDATE bookings b`.
ERASED_MESSAGE_ID = """CASE WHEN b.source_message_id LIKE 'walkin:%' THEN b.source_message_id
                            ELSE 'erased:' || b.id END"""

VIEW_COLUMNS = """
b.reference, b.code, b.status, b.slot_id, s.day, s.start_time, s.end_time,
       b.vaccine, b.first_dose, b.id_type, b.id_last4, b.id_hash, b.name, b.lang,
       c.id AS centre_id, c.code AS centre_code, c.name AS centre_name, c.address,
       c.ward, c.latitude, c.longitude
"""
VIEW_JOINS = "JOIN slots s ON s.id = b.slot_id JOIN centres c ON c.id = s.centre_id"
# A booking as view_of reads it: SELECT VIEW_COLUMNS FROM bookings b VIEW_JOINS.
VIEW_SQL = f"SELECT {VIEW_COLUMNS} FROM bookings b {VIEW_JOINS}\n"

# A number's waiting entries (kmcbot/waitlist/), each with its place in its
# vaccine's line: earliest due date, then who joined first (waitlist/store.py).
_WAITING = """
SELECT w.id, w.vaccine, w.name, w.borough, w.near_lat IS NOT NULL AS near,
       (SELECT count(*) FROM waitlist o
         WHERE o.status = 'waiting' AND o.vaccine = w.vaccine
           AND (o.earliest, o.joined_at, o.id) <= (w.earliest, w.joined_at, w.id)) AS position
FROM waitlist w WHERE w.wa_id = $1 AND w.status = 'waiting'
"""
# "My bookings" in one round trip: one row of the waiting entries as arrays,
# joined to the bookings (none: one row whose booking columns are NULL).
_LIST = f"""
SELECT v.*, q.*
FROM (SELECT array_agg(w.id ORDER BY w.id) AS waiting_ids,
             array_agg(w.vaccine ORDER BY w.id) AS waiting_vaccines,
             array_agg(w.name ORDER BY w.id) AS waiting_names,
             array_agg(w.position ORDER BY w.id) AS waiting_positions,
             array_agg(w.borough ORDER BY w.id) AS waiting_boroughs,
             array_agg(w.near ORDER BY w.id) AS waiting_near
      FROM ({_WAITING}) w) q
LEFT JOIN (SELECT {VIEW_COLUMNS}, s.starts_at FROM bookings b {VIEW_JOINS}
           WHERE b.wa_id = $1 AND (b.status = 'booked' OR b.reference = $2)) v ON true
ORDER BY v.starts_at
"""

# Every check and write of a booking in one round trip (sql/004_book_function.sql).
_BOOK = "SELECT * FROM kmcbot_book($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"


def view_of(row: asyncpg.Record) -> BookingView:
    return BookingView(
        reference=row["reference"],
        code=row["code"],
        status=BookingStatus(row["status"]),
        centre=Centre(
            id=row["centre_id"],
            code=row["centre_code"],
            name=row["centre_name"],
            address=row["address"],
            ward=row["ward"],
            latitude=row["latitude"],
            longitude=row["longitude"],
        ),
        slot_id=row["slot_id"],
        day=row["day"],
        start=row["start_time"],
        end=row["end_time"],
        vaccine=Vaccine(row["vaccine"]),
        first_dose=row["first_dose"],
        id_type=row["id_type"],
        id_last4=row["id_last4"] or "",
        name=row["name"] or "",
        lang=row["lang"],
        id_hash=row["id_hash"] or "",
    )


async def load_availability(
    pool: asyncpg.Pool, now: datetime, previous: Availability | None = None
) -> Availability:
    """Open slots with free places that have not started, and their centres.

    Given the `previous` snapshot of the same database, its slot objects are kept
    where the places left are the same (a slot's centre, vaccine, day and times
    never change): most of a city's slots, from one second to the next.
    """
    async with pool.acquire() as conn:
        centres = await conn.fetch(
            "SELECT id, code, name, address, ward, latitude, longitude, borough"
            " FROM centres WHERE active"
        )
        # By (day, start, centre): starts_at is day + start in Kolkata time (no daylight
        # saving), and PostgreSQL sorts one timestamp faster than a date and a time.
        slots = await conn.fetch(
            """SELECT s.id, s.centre_id, s.vaccine, s.day, s.start_time, s.end_time,
                      s.capacity - s.booked - s.held AS free
               FROM slots s JOIN centres c ON c.id = s.centre_id AND c.active
               WHERE s.status = 'open' AND s.booked + s.held < s.capacity
                 AND s.starts_at > $1 AND s.starts_at < $1 + make_interval(days => $2)
               ORDER BY s.starts_at, s.centre_id""",
            now,
            HORIZON_DAYS,
        )
        intervals = await conn.fetch("SELECT vaccine, min_days, max_days FROM dose_intervals")
    return Availability(
        centres={r["id"]: Centre(**dict(r)) for r in centres},
        slots=tuple(_slot(r, previous.by_id if previous else {}) for r in slots),
        intervals={
            Vaccine(r["vaccine"]): Interval(r["min_days"], r["max_days"]) for r in intervals
        },
    )


def _slot(r: asyncpg.Record, known: Mapping[int, Slot]) -> Slot:
    """Every slot, every second, in every process: the columns by position, the vaccine
    by a dict (Vaccine(name) costs as much as the rest of the row), and an unchanged
    slot not made again (a frozen dataclass's __init__ is the dearest part)."""
    same = known.get(r[0])
    if same is not None and same.free == r[6]:
        return same
    return Slot(r[0], r[1], _VACCINES[r[2]], r[3], r[4], r[5], r[6])


async def _lock_number(conn: asyncpg.Connection, wa_id: str) -> None:
    # Serialises one number's bookings so that "at most 4" (rules.py) holds under races.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", wa_id)


async def _check_slot(
    conn: asyncpg.Connection, slot_id: int, vaccine: str, first_dose: date
) -> Refusal | None:
    """A move's slot rules (rules.slot_refusal); kmcbot_book (sql/004) checks a booking."""
    row = await conn.fetchrow(
        """SELECT s.status, s.vaccine, s.day, s.capacity, s.booked + s.held AS taken,
                  s.starts_at <= now() AS started,
                  d.min_days, d.max_days
           FROM slots s JOIN dose_intervals d ON d.vaccine = s.vaccine
           WHERE s.id = $1 FOR UPDATE OF s""",
        slot_id,
    )
    slot = None
    if row is not None:
        slot = rules.SlotState(
            open=row["status"] == "open",
            started=row["started"],
            vaccine=Vaccine(row["vaccine"]),
            day=row["day"],
            interval=Interval(row["min_days"], row["max_days"]),
            full=row["taken"] >= row["capacity"],  # a place held for the waitlist is taken
        )
    return rules.slot_refusal(slot, Vaccine(vaccine), first_dose)


async def _status(conn: asyncpg.Connection, booking_id: int) -> str:
    return await conn.fetchval("SELECT status FROM bookings WHERE id = $1 FOR UPDATE", booking_id)


async def _fetch_view(conn: asyncpg.Connection, where: str, *args: object) -> BookingView | None:
    row = await conn.fetchrow(VIEW_SQL + " WHERE " + where, *args)
    return view_of(row) if row else None


async def book(pool: asyncpg.Pool, wa_id: str, effect: Book) -> Booked | Refused:
    for _ in range(3):  # a new reference is drawn if one ever collides
        try:
            return await _book_once(pool, wa_id, effect)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "bookings_reference_key":
                continue
            if exc.constraint_name == "bookings_one_per_id":
                return Refused(Refusal.ID_ALREADY_BOOKED)
            if exc.constraint_name == "bookings_source_message":
                # The same message raced itself (a concurrent redelivery): report the
                # winner, found by number and id (an id is unique per sender only).
                async with pool.acquire() as conn:
                    view = await _fetch_view(
                        conn,
                        "b.wa_id = $1 AND b.source_message_id = $2",
                        wa_id,
                        effect.message_id,
                    )
                if view is not None:
                    return Booked(view)
            raise
    raise RuntimeError("could not draw a unique booking reference")


async def _book_once(pool: asyncpg.Pool, wa_id: str, effect: Book) -> Booked | Refused:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            _BOOK,
            new_reference(),
            new_code(),
            effect.slot_id,
            wa_id,
            effect.id_type,
            effect.id_hash,
            effect.id_last4,
            effect.name,
            effect.vaccine,
            effect.first_dose,
            effect.lang,
            effect.message_id,
            rules.MAX_ACTIVE_PER_NUMBER,
        )
    assert row is not None
    if row["outcome"] != "booked":
        return Refused(Refusal(row["outcome"]))
    return Booked(view_of(row))


async def list_bookings(pool: asyncpg.Pool, wa_id: str, also: str | None = None) -> BookingsListed:
    """The number's active bookings, and `also` (a reference of its own) in any
    status; and its waiting entries (the waitlist), in the same round trip."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(_LIST, wa_id, also)
    first = rows[0]  # always one row at least: the waiting entries' (maybe empty)
    waiting = zip(
        first["waiting_ids"] or (),
        first["waiting_vaccines"] or (),
        first["waiting_names"] or (),
        first["waiting_positions"] or (),
        first["waiting_boroughs"] or (),
        first["waiting_near"] or (),
        strict=True,
    )
    return BookingsListed(
        tuple(view_of(r) for r in rows if r["reference"] is not None),
        tuple(
            Waiting(i, Vaccine(v), name or "", int(p), borough, bool(near))
            for i, v, name, p, borough, near in waiting
        ),
    )


# A place freed one at a time (a cancellation, a booking moved away or erased)
# goes to those who waited (issue 22, item 2/3): in the transaction that frees
# it, under the slot's lock, it is reserved for the waitlist if a waiting citizen
# could take it (admin_repo.reserve_for_waitlist, as for places opened in bulk),
# so the offer run offers it before a list or a booking can take it. Nobody
# waiting for it: it is free at once, for one indexed query.


async def cancel(pool: asyncpg.Pool, wa_id: str, reference: str) -> Cancelled | Refused:
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        row = await conn.fetchrow(
            "SELECT id, slot_id FROM bookings WHERE reference = $1 AND wa_id = $2",
            reference,
            wa_id,
        )
        if row is None:
            return Refused(Refusal.NOT_FOUND)
        started = await conn.fetchval(
            "SELECT starts_at <= now() FROM slots WHERE id = $1 FOR UPDATE", row["slot_id"]
        )
        # The status is read only now, under the slot's lock: an operator's session
        # cancel may have changed it while we waited, and must not be undone twice.
        if await _status(conn, row["id"]) != "booked":
            return Refused(Refusal.NOT_ACTIVE)
        if started:
            return Refused(Refusal.BOOKING_STARTED)
        await conn.execute(
            "UPDATE bookings SET status = 'cancelled', updated_at = now(), "
            "cancel_reason = 'citizen' WHERE id = $1",
            row["id"],
        )
        await conn.execute("UPDATE slots SET booked = booked - 1 WHERE id = $1", row["slot_id"])
        await reserve_for_waitlist(conn, [row["slot_id"]], [1])  # a place freed (above cancel)
        await conn.execute(
            "INSERT INTO notifications (booking_id, kind) VALUES ($1, 'cancelled')", row["id"]
        )
    return Cancelled(reference)


async def move(
    pool: asyncpg.Pool, wa_id: str, reference: str, slot_id: int, message_id: str
) -> Moved | Refused:
    """Move a booking to another slot: one transaction, so never two bookings and never none."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        row = await conn.fetchrow(
            """SELECT id, slot_id, status, vaccine, first_dose FROM bookings
               WHERE reference = $1 AND wa_id = $2""",
            reference,
            wa_id,
        )
        if row is None:
            return Refused(Refusal.NOT_FOUND)
        if row["status"] != "booked":
            return Refused(Refusal.NOT_ACTIVE)
        old_slot = row["slot_id"]
        if old_slot == slot_id:  # a redelivered move: already done
            view = await _fetch_view(conn, "b.id = $1", row["id"])
            assert view is not None
            return Moved(view)
        # Both slots are locked in id order, so crossing moves cannot deadlock.
        await conn.execute(
            "SELECT id FROM slots WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
            sorted((old_slot, slot_id)),
        )
        if await _status(conn, row["id"]) != "booked":  # re-read under the slot locks
            return Refused(Refusal.NOT_ACTIVE)
        if await conn.fetchval("SELECT starts_at <= now() FROM slots WHERE id = $1", old_slot):
            return Refused(Refusal.BOOKING_STARTED)
        refusal = await _check_slot(conn, slot_id, row["vaccine"], row["first_dose"])
        if refusal is not None:
            return Refused(refusal)
        await conn.execute("UPDATE slots SET booked = booked - 1 WHERE id = $1", old_slot)
        await conn.execute("UPDATE slots SET booked = booked + 1 WHERE id = $1", slot_id)
        await reserve_for_waitlist(conn, [old_slot], [1])  # a place freed (above cancel)
        await conn.execute(
            "UPDATE bookings SET slot_id = $2, updated_at = now() WHERE id = $1", row["id"], slot_id
        )
        await conn.execute(
            "INSERT INTO notifications (booking_id, kind) VALUES ($1, 'moved')", row["id"]
        )
        view = await _fetch_view(conn, "b.id = $1", row["id"])
        assert view is not None
        return Moved(view)


async def forget(pool: asyncpg.Pool, wa_id: str) -> Forgotten:
    """Erase a number's personal data, as the citizen asked.

    Bookings whose slot has not started are cancelled (their places go back);
    every row of this number is then anonymised: it stays only as a count for
    the centre, with no number, name, ID or message id (a wamid holds the number)
    left on it.
    """
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        # Slots first, in id order, as every other change does: no deadlock with a
        # session cancel running at the same moment.
        await conn.execute(
            """SELECT s.id FROM slots s JOIN bookings b ON b.slot_id = s.id
               WHERE b.wa_id = $1 AND b.status = 'booked' ORDER BY s.id FOR UPDATE OF s""",
            wa_id,
        )
        freed = await conn.fetch(
            """UPDATE bookings b SET status = 'cancelled', cancel_reason = 'erased',
                                     updated_at = now()
               FROM slots s
               WHERE b.slot_id = s.id AND b.wa_id = $1 AND b.status = 'booked'
                 AND s.starts_at > now()
               RETURNING b.slot_id""",
            wa_id,
        )
        for slot_id in sorted(r["slot_id"] for r in freed):
            await conn.execute("UPDATE slots SET booked = booked - 1 WHERE id = $1", slot_id)
        await reserve_for_waitlist(conn, [r["slot_id"] for r in freed], [1] * len(freed))
        await conn.execute(
            f"""UPDATE bookings b SET wa_id = NULL, id_hash = NULL, id_last4 = NULL, name = NULL,
                                      source_message_id = {ERASED_MESSAGE_ID},
                                      erased_at = now(), updated_at = now()
                WHERE b.wa_id = $1""",
            wa_id,
        )
        # The number's user ids (or this user id) go too: see sql/012.
        await conn.execute("DELETE FROM citizen_ids WHERE wa_id = $1 OR user_id = $1", wa_id)
    return Forgotten()
