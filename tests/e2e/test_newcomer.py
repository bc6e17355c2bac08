"""The newcomer's path (issue 19, item 7): what `make run` shows a first-time user."""

from __future__ import annotations

import re
from pathlib import Path

from kmcbot.app import create_app
from kmcbot.cli import CHAT_NUMBER
from kmcbot.settings import Settings
from tests.support.factories import eventually

CHAT_JS = Path(__file__).resolve().parents[2] / "kmcbot" / "web" / "static" / "chat.js"


async def test_dev_messages_show_bengali_as_text(pg_url, redis_url, aiohttp_client) -> None:
    settings = Settings(
        database_url=pg_url, redis_url=redis_url, id_pepper=b"newcomer-pepper", dev=True
    )
    client = await aiohttp_client(create_app(settings))
    wa_id = "919800000321"
    assert (await client.post("/dev/send", json={"wa_id": wa_id, "text": "Hi"})).status == 200
    choice = {"id": "lang:bn", "title": "বাংলা"}
    assert (await client.post("/dev/send", json={"wa_id": wa_id, "choice": choice})).status == 200

    async def two() -> str | None:
        resp = await client.get("/dev/messages", params={"wa_id": wa_id})
        raw = await resp.text()
        return raw if raw.count('"messaging_product"') >= 2 else None

    raw = await eventually(two)
    assert re.search("[\u0980-\u09ff]", raw) and "\\u09" not in raw


def test_the_terminal_chat_is_not_one_of_the_chat_pages_citizens() -> None:
    first = int(re.search(r"FIRST_NUMBER = (\d+)", CHAT_JS.read_text()).group(1))
    assert not first <= int(CHAT_NUMBER) < first + 1000
