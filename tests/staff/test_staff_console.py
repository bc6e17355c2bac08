"""The staff console over HTTP, against real PostgreSQL and Redis: sign-in,
cookie, CSRF, roles, the day's roster, check-in, the list, cancelling."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
import structlog
from prometheus_client import REGISTRY

from kmcbot.booking.model import IST
from kmcbot.staff import accounts
from tests.support.factories import eventually, make_slot
from tests.support.staff import PASSWORD, book, move_to

pytestmark = pytest.mark.usefixtures("served")


async def audit_actions(pg, action: str) -> list:
    return await pg.fetch("SELECT * FROM staff_audit WHERE action = $1 ORDER BY id", action)


# ---------------------------------------------------------------- sign-in and cookie


async def test_no_page_without_login(browsers) -> None:
    b = browsers()
    for path in (
        "/staff/",
        "/staff/c/HC-A/",
        "/staff/c/HC-A/print",
        "/staff/centres",
        "/staff/accounts",
        "/staff/audit",
    ):
        status, page = await b.get(path)
        assert status == 200 and "Staff login" in page, path  # redirected to the login page
        async with b.http.get(path, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/staff/login?next=")
    # A POST without a session's account is refused even with a good CSRF token.
    status, _ = await b.post("/staff/c/HC-A/checkin", {"reference": "KMC-AAAAAA", "code": "1234"})
    assert status == 403


async def test_a_clerk_logs_in_to_their_centre_with_a_safe_cookie(browsers, pg, city) -> None:
    b = browsers()
    await b.get("/staff/login")
    async with b.http.post(
        "/staff/login",
        data={"csrf": b.csrf, "login": "clerk.a", "password": PASSWORD},
        allow_redirects=False,
    ) as r:
        assert r.status == 303 and r.headers["Location"] == "/staff/"
        cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert "Path=/staff" in cookie
    assert "clerk" not in cookie and str(city.a) not in cookie.split(";")[0][-4:]  # encrypted
    status, page = await b.get("/staff/")
    assert status == 200
    assert "Ward 46 Health Centre" in page and "Soumya Das" in page
    assert "Other Centre Person" not in page
    [row] = await audit_actions(pg, "login")
    assert row["login"] == "clerk.a" and row["address"] == "127.0.0.1"


async def test_a_wrong_password_is_refused_and_logins_are_limited(browsers, pg) -> None:
    b = browsers()
    for _ in range(5):
        status, page = await b.login("clerk.a", "not-the-password")
        assert status == 401 and "Wrong login or password." in page
    # The account is now limited: even the right password waits.
    status, page = await b.login("clerk.a")
    assert status == 429 and "Too many tries" in page
    # Another account from the same address still may, up to the address's limit.
    status, page = await b.login("clerk.b")
    assert status == 200 and "Ward 12 Health Centre" in page
    assert len(await audit_actions(pg, "login_failed")) == 5
    assert len(await audit_actions(pg, "login_limited")) == 1


async def test_logins_are_limited_per_address(browsers) -> None:
    b = browsers()
    for n in range(20):
        status, _ = await b.login(f"nobody{n}", "wrong-password")
        assert status == 401
    status, _ = await b.login("clerk.a")
    assert status == 429


async def test_csrf_is_refused_and_nothing_happens(browsers, pg, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    ref = city.refs_today_a[0]
    code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", ref)
    for token in ("", "forged-token"):
        status, page = await b.post(
            "/staff/c/HC-A/checkin", {"reference": ref, "code": code}, csrf=token
        )
        assert status == 403 and "too old or came from elsewhere" in page
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref) == "booked"
    # The login form needs it too.
    other = browsers()
    status, _ = await other.post(
        "/staff/login", {"login": "clerk.a", "password": PASSWORD}, csrf="forged"
    )
    assert status == 403


async def test_logout_ends_the_session(browsers) -> None:
    b = browsers()
    await b.login("clerk.a")
    status, page = await b.post("/staff/logout", {})
    assert status == 200 and "Staff login" in page
    status, page = await b.get("/staff/c/HC-A/")
    assert "Staff login" in page and "Soumya Das" not in page


async def test_a_disabled_account_is_out_at_once(browsers, pg) -> None:
    clerk, op = browsers(), browsers()
    await clerk.login("clerk.a")
    await op.login("op")
    status, page = await op.post("/staff/accounts/disable", {"login": "clerk.a"})
    assert status == 200 and "Account clerk.a disabled." in page
    status, page = await clerk.get("/staff/c/HC-A/")
    assert "Staff login" in page and "Soumya Das" not in page
    status, _ = await clerk.login("clerk.a")
    assert status == 401
    assert len(await audit_actions(pg, "account_disabled")) == 1


# ---------------------------------------------------------------- roles


async def test_a_clerk_cannot_see_or_act_on_another_centre(browsers, pg, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    for path in ("/staff/c/HC-B/", "/staff/c/HC-B/print", "/staff/c/HC-B/?day=tomorrow"):
        status, page = await b.get(path)
        assert status == 403 and "Other Centre Person" not in page, path
    ref_b = city.refs_today_b[0]
    code_b = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", ref_b)
    status, _ = await b.post("/staff/c/HC-B/checkin", {"reference": ref_b, "code": code_b})
    assert status == 403
    # Through its own centre's form: not found there, and nothing said about it.
    status, page = await b.post("/staff/c/HC-A/checkin", {"reference": ref_b, "code": code_b})
    assert status == 404 and f"No booking {ref_b} at this centre." in page
    status, _ = await b.post(
        "/staff/c/HC-A/cancel", {"slot": str(city.today_b), "reason": "holiday"}
    )
    assert status == 404
    status, _ = await b.post("/staff/c/HC-B/confirm", {"day": "tomorrow"})
    assert status == 403
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref_b) == "booked"
    assert await pg.fetchval("SELECT status FROM slots WHERE id = $1", city.today_b) == "open"
    assert await pg.fetchval("SELECT count(*) FROM list_confirmations") == 0
    for path in ("/staff/centres", "/staff/accounts", "/staff/audit"):
        status, _ = await b.get(path)
        assert status == 403, path


async def test_an_operator_sees_every_centre_and_the_audit(browsers) -> None:
    b = browsers()
    status, page = await b.login("op")
    assert status == 200 and "HC-A" in page and "HC-B" in page
    for code, name in (("HC-A", "Soumya Das"), ("HC-B", "Other Centre Person")):
        status, page = await b.get(f"/staff/c/{code}/")
        assert status == 200 and name in page
    status, page = await b.get("/staff/audit")
    assert status == 200 and "login" in page and "op" in page
    status, page = await b.post(
        "/staff/accounts", {"name": "Nila Bose", "role": "clerk", "centre": "HC-B"}
    )
    assert status == 200 and "Account nila.bose created. One-time password:" in page
    password = re.search(r"One-time password: ([a-z0-9-]+)", page).group(1)
    nila = browsers()
    status, page = await nila.login("nila.bose", password)
    assert status == 200 and "Ward 12 Health Centre" in page


async def test_unknown_pages_and_centres_are_404_pages(browsers) -> None:
    b = browsers()
    await b.login("op")
    status, page = await b.get("/staff/c/NOPE/")
    assert status == 404 and "There is no such page." in page
    status, _ = await b.get("/staff/c/HC-A/?day=someday")
    assert status == 404


# ---------------------------------------------------------------- the day's roster


async def test_the_roster_is_searchable_by_reference_name_and_id_last4(browsers, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    ref = city.refs_today_a[1]
    for query in (ref, ref.lower().replace("-", " "), "rahul", "0002"):
        status, page = await b.get("/staff/c/HC-A/", params={"q": query})
        assert status == 200
        assert "Rahul Sen" in page and "Soumya Das" not in page, query
    status, page = await b.get("/staff/c/HC-A/", params={"q": "%"})
    assert "Nobody matches." in page
    status, page = await b.get("/staff/c/HC-A/", params={"day": "tomorrow"})
    assert "Amit Roy" in page and "Soumya Das" not in page


async def test_missed_bookings_are_shown_after_the_day(browsers, pg, city) -> None:
    past = await make_slot(pg, city.a, capacity=5, start=time(9))
    ref = await book(pg, past, 41, name="Late Comer")
    await move_to(pg, past, -1, time(9))
    await pg.execute("UPDATE bookings SET status = 'missed' WHERE reference = $1", ref)
    b = browsers()
    await b.login("clerk.a")
    yesterday = (datetime.now(IST).date() - timedelta(days=1)).isoformat()
    status, page = await b.get("/staff/c/HC-A/", params={"day": yesterday})
    assert status == 200 and "Late Comer" in page
    row = re.search(rf'data-reference="{ref}">(.*?)</tr>', page, re.S).group(1)
    assert "missed" in row
    assert "<b>1</b> missed" in page


async def test_the_printable_roster_opens_in_the_logged_in_browser(browsers, pg) -> None:
    b = browsers()
    await b.login("clerk.a")
    status, page = await b.get("/staff/c/HC-A/print")
    assert status == 200 and "Soumya Das" in page and "second dose roster" in page
    assert len(await audit_actions(pg, "roster_printed")) == 1


# ---------------------------------------------------------------- check-in


async def test_check_in_by_reference_and_code(browsers, pg, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    ref = city.refs_today_a[0]
    code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", ref)
    bengali = code.translate(str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯"))
    with structlog.testing.capture_logs() as logs:
        status, page = await b.post(
            "/staff/c/HC-A/checkin", {"reference": ref.lower(), "code": bengali}
        )
    assert status == 200 and f"{ref} checked in: Soumya Das." in page
    [event] = [e for e in logs if e["event"] == "booking_checked_in"]
    assert (event["reference"], event["centre"], event["slot"], event["via"]) == (
        ref, "HC-A", city.today_a, "desk",
    )  # fmt: skip
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref) == "attended"
    status, page = await b.post("/staff/c/HC-A/checkin", {"reference": ref, "code": code})
    assert status == 409 and f"{ref} is already checked in." in page
    [row] = await audit_actions(pg, "checkin")
    assert row["detail"] == f'{{"reference": "{ref}"}}' and row["login"] == "clerk.a"
    # Tomorrow's booking is not for today.
    ref2 = city.refs_tomorrow_a[0]
    code2 = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", ref2)
    status, page = await b.post("/staff/c/HC-A/checkin", {"reference": ref2, "code": code2})
    assert status == 409 and "not today" in page
    for form, message in (
        ({"reference": "hello", "code": "1234"}, "not a booking reference"),
        ({"reference": ref, "code": "12"}, "4 digits"),
    ):
        status, page = await b.post("/staff/c/HC-A/checkin", form)
        assert status == 400 and message in page


async def test_wrong_codes_are_limited_per_reference_logged_and_counted(browsers, pg, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    ref, other = city.refs_today_a[1], city.refs_today_a[2]
    code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", ref)
    wrong = "0000" if code != "0000" else "1111"
    before = REGISTRY.get_sample_value("kmcbot_staff_checkin_wrong_codes_total") or 0
    for _ in range(5):
        status, page = await b.post("/staff/c/HC-A/checkin", {"reference": ref, "code": wrong})
        assert status == 403 and f"Wrong code for {ref}." in page
    status, page = await b.post("/staff/c/HC-A/checkin", {"reference": ref, "code": code})
    assert status == 429 and "Too many wrong codes" in page
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref) == "booked"
    after = REGISTRY.get_sample_value("kmcbot_staff_checkin_wrong_codes_total")
    assert after - before == 5
    rows = await audit_actions(pg, "checkin_wrong_code")
    assert len(rows) == 5 and all(wrong not in r["detail"] for r in rows)
    # Another reference is not affected.
    other_code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", other)
    status, _ = await b.post("/staff/c/HC-A/checkin", {"reference": other, "code": other_code})
    assert status == 200


# ---------------------------------------------------------------- the list and supply


def sent_to(graph, n: int, template: str) -> list[dict]:
    """What citizen n got of this template (the day-before reminders go out too)."""
    return [
        m
        for m in graph.by_user.get(f"9198000{n:05d}", [])
        if m.get("template", {}).get("name") == template
    ]


def on_list(graph, n: int) -> list[dict]:
    return sent_to(graph, n, "kmcbot_on_list")


async def test_confirming_tomorrows_list_tells_each_citizen_once_in_their_language(
    browsers, pg, graph, city
) -> None:
    b = browsers()
    await b.login("clerk.a")
    with structlog.testing.capture_logs() as logs:
        status, page = await b.post("/staff/c/HC-A/confirm", {"day": "tomorrow"})
        assert status == 200 and "List confirmed: 4 citizen(s) told." in page
        assert "List confirmed at" in page

        async def all_told() -> bool:
            return all(len(on_list(graph, n)) == 1 for n in (11, 12, 13, 21))

        await eventually(all_told, timeout=10)
    tomorrow = (datetime.now(IST).date() + timedelta(days=1)).isoformat()
    [confirmed] = [e for e in logs if e["event"] == "list_confirmed"]
    assert confirmed == {"event": "list_confirmed", "log_level": "info", "centre": "HC-A",
                         "day": tomorrow, "told": 4}  # fmt: skip
    queued = {e["reference"] for e in logs if e["event"] == "notice_queued"}
    assert queued == {*city.refs_tomorrow_a, *city.refs_tomorrow_a2}
    by_lang = {n: on_list(graph, n)[0] for n in (11, 12, 13, 21)}
    # Nobody wrote in the last 24 hours: the approved template, in their language.
    assert {n: m["template"]["language"]["code"] for n, m in by_lang.items()} == {
        11: "en",
        12: "bn",
        13: "hi",
        21: "bn",
    }
    assert {m["template"]["name"] for m in by_lang.values()} == {"kmcbot_on_list"}
    params = [p["text"] for p in by_lang[11]["template"]["components"][0]["parameters"]]
    assert params[0] == "Ward 46 Health Centre" and params[3] == city.refs_tomorrow_a[0]
    # Again: nobody is told twice; today's citizens were never told.
    status, page = await b.post("/staff/c/HC-A/confirm", {"day": "tomorrow"})
    assert "List confirmed: 0 citizen(s) told." in page
    assert await pg.fetchval("SELECT count(*) FROM notifications WHERE kind = 'on_list'") == 4
    assert all(on_list(graph, n) == [] for n in (1, 2, 3, 31))
    assert all(len(on_list(graph, n)) == 1 for n in (11, 12, 13, 21))
    first, second = await audit_actions(pg, "list_confirmed")
    assert first["detail"].endswith('"told": 4}') and second["detail"].endswith('"told": 0}')


async def test_cancelling_a_session_for_supply_tells_each_citizen_once(
    browsers, pg, graph, city
) -> None:
    b = browsers()
    await b.login("clerk.a")
    status, page = await b.post(
        "/staff/c/HC-A/supply", {"day": "tomorrow", "doses_covishield": "3"}
    )
    assert status == 200 and "Supply saved." in page
    # 3 doses: the 12:00 session's 3 fit, the 14:00 session is beyond them.
    assert page.count("Beyond the supply") == 1
    classes = re.search(rf'class="([^"]*)" id="session-{city.tomorrow_a2}"', page).group(1)
    assert "beyond" in classes
    with structlog.testing.capture_logs() as logs:
        status, page = await b.post(
            "/staff/c/HC-A/cancel",
            {"slot": str(city.tomorrow_a2), "reason": "supply_not_arrived", "note": "truck late"},
        )
    assert status == 200 and "Session cancelled: 1 citizen(s) will be told" in page
    [event] = [e for e in logs if e["event"] == "session_cancelled"]
    assert event == {"event": "session_cancelled", "log_level": "info", "centre": "HC-A",
                     "slot": city.tomorrow_a2, "reason": "supply_not_arrived", "bookings": 1,
                     "via": "desk"}  # fmt: skip
    # The cancelled session still lists its citizen, with the reason.
    assert "Tapas Dey" in page and "Session cancelled: Vaccine supply not arrived" in page
    status, printed = await b.get("/staff/c/HC-A/print?day=tomorrow")
    assert "Session cancelled: Vaccine supply not arrived" in printed
    assert "Tapas Dey" in printed and "told: cancelled" in printed  # the print lists them too
    assert '"Noto Sans"' in printed and "&#34;" not in printed  # its style, not escaped
    await eventually(lambda: sent_to(graph, 21, "kmcbot_slot_cancelled"), timeout=10)
    [message] = sent_to(graph, 21, "kmcbot_slot_cancelled")
    template = message["template"]
    assert template["name"] == "kmcbot_slot_cancelled" and template["language"]["code"] == "bn"
    reason = template["components"][0]["parameters"][3]["text"]
    assert reason == "টিকা এসে পৌঁছয়নি"  # the catalogue's, not "truck late"
    assert template["components"][1]["sub_type"] == "quick_reply"  # Book again
    # Again: nothing more (the session is already cancelled).
    status, page = await b.post(
        "/staff/c/HC-A/cancel", {"slot": str(city.tomorrow_a2), "reason": "holiday"}
    )
    assert "0 citizen(s)" in page
    assert (
        await pg.fetchval("SELECT count(*) FROM notifications WHERE kind = 'slot_cancelled'") == 1
    )
    status, page = await b.post(
        "/staff/c/HC-A/cancel", {"slot": str(city.tomorrow_a), "reason": "because I said so"}
    )
    assert status == 400 and "Choose a reason" in page
    status, page = await b.post("/staff/c/HC-A/supply", {"day": "tomorrow", "doses_covaxin": "x"})
    assert status == 400


async def test_pages_switch_to_bengali(browsers) -> None:
    b = browsers()
    await b.get("/staff/login")
    status, page = await b.post("/staff/lang", {"lang": "bn", "next": "/staff/login"})
    assert status == 200 and "কর্মী লগইন" in page and 'lang="bn"' in page
    status, page = await b.login("clerk.a")
    assert status == 200 and "সেশন" in page and "চেক-ইন" in page


async def test_accounts_from_the_code(pg, city) -> None:
    with pytest.raises(accounts.AccountError, match="taken"):
        await accounts.create(
            pg, login="op", name="X", role="operator", centre_code=None, password=PASSWORD
        )
    with pytest.raises(accounts.AccountError, match="--centre"):
        await accounts.create(
            pg, login="x1", name="X", role="clerk", centre_code=None, password=PASSWORD
        )
    with pytest.raises(accounts.AccountError, match="10-200"):
        await accounts.create(
            pg, login="x2", name="X", role="operator", centre_code=None, password="short"
        )
    stored = await pg.fetchval("SELECT password_hash FROM staff_accounts WHERE login = 'op'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_every_route_needs_a_login(browsers, served) -> None:
    """Each route of the staff app, found from its router: GET goes to the login
    page, POST is refused, without a signed-in account (login, language, static
    files excepted)."""
    staff_app = next(
        r._app
        for r in served.app.router.resources()
        if getattr(r, "_app", None) is not None and r.canonical == "/staff"
    )
    b = browsers()
    await b.get("/staff/login")  # a session with a CSRF token, but no account
    checked = 0
    for route in staff_app.router.routes():
        if route.name in ("login", "login_post", "lang", "static", None) or route.method == "HEAD":
            continue
        path = route.resource.canonical.replace("{code}", "HC-A")
        if route.method == "GET":
            async with b.http.get(path, allow_redirects=False) as r:
                assert r.status == 303 and "/staff/login" in r.headers["Location"], path
        else:
            status, _ = await b.post(path, {"slot": "1", "reference": "KMC-AAAAAA"})
            assert status == 403, (route.method, path)
        checked += 1
    assert checked >= 20


async def test_a_notice_whatsapp_could_not_deliver_shows_on_the_citizens_row(
    browsers, pg, city
) -> None:
    """Marked by a failed status webhook (observe/delivery.py); shown in en and bn."""
    ref = city.refs_today_a[1]
    await pg.execute(
        "UPDATE bookings SET notice_failed_kind = 'reminder', notice_failed_code = 131047,"
        " notice_failed_at = now() WHERE reference = $1",
        ref,
    )
    b = browsers()
    await b.login("clerk.a")
    status, page = await b.get("/staff/c/HC-A/")
    row = re.search(rf'data-reference="{ref}">(.*?)</tr>', page, re.S).group(1)
    assert "Not delivered on WhatsApp: the reminder (error 131047)" in row
    other = re.search(rf'data-reference="{city.refs_today_a[0]}">(.*?)</tr>', page, re.S)
    assert "Not delivered" not in other.group(1)
    await b.post("/staff/lang", {"lang": "bn", "next": "/staff/"})
    status, page = await b.get("/staff/c/HC-A/")
    row = re.search(rf'data-reference="{ref}">(.*?)</tr>', page, re.S).group(1)
    assert "হোয়াটসঅ্যাপে পৌঁছায়নি: রিমাইন্ডার (ত্রুটি ১৩১০৪৭)" in row
