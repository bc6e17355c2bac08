"""Check-in by QR code: the phone's camera on the console's scan page reads the
citizen's QR (static/scan.js with the bundled jsQR), and the payload is posted
here. A token that does not match counts as a wrong code for that reference
(the same limit, log line, audit and metric as a typed one)."""

from __future__ import annotations

import structlog
from aiohttp import web

from kmcbot.booking import admin_repo
from kmcbot.booking.model import kolkata_today
from kmcbot.observe import events
from kmcbot.staff import audit, desk, qr
from kmcbot.staff.limits import Limiter
from kmcbot.staff.pages import WRONG_CODES, _back, _centre, _conflict_key, day_page
from kmcbot.staff.web import SESSION, address, render, signed_in, t
from kmcbot.web.keys import PG, REDIS, SETTINGS

log = structlog.get_logger()


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/c/{code}/scan", scan_page, name="scan")
    r.add_post("/c/{code}/checkin-qr", check_in_by_qr, name="checkin_qr")


async def scan_page(request: web.Request) -> web.Response:
    return render(request, "scan.html", centre=await _centre(request))


async def check_in_by_qr(request: web.Request) -> web.Response:
    centre = await _centre(request)
    form = await request.post()
    pool = request.config_dict[PG]
    staff = signed_in(request)
    where = address(request)
    today = kolkata_today()

    async def again(status: int, key: str, **params: object) -> web.Response:
        return await day_page(request, status=status, message=t(request, key, **params))

    scanned = qr.parse(str(form.get("payload", ""))[:200])
    if scanned is None:
        return await again(400, "scan.not_ours")
    reference, given = scanned
    if await desk.centre_of_booking(pool, reference) != centre["id"]:
        return await again(404, "checkin.not_here", reference=reference)
    limiter = Limiter(request.config_dict[REDIS], request.config_dict[SETTINGS].redis_prefix)
    if await limiter.checkin_blocked(reference):
        await audit.record(
            pool, staff, "checkin_limited", where, centre_id=centre["id"], reference=reference
        )
        return await again(429, "checkin.too_many", reference=reference)
    code = await pool.fetchval("SELECT code FROM bookings WHERE reference = $1", reference)
    if not qr.verify(request.config_dict[SETTINGS].id_pepper, reference, code, given):
        WRONG_CODES.inc()
        tries = await limiter.fail("code", reference)
        log.warning("staff_checkin_wrong_qr", tries=tries)
        await audit.record(
            pool,
            staff,
            "checkin_wrong_code",
            where,
            centre_id=centre["id"],
            reference=reference,
            by="qr",
        )
        return await again(403, "scan.wrong", reference=reference)
    try:
        row = await admin_repo.check_in(pool, reference, code, today)
    except admin_repo.Conflict:
        key = await _conflict_key(pool, reference, today)
        return await again(409, key, reference=reference, date="")
    await limiter.clear("code", reference)
    await audit.record(
        pool, staff, "checkin", where, centre_id=centre["id"], reference=reference, by="qr"
    )
    events.booking_checked_in(
        reference=reference, centre=centre["code"], slot=row["slot_id"], via="qr"
    )
    request[SESSION]["flash"] = t(
        request, "day.checked", reference=reference, name=row["name"] or ""
    )
    raise web.HTTPSeeOther(_back(centre, today))
