"""What logging costs per message: kmcbot with KMCBOT_LOG_LEVEL=info against
KMCBOT_LOG_LEVEL=warning, in one run, on the same database and Redis.

The same full-conversation mix (the load generator and its Graph stand-in) at
a fixed offered rate against `kmcbot serve` started with each level in turn
(A-B, then B-A with --rounds 2, to spread the machine's drift over both).
Prints, per side: messages, the server's CPU per message, log lines and bytes
per message; and first, in this process, what one line and issue 24's other
per-message additions cost (microseconds, best of 5, lines written to
/dev/null): steadier than the CPU of a whole server on a shared machine.
Asserts nothing:

    .venv/bin/python bench/log_cost.py [--duration 25] [--rate 500] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from asyncio.subprocess import DEVNULL
from dataclasses import replace
from pathlib import Path

from harness import ROOT, SECRET, TOKEN, Server, bot_env, free_port, fresh_database, spare_redis_db

from kmcbot.devtools import loadgen


def per_line_costs() -> None:
    """One log line (the canonical `message`, `reply_sent`), the correlation id, the
    funnel's counting, the callback data: microseconds each, in this process."""
    import timeit

    import structlog

    from kmcbot import logs
    from kmcbot.messages import Choice
    from kmcbot.observe import events, funnel
    from kmcbot.outbox.entry import callback_data

    saved = os.dup(2)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the lines go nowhere; the work is done
    try:
        logs.setup("json")
        log, tap = structlog.get_logger(), Choice("x")
        wamid = "wamid.HBgMOTE5ODAwMDAwMTExFQIAERgSQjZGOTUwRDRFNzg2MUEzN0VEAA=="
        cases = {
            "a message line": lambda: log.info(
                "message",
                user="ab12cd34ef56ab78",
                cid="0123456789ab",
                type="choice",
                outcome="ok",
                state="menu",
                replies=1,
                ms=1.23,
            ),  # fmt: skip
            "a reply_sent line": lambda: events.sent(
                cid="0123456789ab", user="ab12cd34ef56ab78", news=(), bodies=1
            ),
            "correlation_id": lambda: events.correlation_id(b"pepper", wamid),
            "funnel.count_turn": lambda: funnel.count_turn(
                before="vaccine",
                after="dose_date",
                lang="en",
                content=tap,
                booked=False,
                expired_at=None,
            ),  # fmt: skip
            "callback_data": lambda: callback_data("0123456789ab", ()),
        }
        costs = {
            name: min(timeit.repeat(f, number=20_000, repeat=5)) / 20_000 * 1e6
            for name, f in cases.items()
        }
    finally:
        os.dup2(saved, 2)
    for name, us in costs.items():
        print(f"  {name:20} {us:6.2f} us")


async def one_side(
    level: str, n: int, args: argparse.Namespace, db_url: str, redis_url: str, logs: Path
) -> dict[str, float]:
    standin_port, port = free_port(), free_port()
    env = bot_env(db_url, redis_url, standin_port) | {"KMCBOT_LOG_LEVEL": level}
    argv = [sys.executable, "-m", "kmcbot", "serve", "--port", str(port), "--workers", "1"]
    bot = Server(f"kmcbot-{level}-{n}", argv, env, logs, ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        await bot.ready(url + "/webhook")
        opts = loadgen.Options(
            url=url,
            citizens=args.citizens,
            ramp_up=2,
            rate=args.rate,
            duration=args.duration,
            mix="full",
            app_secret=SECRET.encode(),
            standin_port=standin_port,
            standin_token=TOKEN,
            phone_number_id="bench",
        )
        await loadgen.run(replace(opts, duration=3))  # warm-up: pools, imports, caches
        before_cpu, before_log = bot.cpu_seconds(), bot.log.stat().st_size
        before_lines = bot.log.read_bytes().count(b"\n")
        report = await loadgen.run(opts)
        cpu = bot.cpu_seconds() - before_cpu
        size = bot.log.stat().st_size - before_log
        lines = bot.log.read_bytes().count(b"\n") - before_lines
    finally:
        bot.stop()
    per = 1 / max(report.messages, 1)
    return {
        "messages": report.messages,
        "msg_per_s": report.messages_per_s,
        "cpu_ms": cpu * 1000 * per,
        "lines": lines * per,
        "bytes": size * per,
        "p99_ms": report.webhook_ms["p99"],
    }


async def main(args: argparse.Namespace) -> None:
    async with (
        fresh_database(args.pg_url) as db_url,
        spare_redis_db(args.redis_url) as redis_url,
    ):
        env = bot_env(db_url, redis_url, free_port())
        seed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kmcbot", "seed", "--demo",
            env=env, cwd=ROOT, stdout=DEVNULL, stderr=DEVNULL,
        )  # fmt: skip
        if await seed.wait():
            raise SystemExit("kmcbot seed --demo failed")
        logs = Path(tempfile.mkdtemp(prefix="kmcbot-logcost-"))
        print("in this process, per call:")
        per_line_costs()
        print(
            f"{os.cpu_count()} CPUs shared with the load generator, PostgreSQL, Redis and"
            f" whatever else runs; mix at {args.rate:g} msg/s offered, {args.duration:g} s a side"
        )
        results: dict[str, list[dict[str, float]]] = {"info": [], "warning": []}
        for n in range(args.rounds):
            order = ("info", "warning") if n % 2 == 0 else ("warning", "info")
            for level in order:
                got = await one_side(level, n, args, db_url, redis_url, logs)
                results[level].append(got)
                print(
                    f"  {level:8} round {n + 1}: {got['messages']:6.0f} messages "
                    f"({got['msg_per_s']:6.0f}/s), {got['cpu_ms']:.3f} ms CPU per message, "
                    f"{got['lines']:.2f} log lines and {got['bytes']:.0f} bytes per message, "
                    f"webhook p99 {got['p99_ms']:.1f} ms"
                )
        mean = {k: sum(r["cpu_ms"] for r in v) / len(v) for k, v in results.items()}
        print(
            f"\nmean CPU per message: info {mean['info']:.3f} ms, warning "
            f"{mean['warning']:.3f} ms; logging at info costs "
            f"{mean['info'] - mean['warning']:+.3f} ms per message"
        )
        print(f"server logs: {logs}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--rate", type=float, default=500, help="offered msg/s [500]")
    p.add_argument("--duration", type=float, default=25, help="seconds a side [25]")
    p.add_argument("--citizens", type=int, default=300)
    p.add_argument("--rounds", type=int, default=1, help="1: info then warning; 2: and back")
    sys.exit(asyncio.run(main(p.parse_args())))
