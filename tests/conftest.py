"""Real PostgreSQL and Redis for the tests that need them.

With KMCBOT_TEST_DATABASE_URL / KMCBOT_TEST_REDIS_URL set (as .ci/run does),
the tests use those servers; otherwise they start the embedded ones, so
`make test` passes on a machine with neither. Every test gets a database of
its own (a copy of a migrated template) and a flushed Redis db number, and
both are dropped afterwards. The db number is claimed for the whole run, so
two test runs against one Redis server (two people on one machine) never
flush each other's keys.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from kmcbot.settings import SQL_DIR
from kmcbot.storage import postgres as db
from tests.support.databases import (
    CLAIM,
    CLAIM_TTL_S,
    OWNER,
    admin_sql,
    empty_test_db,
    with_database,
    with_redis_db,
)

_numbers = itertools.count(1)

# Redis db numbers a test run may claim (0 is left to people and `kmcbot serve`).
_SPARE_DBS = range(1, 16)


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("KMCBOT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from kmcbot.devtools.embedded.postgres import start_postgres

    server = start_postgres(tmp_path_factory.mktemp("embedded"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("KMCBOT_TEST_REDIS_URL")
    if url:
        yield url
        return
    from kmcbot.devtools.embedded.redis import start_redis

    server = start_redis(tmp_path_factory.mktemp("embedded-redis"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str) -> Iterator[str]:
    """A migrated database that each test's database is copied from."""
    name = f"kmcbot_test_{os.getpid()}_template"

    async def make() -> None:
        await admin_sql(pg_server_url, f'DROP DATABASE IF EXISTS "{name}"')
        await admin_sql(pg_server_url, f'CREATE DATABASE "{name}"')
        await db.migrate(with_database(pg_server_url, name), SQL_DIR)

    asyncio.run(make())
    yield name
    asyncio.run(admin_sql(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def pg_url(pg_server_url: str, pg_template: str) -> AsyncIterator[str]:
    """The URL of a fresh, migrated database of this test's own."""
    name = f"kmcbot_test_{os.getpid()}_{next(_numbers)}"
    await admin_sql(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield with_database(pg_server_url, name)
    await admin_sql(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(pg_url, min_size=1, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def test_redis_db(redis_server_url: str) -> Iterator[int]:
    """The first spare Redis db number no other test run holds, claimed for this run."""
    import redis as sync_redis

    for number in _SPARE_DBS:
        client = sync_redis.Redis.from_url(with_redis_db(redis_server_url, number))
        if client.set(CLAIM, OWNER, nx=True, ex=CLAIM_TTL_S):
            break
        client.close()
    else:
        pytest.fail("every spare Redis db is claimed by another test run")
    yield number
    if client.get(CLAIM) == OWNER.encode():
        client.delete(CLAIM)
    client.close()


@pytest.fixture
async def redis_url(redis_server_url: str, test_redis_db: int) -> AsyncIterator[str]:
    """This run's own Redis db, empty (but for the claim) at the start and at the end."""
    url = with_redis_db(redis_server_url, test_redis_db)
    await empty_test_db(url)
    yield url
    await empty_test_db(url)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def sql_dir() -> Path:
    return SQL_DIR
