"""The staff and operator API at /admin.

Its bearer tokens: KMCBOT_ADMIN_TOKEN, an operator's (when set), and each staff
account's own (`kmcbot staff token LOGIN`, kmcbot/staff/accounts.py) with its
role: an operator's does everything, a clerk's reads its own centre's slots and
roster and checks in there (403 otherwise). A disabled account's tokens stop at
once. Every change made with an account's token is written to the staff audit.

HTTP only: the handlers and their answers (JSON, and the roster as CSV or
HTML from kmcbot/web/roster.py); requests are read by kmcbot/web/admin_input.py
and the SQL is in kmcbot/booking/admin_repo.py. Every answer that is not a success is JSON
`{"error": "..."}`: 400 names the bad field, 401 a missing or wrong token,
403 a wrong check-in code or reference (a clerk's token: also a booking of another
centre) or a clerk's token outside its role or centre, 404 an unknown id, 409 a
conflict with the data, 429 too many wrong codes for one reference
(web/checkin_guard.py).
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from kmcbot import metrics
from kmcbot.booking import admin_repo as repo
from kmcbot.booking.model import IST, Vaccine, kolkata_today
from kmcbot.booking.reference import normalise_reference
from kmcbot.booking.repository import HORIZON_DAYS
from kmcbot.observe import events
from kmcbot.staff import accounts, audit
from kmcbot.web import admin_input as read
from kmcbot.web import roster
from kmcbot.web.checkin_guard import CheckinGuard, Locked
from kmcbot.web.errors import json_error
from kmcbot.web.keys import PG, PIPELINE, REDIS, SETTINGS, wake_offers
from kmcbot.whatsapp.text import to_ascii_digits

log = structlog.get_logger()

MAX_DAYS = 92  # one bulk session request covers at most a quarter
# What the bot can serve (issue 18, finding 9): every process keeps the open
# sessions of the next HORIZON_DAYS and the active centres in its availability
# snapshot, reloaded every second; at 44,000 sessions that reload alone slowed
# every citizen's answer tenfold. Kolkata's drive had ~300 centres.
MAX_SESSIONS = 5_000  # per request
MAX_OPEN_SESSIONS = 20_000  # in the snapshot's horizon, city-wide
MAX_IMPORT_CENTRES = 1_000  # per CSV import
MAX_ACTIVE_CENTRES = 2_000  # city-wide
MAX_CAPACITY = 100_000
_CODE = re.compile(r"[0-9]{4}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_admin_app(token: str | None) -> web.Application:
    app = web.Application(middlewares=[_guard(token)])
    app.router.add_get("/centres", list_centres)
    app.router.add_post("/centres", put_centre)
    app.router.add_post("/centres/import", import_centres)
    app.router.add_post(r"/centres/{id:\d+}/cancel", cancel_centre_day)
    app.router.add_get("/slots", list_slots)
    app.router.add_post("/slots", create_slots)
    app.router.add_patch(r"/slots/{id:\d+}", patch_slot)
    app.router.add_post(r"/slots/{id:\d+}/cancel", cancel_slot)
    app.router.add_get("/roster", get_roster)
    app.router.add_post("/checkin", check_in)
    return app


# What a clerk's token may do: its own centre's slots and roster, check-in there.
CLERK_ROUTES = {("GET", "list_slots"), ("GET", "get_roster"), ("POST", "check_in")}
CALLER = web.RequestKey("admin_caller", object)  # the account, or None for the shared token


def _path_of(request: web.Request) -> str:
    """The route's pattern (ids as {id}), for the audit."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


class Forbidden(Exception):
    """A clerk's token outside its centre or its role (answered with 403)."""


def _guard(token: str | None) -> Middleware:
    expected = token.encode() if token else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        given_bytes = given.strip().encode("utf-8", "replace")
        staff = None
        # compare_digest: the time taken must not tell how much of a guess was right.
        shared = expected is not None and hmac.compare_digest(given_bytes, expected)
        if scheme.lower() == "bearer" and not shared and given.strip():
            staff = await accounts.by_api_token(request.config_dict[PG], given.strip())
        if scheme.lower() != "bearer" or not (shared or staff):
            response = json_error(401, "missing or wrong Authorization: Bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="kmcbot admin"'
            return response
        request[CALLER] = staff
        route = (request.method, getattr(request.match_info.handler, "__name__", ""))
        if staff is not None and not staff.operator and route not in CLERK_ROUTES:
            return json_error(
                403,
                "a clerk's token may only list slots, read the roster and "
                "check in at its own centre",
            )
        try:
            answer = await handler(request)
            if request.method != "GET" and answer.status < 400:
                # Centres or sessions may have changed: this process's next message
                # waits for a fresh availability snapshot instead of using the last.
                request.config_dict[PIPELINE].availability.invalidate()
            if staff is not None and request.method != "GET":
                await audit.record(
                    request.config_dict[PG],
                    staff,
                    f"api {request.method} {_path_of(request)}",
                    request.remote,
                    centre_id=staff.centre_id,
                )
            return answer
        except read.Invalid as exc:
            return json_error(400, str(exc))
        except repo.NotFound as exc:
            return json_error(404, str(exc))
        except (repo.WrongCode, Forbidden) as exc:
            return json_error(403, str(exc))
        except repo.Conflict as exc:
            return json_error(409, str(exc))
        except (
            asyncpg.LockNotAvailableError,
            asyncpg.QueryCanceledError,
            asyncpg.DeadlockDetectedError,
        ):
            # lock_timeout, statement_timeout, or a deadlock PostgreSQL broke:
            # the transaction rolled back, nothing was changed.
            return json_error(503, "the data is busy; try again")
        # Anything else (a 404 or 405 of the router, a fault: 500) is answered as
        # JSON by web/errors.py, as everywhere else.

    return guard


# ---------------------------------------------------------------- centres


async def list_centres(request: web.Request) -> web.Response:
    rows = await repo.list_centres(request.config_dict[PG])
    return _json({"centres": [_centre_json(r) for r in rows]})


async def put_centre(request: web.Request) -> web.Response:
    body = await _body(request)
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise read.Invalid("active: must be true or false")
    [(row, created)] = await repo.upsert_centres(
        request.config_dict[PG], [read.centre(body)], active, max_active=MAX_ACTIVE_CENTRES
    )
    log.info("admin_centre_saved", centre=row["code"], created=created)
    return _json(_centre_json(row), status=201 if created else 200)


async def import_centres(request: web.Request) -> web.Response:
    raw = await request.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise read.Invalid("body: the CSV must be UTF-8") from None
    centres = await asyncio.to_thread(read.read_centres_text, text)
    if len(centres) > MAX_IMPORT_CENTRES:
        raise read.Invalid(f"body: at most {MAX_IMPORT_CENTRES} centres per import")
    saved = await repo.upsert_centres(
        request.config_dict[PG], centres, max_active=MAX_ACTIVE_CENTRES
    )
    created = sum(1 for _, c in saved if c)
    log.info("admin_centres_imported", centres=len(saved), created=created)
    return _json({"centres": len(saved), "created": created, "updated": len(saved) - created})


# ---------------------------------------------------------------- slots


async def list_slots(request: web.Request) -> web.Response:
    centre = read.query_id(request.query.get("centre"), "centre")
    _own_centre(request, centre)
    day = read.day(request.query.get("date"), "date", default=kolkata_today())
    rows = await repo.list_slots(request.config_dict[PG], centre, day)
    slots = [_slot_json(r) for r in rows]
    return _json({"centre": centre, "date": day.isoformat(), "slots": slots})


async def create_slots(request: web.Request) -> web.Response:
    body = await _body(request)
    centres = body.get("centres", [body["centre"]] if "centre" in body else None)
    if not isinstance(centres, list) or not centres:
        raise read.Invalid('centres: give "centre": id or "centres": [id, ...]')
    ids = sorted({read.integer(c, "centres", 1, read.INT4) for c in centres})
    try:
        vaccine = Vaccine(str(body.get("vaccine")))
    except ValueError:
        raise read.Invalid(f"vaccine: must be one of {', '.join(Vaccine)}") from None
    first = read.day(body.get("from"), "from")
    last = read.day(body.get("to"), "to", default=first)
    if first < kolkata_today():
        raise read.Invalid(f"from: {first} is in the past")
    if not 0 <= (last - first).days < MAX_DAYS:
        raise read.Invalid(f"to: must be from 'from' to at most {MAX_DAYS - 1} days after it")
    skip = read.weekdays(body.get("skip_weekdays", []))
    span = (first + timedelta(days=n) for n in range((last - first).days + 1))
    days = [d for d in span if d.weekday() not in skip]
    times = read.session_times(body.get("times"))
    capacity = read.integer(body.get("capacity"), "capacity", 0, MAX_CAPACITY)
    if len(ids) * len(days) * len(times) > MAX_SESSIONS:
        raise read.Invalid(f"centres: at most {MAX_SESSIONS} sessions per request")
    if not days:
        return _json({"created": 0, "existing": 0})
    created, existing = await repo.create_slots(
        request.config_dict[PG],
        ids,
        vaccine,
        days,
        times,
        capacity,
        max_open=MAX_OPEN_SESSIONS,
        horizon_days=HORIZON_DAYS,
    )
    log.info("admin_slots_created", created=created, existing=existing)
    wake_offers(request.config_dict)  # new places go to the waitlist first
    return _json({"created": created, "existing": existing}, status=201 if created else 200)


async def patch_slot(request: web.Request) -> web.Response:
    slot = _path_id(request, "slot", read.INT8)
    body = await _body(request)
    capacity = read.integer(body.get("capacity"), "capacity", 0, MAX_CAPACITY)
    row = await repo.set_capacity(request.config_dict[PG], slot, capacity)
    wake_offers(request.config_dict)
    return _json(_slot_json(row))


# ---------------------------------------------------------------- supply failure


async def cancel_slot(request: web.Request) -> web.Response:
    slot = _path_id(request, "slot", read.INT8)
    reason, note = read.reason(await _body(request))
    pool = request.config_dict[PG]
    done = await repo.cancel_slot(pool, slot, reason, note)
    centre = await pool.fetchval(
        "SELECT c.code FROM slots s JOIN centres c ON c.id = s.centre_id WHERE s.id = $1", slot
    )
    if done.slots:
        events.session_cancelled(
            centre=centre, slot=slot, reason=reason, bookings=done.bookings, via="admin"
        )
    return _cancelled(done)


async def cancel_centre_day(request: web.Request) -> web.Response:
    centre = _path_id(request, "centre", read.INT4)
    body = await _body(request)
    day = read.day(body.get("date"), "date")
    reason, note = read.reason(body)
    pool = request.config_dict[PG]
    done = await repo.cancel_centre_day(pool, centre, day, reason, note)
    if done.slots:
        code = await pool.fetchval("SELECT code FROM centres WHERE id = $1", centre)
        # The whole day: one line for the centre's day (slot 0: all its sessions).
        events.session_cancelled(
            centre=code, slot=0, reason=reason, bookings=done.bookings, via="admin"
        )
    return _cancelled(done)


def _cancelled(done: repo.Cancelled) -> web.Response:
    log.info("admin_slots_cancelled", slots=done.slots, bookings=done.bookings)
    return _json({"slots": done.slots, "bookings_cancelled": done.bookings})


# ---------------------------------------------------------------- roster and check-in


async def get_roster(request: web.Request) -> web.Response:
    centre_id = read.query_id(request.query.get("centre"), "centre")
    _own_centre(request, centre_id)
    day = read.day(request.query.get("date"), "date", default=kolkata_today())
    fmt = request.query.get("format", "csv")
    if fmt not in ("csv", "html", "json"):
        raise read.Invalid("format: must be csv, html or json")
    centre, rows = await repo.roster(request.config_dict[PG], centre_id, day)
    # Names of citizens: no copy in a proxy's or browser's cache.
    headers = {"Cache-Control": "no-store"}
    if fmt == "json":
        return _json(roster.render_json(centre, day, rows), headers=headers)
    if fmt == "html":
        printed = datetime.now(IST).strftime("%Y-%m-%d %H:%M IST")
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
        page = roster.render_html(centre, day, rows, printed)
        return web.Response(text=page, content_type="text/html", headers=headers)
    name = f"roster-{centre['code']}-{day.isoformat()}.csv"
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return web.Response(
        text=roster.render_csv(rows), content_type="text/csv", charset="utf-8", headers=headers
    )


async def check_in(request: web.Request) -> web.Response:
    body = await _body(request)
    given = body.get("reference")
    reference = normalise_reference(given) if isinstance(given, str) else None
    if reference is None:
        raise read.Invalid("reference: not a booking reference such as KMC-4K7P2Q")
    code = body.get("code")
    # Bengali or Devanagari digits, as the reference takes them: the code is 4 ASCII digits.
    code = to_ascii_digits(code) if isinstance(code, str) else None
    if code is None or not _CODE.fullmatch(code):
        raise read.Invalid("code: must be the 4 digits given with the booking, as a string")
    guard = CheckinGuard(request.config_dict[REDIS], request.config_dict[SETTINGS].redis_prefix)
    try:
        tries = await guard.attempt(reference)
    except Locked as locked:
        metrics.CHECKIN_REFUSED.labels("locked").inc()
        log.warning("admin_checkin_locked", reference=reference)
        response = json_error(429, "too many wrong codes for this reference; try again later")
        response.headers["Retry-After"] = str(locked.retry_after)
        return response
    try:
        if request[CALLER] is not None:  # a clerk: only a booking at its own centre
            centre = await request.config_dict[PG].fetchval(
                "SELECT s.centre_id FROM bookings b JOIN slots s ON s.id = b.slot_id "
                "WHERE b.reference = $1",
                reference,
            )
            if centre is not None and not request[CALLER].may_act_at(centre):  # type: ignore[attr-defined]
                raise repo.NotFound(f"no booking {reference}")
        row = await repo.check_in(request.config_dict[PG], reference, code, kolkata_today())
    except (repo.NotFound, repo.WrongCode):
        # The attempt stays counted. Never the code in the log; an unknown reference
        # gets the very answer of a wrong code.
        metrics.CHECKIN_REFUSED.labels("wrong_code").inc()
        log.warning("admin_checkin_wrong_code", reference=reference, tries=tries)
        raise repo.WrongCode("wrong reference or code") from None
    except BaseException:
        await guard.give_back(reference)
        raise
    await guard.give_back(reference)
    events.booking_checked_in(
        reference=row["reference"], centre=row["centre_code"], slot=row["slot_id"], via="admin"
    )
    return _json(
        {
            "reference": row["reference"],
            "name": row["name"],
            "status": row["status"],
            "attended_at": row["attended_at"].astimezone(IST).isoformat(),
        },
        headers={"Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- helpers


def _own_centre(request: web.Request, centre_id: int) -> None:
    staff = request[CALLER]
    if staff is not None and not staff.may_act_at(centre_id):  # type: ignore[attr-defined]
        raise Forbidden(f"centre {centre_id} is not this token's centre")


async def _body(request: web.Request) -> dict[str, Any]:
    return read.json_object(await request.read())


def _path_id(request: web.Request, noun: str, high: int) -> int:
    value = int(request.match_info["id"])  # the route allows digits only
    if not 1 <= value <= high:
        raise repo.NotFound(f"{noun} {value} does not exist")
    return value


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def _centre_json(r: asyncpg.Record) -> dict[str, Any]:
    keys = ("id", "code", "name", "kind", "borough", "ward", "address", "latitude", "longitude")
    data = {k: r[k] for k in (*keys, "active")}
    data["vaccines"] = list(r["vaccines"]) if r["vaccines"] is not None else None
    return data


def _slot_json(r: asyncpg.Record) -> dict[str, Any]:
    data = {
        "id": r["id"],
        "centre_id": r["centre_id"],
        "vaccine": r["vaccine"],
        "date": r["day"].isoformat(),
        "start": f"{r['start_time']:%H:%M}",
        "end": f"{r['end_time']:%H:%M}",
        "starts_at": r["starts_at"].astimezone(IST).isoformat(),
        "capacity": r["capacity"],
        "booked": r["booked"],
        "free": max(r["capacity"] - r["booked"] - r["held"], 0),
        "held": r["held"],
        "status": r["status"],
        "cancel_reason": r["cancel_reason"],
        "attended": r["attended"],
        "missed": r["missed"],
    }
    return data
