"""The waitlist's cost when nobody waits, on city data (issue 22 review).

A fresh database with `kmcbot seed --city` (293 centres, ~15,500 sessions) and
an empty waitlist: what the offer job costs the server in the common case, and
what a cancellation pays to reserve its place for the waitlist. With `--before
REV`, the offer run and the job of that git revision (kmcbot/waitlist/store.py,
job.py) are measured in the same run, on the same database, one after the other.

  - the offer run (store.run_offers), median of `--n` runs;
  - one job pass right after a slot changed (every booking changes one: under
    load, every pass);
  - a citizen's cancellation (repository.cancel, its commit included) with its
    reservation, and without it (reserve_for_waitlist replaced by nothing),
    medians of `--n`.

    .venv/bin/python bench/waitlist_idle.py [--before 71c6f3a] [--n 30]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType

import redis.asyncio as aioredis
from harness import ROOT, fresh_database, spare_redis_db

import kmcbot.waitlist
from kmcbot.booking import repository
from kmcbot.booking.commands import Book, Booked, Cancelled
from kmcbot.booking.model import Vaccine
from kmcbot.settings import SQL_DIR
from kmcbot.storage import postgres as db
from kmcbot.waitlist import job as job_now
from kmcbot.waitlist import store as store_now

HOLD = timedelta(minutes=30)


def at_revision(rev: str) -> tuple[ModuleType, ModuleType]:
    """store.py and job.py of `rev`, loaded beside today's (the old job on the old store)."""
    loaded = []
    for name in ("store", "job"):
        source = subprocess.run(
            ["git", "show", f"{rev}:kmcbot/waitlist/{name}.py"],  # noqa: S607 - git on PATH
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(source)
        spec = importlib.util.spec_from_file_location(f"waitlist_{name}_before", f.name)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        if name == "job":
            kmcbot.waitlist.store = loaded[0]  # type: ignore[attr-defined]  # its import
        try:
            spec.loader.exec_module(module)
        finally:
            kmcbot.waitlist.store = store_now  # type: ignore[attr-defined]
        loaded.append(module)
    return loaded[0], loaded[1]


async def median_ms(n: int, call: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        await call()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def passes(pool, redis, store: ModuleType, job: ModuleType, n: int, slot: int) -> float:
    offers = job.OfferJob(pool, redis, pepper=b"bench", hold=HOLD, template="t")
    offers._counted = time.monotonic() + 3600  # the waiting gauge is not measured here
    await offers.one_pass()

    times = []
    for _ in range(n):
        # What a booking does to the slot (changed_at moves), then the pass (timed).
        await pool.execute("UPDATE slots SET booked = booked WHERE id = $1", slot)
        t = time.perf_counter()
        await offers.one_pass()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def cancels(pool, n: int, slot: int, first: int) -> float:
    times = []
    for i in range(first, first + n):
        wa_id = f"9197{i:08d}"
        effect = Book(
            slot, Vaccine.COVISHIELD, datetime.now(UTC).date() - timedelta(days=120),
            "aadhaar", f"idle-{i}", "0000", "Citizen", "en", f"wamid.idle.{i}",
        )  # fmt: skip
        booked = await repository.book(pool, wa_id, effect)
        assert isinstance(booked, Booked), booked
        t = time.perf_counter()
        assert isinstance(await repository.cancel(pool, wa_id, booked.booking.reference), Cancelled)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def main(args: argparse.Namespace) -> None:
    async with (
        fresh_database(args.pg_url, "waitlist_idle") as url,
        spare_redis_db(args.redis_url) as redis_url,
    ):
        await db.migrate(url, SQL_DIR)
        seeding = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "kmcbot", "seed", "--city",
            env={**os.environ, "KMCBOT_DATABASE_URL": url},
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert await seeding.wait() == 0
        pool = await db.create_pool(url, min_size=2, max_size=4)
        redis = aioredis.from_url(redis_url)
        await pool.execute("ANALYZE")
        free = await pool.fetchval("SELECT count(*) FROM slots WHERE booked + held < capacity")
        slot = await pool.fetchval(
            """SELECT id FROM slots WHERE vaccine = 'covishield' AND starts_at > now() + '1 day'
               ORDER BY starts_at LIMIT 1"""
        )
        print(f"city data: {free:,} sessions with free places; nobody waiting; median of {args.n}")
        variants = [("now", store_now, job_now)]
        if args.before:
            variants.insert(0, (args.before, *at_revision(args.before)))
        for name, store, job in variants:
            await store.run_offers(pool, datetime.now(UTC), HOLD)  # warm
            run = await median_ms(
                args.n, lambda s=store: s.run_offers(pool, datetime.now(UTC), HOLD)
            )
            one = await passes(pool, redis, store, job, args.n, slot)
            print(f"  {name:>8}: offer run {run:7.2f} ms; a pass after a slot change {one:7.2f} ms")
        real = repository.reserve_for_waitlist
        with_it = await cancels(pool, args.n, slot, 0)

        async def nothing(*_: object) -> int:
            return 0

        repository.reserve_for_waitlist = nothing  # type: ignore[assignment]
        try:
            without = await cancels(pool, args.n, slot, args.n)
        finally:
            repository.reserve_for_waitlist = real
        with_again = await cancels(pool, args.n, slot, 2 * args.n)
        async with pool.acquire() as conn, conn.transaction():
            alone = await median_ms(
                args.n, lambda: repository.reserve_for_waitlist(conn, [slot], [1])
            )
        print(
            f"  a cancellation: {without:.2f} ms without the reservation, "
            f"{with_it:.2f} / {with_again:.2f} ms with it (before / after the control); "
            f"the reservation alone {alone:.3f} ms"
        )
        await redis.aclose()
        await pool.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    p.add_argument("--before", help="a git revision whose offer run and job to measure too")
    p.add_argument("--n", type=int, default=30)
    asyncio.run(main(p.parse_args()))
