"""Operators' changes to the city's data: the centres CSV, sessions in bulk, a
session's capacity (never below what is booked). The checks are /admin's own
(web/admin_input.py, booking/admin_repo.py); this module reads the forms."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from aiohttp import web

from kmcbot.booking import admin_repo
from kmcbot.booking.model import Vaccine, kolkata_today
from kmcbot.staff import audit
from kmcbot.staff.operator import centres
from kmcbot.staff.pages import _centre, day_page
from kmcbot.staff.web import SESSION, address, operator_only, t
from kmcbot.web import admin_input as read
from kmcbot.web.admin import MAX_CAPACITY, MAX_DAYS, MAX_SESSIONS
from kmcbot.web.keys import PG, wake_offers
from kmcbot.whatsapp.text import to_ascii_digits

MAX_CSV = 2 * 1024 * 1024
T = TypeVar("T")


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_post("/centres/import", import_csv, name="centres_import")
    r.add_post("/sessions", bulk_sessions, name="sessions_bulk")
    r.add_post("/c/{code}/capacity", set_capacity, name="capacity")


async def import_csv(request: web.Request) -> web.Response:
    me = operator_only(request)
    form = await request.post()
    upload = form.get("file")
    raw = upload.file.read(MAX_CSV + 1) if isinstance(upload, web.FileField) else b""
    try:
        if not raw or len(raw) > MAX_CSV:
            raise read.Invalid(t(request, "ops.csv_missing"))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise read.Invalid(t(request, "ops.csv_utf8")) from None
        rows = await asyncio.to_thread(read.read_centres_text, text)
    except read.Invalid as exc:
        return await centres(request, status=400, message=_csv_problem(request, str(exc)))
    saved = await admin_repo.upsert_centres(request.config_dict[PG], rows)
    created = sum(1 for _, c in saved if c)
    await audit.record(
        request.config_dict[PG],
        me,
        "centres_imported",
        address(request),
        centres=len(saved),
        created=created,
    )
    message = t(request, "ops.imported", count=len(saved), created=created)
    return await centres(request, message=message)


async def bulk_sessions(request: web.Request) -> web.Response:
    me = operator_only(request)
    form = await request.post()
    pool = request.config_dict[PG]
    try:
        codes = [str(c) for c in form.getall("centre", [])]
        if not codes:
            raise read.Invalid(t(request, "ops.no_centres"))
        found = await pool.fetch("SELECT id, code FROM centres WHERE code = ANY($1::text[])", codes)
        try:
            vaccine = Vaccine(str(form.get("vaccine", "")))
        except ValueError:
            raise read.Invalid(t(request, "ops.bad_vaccine")) from None
        # Each check answers in the page's language (the catalogue), not with the
        # JSON API's English field messages.
        first = _read(request, "ops.bad_from", read.day, str(form.get("from", "")), "from")
        to = str(form.get("to", "")) or first.isoformat()
        last = _read(request, "ops.bad_to", read.day, to, "to", max=MAX_DAYS - 1)
        if first < kolkata_today():
            raise read.Invalid(t(request, "ops.bad_from"))
        if not 0 <= (last - first).days < MAX_DAYS:
            raise read.Invalid(t(request, "ops.bad_to", max=MAX_DAYS - 1))
        spans = to_ascii_digits(str(form.get("times", ""))).replace(",", " ").split()
        times = _read(request, "ops.bad_times", read.session_times, spans)
        capacity = _read(
            request, "ops.bad_capacity", _whole, str(form.get("capacity", "")), "capacity",
            MAX_CAPACITY, max=MAX_CAPACITY,
        )  # fmt: skip
        skip = _read(
            request, "ops.bad_form", read.weekdays, [str(d) for d in form.getall("skip", [])]
        )
        days = [d for d in _span(first, last) if d.weekday() not in skip]
        ids = sorted(r["id"] for r in found)
        if len(ids) * len(days) * len(times) > MAX_SESSIONS:
            raise read.Invalid(t(request, "ops.too_many", max=MAX_SESSIONS))
        created, existing = (0, 0)
        if days:
            try:
                created, existing = await admin_repo.create_slots(
                    pool, ids, vaccine, days, times, capacity
                )
            except admin_repo.Conflict as exc:  # a centre without the vaccine; the city full
                key = "ops.centre_vaccine" if str(exc).startswith("centre ") else "ops.city_full"
                raise read.Invalid(t(request, key)) from None
    except (read.Invalid, admin_repo.AdminProblem) as exc:
        return await centres(request, status=400, message=str(exc))
    wake_offers(request.config_dict)  # new places go to the waitlist first
    await audit.record(
        pool,
        me,
        "sessions_created",
        address(request),
        centres=len(ids),
        vaccine=vaccine.value,
        created=created,
        existing=existing,
    )
    return await centres(
        request, message=t(request, "ops.sessions", created=created, existing=existing)
    )


def _read(request: web.Request, key: str, check: Callable[..., T], *args: Any, **say: Any) -> T:
    """`check(*args)`, its refusal said in the page's language (`key`, with `say`)."""
    try:
        return check(*args)
    except read.Invalid:
        raise read.Invalid(t(request, key, **say)) from None


def _csv_problem(request: web.Request, problem: str) -> str:
    """A CSV's refusal in the page's language: its line; the detail names the
    file's own (English) columns and values, so it stays as it is."""
    line = re.search(r"line (\d+): (.*)", problem)
    if line is None:
        return problem  # already the catalogue's (no file, not UTF-8)
    return t(request, "ops.csv_line", line=int(line.group(1)), detail=line.group(2))


def _span(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _whole(text: str, field: str, high: int) -> int:
    if not text.strip().isdigit() or int(text) > high:
        raise read.Invalid(f"{field}: a whole number from 0 to {high}")
    return int(text)


async def set_capacity(request: web.Request) -> web.Response:
    me = operator_only(request)
    centre = await _centre(request)
    form = await request.post()
    slot = str(form.get("slot", ""))
    pool = request.config_dict[PG]
    ours = (
        slot.isdigit()
        and await pool.fetchval("SELECT centre_id FROM slots WHERE id = $1", int(slot[:18]))
        == centre["id"]
    )
    if not ours:
        raise web.HTTPNotFound()
    try:
        capacity = _read(
            request, "ops.bad_capacity", _whole, str(form.get("capacity", "")), "capacity",
            MAX_CAPACITY, max=MAX_CAPACITY,
        )  # fmt: skip
        row = await admin_repo.set_capacity(pool, int(slot), capacity)
    except read.Invalid as exc:
        return await day_page(request, status=409, message=str(exc))
    except admin_repo.AdminProblem as exc:  # cancelled, or below what is booked
        key = "ops.capacity_cancelled" if "cancelled" in str(exc) else "ops.capacity_below"
        return await day_page(request, status=409, message=t(request, key))
    wake_offers(request.config_dict)
    await audit.record(
        pool,
        me,
        "capacity_set",
        address(request),
        centre_id=centre["id"],
        slot=int(slot),
        capacity=capacity,
    )
    request[SESSION]["flash"] = t(request, "ops.capacity", capacity=capacity)
    raise web.HTTPSeeOther(f"/staff/c/{centre['code']}/?day={row['day'].isoformat()}")
