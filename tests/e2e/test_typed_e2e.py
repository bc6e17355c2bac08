"""Issue 20 end to end: citizens who never tap a button.

Through the signed webhook to the real app (pipeline, Redis, PostgreSQL) in the
demo city, every answer typed as people type it: a booking in Bengali script,
one in Hinglish, one in Banglish, and looking at, moving and cancelling a
booking. Replies are read where WhatsApp would receive them (the stand-in).
"""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta

import asyncpg
import orjson
from stdnum import verhoeff

from kmcbot.booking.model import IST
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SESSION_TTL_S, UNFINISHED_TTL_S, SessionStore
from tests.support.e2e import Citizen, options, text_of

REFERENCE = re.compile(r"KMC-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}")
BN_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
BN_MONTHS = (
    "জানুয়ারি", "ফেব্রুয়ারি", "মার্চ", "এপ্রিল", "মে", "জুন",
    "জুলাই", "আগস্ট", "সেপ্টেম্বর", "অক্টোবর", "নভেম্বর", "ডিসেম্বর",
)  # fmt: skip
EN_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip


def first_dose() -> date:
    """A Covishield first dose long enough ago to book now."""
    return datetime.now(IST).date() - timedelta(days=100)


def aadhaar(seed: int) -> str:
    rng = random.Random(seed)
    stem = str(rng.randint(2, 9)) + "".join(rng.choices("0123456789", k=10))
    return stem + verhoeff.calc_check_digit(stem)


async def says(citizen: Citizen, text: str) -> str:
    """Type `text`; the one reply's text."""
    [reply] = await citizen.say(text)
    return text_of(reply)


def offered(citizen: Citizen) -> list[str]:
    return [oid for oid, _, _ in options(citizen.last)]


async def only_booking(pg: asyncpg.Pool, wa_id: str) -> asyncpg.Record:
    [row] = await pg.fetch("SELECT * FROM bookings WHERE wa_id = $1", wa_id)
    return row


async def test_a_booking_typed_entirely_in_bengali(citizens, pg) -> None:
    citizen = citizens("919800002001")
    d = first_dose()
    number = aadhaar(1)
    await citizen.say("নমস্কার")
    assert "বাংলা" in await says(citizen, "বাংলা")  # the menu, now in Bengali
    assert "টিকা" in await says(citizen, "টিকা বুক করব")
    assert "তারিখ" in await says(citizen, "কোভিশিল্ড নিয়েছিলাম")
    date_typed = f"{d.day} {BN_MONTHS[d.month - 1]} {d.year} তারিখে".translate(BN_DIGITS)
    assert offered(citizen) == []
    await citizen.say(date_typed)
    assert "id:aadhaar" in offered(citizen)
    await citizen.say("আধার কার্ড")
    assert "XXXX XXXX" in await says(citizen, number.translate(BN_DIGITS))
    await citizen.say("আমার নাম রিনা সেন")
    assert any(o.startswith("centre:") for o in offered(citizen))
    await citizen.say("Roxy")
    assert offered(citizen)[0].startswith("day:")
    await citizen.say("১")
    assert offered(citizen)[0].startswith("slot:")
    summary = await says(citizen, "১")
    assert "রিনা সেন" in summary and "কোভিশিল্ড" in summary
    ticket = await says(citizen, "হ্যাঁ")
    assert ticket.startswith("✅") and REFERENCE.search(ticket)
    row = await only_booking(pg, citizen.wa_id)
    assert (row["name"], row["lang"], row["status"]) == ("রিনা সেন", "bn", "booked")
    assert (row["vaccine"], row["first_dose"], row["id_last4"]) == ("covishield", d, number[-4:])


async def test_a_booking_typed_in_hinglish(citizens, pg) -> None:
    citizen = citizens("919800002002")
    d = first_dose()
    await citizen.say("hii")
    await citizen.say("hindi")
    await citizen.say("booking karni hai")
    assert offered(citizen) == ["vaccine:covishield", "vaccine:covaxin", "vaccine:sputnik_v"]
    await citizen.say("covishield liya tha")
    await citizen.say(f"{d.day} {EN_MONTHS[d.month - 1]} {d.year} ko")
    await citizen.say("aadhar card")
    await citizen.say(aadhaar(2))
    await citizen.say("mera naam Ramesh Kumar hai")
    await citizen.say("roxy")
    await citizen.say("1")
    await citizen.say("1")
    assert "Ramesh Kumar" in text_of(citizen.last)
    ticket = await says(citizen, "haan ji")
    assert REFERENCE.search(ticket)
    row = await only_booking(pg, citizen.wa_id)
    assert (row["name"], row["lang"], row["first_dose"]) == ("Ramesh Kumar", "hi", d)


async def book_in_banglish(citizen: Citizen, name: str) -> str:
    """A booking typed in Roman-letter Bengali (12 messages); its reference."""
    d = first_dose()
    await citizen.say("nomoskar")
    await citizen.say("bangla")
    await citizen.say("book korbo")
    await citizen.say("covishield nilam")
    await citizen.say(f"{d.day} {EN_MONTHS[d.month - 1][:3]} {d.year} tarikhe")
    await citizen.say("voter card")
    await citizen.say("WKH1186253")
    await citizen.say(f"amar naam {name}")
    await citizen.say("roxy")
    await citizen.say("1")
    await citizen.say("1")
    ticket = await says(citizen, "thik ache")
    reference = REFERENCE.search(ticket)
    assert reference, ticket
    return reference[0]


async def test_a_booking_typed_in_banglish(citizens, pg) -> None:
    citizen = citizens("919800002003")
    await book_in_banglish(citizen, "Tapas Pal")
    booked = await only_booking(pg, citizen.wa_id)
    assert (booked["name"], booked["id_type"], booked["lang"]) == ("Tapas Pal", "epic", "bn")


async def test_a_booking_is_looked_at_and_moved_by_typing(citizens, pg) -> None:
    citizen = citizens("919800002006")
    reference = await book_in_banglish(citizen, "Mita Pal")
    booked = await only_booking(pg, citizen.wa_id)
    listing = await says(citizen, "amar booking dekhao")
    assert reference in listing and "Mita Pal" in listing
    # Another day, typed by number; the new summary answered in Bengali script.
    await citizen.say("somoy bodol")
    assert any(o.startswith("centre:") for o in offered(citizen))
    await citizen.say("roxy")
    await citizen.say("2")  # the second day on offer
    await citizen.say("1")
    moved = await says(citizen, "হ্যাঁ")
    assert reference in moved
    row = await only_booking(pg, citizen.wa_id)
    assert row["status"] == "booked" and row["slot_id"] != booked["slot_id"]


async def test_a_booking_is_cancelled_by_typing(citizens, pg) -> None:
    citizen = citizens("919800002007")
    reference = await book_in_banglish(citizen, "Rima Pal")
    await citizen.say("amar booking")
    question = await says(citizen, "batil korbo")  # the booking's cancel row
    assert reference in question
    done = await says(citizen, "ha")  # "cancel it?": yes
    assert reference in done
    row = await only_booking(pg, citizen.wa_id)
    assert row["status"] == "cancelled"
    assert await pg.fetchval("SELECT sum(booked) FROM slots") == 0


async def test_thanks_after_a_booking_is_answered_kindly(citizens, pg) -> None:
    citizen = citizens("919800002004")
    await citizen.say("hi")
    await citizen.say("english")
    await citizen.say("i want to book")
    await citizen.say("covishild")  # a typo
    d = first_dose()
    await citizen.say(f"{d.day}th of {EN_MONTHS[d.month - 1]} {d.year}")
    await citizen.say("aadhaar")
    await citizen.say(aadhaar(4))
    await citizen.say("my name is Asha Das")
    await citizen.say("roxy")
    await citizen.say("1")
    await citizen.say("1")
    await citizen.say("ok")
    assert (await only_booking(pg, citizen.wa_id))["name"] == "Asha Das"
    for thanks in ("thanks", "ধন্যবাদ", "dhanyavad", "ok"):
        reply = await says(citizen, thanks)
        assert "welcome" in reply or "ধন্যবাদ" in reply or "धन्यवाद" in reply, reply
        assert "did not work" not in reply


async def test_a_returning_citizen_is_offered_the_same_details(citizens, pg) -> None:
    citizen = citizens("919800002005")
    d = first_dose()
    await citizen.say("hi")
    await citizen.say("hindi")
    await citizen.say("book")
    await citizen.say("covishield")
    await citizen.say(f"{d.day}/{d.month}/{d.year}")
    await citizen.say("aadhaar")
    await citizen.say(aadhaar(5))
    await citizen.say("Sita Devi")
    await citizen.say("roxy")
    await citizen.say("1")
    await citizen.say("1")
    await citizen.say("haan")
    # Her husband books next, from the same phone: the same details are offered first.
    same = await says(citizen, "book")
    assert "Sita Devi" in same and offered(citizen) == ["same:yes", "same:no"]
    await citizen.say("nahi")
    assert offered(citizen)[0] == "vaccine:covishield"


async def test_redis_keeps_an_unfinished_conversation_a_day_and_the_profile_no_name(
    citizens, redis, settings
) -> None:
    citizen = citizens("919800002008")
    number = aadhaar(8)
    keys = SessionStore(redis, settings.redis_prefix).keys(
        user_tag(settings.id_pepper, citizen.wa_id)
    )
    await citizen.say("hi")
    await citizen.say("english")
    assert 0 < await redis.ttl(keys["session"]) <= SESSION_TTL_S  # at the menu: 30 minutes
    await citizen.say("book")
    assert SESSION_TTL_S < await redis.ttl(keys["session"]) <= UNFINISHED_TTL_S  # mid-way: a day
    d = first_dose()
    for answer in ("covishield", f"{d:%d-%m-%Y}", "aadhaar", number, "Asha Das", "roxy", "1", "1"):
        await citizen.say(answer)
    await citizen.say("yes")
    assert 0 < await redis.ttl(keys["session"]) <= SESSION_TTL_S  # done: back to 30 minutes
    profile = orjson.loads(await redis.get(keys["profile"]))
    assert REFERENCE.fullmatch(profile["last"])  # only the reference: no name, no ID
    assert "Asha" not in str(profile) and number[-4:] not in str(profile)
