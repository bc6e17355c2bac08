"""Helpers of the staff console's tests: accounts' password, the city they work in,
a cookie-keeping browser, and the Chromium settings."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp.test_utils import TestClient

from kmcbot.booking import repository
from kmcbot.booking.model import IST
from tests.support.factories import book_effect

STAFF_SECRET = b"staff-console-test-secret-0123456789"


PASSWORD = "correct-horse-battery"


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def add_centre(pg: asyncpg.Pool, code: str, name: str) -> int:
    return await pg.fetchval(
        """INSERT INTO centres (code, name, kind, ward, address, latitude, longitude)
           VALUES ($1, $2, 'health_centre', 46, '5 Chowringhee Place', 22.56, 88.35)
           RETURNING id""",
        code,
        name,
    )


async def book(pg: asyncpg.Pool, slot: int, n: int, *, lang: str = "en", name: str = "") -> str:
    """A booking of citizen n (WhatsApp 9198000001nn) in this slot: its reference."""
    effect = book_effect(slot, n)
    effect = dataclasses.replace(effect, lang=lang, name=name or effect.name)
    done = await repository.book(pg, f"9198000{n:05d}", effect)
    return done.booking.reference  # type: ignore[union-attr]


async def move_to(pg: asyncpg.Pool, slot: int, days_from_today: int, start: time) -> None:
    """Put a slot (booked while it was in the future) on another day: a session
    today that has begun could not have been booked by the chat's rules."""
    day = datetime.now(IST).date() + timedelta(days=days_from_today)
    await pg.execute(
        "UPDATE slots SET day = $2, starts_at = $3 WHERE id = $1",
        slot,
        day,
        datetime.combine(day, start, IST),
    )


@dataclass
class City:
    a: int  # centre ids
    b: int
    today_a: int  # slot ids
    tomorrow_a: int
    tomorrow_a2: int
    today_b: int
    refs_today_a: list[str]
    refs_tomorrow_a: list[str]
    refs_tomorrow_a2: list[str]
    refs_today_b: list[str]


class Browser:
    """One person's cookies against the served app (several can be signed in at once)."""

    def __init__(self, served: TestClient) -> None:
        base = served.make_url("/")
        # The cookie is Secure (not dev mode): this plain-http origin counts as secure,
        # as 127.0.0.1 does for a real browser.
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
        self.http = aiohttp.ClientSession(base_url=str(base), cookie_jar=jar)
        self.csrf = ""

    async def get(self, path: str, **kw) -> tuple[int, str]:
        async with self.http.get(path, allow_redirects=kw.pop("follow", True), **kw) as r:
            page = await r.text()
            self._remember(page)
            return r.status, page

    async def post(self, path: str, data: dict, *, csrf: str | None = None) -> tuple[int, str]:
        form = {"csrf": self.csrf if csrf is None else csrf, **data}
        async with self.http.post(path, data=form) as r:
            page = await r.text()
            self._remember(page)
            return r.status, page

    def _remember(self, page: str) -> None:
        found = _CSRF.search(page)
        if found:
            self.csrf = found.group(1)

    async def login(self, login: str, password: str = PASSWORD) -> tuple[int, str]:
        await self.get("/staff/login")
        return await self.post("/staff/login", {"login": login, "password": password})


CHROMIUM = Path("/usr/bin/chromium")


ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


SHOTS = Path(os.environ.get("KMCBOT_SCREENSHOTS", "/tmp/staff-console"))


SIZES = {"phone": (390, 844), "desk": (1366, 900)}
