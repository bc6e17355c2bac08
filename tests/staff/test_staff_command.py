"""`kmcbot staff add|list|disable|token|demo` as a real process against real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from kmcbot.staff import accounts
from tests.support.staff import add_centre

REPO = Path(__file__).resolve().parents[2]


def kmcbot(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmcbot", *args],
        env={"PATH": os.environ["PATH"], "KMCBOT_LOG_FORMAT": "json", **env},
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


async def run(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(kmcbot, *args, env=env, stdin=stdin)


async def test_staff_add_list_disable_and_token(pg_url: str, redis_url: str, pg) -> None:
    env = {"KMCBOT_DATABASE_URL": pg_url, "KMCBOT_REDIS_URL": redis_url}
    await add_centre(pg, "HC-A", "Ward 46 Health Centre")

    done = await run(
        "staff", "add", "--centre", "HC-A", "--name", "Rina Das", "--role", "clerk", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "created clerk rina.das at HC-A" in done.stdout
    password = re.search(r"one-time password: (\S+)", done.stdout).group(1)
    assert await accounts.authenticate(pg, "rina.das", password) is not None

    done = await run(
        "staff",
        "add",
        "--name",
        "Op One",
        "--role",
        "operator",
        "--login",
        "op1",
        "--password-stdin",
        env=env,
        stdin="a-password-from-stdin\n",
    )
    assert done.returncode == 0 and "one-time password" not in done.stdout
    assert await accounts.authenticate(pg, "op1", "a-password-from-stdin") is not None

    for bad, message in (
        (("--name", "Xavier Ray", "--role", "clerk"), "give --centre CODE"),
        (
            ("--name", "Xavier Ray", "--role", "clerk", "--centre", "NOPE"),
            "no centre with code NOPE",
        ),
        (("--name", "Rina Das", "--role", "clerk", "--centre", "HC-A"), "taken"),
    ):
        done = await run("staff", "add", *bad, env=env)
        assert done.returncode == 2 and message in done.stderr, done.stderr

    done = await run("staff", "list", env=env)
    assert done.returncode == 0
    assert re.search(r"op1\toperator\t-\tactive\tOp One", done.stdout)
    assert re.search(r"rina.das\tclerk\tHC-A\tactive\tRina Das", done.stdout)

    done = await run("staff", "token", "op1", env=env)
    assert done.returncode == 0 and done.stdout.startswith("kmcs_")
    assert (await accounts.by_api_token(pg, done.stdout.strip())).login == "op1"

    done = await run("staff", "disable", "rina.das", env=env)
    assert done.returncode == 0 and "disabled rina.das" in done.stdout
    assert await accounts.authenticate(pg, "rina.das", password) is None
    done = await run("staff", "list", env=env)
    assert re.search(r"rina.das\tclerk\tHC-A\tdisabled", done.stdout)
    done = await run("staff", "disable", "nobody", env=env)
    assert done.returncode == 2 and "no account nobody" in done.stderr
    actions = await pg.fetch("SELECT action FROM staff_audit ORDER BY id")
    assert [r["action"] for r in actions] == [
        "account_created",
        "account_created",
        "api_token_created",
        "account_disabled",
    ]


async def test_the_demo_desk_is_for_dev_mode_only(pg_url: str, redis_url: str, pg) -> None:
    env = {"KMCBOT_DATABASE_URL": pg_url, "KMCBOT_REDIS_URL": redis_url}
    done = await run("staff", "demo", env=env)
    assert done.returncode == 2 and "dev mode only" in done.stderr
    done = await run("seed", "--demo", "--days", "1", env={**env, "KMCBOT_DEV": "1"})
    assert done.returncode == 0, done.stderr
    for _ in range(2):  # twice: the second run resets the same accounts
        done = await run("staff", "demo", env={**env, "KMCBOT_DEV": "1"})
        assert done.returncode == 0, done.stderr
        assert "staff console: http://127.0.0.1:8080/staff/" in done.stdout
        assert "roxy.clerk" in done.stdout and "kmc.operator" in done.stdout
    assert await accounts.authenticate(pg, "roxy.clerk", "demo-desk-2021") is not None
    assert await pg.fetchval("SELECT count(*) FROM staff_accounts") == 4
