"""Issue 18, finding 7: the sender and the envelope are checked.

A red team booked as "abc" and "../../etc/passwd", was two citizens as
"+91..." and "91...", had payloads for another phone number id or another
`object` acted on, and lost updates past 1,000 in one POST with nothing
counted. Here, against `kmcbot serve` (KMCBOT_WA_PHONE_NUMBER_ID=12345)
through its signed webhook: a sender that is neither the digits of a phone
number nor a business-scoped user id gets nothing and is counted; numbers
are normalised; other numbers' and other objects' payloads are ignored and
counted; a future timestamp is now; updates past the cap are counted.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import aiohttp
import orjson

PHONE_ID = "12345"  # the reliability bots' KMCBOT_WA_PHONE_NUMBER_ID
_ids = iter(range(1, 10**9))


def text_message(sender: dict[str, str], body: str, ts: str | None = None) -> dict[str, Any]:
    return {
        **sender,
        "id": f"wamid.ENV{time.time_ns()}{next(_ids)}",
        "timestamp": ts or str(int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


def envelope(
    messages: list[dict[str, Any]] | None = None,
    *,
    phone_number_id: str = PHONE_ID,
    obj: str = "whatsapp_business_account",
    statuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "910000000000", "phone_number_id": phone_number_id},
    }
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": obj,
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}],
    }


async def ignored(url: str) -> dict[str, float]:
    """kmcbot_webhook_ignored_total by reason, from the bot's /metrics."""
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    found = re.findall(r'kmcbot_webhook_ignored_total\{reason="(\w+)"\} ([0-9.e+]+)', text)
    return {reason: float(value) for reason, value in found}


async def settle(standin, control: str, hook, url: str) -> None:
    """A message from a good citizen, and its reply: everything posted before it has
    been handled (one process, one POST at a time)."""
    before = len(standin.by_user[control])
    assert await hook.post(url, envelope([text_message({"from": control}, "Hi")])) == 200
    await standin.wait_for(control, before + 1, timeout=10)
    await asyncio.sleep(0.2)


async def test_a_sender_that_is_no_number_nor_user_id_gets_nothing(bots, hook, standin) -> None:
    [bot] = await bots.spawn()
    bad = ["abc", "../../etc/passwd", "9" * 256, "91 98123 40001", "IN.", "in.123", "0091"]
    for sender in bad:
        assert await hook.post(bot.url, envelope([text_message({"from": sender}, "Hi")])) == 200
    assert (
        await hook.post(bot.url, envelope([text_message({"from_user_id": "../IN.1"}, "Hi")])) == 200
    )
    await settle(standin, "919812340009", hook, bot.url)

    answered = [to for to in standin.by_user if to != "919812340009" and standin.by_user[to]]
    assert answered == []
    assert standin.attempts == len(standin.by_user["919812340009"])  # no refused sends either
    assert (await ignored(bot.url)).get("malformed") == len(bad) + 1


async def test_plus_91_and_91_are_one_citizen(bots, hook, standin) -> None:
    [bot] = await bots.spawn()
    assert (
        await hook.post(bot.url, envelope([text_message({"from": "+919812340002"}, "Hi")])) == 200
    )
    await standin.wait_for("919812340002", 1, timeout=10)
    # The language question came to 91...; the answer from "91..." continues it.
    lang_tap = {
        "from": "919812340002",
        "id": f"wamid.ENV{time.time_ns()}",
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "lang:en", "title": "En"}},
    }
    assert await hook.post(bot.url, envelope([lang_tap])) == 200
    await standin.wait_for("919812340002", 2, timeout=10)
    assert "+919812340002" not in standin.by_user or standin.by_user["+919812340002"] == []
    assert all(body["to"] == "919812340002" for body in standin.by_user["919812340002"])


async def test_payloads_for_another_number_or_object_are_ignored_and_counted(
    bots, hook, standin
) -> None:
    [bot] = await bots.spawn()
    theirs = envelope([text_message({"from": "919812340003"}, "Hi")], phone_number_id="99999")
    instagram = envelope([text_message({"from": "919812340003"}, "Hi")], obj="instagram")
    assert await hook.post(bot.url, theirs) == 200  # not an error: nothing to redeliver
    assert await hook.post(bot.url, instagram) == 200
    await settle(standin, "919812340010", hook, bot.url)

    assert standin.by_user["919812340003"] == []
    assert (await ignored(bot.url)).get("foreign") == 2


async def test_a_timestamp_in_year_9999_is_now(bots, hook, standin, redis_url) -> None:
    [bot] = await bots.spawn()
    future = text_message({"from": "919812340004"}, "Hi", ts="253402300799")
    assert await hook.post(bot.url, envelope([future])) == 200
    [welcome] = await standin.wait_for("919812340004", 1, timeout=10)
    assert welcome["type"] == "interactive"  # the language question, as for any "Hi"
    # The same message id, delivered again a minute "later", is still a duplicate.
    assert await hook.post(bot.url, envelope([future])) == 200
    await settle(standin, "919812340011", hook, bot.url)
    assert len(standin.by_user["919812340004"]) == 1


async def test_updates_past_1000_in_one_post_are_counted(bots, hook, standin) -> None:
    [bot] = await bots.spawn()
    statuses = [
        {
            "id": f"wamid.OUT{n}",
            "status": "delivered",
            "timestamp": str(int(time.time())),
            "recipient_id": "919812340005",
        }
        for n in range(1500)
    ]
    raw = orjson.dumps(envelope(statuses=statuses))
    assert await hook.post_raw(bot.url, raw) == 200
    assert (await ignored(bot.url)).get("over_cap") == 500
