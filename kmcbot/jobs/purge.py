"""Erase the personal data of old bookings (`kmcbot purge --days N`).

A booking whose slot ended more than N days ago loses what identifies the
citizen: the name, the WhatsApp number, the keyed hash of the ID number, its
last 4 characters and the id of the message that booked (a WhatsApp message id
encodes the number; a walk-in's desk marker holds nothing personal and stays),
as "delete my data" does for one citizen. The row
itself stays, with its status, slot, vaccine and dates, so every count and
report (booked per slot, attended per centre) stays right.

A booking the centre checked in (attended) keeps the keyed hash of its ID: it
is the record that this ID had its second dose, which the one-booking-per-ID
rule needs (without it the same ID could book again). The hash cannot be
turned back into the number without KMCBOT_ID_PEPPER; everything else goes.

Safe to run at any time and again: one UPDATE, and rows already erased are
not touched twice (nor counted twice).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from kmcbot.booking.repository import ERASED_MESSAGE_ID

# The slot's end: its start (a timestamptz) plus its length (end - start, both local times).
# A message id is a wamid, which encodes the number, until replaced (ERASED_MESSAGE_ID).
_PURGE = f"""
UPDATE bookings b
SET name = NULL, wa_id = NULL, id_last4 = NULL,
    id_hash = CASE WHEN b.status = 'attended' THEN b.id_hash END,
    source_message_id = {ERASED_MESSAGE_ID},
    erased_at = coalesce(b.erased_at, now()), updated_at = now()
FROM slots s
WHERE s.id = b.slot_id
  AND s.starts_at + (s.end_time - s.start_time) < coalesce($2, now()) - make_interval(days => $1)
  AND (b.name IS NOT NULL OR b.wa_id IS NOT NULL OR b.id_last4 IS NOT NULL
       OR (b.id_hash IS NOT NULL AND b.status <> 'attended')
       OR b.source_message_id NOT LIKE ALL (ARRAY['walkin:%', 'erased:%']))
"""  # noqa: S608 (built of constants, nothing typed)


async def purge(
    db: asyncpg.Pool | asyncpg.Connection | str, days: int, now: datetime | None = None
) -> int:
    """Erase the personal data of bookings whose slot ended more than `days`
    days before `now` (the database's clock if None); how many were erased."""
    if days < 0:
        raise ValueError("days must be 0 or more")
    if isinstance(db, str):
        conn = await asyncpg.connect(db, statement_cache_size=0)  # PgBouncer-safe
        try:
            async with conn.transaction():
                # Behind PgBouncer the role carries kmcbot's 3 s statement_timeout
                # (README, "Several machines"); one purge of many rows may take longer.
                await conn.execute("SET LOCAL statement_timeout = 0")
                return await purge(conn, days, now)
        finally:
            await conn.close()
    status = await db.execute(_PURGE, days, now)
    return int(status.split()[-1])  # "UPDATE <n>"
