"""The waitlist for operators: the queue in its order, and each offer's history.

Nothing personal on the page: entries are numbers with their vaccine, due date,
area and position; offers name the centre and session and what became of them.
"""

from __future__ import annotations

from aiohttp import web

from kmcbot.booking.model import IST
from kmcbot.staff.web import operator_only, render
from kmcbot.web.keys import PG

SHOWN = 200  # the head of the queue, and the latest offers

_QUEUE = """
SELECT w.id, w.vaccine, w.earliest, w.joined_at, w.borough, w.near_lat IS NOT NULL AS near,
       row_number() OVER (PARTITION BY w.vaccine ORDER BY w.earliest, w.joined_at, w.id)
           AS position,
       (SELECT count(*) FROM offers o WHERE o.entry_id = w.id) AS offers,
       (SELECT o.expires_at FROM offers o WHERE o.entry_id = w.id AND o.status = 'held')
           AS holding_until
FROM waitlist w WHERE w.status = 'waiting'
ORDER BY w.earliest, w.joined_at, w.id
LIMIT $1
"""
_TOTALS = """
SELECT vaccine, count(*) AS waiting FROM waitlist WHERE status = 'waiting'
GROUP BY vaccine ORDER BY vaccine
"""
_OFFERS = """
SELECT o.id, o.entry_id, o.status, o.made_at, o.expires_at, o.ended_at, o.queued_at,
       s.day, s.start_time, s.end_time, s.vaccine, c.code AS centre, b.reference
FROM offers o JOIN slots s ON s.id = o.slot_id JOIN centres c ON c.id = s.centre_id
LEFT JOIN bookings b ON b.id = o.booking_id
WHERE $2::bigint IS NULL OR o.entry_id = $2
ORDER BY o.id DESC
LIMIT $1
"""


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/waitlist", waitlist_page, name="waitlist")


async def waitlist_page(request: web.Request) -> web.Response:
    operator_only(request)
    entry = request.query.get("entry", "")
    entry_id = int(entry) if entry.isdigit() and len(entry) < 19 else None
    pool = request.config_dict[PG]
    async with pool.acquire() as conn:
        queue = await conn.fetch(_QUEUE, SHOWN)
        totals = await conn.fetch(_TOTALS)
        offers = await conn.fetch(_OFFERS, SHOWN, entry_id)
    return render(
        request,
        "waitlist.html",
        queue=queue,
        totals=totals,
        offers=offers,
        entry=entry_id,
        ist=IST,
    )
