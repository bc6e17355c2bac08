"""The `kmcbot` command as an operator runs it: one clear line for each mistake, no traceback."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg

from kmcbot.data.demo import CENTRES_CSV
from tests.reliability.conftest import REPO, base_env

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
