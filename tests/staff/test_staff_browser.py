"""The console in Debian's Chromium, driven by Playwright, at a phone's size and a
desk PC's: log in, find a booking, check in by code, print, confirm tomorrow's
list (the citizens' messages reach the Graph stand-in), cancel a session for want
of vaccine (each citizen told exactly once); the operator's pages, and the
waitlist's tables without sideways scrolling at either size. Skips without /usr/bin/chromium or
the playwright package (nothing is downloaded). Screenshots go to
$KMCBOT_SCREENSHOTS (default /tmp/staff-console)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kmcbot.waitlist import store
from tests.support.factories import eventually
from tests.support.staff import ARGS, CHROMIUM, PASSWORD, SHOTS, SIZES
from tests.support.waitlist import join_effect


def messages(graph, template: str) -> dict[str, int]:
    """How many messages of this template each number got."""
    counts: dict[str, int] = {}
    for m in graph.received:
        if m.get("template", {}).get("name") == template:
            counts[m["to"]] = counts.get(m["to"], 0) + 1
    return counts


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_clerk_does_the_days_work_in_a_browser(
    chromium, size, served, pg, graph, city
) -> None:
    from playwright.async_api import async_playwright, expect

    url = str(served.make_url("/")).rstrip("/")
    width, height = SIZES[size]
    problems: list[str] = []
    elsewhere: list[str] = []
    ref = city.refs_today_a[1]
    code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", ref)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": width, "height": height})
            page = await context.new_page()
            page.set_default_timeout(15_000)
            # A refused check-in answers 403 by design: that page is no problem, any
            # other failed load is (checked by URL below, not by console text).
            page.on(
                "console",
                lambda m: (
                    m.type == "error"
                    and not m.text.startswith("Failed to load resource")
                    and problems.append(m.text)
                ),
            )
            failed: list[tuple[int, str]] = []
            page.on("response", lambda r: r.status >= 400 and failed.append((r.status, r.url)))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: r.url.startswith(url) or elsewhere.append(r.url))

            # Log in (the console sends a stranger to its login page).
            await page.goto(f"{url}/staff/")
            await expect(page.locator("h1")).to_have_text("Staff login")
            await page.screenshot(path=str(SHOTS / f"login-{size}.png"))
            await page.fill("input[name=login]", "clerk.a")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit].primary")
            await expect(page.locator("h1")).to_contain_text("Ward 46 Health Centre")
            await page.screenshot(path=str(SHOTS / f"today-{size}.png"), full_page=True)

            # Find a booking by name, then check it in by its code.
            await page.fill("input[name=q]", "rahul")
            await page.press("input[name=q]", "Enter")
            rows = page.locator("table.roster tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text(ref)
            await rows.first.locator("[data-checkin]").click()
            await expect(page.locator("#checkin-reference")).to_have_value(ref)
            await page.fill("#checkin input[name=code]", code)
            await page.click("#checkin button[type=submit]")
            await expect(page.locator(".flash.ok")).to_contain_text(f"{ref} checked in: Rahul Sen")
            await page.screenshot(path=str(SHOTS / f"checked-in-{size}.png"), full_page=True)
            assert (
                await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref)
                == "attended"
            )

            # A wrong code is refused on the page.
            other = city.refs_today_a[0]
            await page.fill("#checkin-reference", other)
            right = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", other)
            await page.fill("#checkin input[name=code]", "0000" if right != "0000" else "1111")
            await page.click("#checkin button[type=submit]")
            await expect(page.locator(".flash.bad")).to_contain_text(f"Wrong code for {other}")

            # The printable roster opens in this logged-in browser.
            printed = await context.new_page()
            await printed.goto(f"{url}/staff/c/HC-A/print")
            await expect(printed.locator("body")).to_contain_text("Soumya Das")
            await expect(printed.locator("body")).to_contain_text("second dose roster")
            await printed.pdf(path=str(SHOTS / f"roster-{size}.pdf")) if size == "desk" else None
            await printed.close()

            # Tomorrow: "We have the list".
            await page.click("nav.days >> text=Tomorrow")
            await expect(page.locator("#confirm-list")).to_be_visible()
            await page.click("#confirm-list")
            await expect(page.locator(".flash.ok")).to_contain_text("4 citizen(s) told")
            await page.screenshot(path=str(SHOTS / f"tomorrow-{size}.png"), full_page=True)
            told = {f"9198000{n:05d}" for n in (11, 12, 13, 21)}

            async def all_told() -> bool:
                return set(messages(graph, "kmcbot_on_list")) == told

            await eventually(all_told, timeout=10)

            # Supply: 3 doses of Covishield; the 14:00 session is beyond them: cancel it.
            await page.fill("input[name=doses_covishield]", "3")
            await page.click("form.supply button[type=submit]")
            await expect(page.locator(".flash.ok")).to_have_text("Supply saved.")
            session = page.locator(f"#session-{city.tomorrow_a2}")
            await expect(session).to_contain_text("Beyond the supply")
            await session.locator("details.cancel summary").click()
            await session.locator("select[name=reason]").select_option("supply_not_arrived")
            await session.locator("button.danger").click()
            await expect(page.locator(".flash.ok")).to_contain_text("1 citizen(s) will be told")
            session = page.locator(f"#session-{city.tomorrow_a2}")
            await expect(session).to_contain_text("Session cancelled: Vaccine supply not arrived")
            await expect(session).to_contain_text("Tapas Dey")
            await page.screenshot(path=str(SHOTS / f"cancelled-{size}.png"), full_page=True)

            async def cancelled_told() -> bool:
                return messages(graph, "kmcbot_slot_cancelled") == {"919800000021": 1}

            await eventually(cancelled_told, timeout=10)

            # The same pages in Bengali.
            await page.click("header form.lang button[value=bn]")
            await expect(page.locator("html")).to_have_attribute("lang", "bn")
            await expect(page.locator("nav.days")).to_contain_text("আগামীকাল")
            await page.screenshot(path=str(SHOTS / f"tomorrow-bn-{size}.png"), full_page=True)
            printed = await context.new_page()
            await printed.goto(f"{url}/staff/c/HC-A/print?day=tomorrow")
            await expect(printed.locator("body")).to_contain_text("দ্বিতীয় ডোজের তালিকা")
            await printed.screenshot(path=str(SHOTS / f"roster-bn-{size}.png"), full_page=True)
            await printed.close()
        finally:
            await browser.close()

    # Exactly once each, in the end too.
    assert set(messages(graph, "kmcbot_on_list").values()) == {1}
    assert messages(graph, "kmcbot_slot_cancelled") == {"919800000021": 1}
    assert problems == [], problems
    assert failed == [(403, f"{url}/staff/c/HC-A/checkin")], failed
    assert elsewhere == [], elsewhere


async def test_an_operators_pages_in_a_browser(chromium, served, pg, city) -> None:
    """The operator's pages render without a script error or an outside request."""
    from playwright.async_api import async_playwright, expect

    url = str(served.make_url("/")).rstrip("/")
    await pg.execute(
        "UPDATE bookings SET status = 'attended', attended_at = now() WHERE reference = $1",
        city.refs_today_a[0],
    )
    problems: list[str] = []
    elsewhere: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: r.url.startswith(url) or elsewhere.append(r.url))
            await page.goto(f"{url}/staff/login")
            await page.fill("input[name=login]", "op")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit].primary")
            await expect(page.locator("h1")).to_have_text("Every centre")
            await page.click("header >> text=City today")
            await expect(page.locator("svg.chart")).to_have_count(2)
            await expect(page.locator("svg.chart rect").first).to_be_visible()
            await page.screenshot(path=str(SHOTS / "dashboard-desk.png"), full_page=True)
            await page.click("header >> text=Audit log")
            await expect(page.locator("table.roster")).to_contain_text("login")
            await page.screenshot(path=str(SHOTS / "audit-desk.png"))
            await page.goto(f"{url}/staff/c/HC-A/walkin")
            await expect(page.locator("h1")).to_contain_text("Walk-in booking")
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(SHOTS / "walkin-phone.png"), full_page=True)
            # The same pages in Bengali: Bengali digits and names (test_staff_i18n checks
            # every page's digits; these are to look at).
            await page.click("header form.lang button[value=bn]")
            await expect(page.locator("html")).to_have_attribute("lang", "bn")
            await page.screenshot(path=str(SHOTS / "walkin-bn-phone.png"), full_page=True)
            await page.goto(f"{url}/staff/c/HC-A/")
            await expect(page.locator("section.session").first).to_contain_text("কোভিশিল্ড")
            await page.screenshot(path=str(SHOTS / "today-bn-phone.png"), full_page=True)
            await page.set_viewport_size({"width": 1366, "height": 900})
            await page.screenshot(path=str(SHOTS / "today-bn-desk.png"), full_page=True)
            await page.goto(f"{url}/staff/dashboard")
            await expect(page.locator("svg.chart")).to_have_count(2)
            await page.screenshot(path=str(SHOTS / "dashboard-bn-desk.png"), full_page=True)
            await page.goto(f"{url}/staff/centres")
            await page.screenshot(path=str(SHOTS / "centres-bn-desk.png"), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.goto(f"{url}/staff/dashboard")
            await page.screenshot(path=str(SHOTS / "dashboard-bn-phone.png"), full_page=True)
        finally:
            await browser.close()
    assert problems == [], problems
    assert elsewhere == [], elsewhere


async def sideways(page) -> int:
    """How far the page overflows its viewport sideways, in CSS px (0: it fits)."""
    return await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


async def test_the_waitlist_page_fits_a_phone_and_a_desk(chromium, served, pg, city) -> None:
    """The operator's waitlist (two tables of 8 columns) reads without sideways
    scrolling at 390 px and at 1366 px, in English and Bengali."""
    from playwright.async_api import async_playwright, expect

    for n in range(1, 5):
        await store.join(pg, f"9198000{n:05d}", join_effect(300 + n))
    await pg.execute("UPDATE waitlist SET borough = 12 WHERE id = (SELECT min(id) FROM waitlist)")
    # The served app's own offer job runs too (one run at a time): whichever runs.
    await store.run_offers(pg, datetime.now(UTC), timedelta(minutes=30))
    await eventually(lambda: pg.fetchval("SELECT count(*) >= 3 FROM offers"), timeout=10)
    declined = await pg.fetchrow("SELECT id, wa_id FROM offers ORDER BY id LIMIT 1")
    await store.decline(pg, declined["wa_id"], declined["id"])
    url = str(served.make_url("/")).rstrip("/")
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{url}/staff/login")
            await page.fill("input[name=login]", "op")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit].primary")
            await expect(page.locator("h1")).to_have_text("Every centre")
            for lang in ("en", "bn"):
                if lang == "bn":
                    await page.click("header form.lang button[value=bn]")
                    await expect(page.locator("html")).to_have_attribute("lang", "bn")
                for size, (width, height) in SIZES.items():
                    await page.set_viewport_size({"width": width, "height": height})
                    await page.goto(f"{url}/staff/waitlist")
                    await expect(page.locator("table.roster")).to_have_count(2)
                    await expect(page.locator("table.roster tbody tr").first).to_be_visible()
                    shot = SHOTS / f"waitlist-{lang}-{size}.png"
                    await page.screenshot(path=str(shot), full_page=True)
                    assert await sideways(page) == 0, (lang, size, await sideways(page))
        finally:
            await browser.close()
    assert problems == [], problems
