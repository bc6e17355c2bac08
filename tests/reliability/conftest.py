"""Reliability tests: real servers, real processes, real faults.

What this folder provides:

- a private, persistence-less Redis server per test (the `redis_url` fixture
  is overridden here): the tests can restart it empty, as a crashed Redis
  without persistence comes back, and no other test's FLUSHDB can wipe a
  1,000-citizen race half-way;
- `standin`: the Graph API stand-in on a real 127.0.0.1 port (subprocesses
  reach it), counting every attempt, failed ones included;
- `bots`: real `kmcbot serve` processes (spawned, killed -9, stopped with
  SIGSTOP, restarted), their JSON logs kept per process;
- `app_factory`: the real aiohttp app in this process (faster), with any
  dependency URL swapped for a fault proxy's;
- `hook`: signed webhook POSTs, and redelivery until 200 as WhatsApp does;
- citizens: valid Aadhaar numbers and names, the full conversation as
  messages, and the one shortcut (a session seeded at the confirm step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kmcbot.app import create_app
from kmcbot.settings import Settings
from tests.support.reliability import (
    PEPPER,
    PHONE_ID,
    PREFIX,
    SECRET,
    Bots,
    CountingStandIn,
    Hook,
    RedisServer,
    base_env,
    redis_binary,
)

# ------------------------------------------------------------------ Redis


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[RedisServer | None]:
    binary = redis_binary()
    if binary is None:
        yield None
        return
    server = RedisServer(binary, tmp_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def redis_url(private_redis: RedisServer | None, request: pytest.FixtureRequest) -> str:
    """Overrides the run's claimed db with a private server (see the module doc);
    without a redis-server binary, falls back to the claimed db."""
    if private_redis is not None:
        return private_redis.url
    from tests.support.databases import empty_test_db, with_redis_db

    number = request.getfixturevalue("test_redis_db")
    url = with_redis_db(request.getfixturevalue("redis_server_url"), number)
    await empty_test_db(url)
    return url


# ------------------------------------------------------------ Graph stand-in


@pytest.fixture
async def standin(aiohttp_server) -> CountingStandIn:
    fake = CountingStandIn()
    server = await aiohttp_server(fake.app(), host="127.0.0.1")
    fake.url = str(server.make_url("")).rstrip("/")
    return fake


# ------------------------------------------------------------------ webhook


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=400, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


@pytest.fixture
def hook(http: aiohttp.ClientSession) -> Hook:
    return Hook(http)


# ----------------------------------------------------------------- citizens


# ---------------------------------------------------------- bot processes


@pytest.fixture
def bot_env(pg_url: str, redis_url: str, standin: CountingStandIn) -> dict[str, str]:
    return {
        **base_env(),
        "KMCBOT_DATABASE_URL": pg_url,
        "KMCBOT_REDIS_URL": redis_url,
        "KMCBOT_APP_SECRET": SECRET.decode(),
        "KMCBOT_ID_PEPPER": PEPPER.decode(),
        "KMCBOT_STAFF_SECRET": "reliability-staff-secret-of-32-chars",
        "KMCBOT_GRAPH_URL": standin.url,
        "KMCBOT_WA_TOKEN": standin.token,
        "KMCBOT_WA_PHONE_NUMBER_ID": PHONE_ID,
        "KMCBOT_SEND_RATE": "1000",
        "KMCBOT_LOG_FORMAT": "json",
        "KMCBOT_REDIS_PREFIX": PREFIX,
    }


@pytest.fixture
async def bots(tmp_path: Path, bot_env: dict[str, str]) -> AsyncIterator[Bots]:
    group = Bots(tmp_path, bot_env)
    yield group
    await group.stop_all()


# -------------------------------------------------------- in-process app


@pytest.fixture
def settings(pg_url: str, redis_url: str, standin: CountingStandIn) -> Settings:
    return dataclasses.replace(
        Settings(),
        database_url=pg_url,
        redis_url=redis_url,
        app_secret=SECRET,
        verify_token="verify-me",
        wa_token=standin.token,
        wa_phone_number_id=PHONE_ID,
        graph_url=standin.url,
        send_rate=1000,
        id_pepper=PEPPER,
        dev=False,
        redis_prefix=PREFIX,
        log_format="json",
    )


@pytest.fixture
def app_factory(settings: Settings, aiohttp_client) -> Callable[..., Any]:
    """`await app_factory(**settings_changes)`: a test client on the real app."""

    async def make(**changes: Any):
        return await aiohttp_client(create_app(dataclasses.replace(settings, **changes)))

    return make


# ---------------------------------------------------------------- evidence
