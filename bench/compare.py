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
import sys
import tempfile
from asyncio.subprocess import DEVNULL
from collections.abc import Awaitable
from pathlib import Path

import redis.asyncio as aioredis
from harness import (
    BIN,
    PREFIX,
    ROOT,
    SECRET,
    TOKEN,
    Server,
    bot_env,
    free_port,
    fresh_database,
    profiled,
    rss_mib,
    service_cpu_seconds,
    service_cpu_used,
    show_profile,
    spare_redis_db,
)

from kmcbot.devtools import loadgen
from kmcbot.devtools.loadgen.runner import Report
from kmcbot.storage.sessions import SessionStore

WARM_UP = 200  # first messages to each server before measuring (pools, imports, caches)
SAMPLE_CITIZENS = 500  # whose keys MEMORY USAGE measures


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
        env = bot_env(db_url, redis_url, standin_port)
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


async def measured(server: Server, run: Awaitable[Report]) -> tuple[Report, dict[str, float]]:
    """A load run, and CPU ms per inbound message: the server's own, and
    PostgreSQL's and Redis's (machine-wide: only the run should be using them)."""
    before, services = server.cpu_seconds(), service_cpu_seconds()
    report = await run
    per = 1000 / max(report.messages, 1)
    used = service_cpu_used(services, service_cpu_seconds())
    cpu = {k: v * per for k, v in used.items()}
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
