"""kmcbot through a real PgBouncer in transaction pooling mode (KMCBOT_PGBOUNCER=1).

A `pgbouncer` process is started on a free port in front of a database of its
own, with fewer server connections (default_pool_size) than the client pool
has, so consecutive statements of one asyncpg connection really run on
different server connections. Migrations, seeding and racing bookings must all
work there, and the same pool without the setting must not. Skips when the
`pgbouncer` binary is not installed (Debian: `apt-get install pgbouncer`).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncpg
import pytest
from structlog.testing import capture_logs

from kmcbot.booking import repository
from kmcbot.booking.commands import Booked, Refused
from kmcbot.devtools import seed
from kmcbot.jobs import purge
from kmcbot.settings import SQL_DIR, from_env
from kmcbot.storage import postgres as db
from tests.support.databases import admin_sql, with_database
from tests.support.factories import assert_counts_consistent, book_effect

SERVER_POOL = 3  # PgBouncer's server connections to the database
CLIENT_POOL = 20  # asyncpg connections to PgBouncer: far more than SERVER_POOL


def _pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    # Debian installs it in /usr/sbin, which a normal user's PATH may lack.
    return "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_host(server_url: str) -> str:
    """The host name, or the unix socket directory, of the tests' PostgreSQL."""
    parts = urlsplit(server_url)
    return parts.hostname or unquote(dict(parse_qsl(parts.query)).get("host", "127.0.0.1"))


def _server_connstr(server_url: str, database: str) -> str:
    """The PgBouncer [databases] entry for `database` on the tests' PostgreSQL."""
    parts = urlsplit(server_url)
    port = parts.port or int(dict(parse_qsl(parts.query)).get("port", 5432))
    fields = {"host": _server_host(server_url), "port": port, "dbname": database}
    fields["user"] = unquote(parts.username or "postgres")
    if parts.password:
        fields["password"] = unquote(parts.password)
    return " ".join(f"{k}='{v}'" for k, v in fields.items())


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {proc.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen on {port} within 10 s:\n{log.read_text()}")


async def _probe(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=5, statement_cache_size=0)
    try:
        await conn.fetchval("SELECT 1", timeout=5)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def bouncer(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a fresh, empty database, reached only through PgBouncer."""
    binary = _pgbouncer_binary()
    if binary is None:
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    name = f"kmcbot_test_{os.getpid()}_pgbouncer"
    user = unquote(urlsplit(pg_server_url).username or "postgres")
    work = tmp_path_factory.mktemp("pgbouncer")
    proc: subprocess.Popen[bytes] | None = None
    asyncio.run(admin_sql(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin_sql(pg_server_url, f'CREATE DATABASE "{name}"'))
    try:
        # What the README asks of operators: kmcbot's timeouts on the role (here
        # only in this database, and dropped with it), since the pool cannot send them.
        asyncio.run(
            admin_sql(
                with_database(pg_server_url, name),
                ";".join(
                    f'ALTER ROLE "{user}" IN DATABASE "{name}" SET {k} = \'{v}\''
                    for k, v in db.SERVER_TIMEOUTS.items()
                ),
            )
        )
        port = _free_port()
        (work / "users.txt").write_text(f'"{user}" ""\n')
        (work / "pgbouncer.ini").write_text(
            f"""[databases]
{name} = {_server_connstr(pg_server_url, name)}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {work / "users.txt"}
pool_mode = transaction
default_pool_size = {SERVER_POOL}
max_client_conn = 500
"""
        )
        # PgBouncer refuses to run as root; it reads its files, then drops to -u:
        # the owner of a unix socket's directory (the embedded server's), else nobody.
        as_user = []
        if os.geteuid() == 0:
            host = _server_host(pg_server_url)
            owner = pwd.getpwuid(os.stat(host).st_uid).pw_name if host.startswith("/") else "root"
            as_user = ["-u", owner if owner != "root" else "nobody"]
        log = work / "pgbouncer.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [binary, *as_user, str(work / "pgbouncer.ini")], stdout=out, stderr=out
            )
        url = f"postgresql://{user}@127.0.0.1:{port}/{name}"
        _wait_for_port(proc, port, log)
        try:  # PgBouncer reaches the server (else asyncpg would wait 60 s to say so)
            asyncio.run(_probe(url))
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            raise RuntimeError(f"no query through pgbouncer: {exc!r}\n{log.read_text()}") from exc
        yield url
    finally:
        if proc is not None:
            proc.terminate()  # SIGTERM: PgBouncer's immediate shutdown
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        asyncio.run(admin_sql(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def migrated(bouncer: str) -> list[list[str]]:
    """Four migration runs at once through PgBouncer, as four servers starting together."""

    async def run() -> list[list[str]]:
        return list(await asyncio.gather(*(db.migrate(bouncer, SQL_DIR) for _ in range(4))))

    return asyncio.run(run())


def test_the_setting_is_off_unless_asked_for() -> None:
    assert from_env({}).pgbouncer is False
    assert from_env({"KMCBOT_PGBOUNCER": "1"}).pgbouncer is True
    assert from_env({"KMCBOT_PGBOUNCER": "off"}).pgbouncer is False


async def test_racing_migrations_apply_each_file_once_and_leave_no_lock(
    bouncer: str, migrated: list[list[str]], pg_server_url: str
) -> None:
    files = [p.name for _, p in db.migration_files(SQL_DIR)]
    assert sorted(sum(migrated, [])) == files
    assert await db.migrate(bouncer, SQL_DIR) == []
    conn = await asyncpg.connect(with_database(pg_server_url, urlsplit(bouncer).path[1:]))
    try:
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(files)
        # No session-level advisory lock stranded on one of PgBouncer's connections.
        assert await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    finally:
        await conn.close()


async def test_bookings_race_through_pgbouncer_without_overbooking(
    bouncer: str, migrated: list[list[str]]
) -> None:
    centres, slots = await seed.seed(bouncer, seed.DEMO_CSV, date.today(), days=3)
    assert centres > 0 and slots > 0
    with capture_logs() as logs:
        pool = await db.create_pool(
            bouncer, min_size=CLIENT_POOL, max_size=CLIENT_POOL, pgbouncer=True
        )
    try:
        # The role gives every server connection kmcbot's timeouts: no warning.
        assert not [e for e in logs if e["event"] == "pgbouncer_without_server_timeouts"]
        assert await pool.fetchval("SELECT current_setting('lock_timeout')") == "2s"
        assert await pool.fetchval("SELECT current_setting('application_name')") == "kmcbot"

        # One hot slot with 5 places, and 20 other slots.
        hot, *others = [
            r["id"]
            for r in await pool.fetch(
                "SELECT id FROM slots WHERE vaccine = 'covishield' AND starts_at > now() + "
                "interval '1 hour' ORDER BY id LIMIT 21"
            )
        ]
        await pool.execute("UPDATE slots SET capacity = 5 WHERE id = $1", hot)

        # One asyncpg connection's statements land on several server connections.
        async with pool.acquire() as conn:
            pids = set()
            for _ in range(30):
                pids.add(await conn.fetchval("SELECT pg_backend_pid()"))
                await asyncio.sleep(0)
        busy_pids: set[int] = set()

        async def book(n: int, slot: int) -> Booked | Refused:
            result = await repository.book(pool, f"9198{n:08d}", book_effect(slot, n))
            busy_pids.add(await pool.fetchval("SELECT pg_backend_pid()"))
            return result

        hot_results = [book(n, hot) for n in range(60)]
        other_results = [book(1000 + n, others[n % len(others)]) for n in range(200)]
        results = await asyncio.gather(*hot_results, *other_results)

        assert len(pids | busy_pids) > 1, "every statement ran on one server connection"
        hot_booked = [r for r in results[:60] if isinstance(r, Booked)]
        assert len(hot_booked) == 5
        assert all(isinstance(r, Booked) for r in results[60:])
        assert await pool.fetchval("SELECT booked FROM slots WHERE id = $1", hot) == 5

        # Cancellations race with fresh bookings of the freed places.
        cancels = [
            repository.cancel(pool, f"9198{1000 + n:08d}", r.booking.reference)
            for n, r in enumerate(results[60:80])
            if isinstance(r, Booked)
        ]
        more = [book(5000 + n, others[n % len(others)]) for n in range(40)]
        await asyncio.gather(*cancels, *more)
        await assert_counts_consistent(pool)
        # Releases do not reset the lent server connection's session (application_name).
        assert await pool.fetchval("SELECT current_setting('application_name')") == "kmcbot"
        # The one-shot commands' own connections work there too (seed did, above).
        assert await purge.purge(bouncer, 30) == 0
    finally:
        await pool.close()


async def test_kmcbot_warns_when_the_role_lacks_the_timeouts(pg_server_url: str) -> None:
    # Directly on the server's postgres database, whose role has no such settings.
    with capture_logs() as logs:
        pool = await db.create_pool(pg_server_url, min_size=1, max_size=1, pgbouncer=True)
    await pool.close()
    warnings = [e for e in logs if e["event"] == "pgbouncer_without_server_timeouts"]
    assert warnings and set(warnings[0]["missing"]) == set(db.SERVER_TIMEOUTS)


async def test_the_role_timeouts_apply_through_pgbouncer(
    bouncer: str, migrated: list[list[str]], pg_server_url: str
) -> None:
    direct = await asyncpg.connect(with_database(pg_server_url, urlsplit(bouncer).path[1:]))
    pool = await db.create_pool(bouncer, min_size=2, max_size=2, pgbouncer=True)
    try:
        async with direct.transaction():
            await direct.execute("LOCK TABLE centres IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            with pytest.raises(asyncpg.LockNotAvailableError):
                await pool.fetchval("SELECT count(*) FROM centres")
            assert time.monotonic() - started < 3.5  # lock_timeout 2s, not command_timeout 4s
    finally:
        await pool.close()
        await direct.close()


async def test_without_the_setting_the_pool_fails_through_pgbouncer(
    bouncer: str, migrated: list[list[str]]
) -> None:
    # kmcbot's direct-connection start-up parameters: PgBouncer refuses them.
    with pytest.raises(asyncpg.PostgresError, match="unsupported startup parameter"):
        await db.create_pool(bouncer, min_size=1, max_size=1, pgbouncer=False)

    # And with only application_name, asyncpg's named prepared statements break as
    # soon as statements hop between server connections.
    pool = await asyncpg.create_pool(
        bouncer, min_size=CLIENT_POOL, max_size=CLIENT_POOL, server_settings=db.PGBOUNCER_SETTINGS
    )
    assert pool is not None
    errors: list[BaseException] = []

    async def query(n: int) -> None:
        for i in range(20):
            try:
                await pool.fetchval("SELECT $1::int + $2::int", n, i)
            except asyncpg.PostgresError as exc:
                errors.append(exc)
                return

    try:
        await asyncio.gather(*(query(n) for n in range(CLIENT_POOL * 2)))
    finally:
        pool.terminate()
    assert errors, "named prepared statements worked through transaction pooling"
    assert any("prepared statement" in str(e) for e in errors), errors[:3]
