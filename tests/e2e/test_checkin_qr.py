"""The ticket's check-in QR image, end to end: through the signed webhook to the real
app (pipeline, Redis, PostgreSQL, the outbox sender), at the Graph API stand-in the
Cloud API's media upload and then an image message with the uploaded media id; the
image, read by the console's own jsQR decoder in Chromium, holds the reference and a
token that verifies, nothing personal. A moved booking's QR reuses the upload; a
failed upload is retried; an image refused for good costs the ticket nothing.

In a real browser, with a real `kmcbot serve` in dev mode: a citizen books on the
dev chat page and sees the QR; that very image, shown to Chromium's fake camera on
the staff console's scan page, checks the citizen in."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

import asyncpg
import pytest

from kmcbot.devtools.standin import GraphStandIn
from kmcbot.outbox import sender as sender_module
from kmcbot.settings import Settings
from kmcbot.staff import accounts, qr
from tests.support.e2e import REFERENCE, Citizen, bot_settings, reach_confirm, start, text_of
from tests.support.factories import eventually
from tests.support.ids import aadhaar
from tests.support.qrcode import decode_in_chromium, png_luma, write_y4m
from tests.support.staff import ARGS, CHROMIUM, SHOTS, move_to

PAYLOAD = re.compile(r"KMCQR1:KMC-[0-9A-Z]{6}:[A-Z2-7]{16}")


@pytest.fixture
def qr_images() -> bool:
    return True


@pytest.fixture
def settings(pg_url: str, redis_url: str, standin: GraphStandIn, qr_images: bool) -> Settings:
    return bot_settings(
        pg_url, redis_url, standin, id_pepper=b"e2e-pepper", dev=False, qr_images=qr_images
    )


@pytest.fixture
def chromium() -> str:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); no browser is downloaded")
    pytest.importorskip("playwright", reason="the playwright package is not installed")
    return str(CHROMIUM)


async def book(citizen: Citizen, n: int) -> tuple[dict, str]:
    """Book a second dose: the ticket (the reply) and its reference."""
    await start(citizen)
    await reach_confirm(citizen, aadhaar(n))
    [ticket] = await citizen.tap("confirm:yes")
    return ticket, REFERENCE.search(text_of(ticket))[0]


async def code_of(pg: asyncpg.Pool, reference: str) -> str:
    return await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", reference)


async def test_the_ticket_is_followed_by_its_uploaded_qr_image(
    citizens, standin: GraphStandIn, pg, settings: Settings, chromium: str
) -> None:
    citizen = citizens("919800000401")
    ticket, reference = await book(citizen, 401)

    # The media upload, then the image message naming the uploaded id, after the ticket.
    [upload] = standin.uploads
    [image] = citizen.images
    assert upload["type"] == "image/png" and upload["data"].startswith(b"\x89PNG")
    at = standin.received.index(ticket)
    assert upload["after"] == at + 1 and standin.received.index(image) == at + 1
    assert image["image"]["id"] == upload["id"]
    assert image["to"] == citizen.wa_id and set(image) == {
        "messaging_product",
        "recipient_type",
        "to",
        "type",
        "image",
        "biz_opaque_callback_data",  # the correlation id, as on every body (observe/)
    }
    # The image carries the cid but not the ticket's news: its status is not the ticket's.
    assert "|" not in image["biz_opaque_callback_data"]
    assert "kmcbot_qr" not in image and reference in image["image"]["caption"]

    # The QR holds the reference and a token that verifies; nothing personal.
    text = await decode_in_chromium(upload["data"], chromium, ARGS)
    assert text is not None and PAYLOAD.fullmatch(text), text
    found, token = qr.parse(text)
    assert found == reference
    assert qr.verify(settings.id_pepper, reference, await code_of(pg, reference), token)
    row = await pg.fetchrow("SELECT name, id_last4 FROM bookings WHERE reference = $1", reference)
    for personal in (citizen.wa_id, citizen.wa_id[-10:], row["name"], aadhaar(401)[-4:]):
        assert personal not in text

    # Moved: a new ticket and the same QR again (same reference and code): no new upload.
    await citizen.tap_earlier("menu:bookings")
    await citizen.tap(f"move:{reference}")
    await citizen.tap("South City School")
    await citizen.pick(1)
    await citizen.pick(0)
    [moved] = await citizen.tap("confirm:yes")
    assert "moved" in text_of(moved) and reference in text_of(moved)
    assert len(standin.uploads) == 1 and len(citizen.images) == 2
    assert citizen.images[1]["image"]["id"] == upload["id"]
    # (the same body as the first image: found by identity, not equality)
    at = next(i for i, body in enumerate(standin.received) if body is citizen.images[1])
    assert at == standin.received.index(moved) + 1


async def test_a_failed_upload_is_retried_and_a_refused_image_costs_the_ticket_nothing(
    citizens, standin: GraphStandIn, pg
) -> None:
    standin.upload_failures = [(500, None), (429, 130429)]  # retried with backoff
    first = citizens("919800000402")
    _, reference = await book(first, 402)
    assert len(standin.uploads) == 1 and len(first.images) == 1
    assert first.images[0]["image"]["id"] == standin.uploads[0]["id"]

    standin.upload_failures = [(400, 131053)]  # refused for good: the image is dropped
    second = citizens("919800000403")
    ticket, reference = await book(second, 403)
    assert second.images == [] and len(standin.uploads) == 1
    assert reference in text_of(ticket)

    # The ticket's news is still marked accepted: the relay will not send it again.
    async def accepted() -> bool:
        return await pg.fetchval(
            """SELECT n.accepted_at IS NOT NULL FROM notifications n
               JOIN bookings b ON b.id = n.booking_id
               WHERE b.reference = $1 AND n.kind = 'booked'""",
            reference,
        )

    assert await eventually(accepted)


async def test_uploads_failing_past_the_retries_give_up_the_image_not_resend_the_ticket(
    citizens, standin: GraphStandIn, monkeypatch
) -> None:
    monkeypatch.setattr(sender_module, "MAX_TRIES_IN_A_ROW", 2)  # 1.5 s of backoff, not 31 s
    standin.upload_failures = [(500, None)] * 3  # past the retries in a row
    citizen = citizens("919800000406")
    ticket, reference = await book(citizen, 406)
    assert reference in text_of(ticket) and citizen.images == []
    await citizen.settle()
    tickets = [b for b in standin.by_user[citizen.wa_id] if reference in str(b)]
    assert len(tickets) == 1  # sent once: the entry ended without its image


@pytest.mark.parametrize("qr_images", [False])
async def test_no_qr_image_when_turned_off(citizens, standin: GraphStandIn) -> None:
    citizen = citizens("919800000404")
    ticket, reference = await book(citizen, 404)
    assert reference in text_of(ticket)
    assert citizen.images == [] and standin.uploads == []
    assert not any(body.get("type") == "image" for body in standin.received)


# ---------------------------------------------------------------- in a real browser

WA_ID = "919800000405"
PASSWORD = "qr-scan-password-1"


async def test_the_qr_a_citizen_sees_on_the_chat_page_checks_them_in(
    chromium: str, bot: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    url, env = bot
    pg = await asyncpg.connect(env["KMCBOT_DATABASE_URL"])
    try:
        await accounts.create(
            pg, login="scan.op", name="Scan Op", role="operator", centre_code=None,
            password=PASSWORD,
        )  # fmt: skip
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS)
            try:
                png, reference = await book_on_the_chat_page(browser, url, tmp_path)
            finally:
                await browser.close()
            # The session is today (a check-in is for today's bookings): put it there.
            slot, centre = await pg.fetchrow(
                """SELECT b.slot_id, c.code FROM bookings b JOIN slots s ON s.id = b.slot_id
                   JOIN centres c ON c.id = s.centre_id WHERE b.reference = $1""",
                reference,
            )
            await move_to(pg, slot, 0, time(6, 7))
            video = tmp_path / "seen.y4m"
            write_y4m(video, png_luma(png))  # the image the citizen received, as it is
            camera = [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ]
            browser = await pw.chromium.launch(executable_path=chromium, args=ARGS + camera)
            try:
                context = await browser.new_context(viewport={"width": 390, "height": 844})
                await context.grant_permissions(["camera"], origin=url)
                page = await context.new_page()
                page.set_default_timeout(20_000)
                await page.goto(f"{url}/staff/login")
                await page.fill("input[name=login]", "scan.op")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit].primary")
                await page.goto(f"{url}/staff/c/{centre}/scan")
                await expect(page.locator(".flash.ok")).to_contain_text(f"{reference} checked in")
            finally:
                await browser.close()
        status = await pg.fetchval("SELECT status FROM bookings WHERE reference = $1", reference)
        assert status == "attended"
    finally:
        await pg.close()


async def book_on_the_chat_page(browser, url: str, tmp_path: Path) -> tuple[bytes, str]:
    """A citizen books through the dev chat page and sees the QR under the ticket:
    the image's bytes as the page got them, and the reference."""
    from playwright.async_api import expect

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    images: dict[str, bytes] = {}

    async def keep(response) -> None:
        if "/dev/media/" in response.url and response.ok:
            images[response.url] = await response.body()

    page.on("response", keep)
    await page.goto(f"{url}/dev/chat?wa_id={WA_ID}")
    phone = page.locator(f'section.phone[data-wa-id="{WA_ID}"]')
    bot = phone.locator(".msg.bot")

    async def turn(action) -> None:
        before = int(await phone.get_attribute("data-bot-messages") or 0)
        await action()
        await page.wait_for_function(
            "([id, n]) => Number(document.querySelector("
            "`section.phone[data-wa-id='${id}']`).dataset.botMessages || 0) > n",
            arg=[WA_ID, before],
        )

    async def say(text: str) -> None:
        async def typed() -> None:
            await phone.locator(".composer input").fill(text)
            await phone.locator(".composer input").press("Enter")

        await turn(typed)

    async def tap(option_id: str) -> None:
        button = bot.last.locator(f'button.opt[data-option-id^="{option_id}"]').first
        await turn(button.click)

    async def pick(option_id: str | None = None) -> None:
        await bot.last.locator("button.list-open").click()
        rows = phone.locator(".sheet button.row")
        row = (
            rows.first
            if option_id is None
            else rows.and_(page.locator(f'[data-option-id="{option_id}"]'))
        )
        await turn(row.click)

    await say("Hi")
    await tap("lang:en")
    await tap("menu:book")
    await tap("vaccine:covishield")
    await say("05-04-2021")
    await pick("id:aadhaar")
    await say(aadhaar(405))
    await say("Soumya Das")
    await pick()
    await pick()
    await pick()
    await tap("confirm:yes")
    photo = phone.locator(".msg.bot img.photo")
    await expect(photo).to_have_count(1)
    await expect(photo).to_have_js_property("complete", True)
    assert await photo.evaluate("img => img.naturalWidth") > 100
    caption = await photo.locator("xpath=..").inner_text()
    reference = REFERENCE.search(caption)[0]
    await phone.locator(".log").evaluate("log => { log.scrollTop = log.scrollHeight; }")
    SHOTS.mkdir(parents=True, exist_ok=True)  # README's docs/chat-qr.png is this one
    await page.screenshot(path=str(SHOTS / "chat-qr.png"))
    [png] = images.values()
    assert problems == [], problems
    await page.close()
    return png, reference
