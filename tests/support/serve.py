"""A real `kmcbot serve` process in dev mode on the test's PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import aiohttp

KMCBOT = str(Path(sys.executable).with_name("kmcbot"))  # the venv's console script


def bot_env(pg_url: str, redis_url: str) -> dict[str, str]:
    """Dev mode on the test's database and Redis; nothing of the caller's KMCBOT_* leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMCBOT_")}
    return env | {
        "KMCBOT_DEV": "1",
        "KMCBOT_DATABASE_URL": pg_url,
        "KMCBOT_REDIS_URL": redis_url,
        "KMCBOT_LOG_FORMAT": "json",
        "PYTHONIOENCODING": "utf-8",
    }


async def run(*args: str, env: dict[str, str], stdin: bytes = b"", timeout: float) -> str:
    """Run `kmcbot ARGS` to its end; its output (stdout and stderr)."""
    proc = await asyncio.create_subprocess_exec(
        KMCBOT, *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.decode()
    assert proc.returncode == 0, f"kmcbot {' '.join(args)} exited {proc.returncode}:\n{text}"
    return text


def died(log: Path) -> str:
    return f"kmcbot serve died:\n{log.read_text()}"


async def wait_until_healthy(url: str, server: asyncio.subprocess.Process, log: Path) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(30):
        while True:
            assert server.returncode is None, died(log)
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
