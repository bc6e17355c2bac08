"""The migration runner applies each numbered file once, even when raced."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from kmcbot.storage import postgres as db


def test_migration_files_are_numbered_and_ordered(sql_dir: Path) -> None:
    files = db.migration_files(sql_dir)
    numbers = [n for n, _ in files]
    assert numbers == sorted(numbers) and numbers[0] == 1


def test_two_files_with_one_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1;")
    (tmp_path / "001_b.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="share a number"):
        db.migration_files(tmp_path)


async def test_migrate_twice_applies_nothing_the_second_time(pg_url: str, sql_dir: Path) -> None:
    # pg_url is already migrated (copied from the template).
    assert await db.migrate(pg_url, sql_dir) == []


async def test_concurrent_migrations_apply_each_file_once(
    pg_server_url: str, tmp_path: Path
) -> None:
    from tests.support.databases import admin_sql, with_database

    name = "kmcbot_test_concurrent_migrate"
    await admin_sql(pg_server_url, f'DROP DATABASE IF EXISTS "{name}"')
    await admin_sql(pg_server_url, f'CREATE DATABASE "{name}"')
    url = with_database(pg_server_url, name)
    # Not idempotent on purpose: applied twice, the second CREATE TABLE would fail.
    (tmp_path / "001_one.sql").write_text("CREATE TABLE one (x int); SELECT pg_sleep(0.2);")
    (tmp_path / "002_two.sql").write_text("CREATE TABLE two (x int);")
    try:
        results = await asyncio.gather(*(db.migrate(url, tmp_path) for _ in range(4)))
        assert sorted(sum(results, [])) == ["001_one.sql", "002_two.sql"]
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 2
        finally:
            await conn.close()
    finally:
        await admin_sql(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_failing_migration_leaves_nothing_half_applied(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "900_bad.sql").write_text("CREATE TABLE half (x int); SELECT no_such_function();")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await db.migrate(pg_url, tmp_path)
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert not await conn.fetchval("SELECT 1 FROM schema_migrations WHERE version = 900")
    finally:
        await conn.close()
