"""PostgreSQL: the connection pool and the numbered-migration runner."""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger()

# Any constant shared by every kmcbot process: only one of them migrates at a time.
MIGRATION_LOCK = 0x6B6D63626F74  # "kmcbot"
MIGRATION_FILE = re.compile(r"^(\d{3,})_[\w-]+\.sql$")

# A stuck lock or a runaway query must fail fast (and answer 5xx so WhatsApp
# delivers again) rather than hang the webhook.
SERVER_SETTINGS = {
    "lock_timeout": "2s",
    "statement_timeout": "3s",
    "idle_in_transaction_session_timeout": "30s",
    "application_name": "kmcbot",
}


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        server_settings=SERVER_SETTINGS,
        # A server that stops answering must not hold a webhook past the message's
        # lease (10 s): give up on a query after 4 s and on a connection after 5 s.
        command_timeout=4,
        timeout=5,
    )
    assert pool is not None
    return pool


def migration_files(sql_dir: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(sql_dir.iterdir()):
        match = MIGRATION_FILE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    numbers = [n for n, _ in found]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"two migrations share a number in {sql_dir}")
    return found


async def migrate(url: str, sql_dir: Path) -> list[str]:
    """Apply each numbered SQL file once, in order, each in its own transaction.

    An advisory lock makes concurrent runs (two servers starting together) wait
    for each other instead of applying a file twice.
    """
    applied: list[str] = []
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for number, path in migration_files(sql_dir):
                if number in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        number,
                        path.name,
                    )
                applied.append(path.name)
                log.info("migration_applied", migration=path.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied
