"""The staff console against real PostgreSQL and Redis: a served app, a Graph
stand-in, two centres with sessions today and tomorrow, and an account each."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from datetime import time

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.settings import Settings
from kmcbot.staff import accounts
from tests.support.factories import make_slot
from tests.support.staff import (
    CHROMIUM,
    PASSWORD,
    SHOTS,
    STAFF_SECRET,
    Browser,
    City,
    add_centre,
    book,
    move_to,
)


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


@pytest.fixture
async def browsers(served: TestClient) -> AsyncIterator:
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(served))
        return made[-1]

    yield make
    for b in made:
        await b.http.close()


@pytest.fixture
def chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); no browser is downloaded")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
