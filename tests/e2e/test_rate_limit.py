"""More than 20 messages a minute: one polite notice, then silence until the minute passes."""

from __future__ import annotations

import asyncio

from kmcbot.messages import Text
from kmcbot.storage.sessions import RATE_LIMIT_PER_MINUTE
from tests.support.e2e import text_of


async def test_a_flood_gets_one_notice_then_silence(citizen, redis) -> None:
    for i in range(RATE_LIMIT_PER_MINUTE + 5):
        assert await citizen.post(Text(f"hello {i}")) == 200
    await citizen.standin.wait_for(citizen.wa_id, RATE_LIMIT_PER_MINUTE + 1)
    await asyncio.sleep(0.3)  # anything more would have arrived by now
    sent = citizen.standin.by_user[citizen.wa_id]
    assert len(sent) == RATE_LIMIT_PER_MINUTE + 1
    assert "very fast" in text_of(sent[-1])


async def test_the_limit_is_per_citizen(client, standin) -> None:
    from tests.support.e2e import Citizen

    flooder = Citizen(client, standin, "919800000010")
    calm = Citizen(client, standin, "919800000011")
    for i in range(RATE_LIMIT_PER_MINUTE + 2):
        await flooder.post(Text(f"x{i}"))
    replies = await calm.say("Hi")
    assert len(replies) == 1 and "very fast" not in text_of(replies[0])
