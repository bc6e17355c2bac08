"""PostgreSQL: the connection pool and the numbered-migration runner."""

from __future__ import annotations

import os
import re
from pathlib import Path

import asyncpg
import structlog

from kmcbot.settings import SettingsError, unreachable

log = structlog.get_logger()

# Any constant shared by every kmcbot process: only one of them migrates at a time.
MIGRATION_LOCK = 0x6B6D63626F74  # "kmcbot"
MIGRATION_FILE = re.compile(r"^(\d{3,})_[\w-]+\.sql$")

# A stuck lock or a runaway query must fail fast (and answer 5xx so WhatsApp
# delivers again) rather than hang the webhook.
SERVER_TIMEOUTS = {
    "lock_timeout": "2s",
    "statement_timeout": "3s",
    "idle_in_transaction_session_timeout": "30s",
}
SERVER_SETTINGS = {**SERVER_TIMEOUTS, "application_name": "kmcbot"}

# Through PgBouncer in transaction pooling mode (KMCBOT_PGBOUNCER=1):
#
# * No named prepared statements. Consecutive transactions of one pooled
#   connection run on different server connections, where a statement prepared
#   on another one does not exist (or exists under the same name from another
#   client). With statement_cache_size=0 asyncpg uses the unnamed statement and
#   parses it again in the same round trip as it runs it.
# * Only start-up parameters PgBouncer tracks: it refuses a connection that asks
#   for any other ("unsupported startup parameter"). application_name and
#   client_encoding are two of them. asyncpg always asks for 'utf-8', which
#   PgBouncer compares as text with the server's 'UTF8' and so sends a
#   `SET client_encoding` before every transaction; asking for 'UTF8' (the later
#   value wins) makes them equal.
# * No session reset when a connection goes back to the pool: asyncpg's default
#   (RESET ALL, pg_advisory_unlock_all(), ...) would run on whichever server
#   connection is lent at that moment, reset application_name to '' for the
#   following transactions, and cost a round trip per release. Under
#   transaction pooling a connection has no session state of its own to reset;
#   an open transaction is still rolled back.
#
# The server-side timeouts then come from the role the server connections log
# in as: `ALTER ROLE kmcbot IN DATABASE kmcbot SET lock_timeout = '2s'` and so
# on (README, "Several machines"). The server applies them to every connection
# PgBouncer opens, at no cost per transaction. The alternatives are worse:
# `SET LOCAL` in every transaction is one more round trip each, and does not
# cover the queries that run outside one (availability, My bookings); a session
# `SET` from the pool's init lands on whichever server connection is lent at
# that moment, and stays there for other clients. So kmcbot only checks at
# start-up that the role has them, and warns in its log if it does not.
# asyncpg's client-side command_timeout applies in both modes.
PGBOUNCER_SETTINGS = {"application_name": "kmcbot", "client_encoding": "UTF8"}


async def _no_session_reset(conn: asyncpg.Connection) -> None:
    return None


def _pgbouncer_from_env() -> bool:
    from kmcbot.settings import _flag

    return _flag(os.environ.get("KMCBOT_PGBOUNCER"), "KMCBOT_PGBOUNCER")


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, pgbouncer: bool | None = None
) -> asyncpg.Pool:
    """A pool with kmcbot's timeouts; `pgbouncer` None: from KMCBOT_PGBOUNCER."""
    if pgbouncer is None:
        pgbouncer = _pgbouncer_from_env()
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        server_settings=PGBOUNCER_SETTINGS if pgbouncer else SERVER_SETTINGS,
        statement_cache_size=0 if pgbouncer else 100,  # 100: asyncpg's default
        # No session reset on release in either mode (see above): kmcbot leaves no
        # session state on a pooled connection (its advisory locks are transaction
        # locks), and the default reset was a round trip per release: 13% of
        # kmcbot's CPU in the full-conversation mix.
        reset=_no_session_reset,
        # A server that stops answering must not hold a webhook past the message's
        # lease (10 s): give up on a query after 4 s and on a connection after 5 s.
        command_timeout=4,
        timeout=5,
    )
    assert pool is not None
    if pgbouncer:
        await _check_role_timeouts(pool)
    return pool


async def _check_role_timeouts(pool: asyncpg.Pool) -> None:
    names = list(SERVER_TIMEOUTS)
    row = await pool.fetchrow(
        "SELECT " + ", ".join(f"current_setting('{n}') AS {n}" for n in names)
    )
    assert row is not None
    missing = [n for n in names if row[n] in ("0", "0ms")]
    if missing:
        log.warning(
            "pgbouncer_without_server_timeouts",
            missing=missing,
            fix="ALTER ROLE <role> IN DATABASE <db> SET <name> = '<value>' (see README)",
            wanted=SERVER_TIMEOUTS,
        )


def migration_files(sql_dir: Path) -> list[tuple[int, Path]]:
    if not sql_dir.is_dir():
        raise SettingsError(f"KMCBOT_SQL_DIR {sql_dir} is not a directory")
    found = []
    for path in sorted(sql_dir.iterdir()):
        match = MIGRATION_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    numbers = [n for n, _ in found]
    if len(set(numbers)) != len(numbers):
        raise SettingsError(f"KMCBOT_SQL_DIR {sql_dir}: two migrations share a number")
    return found


# Inside a migration's transaction: no timeouts (a role may carry kmcbot's 2 s
# lock_timeout, and waiting for another process's migration is what the lock is
# for), then the lock. One round trip, simple protocol, no parameters.
_LOCK_FOR_MIGRATION = (
    "SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0; "
    f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
)


async def migrate(url: str, sql_dir: Path) -> list[str]:
    """Apply each numbered SQL file once, in order, each in its own transaction.

    Each transaction first takes a transaction-level advisory lock and then
    checks again that its file is not applied yet, so concurrent runs (two
    servers starting together) wait for each other instead of applying a file
    twice. Lock, check and file share one transaction, so this holds through
    PgBouncer in transaction pooling mode too, where a session-level lock could
    be taken and released on two different server connections. No named
    prepared statements, for the same reason.
    """
    files = migration_files(sql_dir)
    if not files:  # a wrong KMCBOT_SQL_DIR would leave the database without its tables
        raise SettingsError(f"KMCBOT_SQL_DIR {sql_dir} holds no migrations (001_name.sql, ...)")
    applied: list[str] = []
    try:
        conn = await asyncpg.connect(url, statement_cache_size=0)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise unreachable("PostgreSQL", url, exc) from None
    try:
        async with conn.transaction():
            await conn.execute(_LOCK_FOR_MIGRATION)
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for number, path in files:
            if number in done:
                continue
            async with conn.transaction():
                await conn.execute(_LOCK_FOR_MIGRATION)
                if await conn.fetchval(
                    "SELECT true FROM schema_migrations WHERE version = $1", number
                ):
                    continue  # another process applied it while we waited for the lock
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    number,
                    path.name,
                )
            applied.append(path.name)
            log.info("migration_applied", migration=path.name)
    finally:
        await conn.close()
    return applied
