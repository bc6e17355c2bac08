"""The waitlist in PostgreSQL (sql/014): join, leave, the offer run, take, decline.

A place offered is held (`slots.held`), so the ordinary booking path and the
lists cannot take it; taking an offer releases the hold and books in the same
transaction, through kmcbot_book, with every rule of a booking. Places held
beyond a slot's live offers are reserved for the waitlist (places opened in
bulk, booking/admin_repo.reserve_for_waitlist; an offer that ended): the offer
run offers them or gives them back.

Locks are taken in one order everywhere: the citizen's number (advisory), a
waitlist entry, the slot, the offer. The offer run takes its entries and slots
with SKIP LOCKED (it never waits, so it is never part of a deadlock) and runs
one at a time across processes (a transaction-level advisory lock, so the
documented order is kept whole); a run that finds the lock taken does nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import asyncpg
import structlog

from kmcbot import metrics
from kmcbot.booking import rules
from kmcbot.booking.admin_repo import WAITLIST_HORIZON_DAYS
from kmcbot.booking.commands import (
    Booked,
    Joined,
    JoinWaitlist,
    OfferDeclined,
    Refused,
    WaitlistLeft,
)
from kmcbot.booking.model import Refusal
from kmcbot.booking.reference import new_code, new_reference
from kmcbot.booking.repository import view_of
from kmcbot.waitlist.allocate import Area, Entry, Live, NewOffer, Place, Plan, allocate

log = structlog.get_logger()

MAX_WAITING_PER_NUMBER = rules.MAX_ACTIVE_PER_NUMBER  # family members, as for bookings
RADIUS_KM = 5.0  # a shared location: places within this distance
HORIZON_DAYS = WAITLIST_HORIZON_DAYS  # places offered: sessions in the next 60 days
# One offer run at a time, city-wide: pg_try_advisory_xact_lock(RUN_LOCK).
RUN_LOCK = 0x6B6D_6377_6169_74  # "kmcwait"


async def _lock_number(conn: asyncpg.Connection, wa_id: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", wa_id)


_POSITION = """
SELECT count(*) FROM waitlist o
WHERE o.status = 'waiting' AND o.vaccine = $1 AND (o.earliest, o.joined_at, o.id) <= ($2, $3, $4)
"""


async def join(
    pool: asyncpg.Pool, wa_id: str, effect: JoinWaitlist, *, user: str = "", message_id: str = ""
) -> Joined | Refused:
    """One waiting entry per ID, at most MAX_WAITING_PER_NUMBER per number. The
    entry this message made already (a retried turn) is answered as joined."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        same = await conn.fetchrow(
            "SELECT id, vaccine, earliest, joined_at, wa_id, joined_by FROM waitlist"
            " WHERE id_type = $1 AND id_hash = $2 AND status = 'waiting'",
            effect.id_type,
            effect.id_hash,
        )
        if same is not None:
            if message_id and (same["wa_id"], same["joined_by"]) == (wa_id, message_id):
                position = await conn.fetchval(
                    _POSITION, same["vaccine"], same["earliest"], same["joined_at"], same["id"]
                )
                return Joined(int(position))
            return Refused(Refusal.ALREADY_WAITING)
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM bookings WHERE id_type = $1 AND id_hash = $2"
            " AND status IN ('booked', 'attended'))",
            effect.id_type,
            effect.id_hash,
        ):
            return Refused(Refusal.ID_ALREADY_BOOKED)
        waiting = await conn.fetchval(
            "SELECT count(*) FROM waitlist WHERE wa_id = $1 AND status = 'waiting'", wa_id
        )
        if waiting >= MAX_WAITING_PER_NUMBER:
            return Refused(Refusal.WAITLIST_LIMIT)
        near = effect.near
        try:
            row = await conn.fetchrow(
                """INSERT INTO waitlist (wa_id, id_type, id_hash, id_last4, name, vaccine,
                                         first_dose, earliest, lang, near_lat, near_lon, radius_km,
                                         borough, joined_by)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                   RETURNING id, vaccine, earliest, joined_at""",
                wa_id,
                effect.id_type,
                effect.id_hash,
                effect.id_last4,
                effect.name,
                effect.vaccine.value,
                effect.first_dose,
                effect.earliest,
                effect.lang,
                near[0] if near else None,
                near[1] if near else None,
                RADIUS_KM if near else None,
                None if near else effect.borough,  # one area: the circle, else the borough
                message_id or None,
            )
        except asyncpg.UniqueViolationError:  # the same ID joined from another number
            return Refused(Refusal.ALREADY_WAITING)
        position = await conn.fetchval(
            _POSITION, row["vaccine"], row["earliest"], row["joined_at"], row["id"]
        )
    log.info(
        "waitlist_joined",
        entry=row["id"],
        vaccine=row["vaccine"],
        lang=effect.lang,
        position=int(position),
        near=near is not None,
        borough=None if near else effect.borough,
        user=user,
    )
    return Joined(int(position))


async def _end_offers(
    conn: asyncpg.Connection, where: str, status: str, *args: object
) -> tuple[Ended, ...]:
    """End the live offers `where` picks: their slots first (in id order), then the
    offers. Each place stays held, now reserved for the waitlist: the next offer
    run (woken by the slot's change) passes it on, or gives it back to the lists
    if nobody waiting can take it. The offers ended."""
    await conn.execute(
        f"""WITH locked AS (
                SELECT s.id FROM slots s WHERE s.id IN (
                    SELECT o.slot_id FROM offers o WHERE o.status = 'held' AND {where})
                ORDER BY s.id FOR UPDATE)
            UPDATE slots s SET held = s.held FROM locked WHERE s.id = locked.id""",
        *args,
    )
    ended = await conn.fetch(
        f"""UPDATE offers o SET status = '{status}', ended_at = now()
            WHERE o.status = 'held' AND {where} RETURNING o.id, o.slot_id, o.wa_id""",
        *args,
    )
    return tuple(Ended(r["id"], r["slot_id"], r["wa_id"]) for r in ended)


async def leave(
    pool: asyncpg.Pool, wa_id: str, entry_id: int | None, *, user: str = "", message_id: str = ""
) -> WaitlistLeft:
    """Leave one entry (or all of the number's: "stop"); their live offers pass on.
    Nothing left to leave: the entries this message left already (a retried turn)."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        rows = await conn.fetch(
            "SELECT id FROM waitlist WHERE wa_id = $1 AND status = 'waiting'"
            " AND ($2::bigint IS NULL OR id = $2) ORDER BY id FOR UPDATE",
            wa_id,
            entry_id,
        )
        ids = [r["id"] for r in rows]
        if not ids and message_id:
            left = await conn.fetchval(
                "SELECT count(*) FROM waitlist WHERE wa_id = $1 AND left_by = $2"
                " AND ($3::bigint IS NULL OR id = $3)",
                wa_id,
                message_id,
                entry_id,
            )
            return WaitlistLeft(int(left))
        if ids:
            for e in await _end_offers(conn, "o.entry_id = ANY($1::bigint[])", "void", ids):
                metrics.OFFERS.labels("void").inc()
                log.info("offer_withdrawn", offer=e.offer_id, slot=e.slot_id, user=user)
            await conn.execute(
                "UPDATE waitlist SET status = 'left', ended_at = now(), left_by = $2"
                " WHERE id = ANY($1::bigint[])",
                ids,
                message_id or None,
            )
    for entry in ids:
        log.info("waitlist_left", entry=entry, how="all" if entry_id is None else "one", user=user)
    return WaitlistLeft(len(ids))


async def forget(pool: asyncpg.Pool, wa_id: str) -> None:
    """ "Delete my data": the number's entries leave and lose every personal field;
    live offers pass on. Run after repository.forget (a redelivery runs both again)."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        await _forget(conn, wa_id)


async def _forget(conn: asyncpg.Connection, wa_id: str) -> None:
    ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM waitlist WHERE wa_id = $1 ORDER BY id FOR UPDATE", wa_id
        )
    ]
    if ids:
        await _end_offers(conn, "o.entry_id = ANY($1::bigint[])", "void", ids)
        await conn.execute(
            """UPDATE waitlist SET wa_id = NULL, id_hash = NULL, id_last4 = NULL, name = NULL,
                   near_lat = NULL, near_lon = NULL, joined_by = NULL, left_by = NULL,
                   status = CASE WHEN status = 'waiting' THEN 'left' ELSE status END,
                   ended_at = coalesce(ended_at, now())
               WHERE id = ANY($1::bigint[])""",
            ids,
        )
        await conn.execute(
            "UPDATE offers SET wa_id = NULL, declined_by = NULL WHERE entry_id = ANY($1::bigint[])",
            ids,
        )


async def _live_id(conn: asyncpg.Connection, wa_id: str, offer_id: int | None) -> int | None:
    if offer_id is not None:
        return offer_id
    return await conn.fetchval(
        "SELECT id FROM offers WHERE wa_id = $1 AND status = 'held' AND expires_at > now()",
        wa_id,
    )


async def decline(
    pool: asyncpg.Pool, wa_id: str, offer_id: int | None, *, user: str = "", message_id: str = ""
) -> OfferDeclined:
    """ "Not now": the place passes on at the next run; she stays on the waitlist.
    No live offer: the one this message declined already (a retried turn) is found."""
    typed = offer_id is None
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        found = await _live_id(conn, wa_id, offer_id)
        ended: tuple[Ended, ...] = ()
        if found is not None:
            ended = await _end_offers(conn, "o.id = $1 AND o.wa_id = $2", "declined", found, wa_id)
        if not ended:
            again = bool(message_id) and await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM offers WHERE wa_id = $1 AND declined_by = $2"
                " AND ($3::bigint IS NULL OR id = $3))",
                wa_id,
                message_id,
                offer_id,
            )
            return OfferDeclined(again, typed)
        if message_id:
            await conn.execute(
                "UPDATE offers SET declined_by = $2 WHERE id = $1", found, message_id
            )
    for e in ended:
        metrics.OFFERS.labels("declined").inc()
        log.info("offer_declined", offer=e.offer_id, slot=e.slot_id, user=user)
    return OfferDeclined(True, typed)


_BOOK = "SELECT * FROM kmcbot_book($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"


async def take(
    pool: asyncpg.Pool, wa_id: str, offer_id: int | None, message_id: str, *, user: str = ""
) -> Booked | Refused:
    """Book the place the offer holds: the hold released and the booking made in one
    transaction (kmcbot_book, every rule of a booking). A redelivered Book finds the
    booking its message made."""
    for _ in range(3):  # a new reference if one ever collides
        try:
            return await _take_once(pool, wa_id, offer_id, message_id, user)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "bookings_reference_key":
                continue
            if exc.constraint_name == "bookings_one_per_id":
                return Refused(Refusal.ID_ALREADY_BOOKED)
            raise
    raise RuntimeError("could not draw a unique booking reference")


async def _take_once(
    pool: asyncpg.Pool, wa_id: str, offer_id: int | None, message_id: str, user: str
) -> Booked | Refused:
    async with pool.acquire() as conn, conn.transaction():
        await _lock_number(conn, wa_id)
        made = await conn.fetchrow(
            """SELECT b.id FROM bookings b
               WHERE b.wa_id = $1 AND b.source_message_id = $2""",
            wa_id,
            message_id,
        )
        if made is not None:  # a redelivery: the booking this message made
            row = await conn.fetchrow(_BOOK, *_book_args(None, wa_id, message_id))
            return Booked(view_of(row))
        found = await _live_id(conn, wa_id, offer_id)
        if found is None:
            return Refused(Refusal.NO_OFFER if offer_id is None else Refusal.OFFER_GONE)
        placed = await conn.fetchrow("SELECT slot_id, entry_id FROM offers WHERE id = $1", found)
        if placed is None:
            return Refused(Refusal.OFFER_GONE)
        slot_id = placed["slot_id"]
        # The entry before the slot, as everywhere (kmcbot_book locks the ID's entry
        # first too: a booking of this ID from another number would deadlock).
        await conn.execute("SELECT id FROM waitlist WHERE id = $1 FOR UPDATE", placed["entry_id"])
        await conn.execute("SELECT id FROM slots WHERE id = $1 FOR UPDATE", slot_id)
        offer = await conn.fetchrow(
            """SELECT o.id, o.slot_id, o.entry_id, w.id_type, w.id_hash, w.id_last4, w.name,
                      w.vaccine, w.first_dose, w.lang, now() - w.joined_at AS waited
               FROM offers o JOIN waitlist w ON w.id = o.entry_id
               WHERE o.id = $1 AND o.wa_id = $2 AND o.status = 'held' AND o.expires_at > now()
               FOR UPDATE OF o""",
            found,
            wa_id,
        )
        if offer is None:
            return Refused(Refusal.OFFER_GONE)
        await conn.execute("UPDATE slots SET held = held - 1 WHERE id = $1", slot_id)
        row = await conn.fetchrow(_BOOK, *_book_args(offer, wa_id, message_id))
        assert row is not None
        if row["outcome"] != "booked":
            # The offer is void; its place stays held, reserved for the waitlist,
            # and the next run passes it on (or gives it back to the lists).
            await conn.execute(
                "UPDATE offers SET status = 'void', ended_at = now() WHERE id = $1", found
            )
            await conn.execute("UPDATE slots SET held = held + 1 WHERE id = $1", slot_id)
            # The entry stays (a place elsewhere may still suit), unless the ID has
            # a booking now: then it has its place.
            if row["outcome"] == "id_already_booked":
                await conn.execute(
                    "UPDATE waitlist SET status = 'booked', ended_at = now() WHERE id = $1",
                    offer["entry_id"],
                )
            metrics.OFFERS.labels("void").inc()
            log.info("offer_refused", offer=found, slot=slot_id, reason=row["outcome"], user=user)
            return Refused(Refusal(row["outcome"]))
        await conn.execute(
            """UPDATE offers SET status = 'taken', ended_at = now(),
                   booking_id = (SELECT id FROM bookings WHERE reference = $2)
               WHERE id = $1""",
            found,
            row["reference"],
        )
        await conn.execute(
            "UPDATE waitlist SET status = 'booked', ended_at = now() WHERE id = $1",
            offer["entry_id"],
        )
    waited = offer["waited"].total_seconds()
    metrics.OFFERS.labels("taken").inc()
    metrics.TIME_TO_PLACE.observe(waited)
    log.info(
        "offer_taken",
        offer=found,
        slot=slot_id,
        centre=row["centre_code"],
        vaccine=row["vaccine"],
        lang=row["lang"],
        reference=row["reference"],
        waited_s=round(waited),
        user=user,
    )
    return Booked(view_of(row))


def _book_args(offer: asyncpg.Record | None, wa_id: str, message_id: str) -> list[object]:
    """kmcbot_book's arguments; with no offer only the message matters (a redelivery)."""
    if offer is None:
        return [
            new_reference(),
            new_code(),
            0,
            wa_id,
            "",
            "",
            "",
            "",
            "covishield",
            date(2021, 1, 16),
            "en",
            message_id,
            rules.MAX_ACTIVE_PER_NUMBER,
        ]
    return [
        new_reference(),
        new_code(),
        offer["slot_id"],
        wa_id,
        offer["id_type"],
        offer["id_hash"],
        offer["id_last4"],
        offer["name"],
        offer["vaccine"],
        offer["first_dose"],
        offer["lang"],
        message_id,
        rules.MAX_ACTIVE_PER_NUMBER,
    ]


# ---------------------------------------------------------------- the offer run


@dataclass(frozen=True, slots=True)
class Ended:
    offer_id: int
    slot_id: int
    wa_id: str | None


@dataclass(frozen=True, slots=True)
class RunResult:
    made: tuple[int, ...]  # new offer ids
    expired: tuple[Ended, ...]
    ran: bool  # False: another process was running (this run did nothing)


# The free places of the vaccines someone waits for, from the day the first of
# them falls due ($3, $4: per vaccine).
_PLACES = """
SELECT s.id, s.vaccine, s.day, s.starts_at, s.capacity - s.booked - s.held AS free,
       c.borough, c.latitude, c.longitude
FROM slots s JOIN centres c ON c.id = s.centre_id AND c.active
JOIN unnest($3::text[], $4::date[]) AS v(vaccine, earliest)
  ON v.vaccine = s.vaccine AND s.day >= v.earliest
WHERE s.status = 'open' AND s.booked + s.held < s.capacity
  AND s.starts_at > $1 AND s.starts_at < $1 + make_interval(days => $2)
"""
# Who waits, per vaccine: the earliest due date (one index probe each).
_WAITING = """
SELECT d.vaccine, (SELECT min(w.earliest) FROM waitlist w
                   WHERE w.vaccine = d.vaccine AND w.status = 'waiting'
                     AND w.wa_id IS NOT NULL) AS earliest
FROM dose_intervals d
"""
_ENTRIES = """
SELECT w.id, w.wa_id, w.vaccine, w.earliest, w.joined_at, w.borough, w.near_lat, w.near_lon,
       w.radius_km
FROM waitlist w
WHERE w.status = 'waiting' AND w.wa_id IS NOT NULL AND w.vaccine = ANY($1::text[])
  AND w.earliest <= $2
"""


async def run_offers(pool: asyncpg.Pool, now: datetime, hold: timedelta) -> RunResult:
    """Expire the holds that ran out, then offer the free places to waiting
    citizens in the documented order (allocate.py): one transaction.

    The common cases cost little: nobody waiting (for the vaccines of the free
    places) reads no place and no entry; the allocation runs in a thread, off
    the event loop, while this transaction holds its locks."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RUN_LOCK):
            return RunResult((), (), False)
        expired = await _end_offers(conn, "o.expires_at <= $1", "expired", now)
        # An entry booked another way meanwhile (the chat, a walk-in: kmcbot_book ends
        # the ID's wait) keeps no offer: its place passes on in this run.
        await _end_offers(
            conn,
            "EXISTS (SELECT 1 FROM waitlist w WHERE w.id = o.entry_id AND w.status <> 'waiting')",
            "void",
        )
        await _release_reserved(conn)
        waiting = [r for r in await conn.fetch(_WAITING) if r["earliest"] is not None]
        if not waiting:
            return RunResult((), expired, True)
        places = await conn.fetch(
            _PLACES,
            now,
            HORIZON_DAYS,
            [r["vaccine"] for r in waiting],
            [r["earliest"] for r in waiting],
        )
        if not places:
            return RunResult((), expired, True)
        vaccines = sorted({p["vaccine"] for p in places})
        last_day = max(p["day"] for p in places)
        entries = await conn.fetch(_ENTRIES, vaccines, last_day)
        if not entries:
            return RunResult((), expired, True)
        live = await conn.fetch(
            "SELECT id, entry_id, wa_id, slot_id, expires_at FROM offers WHERE status = 'held'"
        )
        before = await conn.fetch(
            "SELECT DISTINCT entry_id, slot_id FROM offers"
            " WHERE status IN ('declined', 'expired', 'void') AND entry_id = ANY($1::bigint[])",
            [e["id"] for e in entries],
        )
        # ~1 s for 100,000 waiting: in a thread, so the loop keeps serving turns.
        plan = await asyncio.to_thread(_plan, entries, places, live, before, now, hold)
        made = await _make(conn, plan.make)
    return RunResult(made, expired, True)


def _plan(
    entries: Sequence[asyncpg.Record],
    places: Sequence[asyncpg.Record],
    live: Sequence[asyncpg.Record],
    before: Sequence[asyncpg.Record],
    now: datetime,
    hold: timedelta,
) -> Plan:
    return allocate(
        [_entry(r) for r in entries],
        [_place(r) for r in places],
        [
            Live(r["id"], r["entry_id"], r["wa_id"] or "", r["slot_id"], r["expires_at"])
            for r in live
        ],
        now,
        hold,
        frozenset((r["entry_id"], r["slot_id"]) for r in before),
    )


async def _release_reserved(conn: asyncpg.Connection) -> None:
    """Give back every place held beyond its slot's live offers (reserved when it
    opened, or an offer that ended): the allocation below offers them again, in
    the same transaction, to whoever they suit; the rest reach the lists when it
    commits. Slots locked by someone else keep theirs until the next run. Only
    slots holding places are read (the partial index slots_holding, sql/016)."""
    found = await conn.fetch(
        """SELECT s.id FROM slots s
           WHERE s.held > 0 AND s.held > (SELECT count(*) FROM offers o
                                          WHERE o.slot_id = s.id AND o.status = 'held')
           ORDER BY s.id"""
    )
    if not found:
        return
    locked = await conn.fetch(
        "SELECT id FROM slots WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE SKIP LOCKED",
        [r["id"] for r in found],
    )
    # A new statement, after the locks: it sees every offer committed before them,
    # and no slot's offers change while its row is locked.
    await conn.execute(
        """UPDATE slots s SET held = (SELECT count(*) FROM offers o
                                      WHERE o.slot_id = s.id AND o.status = 'held')
           WHERE s.id = ANY($1::bigint[])""",
        [r["id"] for r in locked],
    )


async def _make(conn: asyncpg.Connection, offers: Sequence[NewOffer]) -> tuple[int, ...]:
    """Insert the planned offers whose entry and slot this run can lock now (SKIP
    LOCKED: a citizen mid-leave, a slot mid-booking wait for the next run), and hold
    their places; the conditional UPDATE and the CHECK keep booked + held <= capacity."""
    if not offers:
        return ()
    entries = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM waitlist WHERE id = ANY($1::bigint[]) AND status = 'waiting'"
            " ORDER BY id FOR UPDATE SKIP LOCKED",
            [o.entry_id for o in offers],
        )
    }
    wanted: dict[int, int] = {}
    for o in offers:
        if o.entry_id in entries:
            wanted[o.slot_id] = wanted.get(o.slot_id, 0) + 1
    if not wanted:
        return ()
    ids = sorted(wanted)
    held = {
        r["id"]
        for r in await conn.fetch(
            """WITH locked AS (SELECT id FROM slots WHERE id = ANY($1::bigint[])
                               ORDER BY id FOR UPDATE SKIP LOCKED)
               UPDATE slots s SET held = s.held + t.n
               FROM unnest($1::bigint[], $2::int[]) AS t(id, n), locked
               WHERE s.id = t.id AND locked.id = t.id AND s.status = 'open'
                 AND s.booked + s.held + t.n <= s.capacity
               RETURNING s.id""",
            ids,
            [wanted[i] for i in ids],
        )
    }
    chosen = [o for o in offers if o.entry_id in entries and o.slot_id in held]
    if not chosen:
        return ()
    rows = await conn.fetch(
        """INSERT INTO offers (entry_id, wa_id, slot_id, expires_at)
           SELECT t.entry_id, w.wa_id, t.slot_id, t.expires_at
           FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[])
                AS t(entry_id, slot_id, expires_at)
           JOIN waitlist w ON w.id = t.entry_id
           RETURNING id""",
        [o.entry_id for o in chosen],
        [o.slot_id for o in chosen],
        [o.expires_at for o in chosen],
    )
    return tuple(r["id"] for r in rows)


def _entry(r: asyncpg.Record) -> Entry:
    area = None
    if r["borough"] is not None or r["near_lat"] is not None:
        near = (r["near_lat"], r["near_lon"]) if r["near_lat"] is not None else None
        area = Area(r["borough"], near, r["radius_km"] or RADIUS_KM)
    return Entry(r["id"], r["wa_id"], r["vaccine"], r["earliest"], r["joined_at"], area)


def _place(r: asyncpg.Record) -> Place:
    return Place(
        r["id"],
        r["vaccine"],
        r["day"],
        r["starts_at"],
        r["free"],
        r["borough"],
        r["latitude"],
        r["longitude"],
    )


# ---------------------------------------------------------------- for the sender


@dataclass(frozen=True, slots=True)
class OfferNotice:
    """An offer to tell its citizen about (the job renders and queues it)."""

    offer_id: int
    wa_id: str
    lang: str
    vaccine: str
    centre_code: str
    centre_name: str
    address: str
    day: date
    start: time
    end: time
    expires_at: datetime
    slot_id: int


async def unqueued(conn: asyncpg.Connection, batch: int) -> list[OfferNotice]:
    rows = await conn.fetch(
        """SELECT o.id, o.wa_id, w.lang, s.vaccine, c.code, c.name, c.address, s.day,
                  s.start_time, s.end_time, o.expires_at, s.id AS slot_id
           FROM offers o JOIN waitlist w ON w.id = o.entry_id
           JOIN slots s ON s.id = o.slot_id JOIN centres c ON c.id = s.centre_id
           WHERE o.queued_at IS NULL AND o.status = 'held' AND o.wa_id IS NOT NULL
             AND w.status = 'waiting'
           ORDER BY o.id LIMIT $1
           FOR UPDATE OF o SKIP LOCKED""",
        batch,
    )
    return [OfferNotice(*r.values()) for r in rows]
