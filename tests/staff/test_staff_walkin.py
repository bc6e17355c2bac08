"""Walk-in booking at the desk, under the chat's rules, against real PostgreSQL and
Redis; the confirmation reaches the Graph stand-in when a number is given."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta

import pytest
import structlog
from stdnum import verhoeff

from kmcbot.booking.model import IST
from tests.support.factories import eventually

pytestmark = pytest.mark.usefixtures("served")


def aadhaar(seed: int) -> str:
    rng = random.Random(seed)
    stem = str(rng.randint(2, 9)) + "".join(rng.choices("0123456789", k=10))
    return stem + verhoeff.calc_check_digit(stem)


def days_ago(n: int) -> str:
    return (datetime.now(IST).date() - timedelta(days=n)).isoformat()


async def open_form(b) -> str:
    status, page = await b.get("/staff/c/HC-A/walkin")
    assert status == 200
    return re.search(r'name="key" value="([^"]+)"', page).group(1)


def person(city, form_key: str, **more: str) -> dict[str, str]:
    return {
        "key": form_key,
        "slot": str(city.tomorrow_a),
        "name": "Kabir Hossain",
        "id_type": "aadhaar",
        "id_number": aadhaar(7),
        "first_dose": days_ago(100),
        "wa_id": "",
        "lang": "en",
        **more,
    }


async def test_a_walk_in_with_whatsapp_is_booked_and_told_in_their_language(
    browsers, pg, graph, city
) -> None:
    b = browsers()
    await b.login("clerk.a")
    form = person(city, await open_form(b), wa_id="98300 12345", lang="bn")
    with structlog.testing.capture_logs() as logs:
        status, page = await b.post("/staff/c/HC-A/walkin", form)
    assert status == 200, page
    found = re.search(r"Booked (KMC-\w+) for \S+ 12:00\. Code: (\d{4})\.", page)
    assert found, page
    reference, code = found.groups()
    [made] = [e for e in logs if e["event"] == "booking_made"]
    assert (made["reference"], made["centre"], made["lang"], made["via"]) == (
        reference, "HC-A", "bn", "desk",
    )  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{16}", made["user"])  # the number's keyed hash
    row = await pg.fetchrow("SELECT * FROM bookings WHERE reference = $1", reference)
    assert (row["wa_id"], row["lang"], row["name"], row["code"]) == (
        "919830012345",
        "bn",
        "Kabir Hossain",
        code,
    )
    assert row["source_message_id"].startswith("walkin:")
    # The ticket goes now (no chat turn will send it), as the template in Bengali.
    sent = await eventually(lambda: graph.by_user.get("919830012345"), timeout=10)
    assert sent[0]["template"]["name"] == "kmcbot_booking_update"
    assert sent[0]["template"]["language"]["code"] == "bn"
    # The same form sent again books nothing more; the same ID again is refused.
    status, _ = await b.post("/staff/c/HC-A/walkin", form)
    assert await pg.fetchval("SELECT count(*) FROM bookings WHERE name = 'Kabir Hossain'") == 1
    status, page = await b.post("/staff/c/HC-A/walkin", person(city, await open_form(b)))
    assert status == 409 and "already has an active second-dose booking" in page
    rows = await pg.fetch("SELECT * FROM staff_audit WHERE action = 'walkin_booked'")
    assert rows and all(reference in r["detail"] and "Kabir" not in r["detail"] for r in rows)


async def test_a_walk_in_without_a_number(browsers, pg, graph, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    status, page = await b.post("/staff/c/HC-A/walkin", person(city, await open_form(b)))
    assert status == 200 and "Booked KMC-" in page
    row = await pg.fetchrow("SELECT wa_id, status FROM bookings WHERE name = 'Kabir Hossain'")
    assert tuple(row) == (None, "booked")
    assert "Kabir Hossain" in (await b.get("/staff/c/HC-A/?day=tomorrow"))[1]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"name": "K4bir"}, 400, "A name cannot have numbers in it."),
        ({"id_number": "234567890123"}, 400, "is not valid"),
        ({"id_type": "ration"}, 400, "Choose an ID type."),
        ({"first_dose": "2030-01-01"}, 400, "That date is in the future."),
        ({"first_dose": "2020-05-01"}, 400, "Vaccination in India began on"),
        ({"first_dose": "yesterday"}, 400, "could not read that date"),
        ({"first_dose": "TODAY-10"}, 400, "could not read"),
        ({"wa_id": "12345"}, 400, "The WhatsApp number must be"),
        ({"slot": "999999"}, 400, "Choose a session that has not started."),
        ({"key": "x"}, 400, "too old"),
    ],
)
async def test_a_walk_in_is_refused_by_the_chats_rules(
    browsers, pg, city, change, status, message
) -> None:
    b = browsers()
    await b.login("clerk.a")
    form = person(city, await open_form(b), **change)
    got, page = await b.post("/staff/c/HC-A/walkin", form)
    assert (got, message in page) == (status, True), page[-2000:]
    assert await pg.fetchval("SELECT count(*) FROM bookings WHERE name = 'Kabir Hossain'") == 0
    # The form keeps what was typed.
    assert 'value="Kabir Hossain"' in page or change.get("name")


async def test_too_early_started_and_other_centres_sessions_are_refused(browsers, pg, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    status, page = await b.post(
        "/staff/c/HC-A/walkin", person(city, await open_form(b), first_dose=days_ago(10))
    )
    assert status == 409 and "Too early for the second dose" in page
    for slot in (city.today_a, city.today_b):  # started; another centre's
        status, page = await b.post(
            "/staff/c/HC-A/walkin", person(city, await open_form(b), slot=str(slot))
        )
        assert status == 400 and "has not started" in page
    status, _ = await b.get("/staff/c/HC-B/walkin")
    assert status == 403
    assert await pg.fetchval("SELECT count(*) FROM bookings WHERE name = 'Kabir Hossain'") == 0
