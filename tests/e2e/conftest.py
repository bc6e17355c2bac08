"""The whole service over HTTP: real PostgreSQL and Redis, a Graph API stand-in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.messages import Choice, Content, Location, Media, MediaKind, Text
from kmcbot.settings import Settings
from kmcbot.standin import GraphStandIn
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign
from tests.factories import make_centre, make_slot

SECRET = b"e2e-app-secret"


@dataclass
class Citizen:
    """One citizen talking to the bot through the signed webhook."""

    client: TestClient
    standin: GraphStandIn
    wa_id: str
    seen: int = 0

    async def post(self, content: Content, *, via_list: bool = False, **kw: Any) -> int:
        raw = orjson.dumps(simulate.payload([simulate.message(self.wa_id, content,
                                                              via_list=via_list, **kw)]))
        resp = await self.client.post(
            "/webhook", data=raw,
            headers={"X-Hub-Signature-256": sign(SECRET, raw),
                     "Content-Type": "application/json"},
        )
        return resp.status

    async def say(self, content: Content | str, *, via_list: bool = False) -> list[dict]:
        """Send, expect 200, and return the replies it produced (at the stand-in)."""
        if isinstance(content, str):
            content = Text(content)
        assert await self.post(content, via_list=via_list) == 200
        return await self.replies()

    async def replies(self, at_least: int = 1) -> list[dict]:
        got = await self.standin.wait_for(self.wa_id, self.seen + at_least)
        # Let any further replies of the same turn arrive too.
        import asyncio

        await asyncio.sleep(0.05)
        fresh = self.standin.by_user[self.wa_id][self.seen:]
        self.seen += len(fresh)
        assert len(got) >= self.seen or fresh
        return fresh

    async def tap(self, title_or_id: str) -> list[dict]:
        """Tap a button or list row of the last reply, by id or title prefix."""
        last = self.standin.by_user[self.wa_id][-1]
        for option_id, title, via_list in options(last):
            if title_or_id in (option_id, title) or title.startswith(title_or_id):
                return await self.say(Choice(option_id, title), via_list=via_list)
        raise AssertionError(f"no option {title_or_id!r} in {options(last)}")

    async def share(self, lat: float, lon: float) -> list[dict]:
        return await self.say(Location(lat, lon))

    async def send_media(self, kind: MediaKind) -> list[dict]:
        return await self.say(Media(kind))


def options(body: dict) -> list[tuple[str, str, bool]]:
    inter = body.get("interactive", {})
    action = inter.get("action", {})
    if inter.get("type") == "button":
        return [(b["reply"]["id"], b["reply"]["title"], False) for b in action["buttons"]]
    if inter.get("type") == "list":
        return [(r["id"], r["title"], True) for s in action["sections"] for r in s["rows"]]
    return []


def text_of(body: dict) -> str:
    if body["type"] == "text":
        return body["text"]["body"]
    return body["interactive"]["body"]["text"]


@pytest.fixture
async def standin(aiohttp_server) -> GraphStandIn:
    fake = GraphStandIn()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def settings(pg_url: str, redis_url: str, standin: GraphStandIn) -> Settings:
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        app_secret=SECRET,
        verify_token="verify-me",
        wa_token=standin.token,
        wa_phone_number_id="12345",
        graph_url=standin.url,  # type: ignore[attr-defined]
        send_rate=1000,
        id_pepper=b"e2e-pepper",
        dev=False,
    )


@pytest.fixture
async def client(settings: Settings, pg, aiohttp_client) -> TestClient:
    # aiohttp_client last: it is torn down first, so the app stops before its databases go.
    centre = await make_centre(pg, "Roxy Cinema")
    for start in (10, 12, 14):
        from datetime import time

        await make_slot(pg, centre, capacity=5, start=time(start, 0))
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def citizen(client: TestClient, standin: GraphStandIn) -> Citizen:
    return Citizen(client, standin, "919800000001")
