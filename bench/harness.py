"""What the benchmarks share: a fresh database, a spare Redis db, a server process.

bench/compare.py, bench/day.py and bench/growth.py run kmcbot on this machine
against throwaway state: a PostgreSQL database created for the run and dropped
after it, and a Redis db number claimed the way the tests claim theirs (so a
test run and a benchmark never flush each other's keys), flushed before and
after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from asyncio.subprocess import DEVNULL
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import psutil
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET, TOKEN, PEPPER, PREFIX = "bench-secret", "bench-token", "bench-pepper", "kmcbot"
PY_SPY_HZ = 250
CLAIM = "kmcbot-tests:claimed-by"  # tests/conftest.py skips a Redis db claimed this way


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    """VmRSS of a process and its children (for `serve --workers N`), in MiB."""
    total = 0
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        status = Path(f"/proc/{p.pid}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    return total / 1024


def with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, tag: str = "bench") -> AsyncIterator[str]:
    name = f"kmcbot_{tag}_{os.getpid()}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_path(server_url, "/" + name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def spare_redis_db(server_url: str) -> AsyncIterator[str]:
    owner = f"bench:{socket.gethostname()}:{os.getpid()}"
    for number in (15, 14, *range(12, 0, -1)):  # 13 is the unit tests' (unclaimed)
        url = with_path(server_url, f"/{number}")
        client = aioredis.from_url(url)
        if await client.set(CLAIM, owner, nx=True, ex=3600):
            break
        await client.aclose()
    else:
        raise SystemExit("every Redis db number is claimed")

    async def empty() -> None:
        async with client.pipeline(transaction=True) as pipe:
            pipe.flushdb()
            pipe.set(CLAIM, owner, ex=3600)
            await pipe.execute()

    await empty()
    try:
        yield url
    finally:
        await empty()
        await client.delete(CLAIM)
        await client.aclose()


def bot_env(db_url: str, redis_url: str, standin_port: int) -> dict[str, str]:
    """kmcbot's settings for a benchmark: signed webhooks, replies to the load
    generator's Graph stand-in, a send rate that is never the bottleneck."""
    env = os.environ | {
        "KMCBOT_DATABASE_URL": db_url,
        "KMCBOT_REDIS_URL": redis_url,
        "KMCBOT_APP_SECRET": SECRET,
        "KMCBOT_ID_PEPPER": PEPPER,
        "KMCBOT_WA_TOKEN": TOKEN,
        "KMCBOT_WA_PHONE_NUMBER_ID": "bench",
        "KMCBOT_GRAPH_URL": f"http://127.0.0.1:{standin_port}",
        "KMCBOT_SEND_RATE": "10000",  # the most kmcbot allows: never the bottleneck
        "KMCBOT_REDIS_PREFIX": PREFIX,
        "KMCBOT_LOG_FORMAT": "json",
        # Outside dev mode serve needs the staff console's cookie key.
        "KMCBOT_STAFF_SECRET": "bench-staff-cookie-secret-0123456789abcdef",
    }
    env.pop("KMCBOT_DEV", None)
    return env


class Server:
    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, cwd: Path
    ) -> None:
        self.name, self.log = name, log_dir / f"{name}.log"
        with self.log.open("wb") as log:
            # A session of its own: stop() can end its workers too, whatever happens.
            self.proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=log, cwd=cwd, start_new_session=True
            )

    async def ready(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise SystemExit(f"{self.name} exited; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.post(url, data=b"{}") as resp:
                        if resp.status < 500:  # 401 (unsigned) means it is listening
                            return
                await asyncio.sleep(0.2)
        raise SystemExit(f"{self.name} did not start; see {self.log}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its children (the workers)."""
        procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]
        return sum(t.user + t.system for t in (p.cpu_times() for p in procs))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def service_cpu_seconds() -> dict[int, tuple[str, float]]:
    """User + system CPU of every PostgreSQL and Redis process on the machine, by pid.
    `service_cpu_used` turns two of these into seconds used in between."""
    found: dict[int, tuple[str, float]] = {}
    for p in psutil.process_iter(["name", "cpu_times"]):
        name = p.info["name"] or ""
        kind = "PostgreSQL" if name.startswith("postgres") else "Redis" if "redis" in name else ""
        if kind and p.info["cpu_times"] is not None:
            found[p.pid] = (kind, p.info["cpu_times"].user + p.info["cpu_times"].system)
    return found


def service_cpu_used(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds PostgreSQL and Redis used between two snapshots: processes that ended
    meanwhile (someone else's server) drop out, new ones (backends) count from zero."""
    used = {"PostgreSQL": 0.0, "Redis": 0.0}
    for pid, (kind, seconds) in after.items():
        used[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return used


def postgres_mib() -> float:
    """Proportional set size of every PostgreSQL process on the machine (shared buffers
    counted once), in MiB; RSS would count the shared memory once per process."""
    total = 0
    for p in psutil.process_iter(["name"]):
        if (p.info["name"] or "").startswith("postgres"):
            with contextlib.suppress(psutil.Error, OSError):
                total += p.memory_full_info().pss
    return total / 2**20


async def redis_used_mib(url: str) -> float:
    """The Redis server's used_memory (the whole instance, every db number), in MiB."""
    client = aioredis.from_url(url)
    try:
        return int((await client.info("memory"))["used_memory"]) / 2**20
    finally:
        await client.aclose()


def top_own(raw: Path, n: int = 10) -> tuple[int, list[tuple[str, int]]]:
    """py-spy's collapsed stacks -> (samples, the n functions with the most own samples)."""
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a frame's text with a newline in it (a long literal)
            continue
        leaf = stack.rsplit(";", 1)[-1]
        own[re.sub(r":\d+\)$", ")", leaf)] += int(count)  # one function, all its lines
    return sum(own.values()), own.most_common(n)


@contextlib.asynccontextmanager
async def profiled(on: bool, pid: int, raw: Path) -> AsyncIterator[None]:
    """py-spy records `pid` and its workers meanwhile, when `on`."""
    if not on:
        yield
        return
    record = f"record --pid {pid} --format raw --output {raw} --rate {PY_SPY_HZ}"
    spy = await asyncio.create_subprocess_exec(
        BIN / "py-spy",
        *record.split(),
        "--nonblocking",  # sample without pausing kmcbot
        "--subprocesses",  # the workers of serve --workers N
        stdout=DEVNULL,
        stderr=DEVNULL,
    )
    await asyncio.sleep(1)  # let py-spy attach
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
        await asyncio.wait_for(spy.wait(), 30)


def show_profile(raw: Path, seconds: float, title: str) -> None:
    samples, top = top_own(raw)
    busy = samples / PY_SPY_HZ / seconds
    print(
        f"\n== py-spy: kmcbot {title}, top 10 functions by own time "
        f"({samples} samples at {PY_SPY_HZ} Hz: kmcbot busy {100 * busy:.0f}% of one core)"
    )
    for name, count in top:
        print(f"  {100 * count / max(samples, 1):5.1f}%  {name}")
    print(f"  (collapsed stacks: {raw})")
