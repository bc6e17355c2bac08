"""The city's day for operators: bookings, check-ins and no-shows per centre and
per hour, with bar charts drawn here as SVG (no chart library, no script)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from kmcbot.booking.model import kolkata_today
from kmcbot.staff.web import operator_only, render
from kmcbot.web.keys import PG

# No-shows: missed (after the day), or still booked once the session has ended.
_PER_CENTRE = """
SELECT c.code, c.name,
       count(b.id) FILTER (WHERE b.status IN ('booked', 'attended', 'missed')) AS booked,
       count(b.id) FILTER (WHERE b.status = 'attended') AS attended,
       count(b.id) FILTER (WHERE b.status = 'missed'
                           OR (b.status = 'booked'
                               AND s.starts_at + (s.end_time - s.start_time) < now()))
           AS no_shows
FROM slots s JOIN centres c ON c.id = s.centre_id
LEFT JOIN bookings b ON b.slot_id = s.id
WHERE s.day = $1
GROUP BY c.id ORDER BY booked DESC, c.code
"""
_PER_HOUR = """
SELECT h AS hour,
       (SELECT count(*) FROM bookings b JOIN slots s ON s.id = b.slot_id
        WHERE s.day = $1 AND extract(hour FROM s.start_time) = h
          AND b.status IN ('booked', 'attended', 'missed')) AS booked,
       (SELECT count(*) FROM bookings b
        WHERE b.status = 'attended'
          AND (b.attended_at AT TIME ZONE 'Asia/Kolkata')::date = $1
          AND extract(hour FROM b.attended_at AT TIME ZONE 'Asia/Kolkata') = h) AS attended
FROM generate_series(7, 19) AS h
"""

WIDTH, BAR, GAP, LABEL = 640, 18, 6, 150


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class Chart:
    """Horizontal bars, two series per row (booked, then checked in)."""

    rows: list[tuple[Bar, Bar]]
    height: int
    scale_max: int


def chart(rows: list[tuple[str, int, int]]) -> Chart:
    """(label, booked, attended) rows -> bar geometry scaled to the largest value."""
    top = max([b for _, b, _ in rows] + [a for _, _, a in rows] + [1])
    span = WIDTH - LABEL - 40
    out = []
    for n, (label, booked, attended) in enumerate(rows):
        y = n * (2 * BAR + GAP)
        out.append(
            (
                Bar(label, booked, y, round(span * booked / top)),
                Bar(label, attended, y + BAR, round(span * attended / top)),
            )
        )
    return Chart(out, max(len(rows), 1) * (2 * BAR + GAP), top)


async def dashboard(request: web.Request) -> web.Response:
    operator_only(request)
    today = kolkata_today()
    async with request.config_dict[PG].acquire() as conn:
        centres = await conn.fetch(_PER_CENTRE, today)
        hours = await conn.fetch(_PER_HOUR, today)
    totals = {k: sum(r[k] for r in centres) for k in ("booked", "attended", "no_shows")}
    return render(
        request,
        "dashboard.html",
        day=today,
        centres=centres,
        totals=totals,
        by_centre=chart([(r["code"], r["booked"], r["attended"]) for r in centres[:20]]),
        by_hour=chart([(f"{r['hour']:02d}:00", r["booked"], r["attended"]) for r in hours]),
        width=WIDTH,
        label_width=LABEL,
        bar=BAR,
    )
