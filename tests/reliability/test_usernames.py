"""Citizens with WhatsApp usernames (issue 19, item 1), against `kmcbot serve`.

Since 2026 a WhatsApp user who adopts a username may reach a business with
no phone number: the webhook then carries their business-scoped user id
(BSUID) in `contacts[].user_id` and `messages[].from_user_id`, and no `wa_id`
or `from`; a reply to them takes the BSUID in `recipient` instead of `to`.
The payloads here are in the shapes of Meta's "Business-scoped user IDs"
guide and system messages webhook reference; they go through the signed
webhook of a real server process, and the Graph stand-in refuses a BSUID in
`to` or a number in `recipient`.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from stdnum import verhoeff

from kmcbot.booking.model import IST
from kmcbot.messages import Choice, Content, Text
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from kmcbot.whatsapp import simulate
from tests.support.factories import make_centre, make_slot

PHONE_ID = "12345"  # the reliability bots' KMCBOT_WA_PHONE_NUMBER_ID
PEPPER = b"reliability-id-pepper-7f3a"  # and their KMCBOT_ID_PEPPER
BENGALI = re.compile("[\u0980-\u09ff]")
_n = itertools.count(1)


def new_bsuid() -> str:
    return f"IN.{1502576394655843 + next(_n) * 7919 + int(time.time()) % 100000}"


def new_number() -> str:
    return f"9197{int(time.time() * 1000) % 10**6:06d}{next(_n) % 100:02d}"


def aadhaar(n: int) -> str:
    body = f"{2 + n % 8}{(n * 7919 + 7654321) % 10**10:010d}"
    return body + verhoeff.calc_check_digit(body)


def message(
    content: Content, *, user_id: str, number: str | None = None, via_list: bool = False
) -> dict[str, Any]:
    """A messages webhook as Meta documents it for BSUIDs: `from_user_id` always,
    `from` only while the number is shared; the contact's `user_id`, `wa_id` and
    `profile.username` likewise."""
    one = simulate.message(number or user_id, content, via_list=via_list, user_id=user_id)
    return simulate.payload([one], phone_number_id=PHONE_ID, profile_name="Sukanya Roy")


def system_change(
    *, old_user_id: str, old_number: str | None, kind: str, **new: str
) -> dict[str, Any]:
    """WhatsApp's system message: `user_changed_number` (new `wa_id`, maybe a new
    `user_id`) or `user_changed_user_id` (new `user_id`); no contacts array."""
    msg: dict[str, Any] = {
        "from_user_id": old_user_id,
        "id": simulate.new_message_id(),
        "timestamp": str(int(time.time())),
        "type": "system",
        "system": {"body": "User Sukanya changed", "type": kind, **new},
    }
    if old_number is not None:
        msg["from"] = old_number
    payload = simulate.payload([msg], phone_number_id=PHONE_ID)
    del payload["entry"][0]["changes"][0]["value"]["contacts"]
    return payload


class Talk:
    """One citizen's side: deliver a payload (until 200), then the replies it made,
    as the stand-in received them for `address` (a number or a BSUID)."""

    def __init__(self, hook, url: str, standin) -> None:
        self.hook, self.url, self.standin = hook, url, standin
        self.seen: dict[str, int] = {}

    async def send(self, payload: dict[str, Any], address: str) -> list[dict[str, Any]]:
        await self.hook.deliver(self.url, payload)
        count = self.seen.get(address, 0)
        await self.standin.wait_for(address, count + 1, timeout=10)
        await asyncio.sleep(0.2)  # a turn may send two messages: let the second arrive
        fresh = self.standin.by_user[address][count:]
        self.seen[address] = count + len(fresh)
        return fresh


def text_of(body: dict[str, Any]) -> str:
    if body["type"] == "text":
        return body["text"]["body"]
    return body["interactive"]["body"]["text"]


async def centre_and_slot(pg: asyncpg.Pool) -> tuple[int, date, int]:
    centre = await make_centre(pg, "Roxy Cinema")
    day = datetime.now(IST).date() + timedelta(days=2)
    return centre, day, await make_slot(pg, centre, day=day)


def booking_turns(n: int, centre: int, day: date, slot: int) -> list[tuple[Content, bool]]:
    first_dose = datetime.now(IST).date() - timedelta(days=100)
    return [
        (Text("Hi"), False),
        (Choice("lang:bn", "বাংলা"), False),
        (Choice("menu:book", "Book"), False),
        (Choice("vaccine:covishield", "Covishield"), False),
        (Text(first_dose.strftime("%d-%m-%Y")), False),
        (Choice("id:aadhaar", "Aadhaar"), True),
        (Text(aadhaar(n)), False),
        (Text("Sukanya Roy"), False),
        (Choice(f"centre:{centre}", "Centre"), True),
        (Choice(f"day:{day.isoformat()}", "Day"), True),
        (Choice(f"slot:{slot}", "Slot"), True),
        (Choice(f"confirm:yes:{slot}", "Confirm"), False),
    ]


async def book(talk: Talk, pg, n: int, *, user_id: str, number: str | None = None) -> str:
    """The whole conversation, in Bengali; the reference booked."""
    centre, day, slot = await centre_and_slot(pg)
    address = number or user_id
    for content, via_list in booking_turns(n, centre, day, slot):
        replies = await talk.send(
            message(content, user_id=user_id, number=number, via_list=via_list), address
        )
    reference = await pg.fetchval("SELECT reference FROM bookings WHERE slot_id = $1", slot)
    assert reference is not None, [text_of(r) for r in replies]
    assert any(reference in text_of(r) for r in replies)
    return reference


async def test_a_username_user_books_a_second_dose_end_to_end(bots, hook, standin, pg) -> None:
    [bot] = await bots.spawn()
    talk = Talk(hook, bot.url, standin)
    user_id = new_bsuid()

    reference = await book(talk, pg, 1, user_id=user_id)

    sent = standin.by_user[user_id]
    assert sent and all(b["recipient"] == user_id and "to" not in b for b in sent)
    row = await pg.fetchrow(
        "SELECT wa_id, status, lang FROM bookings WHERE reference = $1", reference
    )
    assert (row["wa_id"], row["status"], row["lang"]) == (user_id, "booked", "bn")
    # "My bookings" finds it, and the user id never reached the logs.
    [listed] = await talk.send(message(Choice("menu:bookings", "x"), user_id=user_id), user_id)
    assert reference in text_of(listed)
    assert user_id not in bots.log_text()


async def test_a_citizen_who_hides_the_number_keeps_bookings_and_language(
    bots, hook, standin, pg
) -> None:
    [bot] = await bots.spawn()
    talk = Talk(hook, bot.url, standin)
    user_id, number = new_bsuid(), new_number()
    reference = await book(talk, pg, 2, user_id=user_id, number=number)
    assert await pg.fetchval("SELECT wa_id FROM citizen_ids WHERE user_id = $1", user_id) == number

    # Later the number is hidden: only the BSUID comes. The same citizen, in
    # Bengali, with their booking; the reply goes to the number kmcbot knows, as
    # Meta recommends ("to" when the number is known).
    [listed] = await talk.send(message(Choice("menu:bookings", "x"), user_id=user_id), number)
    assert listed["to"] == number and reference in text_of(listed)
    assert BENGALI.search(text_of(listed))
    assert standin.by_user[user_id] == []


async def test_a_changed_number_moves_bookings_session_and_language(
    bots, hook, standin, pg, redis_url
) -> None:
    [bot] = await bots.spawn()
    talk = Talk(hook, bot.url, standin)
    user_id, old, new = new_bsuid(), new_number(), new_number()
    reference = await book(talk, pg, 3, user_id=user_id, number=old)
    await talk.send(message(Text("Hi"), user_id=user_id, number=old), old)  # a session to move

    change = system_change(
        old_user_id=user_id, old_number=old, kind="user_changed_number", wa_id=new
    )
    assert await hook.deliver(bot.url, change) == [200]
    assert await pg.fetchval("SELECT wa_id FROM bookings WHERE reference = $1", reference) == new
    assert await pg.fetchval("SELECT wa_id FROM citizen_ids WHERE user_id = $1", user_id) == new
    redis = aioredis.from_url(redis_url)
    try:
        old_keys = SessionStore(redis).keys(user_tag(PEPPER, old))
        new_keys = SessionStore(redis).keys(user_tag(PEPPER, new))
        assert await redis.exists(old_keys["session"], old_keys["profile"]) == 0
        assert orjson.loads(await redis.get(new_keys["profile"]))["lang"] == "bn"
    finally:
        await redis.aclose()
    # The same system message again (WhatsApp redelivers) changes nothing more.
    assert await hook.deliver(bot.url, change) == [200]

    bookings = message(Choice("menu:bookings", "x"), user_id=user_id, number=new)
    [listed] = await talk.send(bookings, new)
    assert listed["to"] == new and reference in text_of(listed)
    # Messages are marked read; WhatsApp's system message is not (no one typed it).
    read = [r["message_id"] for r in standin.receipts]
    assert bookings["entry"][0]["changes"][0]["value"]["messages"][0]["id"] in read
    assert change["entry"][0]["changes"][0]["value"]["messages"][0]["id"] not in read


async def test_a_changed_user_id_moves_a_username_citizen(bots, hook, standin, pg) -> None:
    [bot] = await bots.spawn()
    talk = Talk(hook, bot.url, standin)
    old_id, new_id = new_bsuid(), new_bsuid()
    reference = await book(talk, pg, 4, user_id=old_id)

    change = system_change(
        old_user_id=old_id, old_number=None, kind="user_changed_user_id", user_id=new_id
    )
    assert await hook.deliver(bot.url, change) == [200]
    assert await pg.fetchval("SELECT wa_id FROM bookings WHERE reference = $1", reference) == new_id

    [listed] = await talk.send(message(Choice("menu:bookings", "x"), user_id=new_id), new_id)
    assert listed["recipient"] == new_id and reference in text_of(listed)


async def test_delete_my_data_erases_a_username_citizen_and_their_pairs(
    bots, hook, standin, pg
) -> None:
    [bot] = await bots.spawn()
    talk = Talk(hook, bot.url, standin)
    user_id, number = new_bsuid(), new_number()
    await book(talk, pg, 5, user_id=user_id, number=number)
    only_id = new_bsuid()
    await book(talk, pg, 6, user_id=only_id)

    for uid, num in ((user_id, number), (only_id, None)):
        address = num or uid
        await talk.send(message(Text("delete my data"), user_id=uid, number=num), address)
        await talk.send(message(Choice("forget:yes", "Yes"), user_id=uid, number=num), address)
    rows = await pg.fetch("SELECT wa_id, name, id_hash FROM bookings")
    assert len(rows) == 2 and all(r["wa_id"] is None and r["name"] is None for r in rows), rows
    assert await pg.fetchval("SELECT count(*) FROM citizen_ids") == 0
