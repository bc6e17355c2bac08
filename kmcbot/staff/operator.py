"""Operators' pages: every centre, staff accounts, the audit log."""

from __future__ import annotations

from aiohttp import web

from kmcbot.booking.model import IST, Vaccine, kolkata_today
from kmcbot.staff import accounts, audit
from kmcbot.staff.dashboard import dashboard
from kmcbot.staff.web import address, operator_only, render, t
from kmcbot.web.admin_input import WEEKDAYS
from kmcbot.web.keys import PG


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/centres", centres, name="centres")
    r.add_get("/accounts", staff_accounts, name="accounts")
    r.add_post("/accounts", add_account, name="accounts_add")
    r.add_post("/accounts/disable", disable_account, name="accounts_disable")
    r.add_get("/audit", audit_log, name="audit")
    r.add_get("/dashboard", dashboard, name="dashboard")


async def centres(request: web.Request, *, status: int = 200, message: str = "") -> web.Response:
    operator_only(request)
    rows = await request.config_dict[PG].fetch(
        """SELECT c.code, c.name, c.ward,
                  count(b.id) FILTER (WHERE b.status IN ('booked', 'attended', 'missed'))
                    AS booked,
                  count(b.id) FILTER (WHERE b.status = 'attended') AS attended
           FROM centres c
           LEFT JOIN slots s ON s.centre_id = c.id
                AND s.day = (now() AT TIME ZONE 'Asia/Kolkata')::date
           LEFT JOIN bookings b ON b.slot_id = s.id
           WHERE c.active GROUP BY c.id ORDER BY c.code"""
    )
    return render(
        request,
        "centres.html",
        status=status,
        centres=rows,
        message=message,
        error=status >= 400,
        vaccines=[v.value for v in Vaccine],
        weekdays=WEEKDAYS,
        today=kolkata_today().isoformat(),
    )


async def staff_accounts(
    request: web.Request, *, status: int = 200, message: str = ""
) -> web.Response:
    operator_only(request)
    pool = request.config_dict[PG]
    rows = await accounts.list_all(pool)
    codes = [r["code"] for r in await pool.fetch("SELECT code FROM centres ORDER BY code")]
    return render(
        request,
        "accounts.html",
        status=status,
        accounts=rows,
        codes=codes,
        message=message,
        error=status >= 400,
    )


async def add_account(request: web.Request) -> web.Response:
    me = operator_only(request)
    form = await request.post()
    name = str(form.get("name", "")).strip()
    role = str(form.get("role", ""))
    centre = str(form.get("centre", "")).strip() or None
    login = str(form.get("login", "")).strip().lower() or accounts.login_of(name)
    password = accounts.new_password()
    pool = request.config_dict[PG]
    try:
        staff = await accounts.create(
            pool,
            login=login,
            name=name,
            role=role,
            centre_code=centre if role == "clerk" else None,
            password=password,
        )
    except accounts.AccountError as exc:
        return await staff_accounts(request, status=400, message=str(exc))
    await audit.record(
        pool,
        me,
        "account_created",
        address(request),
        centre_id=staff.centre_id,
        account=staff.login,
        role=staff.role,
    )
    # Shown once, on this page only (not kept in the session's cookie).
    return await staff_accounts(
        request, message=t(request, "staff.created", login=staff.login, password=password)
    )


async def disable_account(request: web.Request) -> web.Response:
    me = operator_only(request)
    form = await request.post()
    login = str(form.get("login", ""))[:40]
    pool = request.config_dict[PG]
    try:
        staff = await accounts.disable(pool, login)
    except accounts.AccountError as exc:
        return await staff_accounts(request, status=404, message=str(exc))
    await audit.record(pool, me, "account_disabled", address(request), account=staff.login)
    return await staff_accounts(request, message=t(request, "staff.disabled_done", login=login))


async def audit_log(request: web.Request) -> web.Response:
    operator_only(request)
    rows = await audit.recent(request.config_dict[PG])
    return render(request, "audit.html", rows=rows, ist=IST)
