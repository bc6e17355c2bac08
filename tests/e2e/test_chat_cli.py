"""`kmcbot chat` against a real `kmcbot serve` process in dev mode, as the README
tells a developer to try it: seed the demo, serve, chat, type numbers."""

from __future__ import annotations

from tests.support.serve import run

WA_ID = "919800000201"


async def test_chat_shows_the_welcome_and_the_menu_with_numbered_options(bot) -> None:
    url, env = bot

    out = await run(
        "chat", "--url", url, "--wa-id", WA_ID, env=env, stdin=b"hi\n1\n1\n/quit\n", timeout=60
    )

    assert f"Chatting as {WA_ID} with {url}" in out
    welcome = out.index("  1. English\n  2. বাংলা\n  3. हिन्दी")
    menu = out.index("What would you like to do?\n  1. Book 2nd dose\n  2. My bookings\n  3. Help")
    vaccines = out.index("Which vaccine was your 1st dose?\n  1. Covishield")
    assert "Welcome to KMC's vaccine booking." in out[:welcome]
    assert "Language: English." in out[welcome:menu]
    assert welcome < menu < vaccines
