"""The dev chat page (GET /dev/chat) and its sending endpoint (POST /dev/send).

Without a browser: the routes through aiohttp's test client. With one: a real
`kmcbot serve` in dev mode and Debian's chromium driven by Playwright, booking a
slot by clicking through the page as a developer would. That test skips when
/usr/bin/chromium or the playwright package is missing (it never downloads a browser).
"""

from __future__ import annotations

import importlib.util
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.settings import Settings
from tests.support.e2e import text_of
from tests.support.factories import eventually
from tests.support.ids import aadhaar

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/chat-page.png")
REFERENCE = re.compile(r"KMC-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}")
WELCOME = "Welcome to KMC's vaccine booking."
WA_ID = "919800000301"


def first_dose_typed(days_ago: int = 120) -> str:
    return f"{datetime.now(IST).date() - timedelta(days=days_ago):%d-%m-%Y}"


# ---------------------------------------------------------------- without a browser


def make_settings(pg_url: str, redis_url: str, *, dev: bool) -> Settings:
    # An app secret is set: /dev/send must work without signing anything.
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        app_secret=b"chat-page-secret",
        id_pepper=b"chat-page-pepper",
        send_rate=1000,
        dev=dev,
    )


@pytest.fixture
async def dev_client(pg_url: str, redis_url: str, demo_centres, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(make_settings(pg_url, redis_url, dev=True)))


@pytest.fixture
async def prod_client(pg_url: str, redis_url: str, aiohttp_client) -> TestClient:
    return await aiohttp_client(create_app(make_settings(pg_url, redis_url, dev=False)))


async def bodies(client: TestClient, wa_id: str) -> list[dict]:
    resp = await client.get("/dev/messages", params={"wa_id": wa_id})
    assert resp.status == 200
    return await resp.json()


async def test_the_chat_page_is_served_in_dev_mode(dev_client: TestClient) -> None:
    resp = await dev_client.get("/dev/chat")

    assert resp.status == 200
    assert resp.content_type == "text/html"
    html = await resp.text()
    assert "<title>kmcbot · dev chat</title>" in html
    assert "/dev/send" in html and "/dev/messages" in html  # the script is inlined
    assert "/*CHAT_JS*/" not in html and "/*CHAT_CSS*/" not in html
    assert not re.search(
        r"<(script|link)[^>]+(src|href)=\"(?!data:)", html
    )  # nothing fetched from elsewhere
    assert "innerHTML" not in html
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp


async def test_there_is_no_chat_page_nor_dev_send_outside_dev_mode(prod_client: TestClient) -> None:
    assert (await prod_client.get("/dev/chat")).status == 404
    resp = await prod_client.post("/dev/send", json={"wa_id": WA_ID, "text": "Hi"})
    assert resp.status == 404


async def test_dev_send_talks_to_the_bot_as_the_webhook_would(dev_client: TestClient) -> None:
    resp = await dev_client.post("/dev/send", json={"wa_id": WA_ID, "text": "Hi"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["ok"] is True

    [welcome] = await eventually(lambda: bodies(dev_client, WA_ID))
    assert WELCOME in text_of(welcome)
    assert welcome["interactive"]["type"] == "button"

    choice = {"id": "lang:en", "title": "English", "list": False}
    resp = await dev_client.post("/dev/send", json={"wa_id": WA_ID, "choice": choice})
    assert resp.status == 200, await resp.text()

    async def menu() -> dict | None:
        sent = await bodies(dev_client, WA_ID)
        return next((b for b in sent if "What would you like to do?" in text_of(b)), None)

    assert await eventually(menu)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "body is not JSON"),
        (b"[]", "body must be a JSON object"),
        (b'{"text": "Hi"}', "wa_id"),
        (b'{"wa_id": "91abc", "text": "Hi"}', "wa_id"),
        (b'{"wa_id": "919800000301"}', "exactly one of"),
        (b'{"wa_id": "919800000301", "text": "Hi", "choice": {"id": "x"}}', "exactly one of"),
        (b'{"wa_id": "919800000301", "text": "  "}', "text"),
        (b'{"wa_id": "919800000301", "choice": {"title": "x"}}', "choice.id"),
        (b'{"wa_id": "919800000301", "choice": {"id": "x", "list": "yes"}}', "choice.list"),
        (b'{"wa_id": "919800000301", "location": {"latitude": 95, "longitude": 88}}', "latitude"),
        (b'{"wa_id": "919800000301", "location": {"latitude": 22.5}}', "longitude"),
        (b'{"wa_id": "919800000301", "location": {"latitude": true, "longitude": 1}}', "latitude"),
    ],
)
async def test_dev_send_refuses_what_is_not_a_citizen_message(
    dev_client: TestClient, body: bytes, error: str
) -> None:
    resp = await dev_client.post(
        "/dev/send", data=body, headers={"Content-Type": "application/json"}
    )

    assert resp.status == 400
    assert error in (await resp.json())["error"]
    assert await bodies(dev_client, WA_ID) == []


# ---------------------------------------------------------------- in a real browser


@pytest.fixture
def browser_available() -> None:
    """Skip (before any server starts) without chromium or playwright; nothing is downloaded."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); no browser is downloaded")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the playwright package is not installed (pip install playwright)")


@pytest.fixture
async def served(browser_available: None, bot: tuple[str, dict[str, str]]) -> str:
    """A seeded `kmcbot serve` in dev mode on a free port (test_chat_cli's): its URL."""
    return bot[0]


async def test_booking_a_slot_by_clicking_through_the_chat_page(served: str) -> None:
    from playwright.async_api import async_playwright, expect

    url = served
    problems: list[str] = []
    elsewhere: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: r.url.startswith(url) or elsewhere.append(r.url))
            await page.goto(f"{url}/dev/chat?wa_id={WA_ID}&wa_id=919800000302")

            phone = page.locator(f'section.phone[data-wa-id="{WA_ID}"]')
            other = page.locator('section.phone[data-wa-id="919800000302"]')
            await expect(page.locator("section.phone")).to_have_count(2)
            last = phone.locator(".msg.bot").last

            async def turn(action) -> None:
                """Do something, and wait for the bot to answer it."""
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
                # "confirm:yes" stands for confirm:yes:<slot> (the id names the slot)
                button = f'button.opt[data-option-id^="{option_id}"]'
                await turn(last.locator(button).first.click)

            async def pick(option_id: str | None = None) -> None:
                """Open the last message's list; tap that row (or the first)."""
                await last.locator("button.list-open").click()
                rows = phone.locator(".sheet button.row")
                row = (
                    rows.first
                    if option_id is None
                    else rows.and_(page.locator(f'[data-option-id="{option_id}"]'))
                )
                await turn(row.click)

            await say("Hi")
            await expect(last).to_contain_text(WELCOME)
            await tap("lang:en")
            await tap("menu:book")
            await tap("vaccine:covishield")
            await say(first_dose_typed())
            await pick("id:aadhaar")
            await say(aadhaar(301))
            await say("Soumya Das")
            await expect(last.locator("button.list-open")).to_be_visible()
            await last.locator("button.list-open").click()
            await page.screenshot(path=str(SCREENSHOT.with_name("chat-page-list.png")))
            await phone.locator(".sheet .x").click()
            await pick()  # the first centre
            await pick()  # its first day
            await pick()  # its first slot
            await tap("confirm:yes")
            await expect(last).to_contain_text(REFERENCE)

            # The citizen's own messages are on the right, in order.
            mine = await phone.locator(".msg.me .bubble").all_inner_texts()
            assert mine[0].startswith("Hi") and any("Soumya Das" in m for m in mine)
            # The other citizen saw nothing of it; a third one can be added.
            await expect(other.locator(".msg.bot")).to_have_count(0)
            await page.locator("#add-citizen").click()
            await expect(page.locator("section.phone")).to_have_count(3)

            # The location control: a landmark goes out as a location message.
            await other.locator(".composer .pin").click()
            await other.locator(".sheet button.landmark", has_text="Victoria Memorial").click()
            await expect(other.locator(".msg.me").last).to_contain_text("22.5448, 88.3426")
            await expect(other.locator(".msg.bot").first).to_be_visible()

            await phone.locator(".log").evaluate("log => { log.scrollTop = log.scrollHeight; }")
            await page.screenshot(path=str(SCREENSHOT))
        finally:
            await browser.close()

    assert problems == [], problems
    assert elsewhere == [], elsewhere
