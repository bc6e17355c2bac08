"""Cost as the work grows: the same load before and after a city's worth of history.

1. A fresh database seeded with `kmcbot seed --city`, a spare Redis db number
   (bench/harness.py), `kmcbot serve --workers 2`.
2. Before: the full-conversation mix at a fixed offered rate; the booking's
   webhook p99 (the Confirm tap, which books in PostgreSQL), the webhook p99 of
   all messages, and CPU per message of kmcbot, PostgreSQL and Redis.
3. History: --bookings past bookings (default 1,000,000: attended, missed or
   cancelled, in sessions of the last days, each slot's count matching) and
   --marks duplicate marks in Redis (default 10,000,000: 10 message ids in the
   7-day seen set of each of a million citizens, as kmcbot's commit writes
   them), then VACUUM ANALYZE.
4. After: the same load again, and the figures side by side, with the
   machine's load average in each phase. `--bookings 0 --marks 0` is the
   control: what the same two phases differ by with no history at all.

The database is dropped and the Redis db flushed at the end. The marks take
about 400 MB of Redis memory while the run lasts; they are written in small
Lua batches so that others using the same Redis are held up for milliseconds
at a time. Prints numbers; asserts nothing:

    .venv/bin/python bench/growth.py [--bookings 1000000] [--marks 10000000]
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
from datetime import timedelta
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from harness import (
    PREFIX,
    ROOT,
    SECRET,
    TOKEN,
    Server,
    bot_env,
    free_port,
    fresh_database,
    redis_used_mib,
    rss_mib,
    service_cpu_seconds,
    service_cpu_used,
    spare_redis_db,
)

from kmcbot.booking.model import kolkata_today
from kmcbot.devtools import loadgen
from kmcbot.devtools.data.city import city_centres, city_slots
from kmcbot.devtools.loadgen.report import Report
from kmcbot.devtools.seed import seed_centres
from kmcbot.storage.sessions import SEEN_TTL_S

MARKS_PER_CITIZEN = 10
SETTLE_S = 10  # after loading the history, before measuring again
MARK_BATCH = 2000  # citizens per Lua call: ~20,000 ZADDs, a few ms of Redis at a time

# One call: `n` citizens from number `first`, each a seen set of `per` message ids
# scored by when they were done (the last 7 days), with the set's TTL, as COMMIT leaves it.
_MARKS = """
local prefix, first, n, per, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
for i = first, first + n - 1 do
  local key = prefix .. string.format('%016x', i) .. ':seen'
  for j = 1, per do
    redis.call('ZADD', key, now - (i * per + j) % ttl, string.format('%015x%01x', i, j))
  end
  redis.call('EXPIRE', key, ttl)
end
return n
"""

# Past sessions filled with bookings nobody will touch again: attended (85%),
# missed (10%), cancelled (5%); each slot's `booked` counts the places they held.
_HISTORY = """
WITH places AS (
    SELECT s.id AS slot_id, s.vaccine, s.day, g AS n
    FROM slots s, generate_series(1, s.capacity) g
    WHERE s.day < $2
    ORDER BY s.day DESC, s.id, g
    LIMIT $1
)
INSERT INTO bookings (reference, code, slot_id, wa_id, id_type, id_hash, id_last4, name,
                      vaccine, first_dose, lang, status, source_message_id, created_at,
                      attended_at)
SELECT 'H-' || lpad(to_hex(row_number() OVER ()), 10, '0'),
       lpad((row_number() OVER () % 10000)::text, 4, '0'),
       slot_id, '9197' || lpad((row_number() OVER ())::text, 8, '0'), 'aadhaar',
       md5('history' || row_number() OVER ()), '1234', 'History Citizen',
       vaccine, day - 100, 'bn',
       CASE WHEN row_number() OVER () % 20 = 0 THEN 'cancelled'
            WHEN row_number() OVER () % 10 = 1 THEN 'missed'
            ELSE 'attended' END,
       'wamid.history.' || row_number() OVER (), day - 10,
       CASE WHEN row_number() OVER () % 20 <> 0 AND row_number() OVER () % 10 <> 1
            THEN day + time '10:30' END
FROM places
"""

_RECOUNT = """
UPDATE slots s SET booked = b.n
FROM (SELECT slot_id, count(*) AS n FROM bookings
      WHERE status IN ('booked', 'attended', 'missed') GROUP BY slot_id) b
WHERE s.id = b.slot_id AND s.day < $1
"""


async def load_history(db_url: str, redis_url: str, bookings: int, marks: int) -> None:
    today = kolkata_today()
    centres = city_centres()
    per_day = sum(s.capacity for s in city_slots(centres, today, 1))
    days = -(-bookings // per_day) + 1  # whole past days of sessions to hold them
    started = time.monotonic()
    await seed_centres(db_url, centres, today - timedelta(days=days), days, city_slots)
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("SET statement_timeout = 0")
        await conn.execute(_HISTORY, bookings, today)
        await conn.execute(_RECOUNT, today)
        await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")  # not in the after phase: its writes would be
        stored = await conn.fetchval("SELECT count(*) FROM bookings")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await conn.close()
    print(
        f"\n== history: {stored:,} bookings in {days} past days of sessions "
        f"(database {size}) in {time.monotonic() - started:.0f} s"
    )
    started = time.monotonic()
    client = aioredis.from_url(redis_url)
    try:
        script = client.register_script(_MARKS)
        citizens = marks // MARKS_PER_CITIZEN
        prefix = f"{PREFIX}:{{0}}:"  # one shard: kmcbot:{0}:<tag>:seen
        now = int(time.time())
        for first in range(0, citizens, MARK_BATCH):
            n = min(MARK_BATCH, citizens - first)
            await script(args=[prefix, first, n, MARKS_PER_CITIZEN, now, SEEN_TTL_S])
        keys = await client.dbsize()
    finally:
        await client.aclose()
    print(
        f"== history: {citizens * MARKS_PER_CITIZEN:,} duplicate marks of {citizens:,} citizens "
        f"in Redis ({keys:,} keys in the db) in {time.monotonic() - started:.0f} s"
    )


async def measure(
    title: str, bot: Server, bot_url: str, db_url: str, port: int, args: argparse.Namespace
) -> dict[str, float]:
    opts = loadgen.Options(
        url=bot_url,
        citizens=args.citizens,
        ramp_up=5.0,
        rate=args.rate,
        duration=args.duration,
        mix="full",
        app_secret=SECRET.encode(),
        standin_port=port,
        standin_token=TOKEN,
        phone_number_id="bench",  # the bot's (bench/harness.py): payloads for another are ignored
        database_url=db_url,
        seed=args.seed,  # a different seed per phase: new numbers, new citizens
    )
    cpu0, services0 = bot.cpu_seconds(), service_cpu_seconds()
    report: Report = await loadgen.run(opts)
    per = 1000 / max(report.messages, 1)
    services = service_cpu_used(services0, service_cpu_seconds())
    figures = {
        "msg/s": report.messages_per_s,
        "booking p50 ms": report.booking_ms["p50"],
        "booking p99 ms": report.booking_ms["p99"],
        "webhook p99 ms": report.webhook_ms["p99"],
        "kmcbot CPU ms/msg": (bot.cpu_seconds() - cpu0) * per,
        "PostgreSQL CPU ms/msg": services["PostgreSQL"] * per,
        "Redis CPU ms/msg": services["Redis"] * per,
        "kmcbot RSS MB": rss_mib(bot.proc.pid),
        "errors": float(sum(report.errors.values())),
        "overbooked": float(report.overbooking_violations or 0),
        # Others' work on the machine moves every figure: the 1-minute load average shows it.
        "machine load (1 min)": os.getloadavg()[0],
    }
    print(f"\n== {title}\n{report.text()}")
    return figures


async def main(args: argparse.Namespace) -> None:
    standin_port, bot_port = free_port(), free_port()
    bot_url = f"http://127.0.0.1:{bot_port}"
    logs = Path(tempfile.mkdtemp(prefix="kmcbot-growth-"))
    print(
        f"{os.cpu_count()} CPUs shared by the load generator, kmcbot, PostgreSQL and Redis "
        "(and anything else running): read every figure as noisy. Logs in " + str(logs)
    )
    async with (
        fresh_database(args.pg_url, "growth") as db_url,
        spare_redis_db(args.redis_url) as redis_url,
    ):
        env = bot_env(db_url, redis_url, standin_port)
        seed = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "kmcbot", "seed", "--city"),
            env=env,
            cwd=ROOT,
            stdout=DEVNULL,
            stderr=DEVNULL,
        )
        if await seed.wait():
            raise SystemExit("kmcbot seed --city failed")
        serve = [sys.executable, "-m", "kmcbot", "serve", "--port", str(bot_port)]
        bot = Server("kmcbot", [*serve, "--workers", str(args.workers)], env, logs, ROOT)
        try:
            await bot.ready(bot_url + "/webhook")
            phase = argparse.Namespace(**{**vars(args), "duration": 5.0, "seed": args.seed})
            await measure("warm-up", bot, bot_url, db_url, standin_port, phase)
            redis0 = await redis_used_mib(redis_url)
            phase = argparse.Namespace(**{**vars(args), "seed": args.seed + 1})
            before = await measure("before", bot, bot_url, db_url, standin_port, phase)
            await load_history(db_url, redis_url, args.bookings, args.marks)
            redis1 = await redis_used_mib(redis_url)
            await asyncio.sleep(SETTLE_S)
            phase.seed = args.seed + 2
            after = await measure("after", bot, bot_url, db_url, standin_port, phase)
        finally:
            bot.stop()
    print(
        f"\n== before / after {args.bookings:,} bookings and {args.marks:,} duplicate marks "
        f"(full mix offered {args.rate:g} msg/s, {args.duration:g} s each)"
    )
    for name in before:
        b, a = before[name], after[name]
        ratio = f"{a / b:5.2f}x" if b else "     -"
        print(f"  {name:22} {b:10.2f} -> {a:10.2f}  {ratio}")
    print(f"  {'Redis used MB':22} {redis0:10.1f} -> {redis1:10.1f}  (the whole instance)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bookings", type=int, default=1_000_000, help="past bookings to store")
    p.add_argument("--marks", type=int, default=10_000_000, help="duplicate marks in Redis")
    p.add_argument("--rate", type=float, default=1000, help="offered msg/s of each measurement")
    p.add_argument("--duration", type=float, default=30, help="seconds of each measurement")
    p.add_argument("--citizens", type=int, default=300, help="concurrent citizens")
    p.add_argument("--workers", type=int, default=2, help="kmcbot serve --workers")
    p.add_argument("--seed", type=int, default=23)
    p.add_argument(
        "--pg-url",
        default=os.environ.get(
            "KMCBOT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    p.add_argument(
        "--redis-url", default=os.environ.get("KMCBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
    )
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(main(p.parse_args()))
