"""Test databases and Redis db numbers: URLs, the run's claim on a db, admin SQL."""

from __future__ import annotations

import os
import socket
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

CLAIM = "kmcbot-tests:claimed-by"  # bench/compare.py claims its db the same way


CLAIM_TTL_S = 3600  # a run that dies leaves its claim for an hour at most


OWNER = f"{socket.gethostname()}:{os.getpid()}"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def with_redis_db(url: str, number: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query))
        query["db"] = str(number)
        # Spelled out: urlunsplit would drop the "//" of a URL with no host.
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{number}"))


async def admin_sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def empty_test_db(url: str) -> None:
    """Flush this run's Redis db, keeping its claim."""
    client = aioredis.from_url(url)
    try:
        async with client.pipeline(transaction=True) as pipe:
            await pipe.flushdb().set(CLAIM, OWNER, ex=CLAIM_TTL_S).execute()
    finally:
        await client.aclose()
