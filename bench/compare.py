"""kmcbot against the floor, on one machine, in one run.

1. A fresh PostgreSQL database (created, seeded with `kmcbot seed --demo`,
   dropped at the end) and a spare Redis db number (claimed the way the e2e
   tests claim theirs, flushed before and after).
2. `kmcbot serve` (PostgreSQL-backed, replies to the load generator's
   Graph API stand-in) and bench/floor.py, both on 127.0.0.1.
3. The same storm of first messages (new citizens, each saying "Hi") against
   both: throughput, latencies and their ratio; kmcbot's RSS and Redis memory
   per session after that many distinct citizens (and, with --profile, a
   py-spy profile of kmcbot under the storm and in each mix).
4. The full-conversation mix against kmcbot at a fixed offered rate, then
   flat out, with the overbooking check.

Prints numbers; asserts nothing about timings. Run it on a quiet machine and
read the figures as noisy anyway:

    .venv/bin/python bench/compare.py [--storm 5000] [--mix-rate 1000 --mix-duration 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from asyncio.subprocess import DEVNULL
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import psutil
import redis.asyncio as aioredis

from kmcbot.devtools import loadgen
from kmcbot.devtools.loadgen.runner import Report
from kmcbot.storage.sessions import SessionStore

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET, TOKEN, PEPPER, PREFIX = "bench-secret", "bench-token", "bench-pepper", "kmcbot"
CLAIM = "kmcbot-tests:claimed-by"  # tests/conftest.py skips a Redis db claimed this way
WARM_UP = 200  # first messages to each server before measuring (pools, imports, caches)
SAMPLE_CITIZENS = 500  # whose keys MEMORY USAGE measures
PY_SPY_HZ = 250


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
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    name = f"kmcbot_bench_{os.getpid()}"
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


async def redis_figures(url: str) -> tuple[int, int, float]:
    """(used_memory_dataset in bytes, session keys, mean MEMORY USAGE of a citizen's keys).

    The dataset figure leaves out client buffers, which swing by megabytes with
    the number of connections and would swamp the sessions' share.
    """
    client = aioredis.from_url(url)
    store = SessionStore(client, PREFIX)
    try:
        used = int((await client.info("memory"))["used_memory_dataset"])
        tags = []
        async for key in client.scan_iter(match=f"{PREFIX}:{{*}}:*:s", count=1000):
            tags.append(key.decode().split(":")[-2])  # kmcbot:{shard}:<tag>:s
        sample, total = tags[:SAMPLE_CITIZENS], 0
        for tag in sample:  # every key of the citizen but the short-lived lock and lease
            names = {k: v for k, v in store.keys(tag).items() if k not in ("lock", "processing")}
            for name in names.values():
                total += await client.memory_usage(name) or 0
    finally:
        await client.aclose()
    return used, len(tags), total / max(len(sample), 1)


def top_own(raw: Path, n: int = 10) -> tuple[int, list[tuple[str, int]]]:
    """py-spy's collapsed stacks -> (samples, the n functions with the most own samples)."""
    own: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        own[re.sub(r":\d+\)$", ")", leaf)] += int(count)  # one function, all its lines
    return sum(own.values()), own.most_common(n)


def show(title: str, r: Report, cpu: dict[str, float]) -> None:
    print(f"\n== {title}\n{r.text()}")
    print(
        f"  server CPU      {cpu['server']:.2f} ms per message (its own processes); "
        f"PostgreSQL {cpu['PostgreSQL']:.2f} ms, Redis {cpu['Redis']:.2f} ms"
    )


async def storm(url: str, args: argparse.Namespace, port: int, n: int) -> Report:
    return await loadgen.run(
        loadgen.Options(
            url=url,
            citizens=args.citizens,
            conversations=n,
            mix="hi",
            app_secret=SECRET.encode(),
            standin_port=port,
            standin_token=TOKEN,
            phone_number_id="bench",
        )
    )


async def main(args: argparse.Namespace) -> None:
    standin_port, bot_port, floor_port = free_port(), free_port(), free_port()
    bot_url, floor_url = f"http://127.0.0.1:{bot_port}", f"http://127.0.0.1:{floor_port}"
    async with (
        fresh_database(args.pg_url) as db_url,
        spare_redis_db(args.redis_url) as redis_url,
    ):
        logs = Path(tempfile.mkdtemp(prefix="kmcbot-bench-"))
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
        }
        env.pop("KMCBOT_DEV", None)
        cwd = ROOT
        if args.src:  # kmcbot from a scratch copy of the tree, for before/after figures
            env["PYTHONPATH"], cwd = args.src, Path(args.src)  # "-m" puts cwd first on the path
        kmcbot = [sys.executable, "-m", "kmcbot"]
        seed = await asyncio.create_subprocess_exec(
            *kmcbot, "seed", "--demo", env=env, cwd=cwd, stdout=DEVNULL, stderr=DEVNULL
        )
        if await seed.wait():
            raise SystemExit("kmcbot seed --demo failed")
        serve = [*kmcbot, "serve", "--port", str(bot_port), "--workers", str(args.workers)]
        bot = Server("kmcbot", serve, env, logs, cwd)
        floor_argv = [
            sys.executable,
            str(ROOT / "bench" / "floor.py"),
            "--port",
            str(floor_port),
            "--redis-url",
            redis_url,
            "--app-secret",
            SECRET,
            "--token",
            TOKEN,
            "--graph-url",
            f"http://127.0.0.1:{standin_port}",
        ]
        floor = Server("floor", floor_argv, env, logs, ROOT)
        try:
            await bot.ready(bot_url + "/webhook")
            await floor.ready(floor_url + "/webhook")
            urls = (bot_url, floor_url)
            await run_phases(args, bot, floor, urls, redis_url, db_url, standin_port, logs)
        finally:
            bot.stop()
            floor.stop()
        print(f"\nserver logs: {logs}")


def service_cpu_seconds() -> dict[str, float]:
    """User + system CPU of every PostgreSQL and Redis process on the machine."""
    total = {"PostgreSQL": 0.0, "Redis": 0.0}
    for p in psutil.process_iter(["name", "cpu_times"]):
        name = p.info["name"] or ""
        kind = "PostgreSQL" if name.startswith("postgres") else "Redis" if "redis" in name else ""
        if kind and p.info["cpu_times"] is not None:
            total[kind] += p.info["cpu_times"].user + p.info["cpu_times"].system
    return total


async def measured(server: Server, run: Awaitable[Report]) -> tuple[Report, dict[str, float]]:
    """A load run, and CPU ms per inbound message: the server's own, and
    PostgreSQL's and Redis's (machine-wide: only the run should be using them)."""
    before, services = server.cpu_seconds(), service_cpu_seconds()
    report = await run
    per = 1000 / max(report.messages, 1)
    used = service_cpu_seconds()
    cpu = {k: (used[k] - services[k]) * per for k in used}
    return report, {"server": (server.cpu_seconds() - before) * per, **cpu}


async def run_phases(
    args: argparse.Namespace,
    bot: Server,
    floor: Server,
    urls: tuple[str, str],
    redis_url: str,
    db_url: str,
    port: int,
    logs: Path,
) -> None:
    bot_url, floor_url = urls
    print(
        f"{os.cpu_count()} CPUs; load generator, servers, PostgreSQL and Redis share them. "
        "Other work on the machine makes every figure noisy; CPU per message is the steadiest."
    )
    await storm(bot_url, args, port, WARM_UP)
    await storm(floor_url, args, port, WARM_UP)
    if "storm" in args.phases:
        await storms(args, bot, floor, urls, redis_url, port, logs)
    if "mix" in args.phases:
        await mixes(args, bot, bot_url, db_url, port, logs)


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


async def storms(
    args: argparse.Namespace,
    bot: Server,
    floor: Server,
    urls: tuple[str, str],
    redis_url: str,
    port: int,
    logs: Path,
) -> None:
    bot_url, floor_url = urls
    rss0, (mem0, sessions0, _) = rss_mib(bot.proc.pid), await redis_figures(redis_url)
    raw = logs / "storm.pyspy.txt"
    async with profiled(args.profile, bot.proc.pid, raw):
        kmc, kmc_cpu = await measured(bot, storm(bot_url, args, port, args.storm))
    show(f"storm of first messages -> kmcbot ({args.storm} new citizens)", kmc, kmc_cpu)
    rss1, (mem1, sessions1, usage) = rss_mib(bot.proc.pid), await redis_figures(redis_url)
    new_sessions = max(sessions1 - sessions0, 1)
    print(
        f"  kmcbot RSS      {rss0:.1f} MiB before, {rss1:.1f} MiB after "
        f"{args.storm} distinct citizens ({(rss1 - rss0) * 1024 / args.storm:.2f} KiB each)"
    )
    print(
        f"  Redis memory    INFO used_memory_dataset {(mem1 - mem0) / 2**20:+.2f} MiB for "
        f"{new_sessions} new sessions: {(mem1 - mem0) / new_sessions:.0f} bytes per session "
        "(instance-wide: anyone else's use of this Redis shows too)"
    )
    print(
        f"  Redis memory    MEMORY USAGE of a citizen's keys (session, profile, seen ids, rate "
        f"counter): {usage:.0f} bytes (mean of {min(sessions1, SAMPLE_CITIZENS)} citizens)"
    )

    flo, flo_cpu = await measured(floor, storm(floor_url, args, port, args.storm))
    show(f"storm of first messages -> floor ({args.storm} new citizens)", flo, flo_cpu)
    print("\n== kmcbot / floor")
    pairs = [("throughput msg/s", kmc.messages_per_s, flo.messages_per_s)]
    pairs += [(f"webhook {q} ms", kmc.webhook_ms[q], flo.webhook_ms[q]) for q in ("p50", "p99")]
    pairs += [(f"reply {q} ms", kmc.reply_ms[q], flo.reply_ms[q]) for q in ("p50", "p99")]
    pairs += [("CPU ms/message", kmc_cpu["server"], flo_cpu["server"])]
    for name, k, f in pairs:
        print(f"  {name:17} {k:8.2f} / {f:8.2f} = {k / max(f, 1e-9):.2f}")
    if args.profile:
        show_profile(raw, kmc.seconds, "under the storm")


async def mixes(
    args: argparse.Namespace, bot: Server, bot_url: str, db_url: str, port: int, logs: Path
) -> None:
    for rate in (args.mix_rate, 0):
        opts = loadgen.Options(
            url=bot_url,
            citizens=args.mix_citizens,
            ramp_up=args.mix_ramp_up,
            rate=rate,
            duration=args.mix_duration,
            mix="full",
            app_secret=SECRET.encode(),
            standin_port=port,
            standin_token=TOKEN,
            phone_number_id="bench",
            database_url=db_url,
        )
        # py-spy takes CPU too: a profiled run's latencies are not the table's.
        raw = logs / f"mix-{rate:g}.pyspy.txt"
        async with profiled(args.profile, bot.proc.pid, raw):
            report, cpu = await measured(bot, loadgen.run(opts))
        how = f"offered {rate:g} msg/s" if rate else "flat out"
        show(f"full-conversation mix -> kmcbot, {how}, {args.mix_duration:g} s", report, cpu)
        if args.profile:
            show_profile(raw, report.seconds, f"in the mix, {how}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--storm", type=int, default=3000, help="new citizens in each storm")
    p.add_argument("--citizens", type=int, default=100, help="concurrent citizens in the storm")
    p.add_argument("--mix-rate", type=float, default=1000, help="offered msg/s for the mix")
    p.add_argument("--mix-duration", type=float, default=20, help="seconds per mix run")
    p.add_argument("--mix-citizens", type=int, default=300)
    p.add_argument(
        "--mix-ramp-up", type=float, default=5, help="seconds over which the mix's citizens start"
    )
    p.add_argument("--workers", type=int, default=1, help="kmcbot serve --workers")
    p.add_argument(
        "--profile", action="store_true", help="py-spy kmcbot in its storm and both mixes"
    )
    p.add_argument(
        "--phases", default="storm,mix", help="which to run: storm (with the floor), mix"
    )
    p.add_argument("--src", help="run kmcbot from this source tree (a scratch copy)")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    parsed = p.parse_args()
    if parsed.profile and not (BIN / "py-spy").exists():  # before any database or server
        p.error(f"--profile needs py-spy: {BIN / 'pip'} install py-spy")
    parsed.src = parsed.src and str(Path(parsed.src).resolve())
    asyncio.run(main(parsed))
