"""The waitlist at release (issue 22): 100,000 citizens waiting, 10,000 places
released at once. How long until every offer is made and queued on the outbox,
and then sent with KMCBOT_SEND_RATE kept.

A fresh database (created and dropped here) and a spare Redis db; the waiting
citizens are inserted directly (as if they had joined through the chat, in a
spread of due dates and joining times), then 100 sessions of 100 places for
tomorrow are created in one statement, as a bulk release would. `--jobs` offer
jobs (kmcbot/waitlist/job.py, one per server process in production) run their
passes at once until every place is offered and told; then an outbox sender
(kmcbot/outbox/sender.py, with the shared rate limiter) sends them to a Graph
API stand-in, and the busiest second at the stand-in is reported beside the
rate, with the longest the event loop was held while the offers were made.
Prints numbers; asserts only that the offers are right (each place
offered once, the first 10,000 in line, nothing overbooked).

    .venv/bin/python bench/waitlist.py [--waiting 100000 --places 10000 --send-rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import Counter
from datetime import datetime, timedelta

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from harness import TOKEN, fresh_database, spare_redis_db

from kmcbot.booking.model import IST
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.outbox.rate import SharedRateLimiter
from kmcbot.outbox.sender import Sender
from kmcbot.settings import SQL_DIR
from kmcbot.storage import postgres as db
from kmcbot.storage.keys import outbox_keys
from kmcbot.waitlist.job import OfferJob
from kmcbot.whatsapp.graph import GraphTransport

PEPPER = b"bench-pepper"


async def load(url: str, waiting: int, places: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """INSERT INTO centres (code, name, kind, borough, ward, address, latitude, longitude)
               SELECT 'W' || n, 'Waitlist Centre ' || n, 'health_centre', 1 + n % 16, n,
                      'Ward ' || n || ', Kolkata', 22.45 + n * 0.002, 88.30 + n * 0.001
               FROM generate_series(1, 100) AS n"""
        )
        # Due over the last 30 days, joined over the last week: the line is mixed.
        await conn.execute(
            """INSERT INTO waitlist (wa_id, id_type, id_hash, id_last4, name, vaccine,
                                     first_dose, earliest, lang, joined_at)
               SELECT '9199' || lpad(n::text, 8, '0'), 'aadhaar', 'bench-' || n,
                      lpad((n % 10000)::text, 4, '0'), 'Citizen', 'covishield',
                      current_date - 120, current_date - (n * 7919 % 30)::int,
                      (ARRAY['en', 'bn', 'hi'])[1 + n % 3],
                      now() - make_interval(secs => (n * 104729 % 604800))
               FROM generate_series(1::bigint, $1::bigint) AS n""",
            waiting,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def release(url: str, places: int) -> None:
    """The bulk release: 100 sessions tomorrow at 10:00, `places` places in all."""
    day = datetime.now(IST).date() + timedelta(days=1)
    per = places // 100
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """INSERT INTO slots (centre_id, vaccine, day, start_time, end_time, starts_at,
                                  capacity)
               SELECT id, 'covishield', $1, '10:00', '12:00', $2, $3 FROM centres""",
            day,
            datetime.combine(day, datetime.min.time().replace(hour=10), IST),
            per,
        )
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    async with (
        fresh_database(args.pg_url, "waitlist") as url,
        spare_redis_db(args.redis_url) as redis_url,
    ):
        await db.migrate(url, SQL_DIR)
        started = time.perf_counter()
        await load(url, args.waiting, args.places)
        print(f"loaded {args.waiting:,} waiting citizens in {time.perf_counter() - started:.1f} s")
        pool = await db.create_pool(url, min_size=2, max_size=10)
        redis = aioredis.from_url(redis_url)
        jobs = [
            OfferJob(
                pool,
                redis,
                pepper=PEPPER,
                hold=timedelta(hours=1),
                template="kmcbot_waitlist_offer",
            )  # fmt: skip
            for _ in range(args.jobs)
        ]
        await release(url, args.places)
        # How long the event loop was held at most while the offers were made (a
        # turn's reply waits that long): a 10 ms ticker's worst lateness.
        stall = [0.0]

        async def ticker() -> None:
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                stall[0] = max(stall[0], time.perf_counter() - t - 0.01)

        ticking = asyncio.create_task(ticker())
        t0 = time.perf_counter()
        first_run = None
        passes = 0
        while True:
            results = await asyncio.gather(*(j.one_pass() for j in jobs))
            passes += 1
            made = await pool.fetchval("SELECT count(*) FROM offers")
            if first_run is None and made:
                first_run = time.perf_counter() - t0
            told = await pool.fetchval("SELECT count(*) FROM offers WHERE queued_at IS NOT NULL")
            if told >= args.places or (not any(results) and made and told == made):
                break
        queued_s = time.perf_counter() - t0
        ticking.cancel()
        print(f"queued: {queued_s:.2f} s", flush=True)
        depth = sum([await redis.xlen(s) for s in outbox_keys("kmcbot", 1)])

        # Each place once, to the first `places` in line, nothing overbooked.
        wrong = await pool.fetchval(
            """SELECT count(*) FROM slots WHERE booked + held > capacity
                  OR held <> (SELECT count(*) FROM offers o
                              WHERE o.slot_id = slots.id AND o.status = 'held')"""
        )
        first_in_line = await pool.fetchval(
            """SELECT count(*) FROM (SELECT id FROM waitlist
                 ORDER BY earliest, joined_at, id LIMIT $1) head
               JOIN offers o ON o.entry_id = head.id""",
            args.places,
        )

        # Sending them, with the shared rate.
        standin = GraphStandIn(token=TOKEN)
        stamps: list[float] = []
        all_sent = asyncio.Event()

        def arrived(_: object) -> None:
            stamps.append(time.monotonic())
            if len(stamps) >= depth:
                all_sent.set()

        standin.on_message = arrived
        runner = web.AppRunner(standin.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            transport = GraphTransport(http, f"http://127.0.0.1:{port}", "1", TOKEN)
            sender = Sender(
                redis, outbox_keys("kmcbot", 1), transport,
                SharedRateLimiter(redis, "kmcbot:send-rate", args.send_rate), consumer="bench",
            )  # fmt: skip
            t1 = time.monotonic()
            task = asyncio.create_task(sender.run())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_sent.wait(), args.timeout)
            sent_s = time.monotonic() - t1
            print(f"sending done or timed out: {len(stamps):,} of {depth:,}", flush=True)
            sender.stop()
            try:
                await asyncio.wait_for(task, 8)
            except (TimeoutError, asyncio.CancelledError):
                print("  (the sender did not stop within 8 s)", flush=True)
        await asyncio.wait_for(runner.cleanup(), 10)
        per_second = Counter(int(t - t1) for t in stamps)
        busiest = max(per_second.values(), default=0)

        print(
            f"waitlist release: {args.waiting:,} waiting, {args.places:,} places in 100 sessions, "
            f"{args.jobs} offer jobs at once, {os.cpu_count()} CPUs (busy shared machine)"
        )
        print(f"  first offer run done       {first_run:.2f} s after the release")
        print(
            f"  every offer queued         {queued_s:.2f} s ({passes} passes; "
            f"{args.places / queued_s:,.0f} offers/s), outbox depth {depth:,}"
        )
        print(f"  event loop held at most     {stall[0] * 1000:.0f} ms while offering")
        print(
            f"  offers to the first {args.places:,} in line: {first_in_line:,}; "
            f"slots wrong: {wrong}"
        )
        print(
            f"  sent at KMCBOT_SEND_RATE={args.send_rate:g}: {len(stamps):,} in {sent_s:.1f} s, "
            f"busiest second {busiest} (rate {args.send_rate:g}/s)"
        )
        await redis.aclose()
        await pool.close()
        if wrong or first_in_line != args.places:
            raise SystemExit("WRONG: see above")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--waiting", type=int, default=100_000)
    p.add_argument("--places", type=int, default=10_000)
    p.add_argument("--jobs", type=int, default=2, help="offer jobs at once (server processes)")
    p.add_argument("--send-rate", type=float, default=1000.0)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the sends")
    asyncio.run(main(p.parse_args()))
