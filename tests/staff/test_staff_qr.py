"""Check-in by QR: the signed payload (unit), the check-in endpoint (real PostgreSQL
and Redis), and the console's camera page in Chromium reading a QR shown to a
fake camera (a .y4m video drawn from the QR's modules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmcbot.staff import qr
from tests.support.qrcode import modules_luma, write_y4m
from tests.support.staff import ARGS, CHROMIUM, PASSWORD, SHOTS

PEPPER = b"staff-pepper"  # the served app's KMCBOT_ID_PEPPER (conftest.staff_settings)


def test_the_payload_is_signed_and_holds_nothing_personal() -> None:
    text = qr.payload(PEPPER, "KMC-4K7P2Q", "1234")
    reference, token = qr.parse(text)
    assert reference == "KMC-4K7P2Q" and text == f"KMCQR1:KMC-4K7P2Q:{token}"
    assert qr.verify(PEPPER, reference, "1234", token)
    assert not qr.verify(PEPPER, reference, "1235", token)  # a new code: the old QR is void
    assert not qr.verify(b"another-pepper", reference, "1234", token)
    for bad in ("KMC-4K7P2Q", "KMCQR1:KMC-4K7P2Q:short", "hello", text + "X"):
        assert qr.parse(bad) is None
    assert qr.png(text).startswith(b"\x89PNG")


async def payload_of(pg, reference: str) -> str:
    code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", reference)
    return qr.payload(PEPPER, reference, code)


@pytest.mark.usefixtures("served")
async def test_check_in_by_qr_payload(browsers, pg, city) -> None:
    b = browsers()
    await b.login("clerk.a")
    ref = city.refs_today_a[2]
    status, page = await b.post("/staff/c/HC-A/checkin-qr", {"payload": "hello"})
    assert status == 400 and "not a check-in QR code" in page
    forged = qr.payload(b"guessed-pepper", ref, "0000")
    for _ in range(5):
        status, page = await b.post("/staff/c/HC-A/checkin-qr", {"payload": forged})
        assert status == 403 and f"does not match booking {ref}" in page
    status, page = await b.post("/staff/c/HC-A/checkin-qr", {"payload": await payload_of(pg, ref)})
    assert status == 429  # the same limit as typed codes
    ref2 = city.refs_today_a[0]
    status, page = await b.post("/staff/c/HC-A/checkin-qr", {"payload": await payload_of(pg, ref2)})
    assert status == 200 and f"{ref2} checked in: Soumya Das." in page
    other = city.refs_today_b[0]
    status, page = await b.post(
        "/staff/c/HC-A/checkin-qr", {"payload": await payload_of(pg, other)}
    )
    assert status == 404
    rows = await pg.fetch("SELECT detail FROM staff_audit WHERE action = 'checkin'")
    assert [r["detail"] for r in rows] == [f'{{"by": "qr", "reference": "{ref2}"}}']


@pytest.mark.usefixtures("chromium")
async def test_check_in_by_scanning_the_qr_with_the_camera(
    served, pg, city, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    url = str(served.make_url("/")).rstrip("/")
    ref = city.refs_today_a[1]
    video = tmp_path / "qr.y4m"
    write_y4m(video, modules_luma(qr.matrix(await payload_of(pg, ref))))
    camera = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS + camera)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            await context.grant_permissions(["camera"], origin=url)
            page = await context.new_page()
            page.set_default_timeout(20_000)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{url}/staff/login")
            await page.fill("input[name=login]", "clerk.a")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit].primary")
            await page.click("#scan-link")
            await expect(page.locator("h1")).to_contain_text("Check in by QR code")
            await page.screenshot(path=str(SHOTS / "scan-phone.png"))
            # The page reads the QR from the camera and posts it: back on the day page.
            await expect(page.locator(".flash.ok")).to_contain_text(f"{ref} checked in: Rahul Sen")
        finally:
            await browser.close()
    assert problems == [], problems
    assert await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", ref) == "attended"
