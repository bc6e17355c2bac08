"""A day of Kolkata in minutes: N citizens book through kmcbot on one machine.

1. A fresh database seeded with `kmcbot seed --city` (293 centres, ~100,000
   places a day for 14 days) and a spare Redis db number (bench/harness.py).
2. `kmcbot serve --workers 2` replying to the load generator's Graph stand-in.
3. N citizens arrive on a day's curve (a morning and an evening peak, 08:00
   to 20:00 compressed into --minutes), each a whole conversation of the load
   test's mix (`kmcbot loadtest --arrivals N --curve day`). At most
   --max-open are under way at once; later ones wait for room (a backlog).
4. At the end: lost replies, doubled replies and overbooked slots (each must
   be 0); every booking a citizen was told about on its centre's roster in
   PostgreSQL, at the centre and slot it picked, and every cancelled one off
   it; throughput and webhook p50/p99 per minute; the memory of kmcbot (both
   workers), Redis and PostgreSQL; an HTML page with the charts.

Exit status 0 when every check holds; 1 (with the reason on stderr) when one
fails or the day does not finish within --timeout (it stops then, it does not
hang). Prints numbers; on a shared machine read them as noisy.

    .venv/bin/python bench/day.py --citizens 2000 [--minutes M] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from asyncio.subprocess import DEVNULL
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from harness import (
    BIN,
    ROOT,
    SECRET,
    TOKEN,
    Server,
    bot_env,
    free_port,
    fresh_database,
    postgres_mib,
    profiled,
    redis_used_mib,
    rss_mib,
    service_cpu_seconds,
    service_cpu_used,
    show_profile,
    spare_redis_db,
)

from kmcbot.booking import admin_repo
from kmcbot.booking.model import IST
from kmcbot.devtools import loadgen
from kmcbot.devtools.loadgen import arrivals, timeline
from kmcbot.devtools.loadgen.charts import report_page
from kmcbot.devtools.loadgen.report import Report

SECONDS_PER_CITIZEN = 0.006  # the default window: 100,000 citizens in 10 minutes
SAMPLE_EVERY_S = 2.0


def say(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


async def roster_check(
    db_url: str, report_booked: dict[str, tuple[str, str]], cancelled: list[str]
) -> dict[str, int]:
    """Every booking the citizens hold is booked at the centre and slot they picked and on
    that centre's roster for its day; every cancelled one is cancelled and off it."""
    cancelled_set = set(cancelled)
    held = {ref: pick for ref, pick in report_booked.items() if ref not in cancelled_set}
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=4)
    try:
        rows = await pool.fetch(
            """SELECT b.reference, b.status, s.centre_id, s.id AS slot_id, s.day
               FROM bookings b JOIN slots s ON s.id = b.slot_id
               WHERE b.reference = ANY($1::text[])""",
            list(report_booked),
        )
        found = {r["reference"]: r for r in rows}
        wrong = missing = 0
        by_roster: dict[tuple[int, date], set[str]] = defaultdict(set)
        for ref, (centre, slot) in held.items():
            r = found.get(ref)
            if r is None:
                missing += 1
            elif (
                r["status"] != "booked"
                or str(r["centre_id"]) != centre
                or str(r["slot_id"]) != slot
            ):
                wrong += 1
            else:
                by_roster[r["centre_id"], r["day"]].add(ref)
        not_on_roster = 0
        for (centre_id, day), refs in by_roster.items():
            _, lines = await admin_repo.roster(pool, centre_id, day)
            not_on_roster += len(refs - {line["reference"] for line in lines})
        still_booked = sum(
            1 for ref in cancelled_set if ref in found and found[ref]["status"] != "cancelled"
        )
        in_db = await pool.fetchval("SELECT count(*) FROM bookings WHERE status = 'booked'")
    finally:
        await pool.close()
    return {
        "held": len(held),
        "missing": missing,
        "wrong_centre_or_slot": wrong,
        "not_on_roster": not_on_roster,
        "cancelled_still_booked": still_booked,
        "booked_unknown_to_citizens": int(in_db) - len(held),
    }


def reminder_hour_outside(seconds: float) -> int:
    """A KMCBOT_REMINDER_HOUR the day's run does not reach. From hour 21 or 23 reminders
    are queued in that one hour (IST) only; the run's hours hold one of them at most.
    A reminder arriving mid-conversation would be taken by the citizen for the bot's
    reply: reminders are the relay's business, not the day's conversations."""
    start = datetime.now(IST)
    hours = {(start + timedelta(seconds=t)).hour for t in range(0, int(seconds) + 60, 60)}
    return 23 if 23 not in hours else 21


async def relayed_notices(db_url: str) -> Counter[str]:
    """Messages the relay sent each number outside the chat (day-before reminders, and
    booking news whose chat reply was not confirmed in time), by number. They are
    not replies: a day that runs past KMCBOT_REMINDER_HOUR (Kolkata time) and 5
    minutes sends tomorrow's bookings their reminders."""
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            """SELECT b.wa_id, sum(n.tries) AS sent FROM notifications n
               JOIN bookings b ON b.id = n.booking_id
               WHERE n.tries > 0 GROUP BY b.wa_id"""
        )
    finally:
        await conn.close()
    return Counter({r["wa_id"]: int(r["sent"]) for r in rows})


def per_minute(report: Report) -> list[timeline.Bucket]:
    """Minutes of the run (10 s in a run under 5 minutes, where minutes say little)."""
    s = report.stats
    assert s is not None
    size = 60.0 if report.seconds >= 300 else 10.0
    began, seconds = report.began_at, report.seconds
    return timeline.buckets(
        began, seconds, s.sent_at, s.webhook, s.arrivals, s.errors_at, s.memory, size
    )


async def main(args: argparse.Namespace) -> int:
    window = args.minutes * 60 if args.minutes else max(10.0, args.citizens * SECONDS_PER_CITIZEN)
    timeout = args.timeout or window * 1.4 + 60
    standin_port, bot_port = free_port(), free_port()
    bot_url = f"http://127.0.0.1:{bot_port}"
    logs = Path(tempfile.mkdtemp(prefix="kmcbot-day-"))
    report_path = args.report or logs / "day.html"
    say(
        f"a day of {args.citizens:,} citizens arriving over {window:,.0f} s on the day curve "
        f"(peak {arrivals.peak_ratio('day'):.1f}x the mean), at most {args.max_open} under way; "
        f"stops at {timeout:,.0f} s; logs in {logs}"
    )
    async with (
        fresh_database(args.pg_url, "day") as db_url,
        spare_redis_db(args.redis_url) as redis_url,
    ):
        env = bot_env(db_url, redis_url, standin_port)
        env["KMCBOT_REMINDER_HOUR"] = str(reminder_hour_outside(timeout + 120))
        started = time.monotonic()
        seed = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kmcbot",
            "seed",
            "--city",
            env=env,
            cwd=ROOT,
            stdout=DEVNULL,
            stderr=DEVNULL,
        )
        if await seed.wait():
            say("kmcbot seed --city failed")
            return 1
        say(f"seeded the city in {time.monotonic() - started:.1f} s")
        serve = [
            sys.executable,
            "-m",
            "kmcbot",
            "serve",
            "--port",
            str(bot_port),
            "--workers",
            str(args.workers),
        ]
        bot = Server("kmcbot", serve, env, logs, ROOT)
        try:
            await bot.ready(bot_url + "/webhook")
            return await day(
                args, bot, bot_url, db_url, redis_url, standin_port, window, timeout, report_path
            )
        finally:
            bot.stop()


async def day(
    args: argparse.Namespace,
    bot: Server,
    bot_url: str,
    db_url: str,
    redis_url: str,
    standin_port: int,
    window: float,
    timeout: float,
    report_path: Path,
) -> int:
    redis_now = {"mb": await redis_used_mib(redis_url)}
    pg_now = {"mb": postgres_mib(), "at": time.monotonic()}

    def sample() -> dict[str, float]:
        # PostgreSQL's PSS reads every process's smaps: every 10 s is enough.
        if time.monotonic() - pg_now["at"] >= 10:
            pg_now.update(mb=postgres_mib(), at=time.monotonic())
        return {
            "kmcbot": rss_mib(bot.proc.pid),
            "Redis": redis_now["mb"],
            "PostgreSQL": pg_now["mb"],
        }

    async def redis_memory() -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY_S)
            with contextlib.suppress(Exception):
                redis_now["mb"] = await redis_used_mib(redis_url)

    opts = loadgen.Options(
        url=bot_url,
        citizens=args.max_open,
        arrivals=args.citizens,
        curve="day",
        arrive_over=window,
        duration=timeout,  # no message is sent after it: the day stops, it does not hang
        mix="full",
        app_secret=SECRET.encode(),
        standin_port=standin_port,
        standin_token=TOKEN,
        phone_number_id="bench",  # the bot's (bench/harness.py): payloads for another are ignored
        database_url=db_url,
        seed=args.seed,
        progress=sys.stderr.isatty(),
        linger=3.0,
        sampler=sample,
        sample_every=SAMPLE_EVERY_S,
    )
    cpu0, services0 = bot.cpu_seconds(), service_cpu_seconds()
    raw = report_path.with_suffix(".pyspy.txt")
    async with profiled(args.profile, bot.proc.pid, raw):
        run = asyncio.create_task(loadgen.run(opts))
        watcher = asyncio.create_task(redis_memory())
        try:
            while not run.done():  # a bot that dies ends the day at once, clearly
                await asyncio.wait({run}, timeout=1.0)
                if bot.proc.poll() is not None and not run.done():
                    run.cancel()
                    say(f"kmcbot exited during the day ({bot.proc.returncode}); see {bot.log}")
                    return 1
            report = run.result()
        finally:
            watcher.cancel()
    cpu = bot.cpu_seconds() - cpu0
    services = service_cpu_used(services0, service_cpu_seconds())
    # Every citizen arrived and none was cut off by the deadline.
    arrived = report.conversations_started.get("book", 0)
    finished = arrived == args.citizens and report.conversations_abandoned_at_end == 0
    assert report.stats is not None
    roster = await roster_check(db_url, report.stats.booked, report.stats.cancelled)
    notices = await relayed_notices(db_url)
    doubled = sum(
        max(0, n - report.stats.posted[to] - notices[to]) for to, n in report.stats.replied.items()
    )
    rss, redis_mb, pg_mb = rss_mib(bot.proc.pid), await redis_used_mib(redis_url), postgres_mib()
    summary = {
        "citizens": args.citizens,
        "messages": report.messages,
        "seconds": report.seconds,
        "msg_per_s": report.messages_per_s,
        "lost": report.replies_missing,
        "doubled": doubled,
        "notices": sum(notices.values()),
        "overbooked": report.overbooking_violations,
        "p50_ms": report.webhook_ms["p50"],
        "p99_ms": report.webhook_ms["p99"],
        "p99_first_tenth_ms": report.p99_first_tenth_ms,
        "p99_last_tenth_ms": report.p99_last_tenth_ms,
        "reply_p99_ms": report.reply_ms["p99"],
        "rss_mb": round(rss, 1),
        "redis_mb": round(redis_mb, 1),
        "postgres_mb": round(pg_mb, 1),
        "bookings": report.bookings_made,
        "cancellations": report.cancellations,
        "errors": sum(report.errors.values()),
        "roster": roster,
        "cpu_ms_per_msg": {
            "kmcbot": round(1000 * cpu / max(report.messages, 1), 3),
            **{k: round(1000 * services[k] / max(report.messages, 1), 3) for k in services},
        },
        "arrival_delay_p99_s": report.arrival_delay_p99_s,
        "finished": finished,
        "window_s": window,
        "report": str(report_path),
    }
    show(report, summary)
    if args.profile:
        show_profile(raw, report.seconds, "over the day")
    extra = [
        (
            "citizens",
            f"{args.citizens:,} arriving over {window:,.0f} s (day curve), "
            f"at most {args.max_open} under way",
        ),
        (
            "lost / doubled / overbooked",
            f"{summary['lost']} / {summary['doubled']} / {summary['overbooked']} "
            f"(and {summary['notices']} notices outside the chat)",
        ),
        ("roster", ", ".join(f"{k} {v}" for k, v in roster.items())),
        (
            "memory at the end",
            f"kmcbot {rss:.0f} MB, Redis {redis_mb:.0f} MB, PostgreSQL {pg_mb:.0f} MB",
        ),
    ]
    html = report_page(report, f"A day of {args.citizens:,} citizens", extra)
    await asyncio.to_thread(report_path.write_text, html, encoding="utf-8")
    failures = [
        f"{name} {summary[name]}"
        for name in ("lost", "doubled", "overbooked")
        if summary[name] != 0
    ]
    failures += [f"roster: {k} {v}" for k, v in roster.items() if k != "held" and v != 0]
    if not finished:
        failures.append(f"the day did not finish within --timeout {timeout:.0f} s")
    if summary["errors"]:
        failures.append(f"errors {report.errors}")
    if args.json:
        print(orjson.dumps(summary).decode())
    if failures:
        say("FAILED: " + "; ".join(failures))
        return 1
    return 0


def show(report: Report, s: dict[str, Any]) -> None:
    print(report.text())
    rows = per_minute(report)
    minutes = bool(rows) and rows[0].seconds == 60
    print(f"\n== per {'minute' if minutes else '10 s'} of the run")
    head = "minute" if minutes else "from s"
    print(f"  {head:>6}   messages    msg/s   p50 ms   p99 ms  replies  errors")
    for b in rows:
        at = b.start / 60 if minutes else b.start
        print(
            f"  {at:6.0f} {b.messages:10,} {b.messages_per_s:8.1f} {b.p50_ms:8.1f} "
            f"{b.p99_ms:8.1f} {b.replies:8,} {b.errors:7}"
        )
    print(
        f"\n  p99 first tenth {s['p99_first_tenth_ms']:.1f} ms, "
        f"last tenth {s['p99_last_tenth_ms']:.1f} ms; "
        f"arrivals waited for room p99 {s['arrival_delay_p99_s']:.2f} s"
    )
    print(f"  roster          {s['roster']}")
    print(
        f"  replies         {s['lost']} lost, {s['doubled']} doubled, not counting "
        f"{s['notices']} notices the relay sent outside the chat (reminders, news)"
    )
    print(
        f"  memory          kmcbot {s['rss_mb']:.1f} MB (both workers), "
        f"Redis {s['redis_mb']:.1f} MB "
        f"(the whole instance), PostgreSQL {s['postgres_mb']:.1f} MB (PSS, every process)"
    )
    print(f"  CPU per message {s['cpu_ms_per_msg']} ms")
    print(f"  report          {s['report']}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--citizens", type=int, required=True, help="citizens arriving over the day")
    p.add_argument(
        "--minutes",
        type=float,
        help="the day compressed into this many minutes [citizens x 0.006 s]",
    )
    p.add_argument(
        "--max-open", type=int, default=500, help="citizens under way at once at most [500]"
    )
    p.add_argument(
        "--timeout", type=float, help="stop after this many seconds [1.4 x the window + 60]"
    )
    p.add_argument("--workers", type=int, default=2, help="kmcbot serve --workers [2]")
    p.add_argument("--report", type=Path, help="the HTML page [day.html in the logs folder]")
    p.add_argument("--seed", type=int, default=23, help="random seed of the citizens' choices")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    p.add_argument(
        "--profile", action="store_true", help="record kmcbot with py-spy; print the top functions"
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get(
            "KMCBOT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    p.add_argument(
        "--redis-url", default=os.environ.get("KMCBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    )
    parsed = p.parse_args()
    if parsed.citizens < 1:
        p.error("--citizens must be at least 1")
    if parsed.profile and not (BIN / "py-spy").exists():  # before any database or server
        p.error(f"--profile needs py-spy: {BIN / 'pip'} install py-spy")
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    sys.exit(asyncio.run(main(parsed)))
