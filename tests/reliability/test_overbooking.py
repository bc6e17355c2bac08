"""No overbooking across processes: real `kmcbot serve` processes, one slot,
many citizens confirming in the same instant, spread over the processes.

The fast test drives every citizen through the whole conversation over the
signed webhook. The slow ones (200 citizens x repeats, 1,000 citizens for 50
places) use THE SHORTCUT from conftest.seed_confirm_session: each citizen's
session is built with kmcbot.dialogue.model and stored at the confirm step
exactly as the pipeline stores it, so that the race, not the ~11 messages
before it, is what takes the time. The race itself always goes through the
real webhook, pipeline and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from kmcbot.booking.repository import load_availability
from tests.support.factories import assert_counts_consistent, eventually, make_centre, make_slot
from tests.support.reliability import (
    PEPPER,
    Plan,
    counts,
    drive_to_confirm,
    find_any,
    outbox_drained,
    plans,
    seed_confirm_session,
    stored_session,
)


async def race(hook, procs, citizens: list[Plan]) -> tuple[list[list[int]], float]:
    """Every citizen taps Confirm at once, round-robin over the processes; each
    confirm is redelivered until 200, as WhatsApp would."""
    go = asyncio.Event()

    async def one(i: int, plan: Plan) -> list[int]:
        await go.wait()
        return await hook.deliver(procs[i % len(procs)].url, plan.confirm())

    tasks = [asyncio.create_task(one(i, p)) for i, p in enumerate(citizens)]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    go.set()
    statuses = await asyncio.gather(*tasks)
    return statuses, time.perf_counter() - started


async def check_outcome(
    pg, redis, standin, slot_id: int, citizens: list[Plan], capacity: int, drain_timeout: float = 30
) -> float:
    """Asserts the race's outcome; returns how long the outbox took to drain."""
    booked, active, cap = await counts(pg, slot_id)
    assert (booked, active, cap) == (capacity, capacity, capacity)
    await assert_counts_consistent(pg)
    rows = await pg.fetch(
        "SELECT wa_id, reference FROM bookings WHERE status = 'booked' AND slot_id = $1", slot_id
    )
    assert len(rows) == capacity
    assert len({r["wa_id"] for r in rows}) == capacity  # nobody twice
    # Every citizen's confirm was answered (the winners with their reference).
    for plan in citizens:
        _, session = await stored_session(redis, plan.wa_id)
        assert session is not None and session["s"] != "confirm", (plan.wa_id, session)
    winners = {r["wa_id"]: r["reference"] for r in rows}
    started = time.perf_counter()
    await eventually(lambda: outbox_drained(redis), timeout=drain_timeout, every=0.1)
    drained = time.perf_counter() - started
    for wa_id, reference in winners.items():
        await eventually(
            lambda w=wa_id, r=reference: any(r in str(m) for m in standin.by_user[w]), timeout=10
        )
    return drained


async def test_capacity_one_raced_by_citizens_over_three_processes(
    pg, redis, bots, hook, standin
) -> None:
    centre = await make_centre(pg)
    slot_id = await make_slot(pg, centre, capacity=1)
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot_id)
    procs = await bots.spawn(3)
    citizens = plans(24, centre, day, slot_id)

    # The whole conversation over the webhook, each citizen on its own process.
    await asyncio.gather(
        *(drive_to_confirm(hook, procs[i % 3].url, p) for i, p in enumerate(citizens))
    )
    for plan in citizens:
        assert (await stored_session(redis, plan.wa_id))[1]["s"] == "confirm"

    statuses, _ = await race(hook, procs, citizens)
    assert all(s[-1] == 200 for s in statuses)
    await check_outcome(pg, redis, standin, slot_id, citizens, capacity=1)
    # The losers were told the slot is gone (one reply each to the confirm).
    await eventually(lambda: all(len(standin.by_user[p.wa_id]) >= 12 for p in citizens), timeout=15)
    # And nothing personal reached the processes' logs.
    leaked = find_any(
        bots.log_text(),
        [p.wa_id for p in citizens] + [p.number for p in citizens] + [p.name for p in citizens],
    )
    assert leaked == []


async def seeded_race(
    pg, redis, bots, hook, standin, procs, n: int, capacity: int, label: str, start: int = 0
) -> dict[str, object]:
    centre = await make_centre(pg, f"Centre {label}")
    slot_id = await make_slot(pg, centre, capacity=capacity)
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot_id)
    citizens = plans(n, centre, day, slot_id, start=start)
    now = datetime.now(UTC)
    availability = await load_availability(pg, now)
    # THE SHORTCUT (module doc): sessions seeded at the confirm step.
    for plan in citizens:
        await seed_confirm_session(redis, pg, plan, now, availability)
    statuses, seconds = await race(hook, procs, citizens)
    assert all(s[-1] == 200 for s in statuses)
    # Outbox entries whose XACK failed would stay pending until claimed again
    # (KMCBOT_CLAIM_IDLE_MS, 60 s by default): hence the long drain allowance
    # (it took 70 s before the blocking Redis pool of e83f5d4).
    drained = await check_outcome(
        pg, redis, standin, slot_id, citizens, capacity=capacity, drain_timeout=120
    )
    redelivered = sum(len(s) - 1 for s in statuses)
    first = [s[0] for s in statuses]
    return {
        "race": label,
        "citizens": n,
        "capacity": capacity,
        "booked": capacity,
        "seconds": round(seconds, 2),
        "confirms_per_s": round(n / seconds),
        "first_answers": {code: first.count(code) for code in sorted(set(first))},
        "redeliveries": redelivered,
        "outbox_drained_after_s": round(drained, 1),
    }


def error_lines(bots) -> dict[str, int]:
    """Error-level log lines of the processes, by event and error (before e83f5d4:
    hundreds of MaxConnectionsError, each a 503 that WhatsApp had to redeliver)."""
    out: dict[str, int] = {}
    for e in bots.logs():
        if e.get("level") == "error":
            key = f"{e.get('event')}:{e.get('error')}"
            out[key] = out.get(key, 0) + 1
    return out


@pytest.mark.slow
async def test_capacity_one_raced_by_200_citizens_repeatedly(
    pg, redis, bots, hook, standin
) -> None:
    procs = await bots.spawn(3)
    for round_ in range(5):
        figures = await seeded_race(
            pg,
            redis,
            bots,
            hook,
            standin,
            procs,
            200,
            1,
            f"200x1-round{round_}",
            start=1000 * round_,
        )
        print(f"\n[overbooking] {figures}")
    await assert_counts_consistent(pg)
    print(f"[overbooking] error log lines: {error_lines(bots)}")
    assert error_lines(bots) == {}


@pytest.mark.slow
async def test_capacity_50_raced_by_1000_citizens(pg, redis, bots, hook, standin) -> None:
    procs = await bots.spawn(3)
    figures = await seeded_race(pg, redis, bots, hook, standin, procs, 1000, 50, "1000x50")
    print(f"\n[overbooking] {figures}")
    print(f"[overbooking] error log lines: {error_lines(bots)}")
    assert error_lines(bots) == {}
    assert PEPPER.decode() not in bots.log_text()
