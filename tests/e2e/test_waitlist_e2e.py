"""The waitlist end to end, through the signed webhook (issue 22): a full centre,
50 citizens waiting, capacity raised by 20 through the admin API: exactly 20
offers, to the first 20 in line; 10 take theirs, 10 let them run out, and after
the hold those 10 places go to the next 10; nothing overbooked. And a citizen
who finds no centre near her at the centre list waits in her ward's borough:
places opened in another borough are not offered to her, one in hers is."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.booking import repository
from kmcbot.booking.commands import Booked
from kmcbot.booking.model import IST
from kmcbot.booking.snapshot import Snapshots
from kmcbot.settings import Settings
from tests.support.e2e import (
    Citizen,
    HoldableStandIn,
    bot_settings,
    option_ids,
    text_of,
    typed,
)
from tests.support.factories import (
    assert_counts_consistent,
    book_effect,
    eventually,
    make_centre,
    make_slot,
)
from tests.support.ids import aadhaar
from tests.support.waitlist import assert_holds_consistent

HOLD_S = 8.0
ADMIN = "waitlist-admin-token"
WAITING = 50


@pytest.fixture
def settings(pg_url: str, redis_url: str, standin: HoldableStandIn) -> Settings:
    return bot_settings(
        pg_url, redis_url, standin, id_pepper=b"e2e-pepper", admin_token=ADMIN,
        offer_hold_s=HOLD_S,
    )  # fmt: skip


@pytest.fixture
async def full_slot(pg) -> int:
    """The city's one session, tomorrow, full."""
    tomorrow = datetime.now(IST).date() + timedelta(days=1)
    slot = await make_slot(pg, await make_centre(pg, "Roxy Cinema"), capacity=1, day=tomorrow,
                           start=time(10))  # fmt: skip
    assert isinstance(await repository.book(pg, "919700000000", book_effect(slot, 9999)), Booked)
    return slot


@pytest.fixture
async def bot(settings: Settings, full_slot: int, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(settings))


def number(n: int) -> str:
    return f"9198100{n:05d}"


def name(n: int) -> str:
    """A name for citizen n, letters only (a name has no digits)."""
    letters = "abcdefghij"
    return "Citizen " + "".join(letters[int(d)] for d in f"{n:02d}").title()


async def ask_to_wait(citizen: Citizen, n: int) -> None:
    """Hi, English, Book: no place anywhere, so "Tell me when"; then the ID."""
    await citizen.say("Hi")
    await citizen.tap("lang:en")
    await citizen.tap("menu:book")
    await citizen.tap("vaccine:covishield")
    [question] = await citizen.say(typed(datetime.now(IST).date() - timedelta(days=120)))
    assert option_ids(question) == ["waitlist:join", "menu:main"], text_of(question)
    await citizen.tap("waitlist:join")
    await citizen.tap("id:aadhaar")
    await citizen.say(aadhaar(n))


async def test_fifty_waiting_twenty_places_ten_taken_ten_passed_on(
    bot: TestClient, standin: HoldableStandIn, redis, pg, full_slot: int
) -> None:
    citizens = [Citizen(bot, standin, number(n), redis=redis) for n in range(WAITING)]
    for group in range(0, WAITING, 10):
        await asyncio.gather(*(ask_to_wait(c, n) for n, c in enumerate(citizens) if
                               group <= n < group + 10))  # fmt: skip
    # The name and the area last, one after the other: the order of joining is the line.
    for n, citizen in enumerate(citizens):
        [where] = await citizen.say(name(n))
        assert option_ids(where) == ["area:city", "area:near"], text_of(where)
        [joined] = await citizen.tap("area:city")
        assert f"number {n + 1} in line" in text_of(joined), text_of(joined)
    seen = {c.wa_id: c.seen for c in citizens}

    resp = await bot.patch(
        f"/admin/slots/{full_slot}", json={"capacity": 21},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    # No window: the 20 new places are the waitlist's from the moment the change commits.
    changed = await resp.json()
    assert (changed["free"], changed["held"]) == (0, 20), changed
    snapshot = await Snapshots(pg, 60)(datetime.now(UTC))
    assert [s.free for s in snapshot.slots if s.id == full_slot] == [0]

    def offered() -> list[str]:
        return [c.wa_id for c in citizens if len(standin.by_user[c.wa_id]) > seen[c.wa_id]]

    await eventually(lambda: len(offered()) >= 20, timeout=20)
    await asyncio.sleep(0.5)  # nothing more may come
    assert offered() == [number(n) for n in range(20)]  # exactly 20, the first 20 in line
    for c in citizens[:20]:
        [offer] = standin.by_user[c.wa_id][seen[c.wa_id] :]
        assert "Roxy Cinema" in text_of(offer)
        assert [i.split(":")[1] for i in option_ids(offer)] == ["yes", "no"]
        c.seen += 1
    slot = await pg.fetchrow("SELECT booked, held FROM slots WHERE id = $1", full_slot)
    assert (slot["booked"], slot["held"]) == (1, 20)
    # Meanwhile the ordinary path finds the places taken.
    assert (await repository.book(pg, "919700000001", book_effect(full_slot, 8888))).reason

    for c in citizens[:10]:  # take it
        [ticket] = await c.tap("offer:yes")
        assert "Reference: KMC-" in text_of(ticket), text_of(ticket)
    seen = {c.wa_id: c.seen for c in citizens}
    # Citizens 11-20 let the hold run out: their places go to 21-30.
    await eventually(lambda: len(offered()) >= 10, timeout=HOLD_S + 20)
    await asyncio.sleep(0.5)
    assert offered() == [number(n) for n in range(20, 30)]
    assert await pg.fetchval("SELECT count(*) FROM offers WHERE status = 'expired'") == 10
    late = await citizens[10].tap("offer:yes")  # too late: the place has gone on
    assert "no longer open" in text_of(late[0])

    slot = await pg.fetchrow("SELECT booked, held, capacity FROM slots WHERE id = $1", full_slot)
    assert (slot["booked"], slot["held"], slot["capacity"]) == (11, 10, 21)
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg)
    order = await pg.fetch(
        "SELECT w.name FROM offers o JOIN waitlist w ON w.id = o.entry_id ORDER BY o.id"
    )
    assert [r["name"] for r in order] == [name(n) for n in range(30)]


# ---------------------------------------------------------------- her borough


async def centre_in(pg, name: str, ward: int, borough: int) -> int:
    centre = await make_centre(pg, name)
    await pg.execute("UPDATE centres SET ward = $2, borough = $3 WHERE id = $1", centre, ward,
                     borough)  # fmt: skip
    return centre


async def test_none_near_me_at_the_centre_list_then_a_ward_waits_in_its_borough(
    settings: Settings, standin: HoldableStandIn, redis, pg, aiohttp_client
) -> None:
    tomorrow = datetime.now(IST).date() + timedelta(days=1)
    # Behala (Borough 13) has places; Roxy (ward 46, Borough 6), near her, is full.
    behala = await make_slot(pg, await centre_in(pg, "Behala Clinic", 118, 13), capacity=5,
                             day=tomorrow, start=time(10))  # fmt: skip
    roxy = await make_slot(pg, await centre_in(pg, "Roxy Cinema", 46, 6), capacity=1,
                           day=tomorrow, start=time(12))  # fmt: skip
    assert isinstance(await repository.book(pg, "919700000000", book_effect(roxy, 9999)), Booked)
    bot = await aiohttp_client(create_app(settings))
    citizen = Citizen(bot, standin, number(99), redis=redis)

    await citizen.say("Hi")
    await citizen.tap("lang:en")
    await citizen.tap("menu:book")
    await citizen.tap("vaccine:covishield")
    await citizen.say(typed(datetime.now(IST).date() - timedelta(days=120)))
    await citizen.tap("id:aadhaar")
    await citizen.say(aadhaar(99))
    [centres] = await citizen.say("Asha Das")
    assert option_ids(centres)[0] == "centre:" + str(
        await pg.fetchval("SELECT centre_id FROM slots WHERE id = $1", behala)
    )
    assert option_ids(centres)[-1] == "centre:none", option_ids(centres)
    [where] = await citizen.tap("centre:none")  # none of these is near her
    assert option_ids(where) == ["area:city", "area:near"], text_of(where)
    [joined] = await citizen.say("ward 46")
    assert "ward 46 (Borough 6): number 1 in line" in text_of(joined), text_of(joined)
    entry = await pg.fetchrow("SELECT borough, near_lat, name FROM waitlist")
    assert (entry["borough"], entry["near_lat"], entry["name"]) == (6, None, "Asha Das")
    seen = len(citizen.standin.by_user[citizen.wa_id])

    admin = {"Authorization": f"Bearer {ADMIN}"}
    # Places opened in another borough: none is held or offered to her.
    resp = await bot.patch(f"/admin/slots/{behala}", json={"capacity": 15}, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["held"] == 0
    await asyncio.sleep(3)  # an offer run or more (every 2 s, and woken at once)
    assert len(citizen.standin.by_user[citizen.wa_id]) == seen
    assert await pg.fetchval("SELECT count(*) FROM offers") == 0

    # A place opened in her borough: held for her, offered, booked.
    resp = await bot.patch(f"/admin/slots/{roxy}", json={"capacity": 2}, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["held"] == 1
    await eventually(lambda: len(citizen.standin.by_user[citizen.wa_id]) > seen, timeout=20)
    offer = citizen.last
    assert "Roxy Cinema" in text_of(offer), text_of(offer)
    citizen.seen += 1  # the offer came from the offer job, not as a reply
    [ticket] = await citizen.tap("offer:yes")
    assert "Reference: KMC-" in text_of(ticket), text_of(ticket)
    booked = await pg.fetchrow(
        "SELECT slot_id, name FROM bookings WHERE wa_id = $1 AND status = 'booked'",
        citizen.wa_id,
    )
    assert (booked["slot_id"], booked["name"]) == (roxy, "Asha Das")
    assert await pg.fetchval("SELECT status FROM waitlist") == "booked"
    await assert_counts_consistent(pg)
    await assert_holds_consistent(pg)
