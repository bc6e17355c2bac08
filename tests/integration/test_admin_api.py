"""The staff and operator API (/admin) over HTTP, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from datetime import datetime, time, timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.booking import admin_repo, repository
from kmcbot.booking.commands import Booked, Refused
from kmcbot.booking.model import IST, Refusal
from kmcbot.devtools.data.demo import CENTRES_CSV
from kmcbot.jobs.missed import mark_missed
from kmcbot.settings import Settings
from tests.support.factories import assert_counts_consistent, book_effect, make_centre, make_slot

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TODAY = datetime.now(IST).date()
SOON = TODAY + timedelta(days=2)

CENTRE = {
    "code": "SXC",
    "name": "St. Xavier's College",
    "kind": "mega",
    "borough": 7,
    "ward": 63,
    "address": "30 Mother Teresa Sarani (Park Street), Kolkata 700016",
    "latitude": 22.5475,
    "longitude": 88.3588,
    "vaccines": ["covishield", "covaxin"],
}


def settings_for(pg_url: str, redis_url: str, token: str | None = TOKEN) -> Settings:
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        admin_token=token,
        dev=False,
        app_secret=b"x",
        run_sender=False,
    )


@pytest.fixture
async def client(pg_url: str, redis_url: str, pg: asyncpg.Pool, aiohttp_client) -> TestClient:
    # aiohttp_client last: it is torn down first, so the app stops before its databases go.
    return await aiohttp_client(create_app(settings_for(pg_url, redis_url)))


async def book_n(pg: asyncpg.Pool, slot: int, numbers: range | list[int]) -> list[Booked]:
    out = []
    for n in numbers:
        result = await repository.book(pg, f"9198{n:08d}", book_effect(slot, n))
        assert isinstance(result, Booked), result
        out.append(result)
    return out


async def move_to_today(pg: asyncpg.Pool, slot: int) -> None:
    """Bookings are made for a future slot (a started one refuses them); check-in needs today."""
    await pg.execute(
        "UPDATE slots SET day = $2, starts_at = $3 WHERE id = $1",
        slot,
        TODAY,
        datetime.combine(TODAY, time(10), IST),
    )


async def notified(pg: asyncpg.Pool) -> int:
    return await pg.fetchval("SELECT count(*) FROM notifications WHERE kind = 'slot_cancelled'")


# ---------------------------------------------------------------- the token


async def test_without_a_token_or_with_a_wrong_one_every_endpoint_is_401(client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        for method, path in (
            ("GET", "/admin/centres"),
            ("POST", "/admin/checkin"),
            ("PATCH", "/admin/slots/1"),
            ("GET", "/admin/roster?centre=1"),
        ):
            resp = await client.request(method, path, headers=headers, json={})
            assert resp.status == 401, (method, path, headers)
            assert "error" in await resp.json()
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await client.get("/admin/centres", headers=AUTH)).status == 200


async def test_without_an_admin_token_configured_no_shared_token_is_taken(
    pg_url, redis_url, pg, aiohttp_client
) -> None:
    # /admin stays for staff accounts' own tokens (tests/staff/test_staff_api_tokens.py).
    client = await aiohttp_client(create_app(settings_for(pg_url, redis_url, token=None)))
    assert (await client.get("/admin/centres", headers=AUTH)).status == 401
    assert (await client.post("/admin/checkin", headers=AUTH, json={})).status == 401


async def test_a_wrong_method_is_a_json_error(client) -> None:
    resp = await client.delete("/admin/centres", headers=AUTH)
    assert resp.status == 405
    assert "error" in await resp.json()
    assert "GET" in resp.headers["Allow"]  # the methods the path takes, as HTTP asks


# ---------------------------------------------------------------- centres


async def test_a_centre_is_created_then_updated_by_code(client) -> None:
    resp = await client.post("/admin/centres", headers=AUTH, json=CENTRE)
    assert resp.status == 201
    created = await resp.json()
    assert created["code"] == "SXC" and created["vaccines"] == ["covishield", "covaxin"]
    assert created["active"] is True
    resp = await client.post(
        "/admin/centres", headers=AUTH, json={**CENTRE, "name": "SXC Hall", "active": False}
    )
    assert resp.status == 200
    updated = await resp.json()
    assert updated["id"] == created["id"] and updated["name"] == "SXC Hall"
    listed = (await (await client.get("/admin/centres", headers=AUTH)).json())["centres"]
    assert [(c["code"], c["name"], c["active"]) for c in listed] == [("SXC", "SXC Hall", False)]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"latitude": 88.3588, "longitude": 22.5475}, "latitude"),  # swapped
        ({"longitude": "88.3"}, "longitude"),
        ({"kind": "hospital"}, "kind"),
        ({"vaccines": ["covishield", "pfizer"]}, "vaccine"),
        ({"vaccines": []}, "vaccines"),
        ({"code": "sx c"}, "code"),
        ({"ward": 999}, "ward"),
        ({"name": ""}, "name"),
        ({"active": "yes"}, "active"),
    ],
)
async def test_a_bad_centre_field_is_400_naming_it(client, change, field) -> None:
    resp = await client.post("/admin/centres", headers=AUTH, json={**CENTRE, **change})
    assert resp.status == 400
    assert (await resp.json())["error"].startswith(field)


async def test_a_body_that_is_not_a_json_object_is_400(client) -> None:
    for body in (b"{not json", b"[1, 2]"):
        resp = await client.post("/admin/centres", headers=AUTH, data=body)
        assert resp.status == 400
        assert (await resp.json())["error"].startswith("body")


async def test_the_shipped_centres_csv_imports_and_imports_again_as_updates(client) -> None:
    csv_text = CENTRES_CSV.read_text(encoding="utf-8")
    lines = len([line for line in csv_text.splitlines()[1:] if line.strip()])
    first = await client.post("/admin/centres/import", headers=AUTH, data=csv_text)
    assert first.status == 200
    assert await first.json() == {"centres": lines, "created": lines, "updated": 0}
    again = await (await client.post("/admin/centres/import", headers=AUTH, data=csv_text)).json()
    assert again == {"centres": lines, "created": 0, "updated": lines}
    listed = (await (await client.get("/admin/centres", headers=AUTH)).json())["centres"]
    assert {c["code"] for c in listed} >= {"ROXY", "BSU", "SXC"}
    assert next(c for c in listed if c["code"] == "BSU")["vaccines"] == ["covishield", "covaxin"]


async def test_a_bad_csv_line_is_400_naming_the_line_and_nothing_is_imported(client, pg) -> None:
    header, *rows = CENTRES_CSV.read_text(encoding="utf-8").splitlines()
    bad = rows[1].replace("22.5885", "88.3835")  # line 3: latitude outside Kolkata
    resp = await client.post(
        "/admin/centres/import", headers=AUTH, data="\n".join([header, rows[0], bad])
    )
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert "line 3" in error and "latitude" in error and "/tmp" not in error
    assert await pg.fetchval("SELECT count(*) FROM centres") == 0


# ---------------------------------------------------------------- slots


async def test_sessions_are_created_in_bulk_in_ist_and_a_repeat_creates_none(client, pg) -> None:
    centre = (await (await client.post("/admin/centres", headers=AUTH, json=CENTRE)).json())["id"]
    first = SOON
    last = first + timedelta(days=6)  # a week: exactly one Sunday
    body = {
        "centre": centre,
        "vaccine": "covaxin",
        "from": first.isoformat(),
        "to": last.isoformat(),
        "times": ["12:00-14:00", "10:00-12:00"],
        "capacity": 50,
        "skip_weekdays": ["sun"],
    }
    resp = await client.post("/admin/slots", headers=AUTH, json=body)
    assert resp.status == 201
    assert await resp.json() == {"created": 12, "existing": 0}
    again = await client.post("/admin/slots", headers=AUTH, json=body)
    assert again.status == 200 and await again.json() == {"created": 0, "existing": 12}
    assert await pg.fetchval("SELECT count(*) FROM slots WHERE extract(isodow FROM day) = 7") == 0
    day = next(
        first + timedelta(days=n) for n in range(7) if (first + timedelta(days=n)).weekday() != 6
    )
    listed = await (
        await client.get(f"/admin/slots?centre={centre}&date={day}", headers=AUTH)
    ).json()
    assert [(s["start"], s["end"]) for s in listed["slots"]] == [
        ("10:00", "12:00"),
        ("12:00", "14:00"),
    ]
    slot = listed["slots"][0]
    assert slot["starts_at"] == f"{day}T10:00:00+05:30"
    assert (slot["capacity"], slot["booked"], slot["free"], slot["status"]) == (50, 0, 50, "open")


async def test_sessions_of_a_vaccine_the_centre_does_not_give_are_409(client) -> None:
    centre = (await (await client.post("/admin/centres", headers=AUTH, json=CENTRE)).json())["id"]
    body = {
        "centre": centre,
        "vaccine": "sputnik_v",
        "from": SOON.isoformat(),
        "times": ["10:00-12:00"],
        "capacity": 5,
    }
    resp = await client.post("/admin/slots", headers=AUTH, json=body)
    assert resp.status == 409 and "sputnik_v" in (await resp.json())["error"]


@pytest.mark.parametrize(
    ("change", "field", "status"),
    [
        ({"centre": 999_999}, "centre", 404),
        ({"centre": "one"}, "centres", 400),
        ({"vaccine": "pfizer"}, "vaccine", 400),
        ({"from": "05-06-2021"}, "from", 400),
        ({"from": "2021-06-05"}, "from", 400),  # in the past
        ({"to": "2000-01-01"}, "to", 400),
        ({"times": ["10:00-09:00"]}, "times", 400),
        ({"times": ["25:00-26:00"]}, "times", 400),
        ({"times": ["10:00-12:00", "10:00-11:00"]}, "times", 400),
        ({"capacity": -1}, "capacity", 400),
        ({"capacity": True}, "capacity", 400),
        ({"skip_weekdays": ["someday"]}, "skip_weekdays", 400),
    ],
)
async def test_bad_session_requests(client, pg, change, field, status) -> None:
    centre = await make_centre(pg)
    body = {
        "centre": centre,
        "vaccine": "covishield",
        "from": SOON.isoformat(),
        "times": ["10:00-12:00"],
        "capacity": 5,
        **change,
    }
    resp = await client.post("/admin/slots", headers=AUTH, json=body)
    assert resp.status == status
    assert field in (await resp.json())["error"]


async def test_listing_slots_needs_a_known_centre(client) -> None:
    assert (await client.get("/admin/slots", headers=AUTH)).status == 400
    assert (await client.get("/admin/slots?centre=77", headers=AUTH)).status == 404
    resp = await client.get("/admin/slots?centre=1&date=tomorrow", headers=AUTH)
    assert resp.status == 400 and (await resp.json())["error"].startswith("date")


async def test_capacity_changes_but_never_below_what_is_booked(client, pg) -> None:
    slot = await make_slot(pg, await make_centre(pg), capacity=5)
    await book_n(pg, slot, range(3))
    resp = await client.patch(f"/admin/slots/{slot}", headers=AUTH, json={"capacity": 8})
    assert resp.status == 200
    assert (await resp.json())["capacity"] == 8
    resp = await client.patch(f"/admin/slots/{slot}", headers=AUTH, json={"capacity": 2})
    assert resp.status == 409
    assert "3 booking" in (await resp.json())["error"]
    assert (await client.patch(f"/admin/slots/{slot}", headers=AUTH, json={"capacity": 3})).ok
    assert (
        await client.patch("/admin/slots/99999", headers=AUTH, json={"capacity": 3})
    ).status == 404
    bad = await client.patch(f"/admin/slots/{slot}", headers=AUTH, json={"capacity": "3"})
    assert bad.status == 400 and (await bad.json())["error"].startswith("capacity")
    await assert_counts_consistent(pg)


async def test_capacity_cut_raced_by_a_booking_never_overbooks(client, pg) -> None:
    """Cut to what is booked while one more citizen books: exactly one of the two wins."""
    centre = await make_centre(pg)
    for round_ in range(8):
        slot = await make_slot(pg, centre, capacity=5, start=time(8 + round_, 0))
        await book_n(pg, slot, range(round_ * 10, round_ * 10 + 4))
        patch, booking = await asyncio.gather(
            client.patch(f"/admin/slots/{slot}", headers=AUTH, json={"capacity": 4}),
            repository.book(pg, f"91989999{round_:04d}", book_effect(slot, 1000 + round_)),
        )
        if patch.status == 200:
            assert booking == Refused(Refusal.SLOT_FULL)
        else:
            assert patch.status == 409 and isinstance(booking, Booked)
    await assert_counts_consistent(pg)


# ---------------------------------------------------------------- roster


async def roster_fixture(pg: asyncpg.Pool) -> tuple[int, list[str]]:
    centre = await make_centre(pg, "Roxy <Cinema> & Co")
    late = await make_slot(pg, centre, day=SOON, start=time(12, 0))
    early = await make_slot(pg, centre, day=SOON, start=time(10, 0))
    effects = [
        replace(book_effect(late, 1), name="Zakir Hussain", id_last4="1234"),
        replace(book_effect(early, 2), name="Mitali Sen", id_last4="5678"),
        replace(book_effect(early, 3), name="Bina <script>alert(1)</script>", id_last4="9999"),
        replace(book_effect(early, 4), name="Cancelled Person", id_last4="0000"),
        replace(book_effect(late, 5), name="Anil Das", id_last4="4321", id_type="epic"),
    ]
    refs = []
    for n, effect in enumerate(effects):
        result = await repository.book(pg, f"91980000{n:04d}", effect)
        assert isinstance(result, Booked)
        refs.append(result.booking.reference)
    await repository.cancel(pg, "919800000003", refs[3])
    return centre, refs


async def test_the_roster_csv_lists_booked_people_by_slot_then_name(client, pg) -> None:
    centre, refs = await roster_fixture(pg)
    for query, headers in (
        (f"centre={centre}&date={SOON}", AUTH),
        (f"centre={centre}&date={SOON}&format=csv", AUTH),
        (f"centre={centre}&date={SOON}", {**AUTH, "Accept": "text/csv"}),
    ):
        resp = await client.get(f"/admin/roster?{query}", headers=headers)
        assert resp.status == 200
        assert resp.content_type == "text/csv"
        assert "attachment" in resp.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        assert rows[0][:6] == ["reference", "slot", "name", "id_type", "masked_id", "status"]
        assert [(r[1], r[2], r[4]) for r in rows[1:]] == [
            ("10:00-12:00", "Bina <script>alert(1)</script>", "XXXX XXXX 9999"),
            ("10:00-12:00", "Mitali Sen", "XXXX XXXX 5678"),
            ("12:00-14:00", "Anil Das", "XXXX XXXX 4321"),
            ("12:00-14:00", "Zakir Hussain", "XXXX XXXX 1234"),
        ]
        assert refs[3] not in {r[0] for r in rows}  # cancelled: not expected at the centre
        assert {r[5] for r in rows[1:]} == {"booked"}


async def test_the_roster_html_escapes_everything_and_names_the_centre_and_day(client, pg) -> None:
    centre, refs = await roster_fixture(pg)
    resp = await client.get(f"/admin/roster?centre={centre}&date={SOON}&format=html", headers=AUTH)
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert "<script>" not in page
    assert "Bina &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Roxy &lt;Cinema&gt; &amp; Co" in page
    assert "5 Chowringhee Place" in page and f"{SOON.day} {SOON:%B %Y}" in page
    assert "@media print" in page
    assert page.count("<table>") == 2  # one per slot
    assert "XXXX XXXX 5678" in page and "Voter ID (EPIC)" in page
    assert "Cancelled Person" not in page


async def test_roster_errors(client, pg) -> None:
    centre = await make_centre(pg)
    assert (await client.get("/admin/roster?centre=9999", headers=AUTH)).status == 404
    assert (await client.get("/admin/roster", headers=AUTH)).status == 400
    resp = await client.get(f"/admin/roster?centre={centre}&format=pdf", headers=AUTH)
    assert resp.status == 400 and (await resp.json())["error"].startswith("format")


# ---------------------------------------------------------------- check-in


async def booked_today(pg: asyncpg.Pool) -> tuple[int, str, str]:
    slot = await make_slot(pg, await make_centre(pg))
    [booked] = await book_n(pg, slot, [1])
    await move_to_today(pg, slot)
    return slot, booked.booking.reference, booked.booking.code


async def test_check_in_marks_the_booking_attended_once(client, pg) -> None:
    slot, ref, code = await booked_today(pg)
    # Staff type what they read from a phone: lower case and spaces are fine.
    resp = await client.post(
        "/admin/checkin",
        headers=AUTH,
        json={"reference": ref.lower().replace("-", " "), "code": code},
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["reference"] == ref and body["status"] == "attended" and body["attended_at"]
    again = await client.post("/admin/checkin", headers=AUTH, json={"reference": ref, "code": code})
    assert again.status == 409
    assert "already checked in at" in (await again.json())["error"]
    assert await pg.fetchval("SELECT booked FROM slots WHERE id = $1", slot) == 1
    await assert_counts_consistent(pg)


async def test_staff_see_a_missed_booking_in_the_slots_and_cannot_check_it_in(client, pg) -> None:
    centre = await make_centre(pg)
    slot = await make_slot(pg, centre)
    [booked] = await book_n(pg, slot, [1])
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot)
    assert await mark_missed(pg, day + timedelta(days=1)) == 1

    ticket = {"reference": booked.booking.reference, "code": booked.booking.code}
    resp = await client.post("/admin/checkin", headers=AUTH, json=ticket)
    assert resp.status == 409 and "missed" in (await resp.json())["error"]
    listed = await (
        await client.get(f"/admin/slots?centre={centre}&date={day}", headers=AUTH)
    ).json()
    [shown] = listed["slots"]
    assert (shown["booked"], shown["attended"], shown["missed"]) == (1, 0, 1)


async def test_an_attended_booking_cannot_be_cancelled_by_the_citizen(client, pg) -> None:
    _, ref, code = await booked_today(pg)
    await admin_repo.check_in(pg, ref, code, TODAY)
    assert await repository.cancel(pg, "919800000001", ref) == Refused(Refusal.NOT_ACTIVE)
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref) == "attended"


async def test_check_in_errors(client, pg) -> None:
    _, ref, code = await booked_today(pg)
    wrong = f"{(int(code) + 1) % 10000:04d}"

    async def post(body: dict) -> tuple[int, str]:
        resp = await client.post("/admin/checkin", headers=AUTH, json=body)
        return resp.status, (await resp.json()).get("error", "")

    # An unknown reference is answered as a wrong code (issue 18: references not told apart).
    assert await post({"reference": "KMC-22222Z", "code": "1234"}) == (
        403,
        "wrong reference or code",
    )
    assert (await post({"reference": ref, "code": wrong}))[0] == 403
    status, error = await post({"reference": "hello", "code": code})
    assert status == 400 and error.startswith("reference")
    for bad in (1234, "12345", "", None):
        status, error = await post({"reference": ref, "code": bad})
        assert status == 400 and error.startswith("code")
    # Another day's booking.
    slot = await make_slot(pg, await make_centre(pg), day=SOON)
    [later] = await book_n(pg, slot, [2])
    status, error = await post({"reference": later.booking.reference, "code": later.booking.code})
    assert status == 409 and SOON.isoformat() in error
    # A cancelled booking. The code is checked first: a wrong guess learns nothing more.
    await repository.cancel(pg, "919800000002", later.booking.reference)
    status, error = await post({"reference": later.booking.reference, "code": later.booking.code})
    assert status == 409 and "cancelled" in error
    wrong_later = f"{(int(later.booking.code) + 1) % 10000:04d}"
    assert (await post({"reference": later.booking.reference, "code": wrong_later}))[0] == 403
    assert (await post({"reference": ref, "code": code}))[0] == 200


async def test_check_in_takes_the_code_in_bengali_or_devanagari_digits_as_the_reference(
    client, pg
) -> None:
    """Staff type on the phone's keyboard: the reference already folds ৪ to 4, so must the code."""
    slot = await make_slot(pg, await make_centre(pg))
    bookings = [b.booking for b in await book_n(pg, slot, [1, 2, 3])]
    await move_to_today(pg, slot)
    bengali = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
    devanagari = str.maketrans("0123456789", "०१२३४५६७८९")

    async def post(reference: str, code: str) -> int:
        body = {"reference": reference, "code": code}
        return (await client.post("/admin/checkin", headers=AUTH, json=body)).status

    for booking, digits in zip(bookings, (bengali, devanagari), strict=False):
        assert (
            await post(booking.reference.translate(digits), booking.code.translate(digits)) == 200
        )
    last = bookings[2]
    wrong = f"{(int(last.code) + 1) % 10000:04d}".translate(bengali)
    assert await post(last.reference, wrong) == 403


# ---------------------------------------------------------------- supply failure


async def test_cancelling_a_session_cancels_and_notifies_each_booking_once(client, pg) -> None:
    centre = await make_centre(pg)
    slot = await make_slot(pg, centre, capacity=10)
    other = await make_slot(pg, centre, capacity=10, start=time(12))
    booked = await book_n(pg, slot, range(4))
    await book_n(pg, other, range(10, 12))
    resp = await client.post(
        f"/admin/slots/{slot}/cancel", headers=AUTH, json={"reason": "no vaccine"}
    )
    assert resp.status == 200
    assert await resp.json() == {"slots": 1, "bookings_cancelled": 4}
    rows = await pg.fetch("SELECT status, cancel_reason FROM bookings WHERE slot_id = $1", slot)
    assert {(r["status"], r["cancel_reason"]) for r in rows} == {
        ("cancelled", "slot_cancelled: other")
    }
    per_booking = await pg.fetch(
        """SELECT b.reference, count(*) AS n FROM notifications n JOIN bookings b
           ON b.id = n.booking_id WHERE n.kind = 'slot_cancelled' GROUP BY b.reference"""
    )
    assert {r["reference"]: r["n"] for r in per_booking} == {b.booking.reference: 1 for b in booked}
    s = await pg.fetchrow(
        "SELECT status, cancel_reason, cancel_note, booked FROM slots WHERE id = $1", slot
    )
    # A typed reason is kept for staff; the citizen reads the code "other"'s text.
    assert tuple(s) == ("cancelled", "other", "no vaccine", 0)
    assert await pg.fetchval("SELECT booked FROM slots WHERE id = $1", other) == 2
    await assert_counts_consistent(pg)
    # Harmless to repeat; and a cancelled session takes no new bookings.
    again = await client.post(f"/admin/slots/{slot}/cancel", headers=AUTH, json={"reason": "x"})
    assert again.status == 200 and await again.json() == {"slots": 0, "bookings_cancelled": 0}
    assert await notified(pg) == 4
    assert await repository.book(pg, "919811111111", book_effect(slot, 77)) == Refused(
        Refusal.SLOT_GONE
    )


async def test_cancelling_a_centres_day_cancels_every_session_of_that_day_only(client, pg) -> None:
    centre = await make_centre(pg)
    day_slots = [await make_slot(pg, centre, start=time(h)) for h in (9, 11, 13)]
    next_day = await make_slot(pg, centre, day=SOON + timedelta(days=1))
    for i, slot in enumerate(day_slots):
        await book_n(pg, slot, range(i * 10, i * 10 + 2))
    await book_n(pg, next_day, [99])
    # One booking already checked in: it stays attended (the dose was given).
    await move_to_today(pg, day_slots[0])
    attended = await pg.fetchrow(
        "SELECT reference, code FROM bookings WHERE slot_id = $1 ORDER BY id LIMIT 1", day_slots[0]
    )
    await admin_repo.check_in(pg, attended["reference"], attended["code"], TODAY)
    await pg.execute(
        "UPDATE slots SET day = $2, starts_at = $3 WHERE id = $1",
        day_slots[0],
        SOON,
        datetime.combine(SOON, time(9), IST),
    )
    resp = await client.post(
        f"/admin/centres/{centre}/cancel",
        headers=AUTH,
        json={"date": SOON.isoformat(), "reason": "supply did not arrive"},
    )
    assert resp.status == 200
    assert await resp.json() == {"slots": 3, "bookings_cancelled": 5}
    statuses = await pg.fetch(
        "SELECT status, count(*) FROM bookings GROUP BY status ORDER BY status"
    )
    assert [tuple(r) for r in statuses] == [("attended", 1), ("booked", 1), ("cancelled", 5)]
    assert await pg.fetchval("SELECT booked FROM slots WHERE id = $1", day_slots[0]) == 1
    assert await notified(pg) == 5
    await assert_counts_consistent(pg)
    again = await client.post(
        f"/admin/centres/{centre}/cancel",
        headers=AUTH,
        json={"date": SOON.isoformat(), "reason": "again"},
    )
    assert await again.json() == {"slots": 0, "bookings_cancelled": 0}


async def test_supply_cancel_errors(client, pg) -> None:
    centre = await make_centre(pg)
    slot = await make_slot(pg, centre)
    assert (
        await client.post("/admin/slots/9999/cancel", headers=AUTH, json={"reason": "x"})
    ).status == 404
    assert (
        await client.post(
            "/admin/centres/9999/cancel",
            headers=AUTH,
            json={"date": SOON.isoformat(), "reason": "x"},
        )
    ).status == 404
    for body in ({}, {"reason": ""}, {"reason": "x" * 201}):
        resp = await client.post(f"/admin/slots/{slot}/cancel", headers=AUTH, json=body)
        assert resp.status == 400 and (await resp.json())["error"].startswith("reason")
    resp = await client.post(
        f"/admin/centres/{centre}/cancel", headers=AUTH, json={"date": "tomorrow", "reason": "x"}
    )
    assert resp.status == 400 and (await resp.json())["error"].startswith("date")
    assert await pg.fetchval("SELECT status FROM slots WHERE id = $1", slot) == "open"


async def test_a_session_cancel_raced_by_bookings_leaves_no_booking_behind(client, pg) -> None:
    slot = await make_slot(pg, await make_centre(pg), capacity=50)
    await book_n(pg, slot, range(5))
    bookings = [repository.book(pg, f"9197{n:08d}", book_effect(slot, 100 + n)) for n in range(20)]
    cancel = client.post(f"/admin/slots/{slot}/cancel", headers=AUTH, json={"reason": "r"})
    *results, resp = await asyncio.gather(*bookings, cancel)
    assert resp.status == 200
    won = sum(isinstance(r, Booked) for r in results)
    assert all(isinstance(r, Booked) or r == Refused(Refusal.SLOT_GONE) for r in results)
    assert (await resp.json())["bookings_cancelled"] == 5 + won
    assert (
        await pg.fetchval(
            "SELECT count(*) FROM bookings WHERE slot_id = $1 AND status <> 'cancelled'", slot
        )
        == 0
    )
    await assert_counts_consistent(pg)


async def test_a_citizen_cancel_waiting_on_a_session_cancel_does_not_cancel_twice(pg) -> None:
    slot = await make_slot(pg, await make_centre(pg))
    first, second = await book_n(pg, slot, [1, 2])
    # The first citizen was checked in early: the slot keeps one place for them.
    await pg.execute(
        "UPDATE bookings SET status = 'attended', attended_at = now() WHERE reference = $1",
        first.booking.reference,
    )
    async with pg.acquire() as conn, conn.transaction():
        # The operator's cancel holds the slot ...
        await conn.execute("SELECT 1 FROM slots WHERE id = $1 FOR UPDATE", slot)
        # ... while the second citizen cancels too (it reads, then waits for the slot).
        citizen = asyncio.create_task(
            repository.cancel(pg, "919800000002", second.booking.reference)
        )
        await asyncio.sleep(0.3)
        assert await admin_repo.cancel_locked(conn, [slot], "no vaccine") == admin_repo.Cancelled(
            1, 1
        )
    result = await citizen
    assert result == Refused(Refusal.NOT_ACTIVE)
    await assert_counts_consistent(pg)
