"""Finding 4 of issue 18: check-in codes cannot be guessed.

The real app on a real port, real PostgreSQL and Redis: a few wrong codes per
reference, then 429 (the right code too) for the rest of the period; a burst
of parallel guesses gets no more tries; an unknown reference is answered
exactly like a wrong code; each wrong code is a log line without the code and
a metric.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, time

import structlog

from kmcbot.booking import repository
from kmcbot.booking.model import IST, kolkata_today
from kmcbot.web.checkin_guard import MAX_WRONG
from tests.support.factories import book_effect, make_centre, make_slot

TOKEN = "checkin-guess-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def booked_today(pg, n: int) -> tuple[str, str]:
    slot = await make_slot(pg, await make_centre(pg))
    booked = await repository.book(pg, f"91980000{n:04d}", book_effect(slot, n))
    today = kolkata_today()
    await pg.execute(
        "UPDATE slots SET day = $2, starts_at = $3 WHERE id = $1",
        slot,
        today,
        datetime.combine(today, time(10), IST),
    )
    return booked.booking.reference, booked.booking.code


def wrong(code: str, k: int) -> str:
    return f"{(int(code) + k) % 10000:04d}"


async def wrong_code_count(client) -> float:
    text = await (await client.get("/metrics")).text()
    found = re.search(r'kmcbot_checkin_refused_total\{reason="wrong_code"\} (\S+)', text)
    return float(found.group(1)) if found else 0.0


async def test_a_few_wrong_codes_then_429_even_for_the_right_one(app_factory, pg) -> None:
    client = await app_factory(admin_token=TOKEN, run_sender=False)
    reference, code = await booked_today(pg, 1)

    async def post(ref: str, c: str) -> tuple[int, dict, dict]:
        resp = await client.post("/admin/checkin", headers=AUTH, json={"reference": ref, "code": c})
        return resp.status, await resp.json(), dict(resp.headers)

    before = await wrong_code_count(client)
    with structlog.testing.capture_logs() as logs:
        answers = [await post(reference, wrong(code, k)) for k in range(1, MAX_WRONG + 1)]
    assert [a[0] for a in answers] == [403] * MAX_WRONG
    assert await wrong_code_count(client) - before == MAX_WRONG
    lines = [e for e in logs if e["event"] == "admin_checkin_wrong_code"]
    assert len(lines) == MAX_WRONG
    assert all(wrong(code, k) not in repr(lines) for k in range(1, MAX_WRONG + 1))

    status, body, headers = await post(reference, code)  # right, but too late
    assert status == 429 and int(headers["Retry-After"]) > 0, body
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", reference) == (
        "booked"
    )


async def test_parallel_guesses_get_no_more_tries(app_factory, pg) -> None:
    client = await app_factory(admin_token=TOKEN, run_sender=False)
    reference, code = await booked_today(pg, 2)

    async def post(c: str) -> int:
        body = {"reference": reference, "code": c}
        return (await client.post("/admin/checkin", headers=AUTH, json=body)).status

    guesses = [wrong(code, k) for k in range(1, 201)]
    statuses = await asyncio.gather(*(post(c) for c in guesses))
    print(f"\n200 parallel guesses: {statuses.count(403)} x 403, {statuses.count(429)} x 429")
    assert statuses.count(403) == MAX_WRONG and statuses.count(429) == 200 - MAX_WRONG


async def test_unknown_reference_looks_like_a_wrong_code(app_factory, pg) -> None:
    client = await app_factory(admin_token=TOKEN, run_sender=False)
    reference, code = await booked_today(pg, 3)
    unknown = "KMC-22222Z"

    async def post(ref: str, c: str) -> tuple[int, dict]:
        resp = await client.post("/admin/checkin", headers=AUTH, json={"reference": ref, "code": c})
        return resp.status, await resp.json()

    for k in range(1, MAX_WRONG + 2):
        assert await post(reference, wrong(code, k)) == await post(unknown, "1234")
    # The right code of a reference not guessed at is still fine.
    other, other_code = await booked_today(pg, 4)
    assert (await post(other, other_code))[0] == 200
