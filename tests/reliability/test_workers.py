"""`kmcbot serve --workers 2` stops as a whole: no worker serves on unsupervised.

A worker left running after its parent is gone keeps its outbox lease and its
sender, and so sends replies nobody can stop (a benchmark once found two such
workers sending to a stand-in long gone).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

from tests.support.factories import eventually
from tests.support.reliability import PREFIX, REPO, BotProcess, Bots, free_port


async def two_workers(bots: Bots) -> tuple[BotProcess, list[psutil.Process]]:
    (bot,) = await bots.spawn(1, args=["--workers", "2"])
    workers = psutil.Process(bot.pid).children()
    assert len(workers) == 2, workers
    return bot, workers


async def gone(procs: list[psutil.Process], within: float) -> list[psutil.Process]:
    """Those of `procs` still running after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        await asyncio.sleep(0.1)
    return alive


async def test_sigterm_to_the_parent_stops_every_worker(bots: Bots) -> None:
    bot, workers = await two_workers(bots)
    bot.send(signal.SIGTERM)
    assert bot.proc is not None
    assert await asyncio.wait_for(bot.proc.wait(), 25) == 0
    assert await gone(workers, 1) == []
    events = [e.get("event") for e in bot.logs()]
    assert "stopping" in events


async def test_workers_end_when_the_parent_is_killed(bots: Bots) -> None:
    bot, workers = await two_workers(bots)
    await bot.kill9()
    assert await gone(workers, 25) == []


async def test_a_worker_that_dies_ends_the_service_with_an_error(bots: Bots) -> None:
    bot, workers = await two_workers(bots)
    workers[0].kill()
    assert bot.proc is not None
    assert await asyncio.wait_for(bot.proc.wait(), 25) == 1
    assert await gone(workers, 1) == []
    exited = [e for e in bot.logs() if e.get("event") == "worker_exited"]
    assert [e["exitcode"] for e in exited] == [-signal.SIGKILL]


async def test_a_signal_to_the_whole_group_still_stops_each_worker_once_and_cleanly(
    bots: Bots, redis
) -> None:
    """Ctrl-C in a terminal, or systemd, signals every process of the group: each
    worker then gets the signal twice (again from the parent), and the second
    must not cut its stop short. A sender that stopped cleanly has left the
    senders' register, so the others take its streams at once."""
    bot, workers = await two_workers(bots)
    await eventually(lambda: redis.zcard(f"{PREFIX}:senders"), timeout=10)
    assert bot.proc is not None
    os.killpg(bot.pid, signal.SIGINT)
    assert await asyncio.wait_for(bot.proc.wait(), 25) == 0
    assert await gone(workers, 1) == []
    assert await redis.zcard(f"{PREFIX}:senders") == 0
    events = [e.get("event") for e in bot.logs()]
    assert "stop_timeout" not in events and "worker_killed" not in events


async def test_workers_end_when_the_parent_is_killed_and_its_log_pipe_is_gone(
    bot_env: dict[str, str], tmp_path: Path
) -> None:
    """`kmcbot serve --workers 2 2>&1 | tee log` with the pipeline killed: the
    workers' log lines then fail (broken pipe), and that must not keep the
    workers from noticing that their parent is gone."""
    port = free_port()
    env = bot_env | {"KMCBOT_DATA_DIR": str(tmp_path)}
    parent = subprocess.Popen(  # noqa: ASYNC220 - started once, not waited on here
        [sys.executable, "-m", "kmcbot", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        async def serving() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{port}/healthz") as resp,
                ):
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(serving, timeout=40)
        workers = psutil.Process(parent.pid).children()
        assert len(workers) == 2, workers
        assert parent.stderr is not None
        parent.stderr.close()  # the reading end of the log pipe goes first
        parent.kill()
        parent.wait()
        left = await gone(workers, 25)
        for p in left:
            p.kill()
        assert left == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
