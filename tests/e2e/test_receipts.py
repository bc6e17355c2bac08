"""Read receipts and the typing indicator (issue 19, item 3), through the signed webhook.

Every handled message is marked read at the Graph stand-in (its message id);
the typing indicator comes with it only when the reply is slow, here because
the citizen's lock is held for 1.5 s when the message arrives. A duplicate
gets no second receipt.
"""

from __future__ import annotations

import orjson

from kmcbot.messages import Choice, Text
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from kmcbot.whatsapp import simulate
from tests.support.factories import eventually

PHONE_ID = "12345"  # the e2e bot's KMCBOT_WA_PHONE_NUMBER_ID


def one(wa_id: str, content, msg_id: str) -> bytes:
    message = simulate.message(wa_id, content, msg_id=msg_id)
    return orjson.dumps(simulate.payload([message], phone_number_id=PHONE_ID))


async def test_each_message_is_marked_read_without_typing_when_the_reply_is_quick(
    citizens, standin
) -> None:
    citizen = citizens("919800000901")
    assert await citizen.post_raw(one(citizen.wa_id, Text("Hi"), "wamid.R1")) == 200
    assert await citizen.post_raw(one(citizen.wa_id, Choice("lang:en", "En"), "wamid.R2")) == 200
    await eventually(lambda: len(standin.receipts) == 2)
    assert standin.receipts == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.R1"},
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.R2"},
    ]
    # WhatsApp delivers wamid.R2 again: handled before, so no second receipt.
    assert await citizen.post_raw(one(citizen.wa_id, Choice("lang:en", "En"), "wamid.R2")) == 200
    await citizen.settle()
    assert await citizen.post_raw(one(citizen.wa_id, Text("menu"), "wamid.R3")) == 200
    await eventually(lambda: len(standin.receipts) == 3)
    assert [r["message_id"] for r in standin.receipts] == ["wamid.R1", "wamid.R2", "wamid.R3"]


async def test_a_slow_reply_shows_the_typing_indicator(citizens, standin, redis, settings) -> None:
    citizen = citizens("919800000902")
    lock = SessionStore(redis, settings.redis_prefix).keys(
        user_tag(settings.id_pepper, citizen.wa_id)
    )
    # Another message of this citizen "in hand" for 1.5 s: this one waits for the lock.
    await redis.set(lock["lock"], "someone-else", px=1500)
    assert await citizen.post_raw(one(citizen.wa_id, Text("Hi"), "wamid.SLOW")) == 200
    await eventually(lambda: standin.receipts)
    assert standin.receipts == [
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.SLOW",
            "typing_indicator": {"type": "text"},
        }
    ]
    [welcome] = await citizen.replies()
    assert welcome["type"] == "interactive"
