"""Booking a second dose end to end, rule by rule.

Every test talks through the signed webhook to the real app (pipeline, Redis,
PostgreSQL) in the demo city (`kmcbot seed --demo`'s centres and sessions from
today); replies are read where WhatsApp would receive them, at the Graph API
stand-in. Citizens answer by option ids, as a tap would, so the helpers work
in any language.
"""

from __future__ import annotations

import random
import re
import time
import unicodedata
from datetime import date, timedelta

import asyncpg
import orjson
import redis.asyncio as aioredis
from stdnum import verhoeff
from stdnum.in_ import aadhaar as stdnum_aadhaar

from kmcbot.booking import repository
from kmcbot.booking.commands import Booked
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.questions import slot_title
from kmcbot.messages import Choice, Text
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from tests.support.e2e import (
    MENU,
    REFERENCE,
    Citizen,
    days_ago,
    option_ids,
    options,
    reach_confirm,
    start,
    text_of,
    typed,
)
from tests.support.factories import assert_counts_consistent, book_effect
from tests.support.ids import aadhaar

EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
BN_MONTHS = (
    "জানুয়ারি", "ফেব্রুয়ারি", "মার্চ", "এপ্রিল", "মে", "জুন",
    "জুলাই", "আগস্ট", "সেপ্টেম্বর", "অক্টোবর", "নভেম্বর", "ডিসেম্বর",
)  # fmt: skip
BN_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
BN_MENU = ["দ্বিতীয় ডোজ বুকিং", "আমার বুকিং", "সাহায্য"]
DEVANAGARI = re.compile("[\u0900-\u097f]")
ROXY_ADDRESS = "6 Chowringhee Place, Esplanade, Kolkata 700013"
ROXY_MAP = re.compile(r"https://\S*maps\S*22\.5633\d*,88\.351\d*")


# ---------------------------------------------------------------- dates, IDs, words


def shown_en(d: date) -> str:
    return f"{d.day} {EN_MONTHS[d.month - 1]} {d.year}"


def in_bengali(d: date) -> str:
    """A date as a Bengali reader writes it: "৫ জুন ২০২১"."""
    words = f"{d.day} {BN_MONTHS[d.month - 1]} {d.year}".translate(BN_DIGITS)
    return unicodedata.normalize("NFC", words)


def another_aadhaar_ending_alike(number: str) -> str:
    """A different valid Aadhaar number with the same last 4 digits (a family member's)."""
    rng = random.Random(number)
    while True:
        stem = str(rng.randint(2, 9)) + "".join(rng.choices("0123456789", k=7)) + number[8:11]
        other = stem + verhoeff.calc_check_digit(stem)
        if other[-4:] == number[-4:] and other != number and stdnum_aadhaar.is_valid(other):
            return other


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def masked(number: str) -> str:
    return f"XXXX XXXX {number[-4:]}"


def titles(body: dict) -> list[str]:
    return [title for _, title, _ in options(body)]


def slot_time(row: asyncpg.Record) -> str:
    return f"{row['start_time']:%H:%M}-{row['end_time']:%H:%M}"


# ---------------------------------------------------------------- conversation steps


async def book_through(citizen: Citizen, id_number: str, **kw: object) -> tuple[str, int]:
    """`reach_confirm`, then Confirm: the ticket's text and the slot booked."""
    slot_id = await reach_confirm(citizen, id_number, **kw)  # type: ignore[arg-type]
    [ticket] = await citizen.tap("confirm:yes")
    return text_of(ticket), slot_id


# ---------------------------------------------------------------- looking at the stores


async def booked(pg: asyncpg.Pool, slot_id: int) -> int:
    return await pg.fetchval("SELECT booked FROM slots WHERE id = $1", slot_id)


async def slot_row(pg: asyncpg.Pool, slot_id: int) -> asyncpg.Record:
    return await pg.fetchrow("SELECT * FROM slots WHERE id = $1", slot_id)


async def database_text(pg: asyncpg.Pool) -> str:
    """Every row of every table, as PostgreSQL prints it."""
    tables = await pg.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    lines = []
    for t in tables:
        rows = await pg.fetch(f'SELECT t::text AS row FROM "{t["tablename"]}" t')
        lines += [f"{t['tablename']}: {r['row']}" for r in rows]
    return "\n".join(lines)


async def redis_text(redis: aioredis.Redis) -> str:
    """Every key and value in the test's Redis db (strings, lists, sets, streams...)."""
    lines = []
    async for key in redis.scan_iter(count=500):
        match (await redis.type(key)).decode():
            case "string":
                value = await redis.get(key)
            case "list":
                value = await redis.lrange(key, 0, -1)
            case "hash":
                value = await redis.hgetall(key)
            case "set":
                value = await redis.smembers(key)
            case "zset":
                value = await redis.zrange(key, 0, -1, withscores=True)
            case "stream":
                value = await redis.xrange(key)
            case other:
                value = f"<{other}>"
        lines.append(f"{_text(key)} = {_text(value)}")
    return "\n".join(lines)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return " ".join(f"{_text(k)}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return " ".join(_text(v) for v in value)
    return str(value)


# ---------------------------------------------------------------- the rules


async def test_a_booking_in_english_gives_the_ticket_and_keeps_no_id_number(
    citizens, pg, redis, standin
) -> None:
    citizen = citizens("919800000101")
    number = aadhaar(101)
    [welcome] = await citizen.say("Hi")
    assert titles(welcome) == ["English", "বাংলা", "हिन्दी"]
    [menu] = await citizen.tap("English")
    assert titles(menu) == ["Book 2nd dose", "My bookings", "Help"]
    [vaccines] = await citizen.tap("Book 2nd dose")
    assert titles(vaccines) == ["Covishield", "Covaxin", "Sputnik V"]
    [question] = await citizen.tap("Covishield")
    assert "date" in text_of(question)
    [id_types] = await citizen.say(typed(days_ago(120)))
    assert "Aadhaar" in titles(id_types)
    await citizen.tap("Aadhaar")
    async with standin.holding():  # the reply waits in the outbox stream meanwhile
        assert await citizen.post(Text(number)) == 200
        redis_while_queued = await redis_text(redis)
    [noted] = await citizen.replies()
    assert masked(number) in text_of(noted)
    assert masked(number) in redis_while_queued  # the outbox stream was looked at, full
    await citizen.say("Soumya Das")
    await citizen.tap("Roxy Cinema")
    await citizen.pick(0)  # the first day with places
    slot_id = int(option_ids(citizen.last)[0].removeprefix("slot:"))
    [summary] = await citizen.tap(f"slot:{slot_id}")
    assert "Roxy Cinema" in text_of(summary) and masked(number) in text_of(summary)
    before = await booked(pg, slot_id)

    [reply] = await citizen.tap("Confirm")

    ticket, slot = text_of(reply), await slot_row(pg, slot_id)
    reference = REFERENCE.search(ticket)
    assert reference and re.search(r"Code: [0-9]{4}\b", ticket)
    for part in (
        "Roxy Cinema",
        ROXY_ADDRESS,
        shown_en(slot["day"]),
        slot_time(slot),
        masked(number),
        "Carry a hard copy of your Aadhaar and show this message at the centre.",
    ):
        assert part in ticket, f"{part!r} not in the ticket:\n{ticket}"
    assert ROXY_MAP.search(ticket), ticket
    [row] = await pg.fetch("SELECT * FROM bookings")
    assert row["reference"] == reference[0]
    assert (row["slot_id"], row["wa_id"]) == (slot_id, citizen.wa_id)
    assert await booked(pg, slot_id) == before + 1
    assert await pg.fetchval("SELECT sum(booked) FROM slots") == 1
    stored = {
        "PostgreSQL": await database_text(pg),
        "Redis while a reply was queued": redis_while_queued,
        "Redis": await redis_text(redis),
        "replies sent": orjson.dumps(standin.received).decode(),
    }
    for where, dump in stored.items():
        for form in (number, grouped(number)):
            assert form not in dump, f"the full ID number is in {where}"


async def test_a_booking_in_bengali_reads_bengali_digits_and_month_names(citizens, pg) -> None:
    citizen = citizens("919800000102")
    number, first = aadhaar(102), days_ago(120)
    menu = await start(citizen, "bn")
    assert titles(menu) == BN_MENU

    ticket, slot_id = await book_through(
        citizen,
        grouped(number).translate(BN_DIGITS),  # "২৩৪৫ ৬৭৮৯ ০১২৩"
        first_dose=in_bengali(first),  # "১৮ জুলাই ২০২৬"
        name="সুমিতা দাস",
    )

    slot = await slot_row(pg, slot_id)
    assert ticket.startswith("✅ আপনার দ্বিতীয় ডোজ বুক হয়েছে।"), ticket
    assert REFERENCE.search(ticket) and re.search(r"কোড: [0-9]{4}", ticket)
    for part in (
        "সুমিতা দাস",
        "Roxy Cinema",
        in_bengali(slot["day"]),
        slot_title(Lang.BN, slot["start_time"], slot["end_time"]),  # সকাল ৯টা–সকাল ১১টা
        masked(number),
        "আধার",
        "হার্ড কপি",
    ):
        assert part in ticket, f"{part!r} not in the ticket:\n{ticket}"
    [row] = await pg.fetch("SELECT * FROM bookings")
    assert (row["first_dose"], row["id_last4"], row["lang"]) == (first, number[-4:], "bn")


async def test_hindi_speakers_are_answered_in_devanagari(citizens) -> None:
    citizen = citizens("919800000103")
    await citizen.say("Hi")
    [menu] = await citizen.tap("हिन्दी")
    assert titles(menu) == ["दूसरी डोज़ बुक करें", "मेरी बुकिंग", "मदद"]
    assert DEVANAGARI.search(text_of(menu)) and not re.search("[A-Za-z]", text_of(menu))
    [vaccines] = await citizen.tap("menu:book")
    assert DEVANAGARI.search(text_of(vaccines))


async def test_the_language_is_remembered_for_the_number(citizens, redis, settings) -> None:
    citizen = citizens("919800000104")
    await start(citizen, "bn")
    await book_through(citizen, aadhaar(104))
    [menu] = await citizen.say("Hi")
    assert titles(menu) == BN_MENU
    # After 30 silent minutes the session is gone; the number's language is not.
    tag = user_tag(settings.id_pepper, citizen.wa_id)
    assert await redis.delete(SessionStore(redis, settings.redis_prefix).keys(tag)["session"])
    [menu] = await citizen.say("Hi")
    assert titles(menu) == BN_MENU and "আপনি কী করতে চান?" in text_of(menu)


async def test_cancelling_from_my_bookings_frees_the_place_at_once(citizens, pg) -> None:
    citizen = citizens("919800000105")
    await start(citizen)
    ticket, slot_id = await book_through(citizen, aadhaar(105))
    ref = REFERENCE.search(ticket)[0]
    [listing] = await citizen.tap_earlier("menu:bookings")
    assert ref in text_of(listing)
    assert option_ids(listing) == [f"cancel:{ref}", f"move:{ref}", "menu:main"]
    [question] = await citizen.tap(f"cancel:{ref}")
    assert ref in text_of(question) and option_ids(question) == [f"cancel:yes:{ref}", "cancel:no"]
    assert await booked(pg, slot_id) == 1  # nothing changes before the citizen says yes

    [done] = await citizen.tap(f"cancel:yes:{ref}")

    assert f"Booking {ref} is cancelled." in text_of(done) and option_ids(done) == MENU
    assert await booked(pg, slot_id) == 0
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref) == "cancelled"
    [listing] = await citizen.tap_earlier("menu:bookings")
    assert "You have no active bookings." in text_of(listing)


async def test_rescheduling_moves_the_booking_in_one_go(citizens, pg) -> None:
    citizen = citizens("919800000106")
    await start(citizen)
    ticket, old_slot = await book_through(citizen, aadhaar(106))
    ref = REFERENCE.search(ticket)[0]
    await citizen.tap_earlier("menu:bookings")
    await citizen.tap(f"move:{ref}")
    await citizen.tap("South City School")
    await citizen.pick(1)  # the second day with places
    new_slot = int(option_ids(citizen.last)[1].removeprefix("slot:"))
    [summary] = await citizen.tap(f"slot:{new_slot}")
    assert f"Move booking {ref}" in text_of(summary)

    [moved] = await citizen.tap("confirm:yes")

    assert "moved" in text_of(moved)
    assert ref in text_of(moved) and "South City School" in text_of(moved)
    rows = await pg.fetch("SELECT reference, slot_id, status FROM bookings")
    assert [tuple(r) for r in rows] == [(ref, new_slot, "booked")]
    assert (await booked(pg, old_slot), await booked(pg, new_slot)) == (0, 1)
    await assert_counts_consistent(pg)


async def test_a_first_dose_too_recent_is_told_the_day_booking_opens(citizens, pg) -> None:
    citizen = citizens("919800000107")
    await start(citizen)
    await citizen.tap("menu:book")
    await citizen.tap("vaccine:covishield")
    first = days_ago(30)  # Covishield: 84 days at least; the demo has 14 days of sessions

    [reply] = await citizen.say(typed(first))

    opens = shown_en(first + timedelta(days=84))
    assert f"Your 2nd dose of Covishield is due from {opens}." in text_of(reply)
    # ... and may ask to be told when a place opens (the waitlist, issue 22).
    assert option_ids(reply) == ["waitlist:join", "menu:main"]
    assert await pg.fetchval("SELECT count(*) FROM bookings") == 0


async def test_one_id_cannot_be_booked_from_a_second_number(citizens, pg) -> None:
    number = aadhaar(108)
    first, second = citizens("919800000108"), citizens("919800000109")
    await start(first)
    await book_through(first, number)
    await start(second)
    await reach_confirm(second, grouped(number).translate(BN_DIGITS))  # typed another way

    [refusal] = await second.tap("confirm:yes")

    assert "This ID already has an active 2nd dose booking." in text_of(refusal)
    assert option_ids(refusal) == MENU
    assert [r["wa_id"] for r in await pg.fetch("SELECT wa_id FROM bookings")] == [first.wa_id]


async def test_another_id_that_ends_in_the_same_four_digits_is_not_refused(citizens) -> None:
    citizen = citizens("919800000116")
    mine = aadhaar(116)
    await start(citizen)
    await book_through(citizen, mine)
    await citizen.tap_earlier("menu:book")
    await citizen.tap("same:no")  # a family member: not the same details (issue 20)
    await citizen.tap("vaccine:covishield")
    await citizen.say(typed(days_ago(120)))
    await citizen.tap("id:aadhaar")

    [reply] = await citizen.say(another_aadhaar_ending_alike(mine))

    assert "already has a 2nd dose booking" not in text_of(reply)
    assert "Please type your name" in text_of(reply)


async def test_a_fifth_booking_from_one_number_is_refused(citizens, pg, demo_centres) -> None:
    citizen = citizens("919800000110")
    # Three family members booked earlier (straight into the database) ...
    slot = await pg.fetchval(
        "SELECT id FROM slots WHERE centre_id = $1 AND starts_at > now() + interval '1 day' "
        "ORDER BY starts_at LIMIT 1",
        demo_centres["ROXY"],
    )
    for n in range(3):
        earlier = await repository.book(pg, citizen.wa_id, book_effect(slot, 1100 + n))
        assert isinstance(earlier, Booked)
    # ... the fourth through the chat is allowed ...
    await start(citizen)
    ticket, _ = await book_through(citizen, aadhaar(110))
    assert REFERENCE.search(ticket)

    [refusal] = await citizen.tap_earlier("menu:book")  # ... the fifth is not.

    assert "already has 4 active bookings" in text_of(refusal)
    assert option_ids(refusal) == MENU
    active = await pg.fetchval(
        "SELECT count(*) FROM bookings WHERE wa_id = $1 AND status = 'booked'", citizen.wa_id
    )
    assert active == 4


async def test_the_last_place_taken_while_confirming_offers_the_other_slots(
    citizens, pg, demo_centres
) -> None:
    await pg.execute("UPDATE slots SET capacity = 1 WHERE centre_id = $1", demo_centres["ROXY"])
    a, b = citizens("919800000111"), citizens("919800000112")
    await start(a)
    slot_a = await reach_confirm(a, aadhaar(111), day=1)  # A sees one place left ...
    await start(b)
    _, slot_b = await book_through(b, aadhaar(112), name="Rina Sen", day=1)  # ... B takes it
    assert slot_b == slot_a

    [reply] = await a.tap("confirm:yes")

    assert "Sorry, that time was just taken by someone else." in text_of(reply)
    offered = option_ids(reply)
    assert reply["interactive"]["type"] == "list" and offered
    assert all(o.startswith("slot:") for o in offered) and f"slot:{slot_a}" not in offered
    taken = await pg.fetchrow("SELECT booked, capacity FROM slots WHERE id = $1", slot_a)
    assert tuple(taken) == (1, 1)
    assert await pg.fetchval("SELECT wa_id FROM bookings WHERE slot_id = $1", slot_a) == b.wa_id
    await assert_counts_consistent(pg)
    await a.tap(offered[0])  # A takes another one
    [ticket] = await a.tap("confirm:yes")
    assert REFERENCE.search(text_of(ticket))


async def test_messages_of_one_citizen_in_one_post_are_handled_in_order(citizens) -> None:
    citizen = citizens("919800000113")

    assert await citizen.post_raw(citizen.payload(Text("hi"), Text("1"))) == 200

    replies = await citizen.replies(at_least=2)
    assert len(replies) == 2
    welcome, menu = replies
    assert titles(welcome) == ["English", "বাংলা", "हिन्दी"]
    assert "Language: English." in text_of(menu) and option_ids(menu) == MENU


async def test_a_message_older_than_an_hour_is_not_acted_on(citizens, pg) -> None:
    citizen = citizens("919800000114")
    await start(citizen)
    slot_id = await reach_confirm(citizen, aadhaar(114))
    stale = citizen.payload(Choice(f"confirm:yes:{slot_id}", "Confirm"), ts=time.time() - 2 * 3600)

    assert await citizen.post_raw(stale) == 200

    [reply] = await citizen.replies()
    assert "we were busy" in text_of(reply) and option_ids(reply) == MENU
    assert await pg.fetchval("SELECT count(*) FROM bookings") == 0
    assert await booked(pg, slot_id) == 0


async def test_a_redelivered_confirm_books_nothing_new(citizens, pg) -> None:
    citizen = citizens("919800000115")
    await start(citizen)
    slot_id = await reach_confirm(citizen, aadhaar(115))
    confirm = citizen.payload(Choice(f"confirm:yes:{slot_id}", "Confirm"))
    assert await citizen.post_raw(confirm) == 200
    [ticket] = await citizen.replies()
    assert REFERENCE.search(text_of(ticket))

    assert await citizen.post_raw(confirm) == 200  # WhatsApp delivers it again

    assert await citizen.replies(at_least=0) == []  # no second ticket
    assert await pg.fetchval("SELECT count(*) FROM bookings") == 1
    assert await booked(pg, slot_id) == 1
