"""A centre's pages: its day (sessions, roster, search), check-in by code, the
printable roster, "we have the list", the supply and cancelling a session."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from itertools import groupby

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import Counter

from kmcbot.booking import admin_repo
from kmcbot.booking.model import IST, Vaccine, kolkata_today
from kmcbot.booking.reference import normalise_reference
from kmcbot.dialogue.notices import REASON_CODES
from kmcbot.observe import events
from kmcbot.staff import audit, desk
from kmcbot.staff.limits import Limiter
from kmcbot.staff.web import SESSION, address, forbid_unless, render, signed_in, t
from kmcbot.web import roster
from kmcbot.web.keys import PG, REDIS, SETTINGS, wake_offers
from kmcbot.whatsapp.text import to_ascii_digits

log = structlog.get_logger()

WRONG_CODES = Counter(
    "kmcbot_staff_checkin_wrong_codes_total", "Wrong check-in codes typed at the staff console"
)
_CODE = re.compile(r"[0-9]{4}")
MAX_DOSES = 100_000
MAX_NOTE = 200


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/c/{code}/", day_page, name="day")
    r.add_post("/c/{code}/checkin", check_in, name="checkin")
    r.add_get("/c/{code}/print", print_roster, name="print")
    r.add_post("/c/{code}/confirm", confirm_list, name="confirm")
    r.add_post("/c/{code}/supply", save_supply, name="supply")
    r.add_post("/c/{code}/cancel", cancel_session, name="cancel")


async def _centre(request: web.Request) -> asyncpg.Record:
    """The centre of the URL, if the signed-in account may act there (else 404/403)."""
    row = await request.config_dict[PG].fetchrow(
        "SELECT id, code, name, address FROM centres WHERE code = $1",
        request.match_info["code"][:40],
    )
    if row is None:
        raise web.HTTPNotFound()
    forbid_unless(request, row["id"])
    return row


def _day(value: str | None) -> date:
    today = kolkata_today()
    if value in (None, "", "today"):
        return today
    if value == "tomorrow":
        return today + timedelta(days=1)
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise web.HTTPNotFound() from None


def _back(centre: asyncpg.Record, day: date, query: str = "") -> str:
    where = f"/staff/c/{centre['code']}/?day={day.isoformat()}"
    return where + (f"&q={query}" if query else "")


async def day_page(request: web.Request, *, status: int = 200, message: str = "") -> web.Response:
    centre = await _centre(request)
    on = _day(request.query.get("day"))
    query = request.query.get("q", "")
    today = kolkata_today()
    data = await desk.day(request.config_dict[PG], centre["id"], on, query)
    return render(
        request,
        "day.html",
        status=status,
        centre=centre,
        day=on,
        today=today,
        tomorrow=today + timedelta(days=1),
        data=data,
        query=query,
        beyond=desk.beyond_supply(data.sessions, data.supply),
        vaccines=sorted({s["vaccine"] for s in data.sessions}),
        reasons=REASON_CODES,
        message=message,
        error=status >= 400,
        ist=IST,
    )


async def _flash_back(request: web.Request, message: str, to: str) -> web.Response:
    request[SESSION]["flash"] = message
    raise web.HTTPSeeOther(to)


# ---------------------------------------------------------------- check-in


async def check_in(request: web.Request) -> web.Response:
    centre = await _centre(request)
    staff = signed_in(request)
    form = await request.post()
    pool = request.config_dict[PG]
    where = address(request)
    today = kolkata_today()
    reference = normalise_reference(str(form.get("reference", ""))[:40])

    async def again(status: int, key: str, **params: object) -> web.Response:
        return await day_page(request, status=status, message=t(request, key, **params))

    if reference is None:
        return await again(400, "checkin.bad_reference")
    code = to_ascii_digits(str(form.get("code", "")).strip())
    if not _CODE.fullmatch(code):
        return await again(400, "checkin.bad_code")
    # Not at this centre (or no such booking): the same answer, and nothing about it.
    if await desk.centre_of_booking(pool, reference) != centre["id"]:
        return await again(404, "checkin.not_here", reference=reference)
    limiter = Limiter(request.config_dict[REDIS], request.config_dict[SETTINGS].redis_prefix)
    if await limiter.checkin_blocked(reference):
        await audit.record(
            pool, staff, "checkin_limited", where, centre_id=centre["id"], reference=reference
        )
        return await again(429, "checkin.too_many", reference=reference)
    try:
        row = await admin_repo.check_in(pool, reference, code, today)
    except admin_repo.WrongCode:
        WRONG_CODES.inc()
        tries = await limiter.fail("code", reference)
        # Logged and audited without the code typed.
        log.warning("staff_checkin_wrong_code", tries=tries)
        await audit.record(
            pool, staff, "checkin_wrong_code", where, centre_id=centre["id"], reference=reference
        )
        return await again(403, "checkin.wrong_code", reference=reference)
    except admin_repo.Conflict:
        return await again(
            409,
            await _conflict_key(pool, reference, today),
            reference=reference,
            date=await _booking_day(pool, reference),
        )
    await limiter.clear("code", reference)
    await audit.record(pool, staff, "checkin", where, centre_id=centre["id"], reference=reference)
    events.booking_checked_in(
        reference=reference, centre=centre["code"], slot=row["slot_id"], via="desk"
    )
    message = t(request, "day.checked", reference=reference, name=row["name"] or "")
    return await _flash_back(request, message, _back(centre, today))


async def _booking_day(pool: asyncpg.Pool, reference: str) -> date | str:
    on: date | None = await pool.fetchval(
        "SELECT s.day FROM bookings b JOIN slots s ON s.id = b.slot_id WHERE b.reference = $1",
        reference,
    )
    return on or ""


async def _conflict_key(pool: asyncpg.Pool, reference: str, today: date) -> str:
    status = await pool.fetchval("SELECT status FROM bookings WHERE reference = $1", reference)
    return {
        "cancelled": "checkin.cancelled",
        "missed": "checkin.missed",
        "attended": "checkin.already",
        "booked": "checkin.not_today",
    }.get(status, "checkin.moved")


# ---------------------------------------------------------------- the printable roster


async def print_roster(request: web.Request) -> web.Response:
    centre = await _centre(request)
    on = _day(request.query.get("day"))
    row, rows = await admin_repo.roster(request.config_dict[PG], centre["id"], on)
    await audit.record(
        request.config_dict[PG],
        signed_in(request),
        "roster_printed",
        address(request),
        centre_id=centre["id"],
        day=on.isoformat(),
    )
    # The /admin page's layout (roster.py), in the console's language (print.html).
    response = render(
        request,
        "print.html",
        centre=row,
        day=on,
        sessions=[list(group) for _, group in groupby(rows, key=lambda r: r["slot_id"])],
        printed=datetime.now(IST),
        css=roster.PRINT_CSS,
        weekdays=("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        masked=roster.masked_id,
        reasons=REASON_CODES,
        ist=IST,
    )
    # The page's own inline style: a policy of its own.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


# ---------------------------------------------------------------- we have the list


async def confirm_list(request: web.Request) -> web.Response:
    centre = await _centre(request)
    form = await request.post()
    on = _day(str(form.get("day", "tomorrow")))
    if on not in (kolkata_today(), kolkata_today() + timedelta(days=1)):
        raise web.HTTPNotFound()
    staff = signed_in(request)
    pool = request.config_dict[PG]
    told = await desk.confirm_list(pool, centre["id"], on, staff.id)
    await audit.record(
        pool,
        staff,
        "list_confirmed",
        address(request),
        centre_id=centre["id"],
        day=on.isoformat(),
        told=told,
    )
    events.list_confirmed(centre=centre["code"], day=on.isoformat(), told=told)
    return await _flash_back(request, t(request, "list.done", count=told), _back(centre, on))


# ---------------------------------------------------------------- supply and cancelling


async def save_supply(request: web.Request) -> web.Response:
    centre = await _centre(request)
    form = await request.post()
    on = _day(str(form.get("day", "tomorrow")))
    doses: dict[str, int] = {}
    for vaccine in Vaccine:
        value = str(form.get(f"doses_{vaccine.value}", "")).strip()
        if not value:
            continue
        value = to_ascii_digits(value)
        if not value.isdigit() or int(value) > MAX_DOSES:
            return await day_page(request, status=400, message=t(request, "supply.bad_doses"))
        doses[vaccine.value] = int(value)
    staff = signed_in(request)
    pool = request.config_dict[PG]
    await desk.record_supply(pool, centre["id"], on, doses, staff.id)
    wake_offers(request.config_dict)
    await audit.record(
        pool,
        staff,
        "supply_recorded",
        address(request),
        centre_id=centre["id"],
        day=on.isoformat(),
        doses=doses,
    )
    return await _flash_back(request, t(request, "supply.saved"), _back(centre, on))


async def cancel_session(request: web.Request) -> web.Response:
    centre = await _centre(request)
    form = await request.post()
    slot = str(form.get("slot", ""))
    pool = request.config_dict[PG]
    if not slot.isdigit() or await desk.centre_of_slot(pool, int(slot[:18])) != centre["id"]:
        raise web.HTTPNotFound()
    reason = str(form.get("reason", ""))
    if reason not in REASON_CODES:
        return await day_page(request, status=400, message=t(request, "cancel.bad_reason"))
    note = str(form.get("note", "")).strip()[:MAX_NOTE] or None
    done = await admin_repo.cancel_slot(pool, int(slot), reason, note)
    staff = signed_in(request)
    on = await pool.fetchval("SELECT day FROM slots WHERE id = $1", int(slot))
    await audit.record(
        pool,
        staff,
        "session_cancelled",
        address(request),
        centre_id=centre["id"],
        slot=int(slot),
        reason=reason,
        bookings=done.bookings,
    )
    if done.slots:
        events.session_cancelled(
            centre=centre["code"], slot=int(slot), reason=reason, bookings=done.bookings,
            via="desk",
        )  # fmt: skip
    return await _flash_back(
        request, t(request, "cancel.done", count=done.bookings), _back(centre, on)
    )
