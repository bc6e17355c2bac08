"""The whole service over HTTP: real PostgreSQL and Redis, a Graph API stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.devtools.seed import DEMO_CSV, seed
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.settings import Settings
from kmcbot.storage.keys import outbox_key
from tests.support.e2e import (
    Citizen,
    HoldableStandIn,
    bot_settings,
    serve_standin,
)
from tests.support.factories import make_centre, make_slot
from tests.support.net import free_port
from tests.support.serve import KMCBOT, bot_env, run, stop, wait_until_healthy


@pytest.fixture
async def standin(aiohttp_server) -> HoldableStandIn:
    return await serve_standin(aiohttp_server)


@pytest.fixture
def settings(pg_url: str, redis_url: str, standin: GraphStandIn) -> Settings:
    return bot_settings(
        pg_url, redis_url, standin, verify_token="verify-me", id_pepper=b"e2e-pepper", dev=False
    )


@pytest.fixture
async def client(settings: Settings, pg, aiohttp_client) -> TestClient:
    # aiohttp_client last: it is torn down first, so the app stops before its databases go.
    centre = await make_centre(pg, "Roxy Cinema")
    for start in (10, 12, 14):
        from datetime import time

        await make_slot(pg, centre, capacity=5, start=time(start, 0))
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def citizen(client: TestClient, standin: GraphStandIn) -> Citizen:
    return Citizen(client, standin, "919800000001")


# ---------------------------------------------------------------- the demo city


@pytest.fixture
async def demo_centres(pg_url: str, pg) -> dict[str, int]:
    """The shipped Kolkata demo centres and 14 days of their sessions from today
    (Kolkata's today), loaded as `kmcbot seed --demo` does; centre code -> id."""
    await seed(pg_url, DEMO_CSV, datetime.now(IST).date(), days=14)
    return {r["code"]: r["id"] for r in await pg.fetch("SELECT code, id FROM centres")}


@pytest.fixture
async def demo_client(settings: Settings, demo_centres, aiohttp_client) -> TestClient:
    # aiohttp_client last: it is torn down first, so the app stops before its databases go.
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def citizens(
    demo_client: TestClient, standin: GraphStandIn, redis: aioredis.Redis, settings: Settings
) -> Callable[[str], Citizen]:
    """Citizens of the demo city: `citizens("919800000101")`."""

    def make(wa_id: str) -> Citizen:
        return Citizen(
            demo_client, standin, wa_id, redis=redis, outbox=outbox_key(settings.redis_prefix, 0)
        )

    return make


@pytest.fixture
async def bot(pg_url: str, redis_url: str, tmp_path: Path):
    """A seeded `kmcbot serve` in dev mode on a free port: (its URL, its env)."""
    env = bot_env(pg_url, redis_url)
    assert "centres" in await run("seed", "--demo", env=env, timeout=60)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = await asyncio.create_subprocess_exec(
            KMCBOT, "serve", "--port", str(port), env=env,
            stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, server, log)
        yield url, env
    finally:
        await stop(server)
