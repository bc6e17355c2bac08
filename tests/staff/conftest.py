"""The staff console against real PostgreSQL and Redis: a served app, a Graph
stand-in, two centres with sessions today and tomorrow, and an account each."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.booking import repository
from kmcbot.booking.model import IST
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.settings import Settings
from kmcbot.staff import accounts
from tests.factories import book_effect, make_slot

STAFF_SECRET = b"staff-console-test-secret-0123456789"

PASSWORD = "correct-horse-battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def graph(aiohttp_server) -> GraphStandIn:
    fake = GraphStandIn()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def staff_settings(pg_url: str, redis_url: str, graph: GraphStandIn) -> Settings:
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        app_secret=b"staff-app-secret",
        wa_token=graph.token,
        wa_phone_number_id="12345",
        graph_url=graph.url,  # type: ignore[attr-defined]
        send_rate=1000,
        id_pepper=b"staff-pepper",
        staff_secret=STAFF_SECRET,
        dev=False,
    )


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


@pytest.fixture
async def city(pg: asyncpg.Pool) -> City:
    a = await add_centre(pg, "HC-A", "Ward 46 Health Centre")
    b = await add_centre(pg, "HC-B", "Ward 12 Health Centre")
    today_a = await make_slot(pg, a, capacity=10, start=time(10))
    tomorrow_a = await make_slot(pg, a, capacity=10, start=time(12))
    tomorrow_a2 = await make_slot(pg, a, capacity=10, start=time(14))
    today_b = await make_slot(pg, b, capacity=10, start=time(10))
    refs_today_a = [
        await book(pg, today_a, 1, name="Soumya Das"),
        await book(pg, today_a, 2, lang="bn", name="Rahul Sen"),
        await book(pg, today_a, 3, name="Priya Ghosh"),
    ]
    refs_tomorrow_a = [
        await book(pg, tomorrow_a, 11, name="Amit Roy"),
        await book(pg, tomorrow_a, 12, lang="bn", name="Mita Paul"),
        await book(pg, tomorrow_a, 13, lang="hi", name="Ravi Kumar"),
    ]
    refs_tomorrow_a2 = [await book(pg, tomorrow_a2, 21, lang="bn", name="Tapas Dey")]
    refs_today_b = [await book(pg, today_b, 31, name="Other Centre Person")]
    await move_to(pg, today_a, 0, time(10))
    await move_to(pg, tomorrow_a, 1, time(12))
    await move_to(pg, tomorrow_a2, 1, time(14))
    await move_to(pg, today_b, 0, time(10))
    for login, role, code in [
        ("clerk.a", "clerk", "HC-A"),
        ("clerk.b", "clerk", "HC-B"),
        ("op", "operator", None),
    ]:
        await accounts.create(
            pg, login=login, name=login.title(), role=role, centre_code=code, password=PASSWORD
        )
    return City(
        a,
        b,
        today_a,
        tomorrow_a,
        tomorrow_a2,
        today_b,
        refs_today_a,
        refs_tomorrow_a,
        refs_tomorrow_a2,
        refs_today_b,
    )


@pytest.fixture
async def served(staff_settings: Settings, city: City, aiohttp_client) -> TestClient:
    # aiohttp_client last: torn down first, so the app stops before its databases go.
    return await aiohttp_client(create_app(staff_settings))


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


@pytest.fixture
async def browsers(served: TestClient) -> AsyncIterator:
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(served))
        return made[-1]

    yield make
    for b in made:
        await b.http.close()


# ---------------------------------------------------------------- the browser

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


@pytest.fixture
def chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); no browser is downloaded")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
