"""Which business-scoped user id (BSUID) goes with which phone number (sql/012).

A message that carries both teaches the pair; a later message with only the
BSUID (the citizen adopted a username and hid the number) is then the same
citizen, known by the number. WhatsApp's "number changed" and "user id
changed" system messages move a citizen's bookings and pairs to the new id.

Every message since April 2026 carries a BSUID, so the pairs a process has
seen recently are kept in memory: a message costs a database round trip only
when it teaches something new or its number is hidden.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import asyncpg

from kmcbot.whatsapp.identity import is_bsuid

CACHE_SIZE = 50_000
# Another process may move a pair (a changed number); its news reaches this
# process's memory within this many seconds.
CACHE_TTL_S = 60.0


class Identities:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._known: OrderedDict[str, tuple[str, float]] = OrderedDict()  # BSUID -> number

    async def citizen(self, wa_id: str, user_id: str | None) -> str:
        """Who sent a message from `wa_id` (a number, or the BSUID when the number
        was hidden) carrying `user_id`: the number when known, else the BSUID.
        Reads only: the pipeline needs it before the duplicate check (the citizen's
        keys depend on it); a number is its own answer."""
        if user_id is None or not is_bsuid(wa_id):
            return wa_id
        number = self._cached(user_id)
        if number is None:
            number = await self.pool.fetchval(
                "SELECT wa_id FROM citizen_ids WHERE user_id = $1", user_id
            )
            if number is not None:
                self._remember(user_id, number)
        return number or wa_id

    async def learn(self, wa_id: str, user_id: str | None) -> None:
        """A message that shows both the number and the BSUID teaches the pair.
        Called after the duplicate check: a redelivered message costs no write,
        and an old one cannot undo a pair that moved since (a changed number)."""
        if user_id is None or is_bsuid(wa_id) or self._cached(user_id) == wa_id:
            return
        await self.pool.execute(
            """INSERT INTO citizen_ids (user_id, wa_id) VALUES ($1, $2)
               ON CONFLICT (user_id) DO UPDATE SET wa_id = $2, seen_at = now()""",
            user_id,
            wa_id,
        )
        self._remember(user_id, wa_id)

    async def changed(
        self, citizen: str, old_user_id: str | None, new_number: str | None, new_user_id: str | None
    ) -> str:
        """WhatsApp says `citizen`'s number or user id changed: their bookings and
        pairs move to the new id, which is returned (`citizen` if it stays)."""
        if new_number is not None:
            new = new_number
        elif new_user_id is not None and is_bsuid(citizen):
            new = new_user_id
        else:
            new = citizen
        async with self.pool.acquire() as conn, conn.transaction():
            # The citizens' booking lock (repository._lock_number), in one order.
            for key in sorted({citizen, new}):
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
            if new != citizen:
                await conn.execute("UPDATE bookings SET wa_id = $2 WHERE wa_id = $1", citizen, new)
                await conn.execute(
                    "UPDATE citizen_ids SET wa_id = $2 WHERE wa_id = $1", citizen, new
                )
            if old_user_id is not None and new_user_id is not None and old_user_id != new_user_id:
                await conn.execute("DELETE FROM citizen_ids WHERE user_id = $1", old_user_id)
            if new_user_id is not None and not is_bsuid(new):
                await conn.execute(
                    """INSERT INTO citizen_ids (user_id, wa_id) VALUES ($1, $2)
                       ON CONFLICT (user_id) DO UPDATE SET wa_id = $2, seen_at = now()""",
                    new_user_id,
                    new,
                )
        self.forget(citizen)
        if old_user_id is not None:
            self._known.pop(old_user_id, None)
        return new

    def forget(self, citizen: str) -> None:
        """Drop what this process remembers of `citizen` (erased, or moved)."""
        self._known.pop(citizen, None)
        for user_id in [u for u, (n, _) in self._known.items() if n == citizen]:
            del self._known[user_id]

    def _cached(self, user_id: str) -> str | None:
        hit = self._known.get(user_id)
        if hit is None or time.monotonic() - hit[1] > CACHE_TTL_S:
            return None
        return hit[0]

    def _remember(self, user_id: str, number: str) -> None:
        self._known[user_id] = (number, time.monotonic())
        self._known.move_to_end(user_id)
        while len(self._known) > CACHE_SIZE:
            self._known.popitem(last=False)
