"""/admin with staff accounts' own tokens: an operator's does everything, a clerk's
only its own centre's slots, roster and check-in; KMCBOT_ADMIN_TOKEN stays an
operator's token; a disabled account's tokens stop at once."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.staff import accounts

SHARED = "shared-operator-token"


@pytest.fixture
async def api(staff_settings, city, aiohttp_client):
    settings = dataclasses.replace(staff_settings, admin_token=SHARED)
    return await aiohttp_client(create_app(settings))


async def token_of(pg, login: str) -> dict[str, str]:
    staff_id = await pg.fetchval("SELECT id FROM staff_accounts WHERE login = $1", login)
    return {"Authorization": f"Bearer {await accounts.new_api_token(pg, staff_id)}"}


async def test_a_clerks_token_reads_and_checks_in_at_its_own_centre_only(api, pg, city) -> None:
    clerk = await token_of(pg, "clerk.a")
    today = datetime.now(IST).date().isoformat()
    resp = await api.get(f"/admin/roster?centre={city.a}&date={today}", headers=clerk)
    assert resp.status == 200 and "Soumya Das" in await resp.text()
    assert (await api.get(f"/admin/slots?centre={city.a}", headers=clerk)).status == 200
    resp = await api.get(f"/admin/roster?centre={city.b}&date={today}", headers=clerk)
    assert resp.status == 403 and "not this token's centre" in (await resp.json())["error"]
    assert (await api.get(f"/admin/slots?centre={city.b}", headers=clerk)).status == 403

    ref_a, ref_b = city.refs_today_a[0], city.refs_today_b[0]
    codes = dict(await pg.fetch("SELECT reference, code FROM bookings"))
    resp = await api.post(
        "/admin/checkin", headers=clerk, json={"reference": ref_b, "code": codes[ref_b]}
    )
    assert resp.status == 403  # as a wrong code: another centre's references stay unknown
    resp = await api.post(
        "/admin/checkin", headers=clerk, json={"reference": ref_a, "code": codes[ref_a]}
    )
    assert resp.status == 200 and (await resp.json())["status"] == "attended"
    [row] = await pg.fetch("SELECT * FROM staff_audit WHERE action LIKE 'api %'")
    assert row["action"] == "api POST /admin/checkin" and row["login"] == "clerk.a"
    # Nothing of an operator's.
    for method, path in (
        ("GET", "/admin/centres"),
        ("POST", f"/admin/slots/{city.today_a}/cancel"),
    ):
        resp = await api.request(method, path, headers=clerk, json={"reason": "holiday"})
        assert resp.status == 403, path
    assert await pg.fetchval("SELECT status FROM slots WHERE id = $1", city.today_a) == "open"


async def test_an_operators_token_and_the_shared_token_do_everything(api, pg, city) -> None:
    for headers in (await token_of(pg, "op"), {"Authorization": f"Bearer {SHARED}"}):
        resp = await api.get("/admin/centres", headers=headers)
        assert resp.status == 200 and len((await resp.json())["centres"]) == 2
    resp = await api.post(
        f"/admin/slots/{city.tomorrow_a2}/cancel",
        headers=await token_of(pg, "op"),
        json={"reason": "holiday"},
    )
    assert resp.status == 200 and (await resp.json())["bookings_cancelled"] == 1
    reason = await pg.fetchval("SELECT cancel_reason FROM slots WHERE id = $1", city.tomorrow_a2)
    assert reason == "holiday"


async def test_a_disabled_accounts_token_stops_at_once_and_a_wrong_one_is_401(api, pg) -> None:
    clerk = await token_of(pg, "clerk.a")
    assert (await api.get("/admin/slots?centre=1", headers=clerk)).status == 200
    await accounts.disable(pg, "clerk.a")
    assert (await api.get("/admin/slots?centre=1", headers=clerk)).status == 401
    bad = {"Authorization": "Bearer kmcs_not-a-token"}
    assert (await api.get("/admin/centres", headers=bad)).status == 401
