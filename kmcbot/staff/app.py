"""The /staff sub-application: its cookie session, templates and routes.

The composition root of the console: it imports every page module, and they
import only the common parts in web.py, so there is no cycle between them.
"""

from __future__ import annotations

import hashlib

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from kmcbot.settings import Settings
from kmcbot.staff import operator, pages, scan, supply_ops, waitlist, walkin
from kmcbot.staff.web import (
    _HERE,
    DEV_SECRET,
    SESSION_MAX_AGE,
    guard,
    home,
    login_page,
    login_post,
    logout,
    switch_lang,
)


def create_staff_app(settings: Settings) -> web.Application:
    secret = settings.staff_secret or DEV_SECRET
    # The session's middleware outermost: the guard reads the session, and a
    # redirect the guard raises still carries the cookie.
    storage = EncryptedCookieStorage(
        hashlib.sha256(b"kmcbot-staff-cookie:" + secret).digest(),
        cookie_name="kmcbot_staff",
        path="/staff",
        httponly=True,
        samesite="Lax",
        secure=not settings.dev,  # dev mode: plain http on a laptop
        max_age=SESSION_MAX_AGE,
    )
    app = web.Application(middlewares=[session_middleware(storage), guard])
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    r = app.router
    r.add_static("/static", _HERE / "static", name="static")
    r.add_get("/login", login_page, name="login")
    r.add_post("/login", login_post, name="login_post")
    r.add_post("/logout", logout, name="logout")
    r.add_post("/lang", switch_lang, name="lang")
    r.add_get("/", home, name="home")
    pages.add_routes(r)
    walkin.add_routes(r)
    supply_ops.add_routes(r)
    scan.add_routes(r)
    operator.add_routes(r)
    waitlist.add_routes(r)
    return app
