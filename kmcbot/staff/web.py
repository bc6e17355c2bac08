"""The /staff sub-application's common parts: sign-in, CSRF, roles, page rendering.

Every request loads its account from PostgreSQL (by the id and epoch the
encrypted cookie holds), so a disabled account is out at its next click.
Every POST carries the session's CSRF token. Pages are HTML; a refusal is a
page too (403, 404, 429), never JSON.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import structlog
from aiohttp import web
from aiohttp_session import Session, get_session, new_session

from kmcbot.staff import accounts, audit, i18n
from kmcbot.staff.accounts import Staff
from kmcbot.staff.limits import Limiter
from kmcbot.web.keys import PG, REDIS, SETTINGS

log = structlog.get_logger()

_HERE = Path(__file__).parent
DEV_SECRET = b"kmcbot-dev-staff-secret-not-for-production"
SESSION_MAX_AGE = 12 * 3600  # a working day: the cookie's own age and its lifetime
PUBLIC = {"login", "login_post", "static", "lang"}
# The signed-in account; None only on the public pages (the guard lets no other through).
STAFF: web.RequestKey[Staff | None] = web.RequestKey("staff")
SESSION = web.RequestKey("staff_session", Session)
LANG = web.RequestKey("staff_lang", str)


def signed_in(request: web.Request) -> Staff:
    """The account of a page behind the guard (never a public one)."""
    staff = request[STAFF]
    assert staff is not None, "a signed-in page without an account"
    return staff


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def address(request: web.Request) -> str:
    # The peer as the socket sees it; behind a proxy that is the proxy (its
    # X-Forwarded-For is not trusted: anyone could write it).
    return request.remote or "unknown"


def lang_of(request: web.Request) -> str:
    return request.get(LANG, "en")


def t(request: web.Request, key: str, **params: object) -> str:
    return i18n.text(lang_of(request), key, **params)


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang = lang_of(request)
    session = request[SESSION]
    context.update(
        t=lambda key, **p: i18n.text(lang, key, **p),
        lang=lang,
        langs=[(code, i18n.text(code, "meta.lang_name")) for code in i18n.LANGS],
        me=request.get(STAFF),
        csrf=session["csrf"],
        flash=context.get("flash") or session.pop("flash", None),
        path=request.path_qs,
        # Values in the page's language: Bengali digits and names on a Bengali page.
        n=lambda value: i18n.show(lang, value),
        vaccine_name=lambda v: i18n.vaccine(lang, v),
        weekday=lambda code: i18n.weekday(lang, code),
        id_type=lambda code: i18n.id_type(lang, code),
    )
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def problem(request: web.Request, status: int, key: str, **params: object) -> web.Response:
    return render(request, "error.html", status=status, message=t(request, key, **params))


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    request[SESSION] = session
    lang = session.get("lang")
    request[LANG] = lang if isinstance(lang, str) and lang in i18n.LANGS else "en"
    staff: Staff | None = None
    if isinstance(session.get("uid"), int):
        staff = await accounts.by_id(request.config_dict[PG], session["uid"])
        if staff is None or not staff.active or staff.epoch != session.get("epoch"):
            staff = None  # disabled or password changed: out at once
            session.pop("uid", None)
    request[STAFF] = staff
    route = request.match_info.route.name
    try:
        if request.method == "POST":
            form = await request.post()
            given = form.get("csrf")
            if not isinstance(given, str) or not hmac.compare_digest(
                given.encode(), session["csrf"].encode()
            ):
                log.warning("staff_csrf_refused", route=route)
                return problem(request, 403, "error.csrf")
        if staff is None and route not in PUBLIC:
            if request.method == "GET":
                login = request.app.router["login"].url_for().with_query(next=request.path_qs)
                raise web.HTTPSeeOther(login)
            return problem(request, 403, "error.forbidden")
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status in (404, 405):
            return problem(request, exc.status, "error.not_found")
        if exc.status == 403:
            return problem(request, 403, "error.forbidden")
        raise
    if route != "static":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["Cache-Control"] = "no-store"  # names of citizens: no copies
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
    return response


def forbid_unless(request: web.Request, centre_id: int) -> Staff:
    """The signed-in account, if it may act at this centre; else 403."""
    staff = signed_in(request)
    if not staff.may_act_at(centre_id):
        raise web.HTTPForbidden()
    return staff


def operator_only(request: web.Request) -> Staff:
    staff = signed_in(request)
    if not staff.operator:
        raise web.HTTPForbidden()
    return staff


def _safe_next(value: str | None) -> str:
    # Only back into the console: never an open redirect to another site.
    if value and value.startswith("/staff/") and not value.startswith("//"):
        return value
    return "/staff/"


# ---------------------------------------------------------------- sign-in


async def login_page(request: web.Request) -> web.Response:
    if request[STAFF] is not None:
        raise web.HTTPSeeOther("/staff/")
    return render(request, "login.html", next=_safe_next(request.query.get("next")))


async def login_post(request: web.Request) -> web.Response:
    form = await request.post()
    login = str(form.get("login", "")).strip().lower()[:40]
    password = str(form.get("password", ""))[: accounts.MAX_PASSWORD]
    where = address(request)
    limiter = Limiter(request.config_dict[REDIS], request.config_dict[SETTINGS].redis_prefix)
    pool = request.config_dict[PG]
    context = {"next": _safe_next(str(form.get("next", "")))}
    if await limiter.login_blocked(login, where):
        await audit.record(pool, None, "login_limited", where, login=login)
        log.warning("staff_login_limited")
        return render(
            request, "login.html", status=429, error=t(request, "login.too_many"), **context
        )
    staff = await accounts.authenticate(pool, login, password)
    if staff is None:
        await limiter.fail("login", login)
        await limiter.fail("address", where)
        await audit.record(pool, None, "login_failed", where, login=login)
        log.info("staff_login_failed")
        return render(request, "login.html", status=401, error=t(request, "login.wrong"), **context)
    await limiter.clear("login", login)
    lang = lang_of(request)
    # A new session (a new CSRF token too): nothing from before the login carries over.
    session = await new_session(request)
    session.update(uid=staff.id, epoch=staff.epoch, csrf=secrets.token_urlsafe(24), lang=lang)
    await audit.record(pool, staff, "login", where, centre_id=staff.centre_id)
    log.info("staff_logged_in", role=staff.role)
    raise web.HTTPSeeOther(context["next"])


async def logout(request: web.Request) -> web.Response:
    staff = request[STAFF]
    await audit.record(request.config_dict[PG], staff, "logout", address(request))
    request[SESSION].invalidate()
    raise web.HTTPSeeOther("/staff/login")


async def switch_lang(request: web.Request) -> web.Response:
    form = await request.post()
    lang = str(form.get("lang", "en"))
    if lang in i18n.LANGS:
        request[SESSION]["lang"] = lang
    raise web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))


async def home(request: web.Request) -> web.Response:
    staff = signed_in(request)
    if staff.operator:
        raise web.HTTPSeeOther("/staff/centres")
    raise web.HTTPSeeOther(f"/staff/c/{staff.centre_code}/")
