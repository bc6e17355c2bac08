"""The `kmcbot` command as an operator runs it: one clear line for each mistake, no traceback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from kmcbot.booking.model import IST
from kmcbot.devtools.data.demo import CENTRES_CSV
from tests.support.net import free_port
from tests.support.reliability import REPO, base_env

GOOD = CENTRES_CSV.read_text(encoding="utf-8").splitlines()[:3]  # the header and two centres
HEADER, ROXY, BSU = GOOD


def kmcbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmcbot", *args],
        env={**base_env(), "KMCBOT_LOG_FORMAT": "json", **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("kmcbot: "), done.stderr
    for word in words:
        assert word in lines[-1], (word, done.stderr)


async def test_seed_file_refuses_a_bad_csv_naming_the_row_and_loads_nothing(
    pg: asyncpg.Pool, pg_url: str, tmp_path: Path
) -> None:
    cases = {
        "missing_column.csv": (
            [HEADER.removesuffix(",vaccines"), ROXY.rsplit(",", 1)[0]],
            ("line 1", "header"),
        ),
        "bad_vaccine.csv": ([HEADER, ROXY, BSU.replace("covaxin", "covidshield")], ("line 3",)),
        "bad_coordinates.csv": (
            [HEADER, ROXY.replace("22.5633,88.3510", "88.3510,22.5633")],
            ("line 2", "latitude"),
        ),
        "duplicate_code.csv": ([HEADER, ROXY, BSU, ROXY], ("line 4", "ROXY", "line 2")),
    }
    env = {"KMCBOT_DATABASE_URL": pg_url, "KMCBOT_REDIS_URL": "redis://127.0.0.1:1"}
    for name, (lines, words) in cases.items():
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        done = await asyncio.to_thread(kmcbot, "seed", "--file", str(path), env=env)
        assert_one_line_error(done, name, *words)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("\n".join([HEADER, ROXY.replace("Roxy", "Rox\xff")]).encode("latin-1"))
    done = await asyncio.to_thread(kmcbot, "seed", "--file", str(latin1), env=env)
    assert_one_line_error(done, "latin1.csv", "UTF-8")
    missing = await asyncio.to_thread(
        kmcbot, "seed", "--file", str(tmp_path / "nowhere.csv"), env=env
    )
    assert_one_line_error(missing, "nowhere.csv")
    assert await pg.fetchval("SELECT count(*) FROM centres") == 0
    assert await pg.fetchval("SELECT count(*) FROM slots") == 0


async def test_seed_refuses_a_negative_number_of_days(pg: asyncpg.Pool, pg_url: str) -> None:
    env = {"KMCBOT_DATABASE_URL": pg_url, "KMCBOT_REDIS_URL": "redis://127.0.0.1:1"}
    done = await asyncio.to_thread(kmcbot, "seed", "--demo", "--days", "-1", env=env)
    assert done.returncode == 2 and "--days" in done.stderr and "Traceback" not in done.stderr
    assert await pg.fetchval("SELECT count(*) FROM centres") == 0


# Dev mode, and servers that do not answer: no test here may start embedded ones.
DEV = {
    "KMCBOT_DEV": "1",
    "KMCBOT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "KMCBOT_REDIS_URL": "redis://127.0.0.1:1/0",
}


def dev(tmp_path: Path, **urls: str) -> dict[str, str]:
    """DEV with its data (the metrics of --workers) under tmp_path, and these URLs."""
    return DEV | {"KMCBOT_DATA_DIR": str(tmp_path)} | urls


async def test_serve_refuses_a_port_or_worker_count_it_cannot_use() -> None:
    for args in (["--port", "99999"], ["--port", "-1"], ["--workers", "0"]):
        done = await asyncio.to_thread(kmcbot, "serve", *args, env=DEV)
        assert done.returncode == 2 and args[0] in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


async def test_serve_names_a_port_in_use_in_one_line(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = dev(tmp_path, KMCBOT_DATABASE_URL=pg_url, KMCBOT_REDIS_URL=redis_url)
    # Taken with SO_REUSEPORT too, as another `kmcbot serve --workers N` would hold it:
    # a second service must not quietly share the port with the first.
    for reuse_port in (False, True):
        with socket.socket() as taken:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, reuse_port)
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = str(taken.getsockname()[1])
            for workers in ("1", "2"):
                done = await asyncio.to_thread(
                    kmcbot, "serve", "--port", port, "--workers", workers, env=env
                )
                assert_one_line_error(done, f"127.0.0.1:{port}")


async def test_an_unreachable_postgresql_or_redis_is_named_in_one_line(
    pg_url: str, tmp_path: Path
) -> None:
    dead = free_port()
    no_pg = dev(tmp_path, KMCBOT_DATABASE_URL=f"postgresql://kmcbot:s3cret@127.0.0.1:{dead}/kmcbot")
    for command in (["migrate"], ["seed", "--demo"], ["purge", "--days", "3"], ["serve"]):
        done = await asyncio.to_thread(kmcbot, *command, env=no_pg)
        assert_one_line_error(done, "PostgreSQL", f"127.0.0.1:{dead}")
        assert "s3cret" not in done.stderr
    no_redis = dev(
        tmp_path, KMCBOT_DATABASE_URL=pg_url, KMCBOT_REDIS_URL=f"redis://127.0.0.1:{dead}/0"
    )
    for workers in ("1", "2"):
        done = await asyncio.to_thread(
            kmcbot, "serve", "--port", str(free_port()), "--workers", workers, env=no_redis
        )
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert f"kmcbot: Redis at 127.0.0.1:{dead}" in done.stderr, done.stderr


async def test_seed_demo_starts_on_kolkatas_today_whatever_the_servers_zone(
    pg: asyncpg.Pool, pg_url: str
) -> None:
    today = datetime.now(IST).date()
    # One of the two is on another date than Kolkata at any moment.
    zone = next(
        tz for tz in ("Etc/GMT+12", "Etc/GMT-14") if datetime.now(ZoneInfo(tz)).date() != today
    )
    env = {"KMCBOT_DATABASE_URL": pg_url, "KMCBOT_REDIS_URL": "redis://127.0.0.1:1", "TZ": zone}
    done = await asyncio.to_thread(kmcbot, "seed", "--demo", "--days", "2", env=env)
    assert done.returncode == 0, done.stderr
    days = await pg.fetch("SELECT DISTINCT day FROM slots ORDER BY day")
    assert [r["day"] for r in days] == [today, today + timedelta(days=1)]


async def test_chat_names_a_bot_it_cannot_reach_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = await asyncio.to_thread(kmcbot, "chat", "--url", url)
    assert_one_line_error(done, url)


async def test_migrate_refuses_an_sql_dir_without_migrations(
    pg: asyncpg.Pool, pg_url: str, tmp_path: Path
) -> None:
    """Not 'applied 0 migration(s): none needed' over a database left without its schema."""
    for where in (tmp_path, tmp_path / "missing"):
        env = dev(tmp_path, KMCBOT_DATABASE_URL=pg_url, KMCBOT_SQL_DIR=str(where))
        done = await asyncio.to_thread(kmcbot, "migrate", env=env)
        assert_one_line_error(done, "KMCBOT_SQL_DIR", str(where))


async def test_a_data_dir_the_embedded_servers_cannot_use_is_named_in_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    data_dir = str(tmp_path / "a-file" / "kmcbot")
    done = await asyncio.to_thread(kmcbot, "migrate", env={"KMCBOT_DATA_DIR": data_dir})
    assert_one_line_error(done, "KMCBOT_DATA_DIR", data_dir)


async def test_chat_refuses_a_number_whatsapp_would_not_send() -> None:
    """Not 'no /dev/messages: start the bot with KMCBOT_DEV=1' from a bot in dev mode."""
    for bad in ("asha", "98000-ABC", ""):
        done = await asyncio.to_thread(
            kmcbot, "chat", "--url", "http://127.0.0.1:1", "--wa-id", bad
        )
        assert done.returncode == 2 and "--wa-id" in done.stderr, (bad, done.stderr)
        assert "Traceback" not in done.stderr
