"""Finding 10 of issue 18: one number's flood leaves bounded sets behind.

A real `kmcbot serve` process and its own Redis: one number sends hundreds
(6,000 in `make stress`) of messages, most of them over the per-minute rate
limit. Its "seen" marks and its rate window stay small (sizes printed).
"""

from __future__ import annotations

import asyncio

import pytest

from kmcbot.messages import Text
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from kmcbot.whatsapp import simulate
from tests.support.reliability import PEPPER, PHONE_ID, PREFIX, Bots, new_wa_id

BATCH = 50

MAX_SEEN = 500  # kmcbot.storage.sessions.MAX_SEEN (spelled out: run on the code before it too)
RATE_LIMIT = 20  # kmcbot.storage.sessions.RATE_LIMIT_PER_MINUTE


async def flood(bots: Bots, hook, redis, messages: int) -> tuple[int, int]:
    [bot] = await bots.spawn(1)
    wa_id = new_wa_id()
    keys = SessionStore(redis, PREFIX).keys(user_tag(PEPPER, wa_id))
    statuses: list[int] = []
    batches: asyncio.Queue[int] = asyncio.Queue()
    for n in range(0, messages, BATCH):
        batches.put_nowait(min(BATCH, messages - n))

    async def sender() -> None:
        # Several messages per POST, as WhatsApp batches them: handled in order.
        while not batches.empty():
            size = batches.get_nowait()
            payload = simulate.payload(
                [simulate.message(wa_id, Text("Hi")) for _ in range(size)],
                phone_number_id=PHONE_ID,
            )
            statuses.append(await hook.post(bot.url, payload, timeout=120))

    await asyncio.gather(*(sender() for _ in range(3)))
    seen, window = await redis.zcard(keys["seen"]), await redis.zcard(keys["rate"])
    seen_bytes = await redis.memory_usage(keys["seen"]) or 0
    window_bytes = await redis.memory_usage(keys["rate"]) or 0
    print(
        f"\n{messages} messages from one number ({len(statuses)} POSTs, "
        f"{statuses.count(200)} answered 200): "
        f"seen {seen} marks, {seen_bytes} bytes; rate window {window}, {window_bytes} bytes"
    )
    assert statuses.count(200) == len(statuses)
    return seen, window


async def test_a_flood_leaves_bounded_sets(bots: Bots, hook, redis) -> None:
    seen, window = await flood(bots, hook, redis, MAX_SEEN + 100)
    assert seen <= MAX_SEEN and window <= RATE_LIMIT + 1


@pytest.mark.slow
async def test_6000_messages_leave_bounded_sets(bots: Bots, hook, redis) -> None:
    seen, window = await flood(bots, hook, redis, 6000)
    assert seen <= MAX_SEEN and window <= RATE_LIMIT + 1
