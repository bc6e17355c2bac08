"""Day-before reminders against real PostgreSQL and Redis: one per booking and
day however many schedulers run, only for tomorrow's active bookings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import asyncpg
import pytest

from kmcbot.booking import repository
from kmcbot.booking.model import IST
from kmcbot.jobs.reminders import due, schedule_reminders
from tests.support.factories import make_centre, make_slot
from tests.support.relay import book, outbox, relay, seen, unqueued


def ist_day(days: int) -> datetime:
    return datetime.combine(datetime.now(IST).date() + timedelta(days=days), time(0), IST)


@pytest.fixture
async def centre(pg: asyncpg.Pool) -> int:
    return await make_centre(pg, "Roxy Cinema")


async def slot_on(pg: asyncpg.Pool, centre: int, days: int, start: int = 10) -> int:
    return await make_slot(pg, centre, day=ist_day(days).date(), start=time(start, 0))


async def reminders(pg: asyncpg.Pool) -> list[int]:
    rows = await pg.fetch("SELECT booking_id FROM notifications WHERE kind = 'reminder'")
    return sorted(r["booking_id"] for r in rows)


async def test_only_tomorrows_active_bookings_get_a_reminder(pg, centre) -> None:
    tomorrow, later = await slot_on(pg, centre, 1), await slot_on(pg, centre, 2)
    await book(pg, tomorrow, 1)
    await book(pg, tomorrow, 2)
    await book(pg, later, 3)  # the day after tomorrow: not yet
    cancelled = await book(pg, tomorrow, 4)
    await repository.cancel(pg, "919800000004", cancelled.reference)
    await book(pg, tomorrow, 5)
    await repository.forget(pg, "919800000005")  # erased: no one to remind
    ids = {r["wa_id"]: r["id"] for r in await pg.fetch("SELECT id, wa_id FROM bookings")}

    assert await schedule_reminders(pg, datetime.now(UTC)) == 2
    assert await reminders(pg) == sorted([ids["919800000001"], ids["919800000002"]])
    assert await schedule_reminders(pg, datetime.now(UTC)) == 0  # twice: still one each


async def test_concurrent_schedulers_create_one_reminder_per_booking(pg, centre) -> None:
    slots = [await slot_on(pg, centre, 1, start) for start in (8, 10, 12, 14)]
    for n in range(1, 41):
        await book(pg, slots[n % 4], n)
    created = await asyncio.gather(*(schedule_reminders(pg, datetime.now(UTC)) for _ in range(6)))
    assert sum(created) == 40
    assert len(set(await reminders(pg))) == len(await reminders(pg)) == 40


async def test_the_relay_sends_the_reminder_once(pg, redis, centre) -> None:
    b = await book(pg, await slot_on(pg, centre, 1), 1)
    await seen(redis, "919800000001", ago_s=2 * 3600)
    await schedule_reminders(pg, datetime.now(UTC))
    assert await relay(pg, redis).relay_once() == 1  # at once, no grace period
    assert await relay(pg, redis).relay_once() == 0
    [sent] = await outbox(redis)
    text = sent["text"]["body"]
    for part in (b.reference, b.code, "Roxy Cinema", "5 Chowringhee Place", "10:00-12:00"):
        assert part in text
    assert "Carry a hard copy of your Aadhaar" in text
    assert await unqueued(pg, "reminder") == 0


async def test_a_silent_citizen_gets_the_reminder_template(pg, redis, centre) -> None:
    b = await book(pg, await slot_on(pg, centre, 1), 1, lang="bn")
    await seen(redis, "919800000001", ago_s=25 * 3600, lang="bn")
    await schedule_reminders(pg, datetime.now(UTC))
    await relay(pg, redis).relay_once()
    [sent] = await outbox(redis)
    assert sent["template"]["name"] == "kmcbot_reminder"
    assert sent["template"]["language"] == {"code": "bn"}
    params = [p["text"] for p in sent["template"]["components"][0]["parameters"]]
    assert params[:3] == [b.reference, b.code, "Roxy Cinema"] and len(params) == 7


async def test_a_booking_moved_to_another_day_is_reminded_for_the_new_day(
    pg, redis, centre
) -> None:
    b = await book(pg, await slot_on(pg, centre, 1), 1)
    await seen(redis, "919800000001", ago_s=60)
    assert await schedule_reminders(pg, datetime.now(UTC)) == 1
    moved = await repository.move(
        pg, "919800000001", b.reference, await slot_on(pg, centre, 2), "wamid.move"
    )
    assert moved.booking.day == ist_day(2).date()  # type: ignore[union-attr]
    # The reminder for the old day is stale: dropped, not sent.
    assert await relay(pg, redis).relay_once() == 1
    assert await outbox(redis) == []
    # Tomorrow the new day is tomorrow: a second reminder, for that day.
    assert await schedule_reminders(pg, datetime.now(UTC) + timedelta(days=1)) == 1


async def test_an_erased_booking_is_not_reminded(pg, redis, centre) -> None:
    await book(pg, await slot_on(pg, centre, 1), 1)
    assert await schedule_reminders(pg, datetime.now(UTC)) == 1
    await repository.forget(pg, "919800000001")  # after scheduling, before relaying
    assert await relay(pg, redis).relay_once() == 1
    assert await outbox(redis) == []


def test_reminders_are_queued_from_the_configured_hour_until_the_evening() -> None:
    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(2021, 6, 11, hour, minute, tzinfo=IST)

    assert not due(at(9, 59), 10)
    assert due(at(10), 10) and due(at(19, 59), 10)
    assert not due(at(20), 10) and not due(at(23), 10) and not due(at(2), 10)
    assert due(at(22), 22) and not due(at(23), 22)
    assert due(datetime(2021, 6, 11, 4, 30, tzinfo=UTC), 10)  # 10:00 IST
