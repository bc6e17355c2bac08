"""Operators' pages against real PostgreSQL: the centres CSV, sessions in bulk,
capacity never below what is booked, the city dashboard with its SVG charts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import aiohttp
import pytest

from kmcbot.booking.model import IST

pytestmark = pytest.mark.usefixtures("served")

CSV = (
    "code,name,kind,borough,ward,address,latitude,longitude,vaccines\n"
    'NEW1,New Centre,health_centre,7,63,"1 Park Street, Kolkata",22.55,88.35,covishield\n'
    'HC-A,Ward 46 Health Centre (renamed),health_centre,6,46,"5 Chowringhee",22.56,88.35,'
    "covishield;covaxin\n"
)


async def upload(b, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("csrf", b.csrf)
    form.add_field("file", data, filename="centres.csv", content_type="text/csv")
    async with b.http.post("/staff/centres/import", data=form) as r:
        page = await r.text()
        b._remember(page)
        return r.status, page


async def test_an_operator_imports_centres_from_csv(browsers, pg) -> None:
    b = browsers()
    await b.login("op")
    status, page = await upload(b, CSV.encode())
    assert status == 200 and "2 centre(s) saved, 1 new." in page
    names = dict(await pg.fetch("SELECT code, name FROM centres"))
    assert names["NEW1"] == "New Centre" and names["HC-A"].endswith("(renamed)")
    status, page = await upload(b, b"code,name\nX,Y\n")
    assert status == 400 and "NEW1" in page  # the error, and the page with its centres
    status, page = await upload(b, "code\n\xff".encode("latin-1"))
    assert status == 400 and "UTF-8" in page
    assert (await b.post("/staff/lang", {"lang": "bn", "next": "/staff/"}))[0] == 200
    status, page = await upload(b, b"code,name\nX,Y\n")
    assert status == 400 and "CSV-এর ১ নম্বর লাইনে সমস্যা: the header must be" in page
    clerk = browsers()
    await clerk.login("clerk.a")
    status, _ = await upload(clerk, CSV.encode())
    assert status == 403


async def test_an_operator_creates_sessions_in_bulk(browsers, pg) -> None:
    b = browsers()
    await b.login("op")
    first = datetime.now(IST).date() + timedelta(days=3)
    last = first + timedelta(days=6)
    form = [
        ("csrf", b.csrf),
        ("centre", "HC-A"),
        ("centre", "HC-B"),
        ("vaccine", "covishield"),
        ("from", first.isoformat()),
        ("to", last.isoformat()),
        ("times", "09:00-11:00, 11:00-13:00"),
        ("capacity", "50"),
        ("skip", "sun"),
    ]
    async with b.http.post("/staff/sessions", data=form) as r:
        page = await r.text()
    days = sum(1 for n in range(7) if (first + timedelta(days=n)).weekday() != 6)
    assert r.status == 200 and f"{2 * 2 * days} session(s) created, 0 already there." in page
    assert (
        await pg.fetchval("SELECT count(*) FROM slots WHERE day >= $1 AND capacity = 50", first)
        == 4 * days
    )
    bad = [
        ("csrf", b.csrf),
        ("centre", "HC-A"),
        ("vaccine", "covishield"),
        ("from", first.isoformat()),
        ("times", "11:00-09:00"),
        ("capacity", "5"),
    ]
    async with b.http.post("/staff/sessions", data=bad) as r:
        assert r.status == 400 and "each ends after it starts" in await r.text()
    # In Bengali, each refusal is the catalogue's Bengali, not the JSON API's English.
    assert (await b.post("/staff/lang", {"lang": "bn", "next": "/staff/"}))[0] == 200
    base = {"centre": "HC-A", "vaccine": "covishield", "from": first.isoformat(),
            "times": "09:00-11:00", "capacity": "5"}  # fmt: skip
    refusals = [
        ("times", "11:00-09:00", "প্রতিটি শুরুর পরে শেষ হবে"),
        ("capacity", "lots", "০ থেকে ১০০০০০-এর মধ্যে"),
        ("from", "2020-01-01", "হতে হবে আজ বা তার পরের"),
        ("to", (first - timedelta(days=1)).isoformat(), "খালি রাখুন, অথবা"),
    ]
    for field, value, said in refusals:
        form = [("csrf", b.csrf), *{**base, field: value}.items()]
        async with b.http.post("/staff/sessions", data=form) as r:
            page = await r.text()
        assert r.status == 400 and said in page, field
        assert "must" not in page and "is in the past" not in page


async def test_capacity_is_never_below_what_is_booked(browsers, pg, city) -> None:
    b = browsers()
    await b.login("op")
    await b.get("/staff/c/HC-A/?day=tomorrow")
    status, page = await b.post(
        "/staff/c/HC-A/capacity", {"slot": str(city.tomorrow_a), "capacity": "2"}
    )
    assert status == 409 and "Places cannot go below the bookings" in page
    status, page = await b.post(
        "/staff/c/HC-A/capacity", {"slot": str(city.tomorrow_a), "capacity": "3"}
    )
    assert status == 200 and "Capacity set to 3." in page
    assert await pg.fetchval("SELECT capacity FROM slots WHERE id = $1", city.tomorrow_a) == 3
    status, _ = await b.post("/staff/c/HC-A/capacity", {"slot": str(city.today_b), "capacity": "9"})
    assert status == 404  # another centre's session through this centre's page
    clerk = browsers()
    await clerk.login("clerk.a")
    status, _ = await clerk.post(
        "/staff/c/HC-A/capacity", {"slot": str(city.tomorrow_a), "capacity": "30"}
    )
    assert status == 403


async def test_the_city_dashboard_draws_its_charts_on_the_server(browsers, pg, city) -> None:
    await pg.execute(
        "UPDATE bookings SET status = 'attended', attended_at = now() WHERE reference = $1",
        city.refs_today_a[0],
    )
    b = browsers()
    await b.login("op")
    status, page = await b.get("/staff/dashboard")
    assert status == 200
    assert page.count("<svg") == 2 and "<script" not in page.split("</header>")[1]
    # 4 booked today (3 at HC-A, 1 at HC-B), 1 checked in; the 10:00-12:00 sessions
    # have ended only after 12:00 in Kolkata.
    totals = re.search(r"<b>(\d+)</b> booked.*?<b>(\d+)</b> checked in", page, re.S).groups()
    assert totals == ("4", "1")
    assert re.search(
        r"<td>HC-A</td>|>HC-A</a></td><td>Ward 46 Health Centre</td><td>3</td>"
        r"<td>1</td>",
        page,
    )
    clerk = browsers()
    await clerk.login("clerk.a")
    assert (await clerk.get("/staff/dashboard"))[0] == 403
