"""The chat page on a phone, with its own fonts (issue 19, item 7), in Debian's chromium.

At 390 x 844 both citizens are fully in view (one above the other); Bengali and
Hindi are drawn with the page's own Noto fonts (served by /dev/fonts), which
chromium loads, so they never show as boxes on a machine without them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kmcbot.app import create_app
from kmcbot.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def browser_available() -> None:
    if not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None:
        pytest.skip("needs /usr/bin/chromium and the playwright package (nothing is downloaded)")


@pytest.fixture
async def page_url(browser_available, pg_url, redis_url, aiohttp_server) -> str:
    settings = Settings(
        database_url=pg_url, redis_url=redis_url, id_pepper=b"phone-pepper", dev=True
    )
    server = await aiohttp_server(create_app(settings), host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


async def test_two_citizens_fit_a_390_px_phone_and_the_fonts_are_the_pages_own(page_url) -> None:
    from playwright.async_api import async_playwright, expect

    fonts: list[tuple[str, int]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 390, "height": 844})
            page.set_default_timeout(15_000)
            page.on(
                "response",
                lambda r: (
                    "/dev/fonts/" in r.url and fonts.append((r.url.rsplit("/", 1)[1], r.status))
                ),
            )
            await page.goto(f"{page_url}/dev/chat")
            phones = page.locator("section.phone")
            await expect(phones).to_have_count(2)
            for n in range(2):
                box = await phones.nth(n).bounding_box()
                assert box is not None
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
                assert box["y"] >= 0 and box["y"] + box["height"] <= 844, box
            # The language question, in Bengali and Hindi script: drawn with the page's fonts.
            await page.locator("section.phone").first.locator("textarea, input").first.fill("Hi")
            await page.keyboard.press("Enter")
            await expect(page.locator(".msg.bot").first).to_contain_text("বাংলা")
            loaded = await page.evaluate(
                "document.fonts.ready.then(() => [...document.fonts]"
                ".filter(f => f.status === 'loaded').map(f => f.family))"
            )
            assert {"KMC Bengali", "KMC Devanagari"} <= {f.strip('"') for f in loaded}, loaded
            assert sorted(fonts) == [
                ("NotoSansBengali-Regular.ttf", 200),
                ("NotoSansDevanagari-Regular.ttf", 200),
            ]
        finally:
            await browser.close()
