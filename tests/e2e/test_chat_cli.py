"""`kmcbot chat` against a real `kmcbot serve` process in dev mode, as the README
tells a developer to try it: seed the demo, serve, chat, type numbers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

KMCBOT = str(Path(sys.executable).with_name("kmcbot"))  # the venv's console script
WA_ID = "919800000201"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


@pytest.fixture
async def bot(pg_url: str, redis_url: str, tmp_path: Path):
    """A seeded `kmcbot serve` in dev mode on a free port: (its URL, its env)."""
    env = bot_env(pg_url, redis_url)
    assert "centres" in await run("seed", "--demo", env=env, timeout=60)
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = await asyncio.create_subprocess_exec(
            KMCBOT, "serve", "--port", str(port), env=env,
            stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, server, log)
        yield url, env
    finally:
        await stop(server)


async def test_chat_shows_the_welcome_and_the_menu_with_numbered_options(bot) -> None:
    url, env = bot

    out = await run(
        "chat", "--url", url, "--wa-id", WA_ID, env=env, stdin=b"hi\n1\n1\n/quit\n", timeout=60
    )

    assert f"Chatting as {WA_ID} with {url}" in out
    welcome = out.index("  1. English\n  2. বাংলা\n  3. हिन्दी")
    menu = out.index("What would you like to do?\n  1. Book 2nd dose\n  2. My bookings\n  3. Help")
    vaccines = out.index("Which vaccine was your 1st dose?\n  1. Covishield")
    assert "Welcome to KMC's vaccine booking." in out[:welcome]
    assert "Language: English." in out[welcome:menu]
    assert welcome < menu < vaccines
