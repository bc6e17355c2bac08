"""The whole service over HTTP: real PostgreSQL and Redis, a Graph API stand-in."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.devtools.seed import DEMO_CSV, seed
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.messages import Choice, Content, Location, Media, MediaKind, Text
from kmcbot.settings import Settings
from kmcbot.storage.sessions import outbox_key
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign
from tests.factories import eventually, make_centre, make_slot

SECRET = b"e2e-app-secret"
PHONE_ID = "12345"  # the bot's KMCBOT_WA_PHONE_NUMBER_ID: payloads for another are not its


def _opened() -> asyncio.Event:
    gate = asyncio.Event()
    gate.set()
    return gate


@dataclass
class HoldableStandIn(GraphStandIn):
    """The Graph API stand-in, able to hold every send until released: while it
    holds, the replies wait in the outbox stream, where a test can look at them."""

    gate: asyncio.Event = field(default_factory=_opened)

    async def messages(self, request: web.Request) -> web.Response:
        await self.gate.wait()
        return await super().messages(request)

    @contextlib.asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        self.gate.clear()
        try:
            yield
        finally:
            self.gate.set()


@dataclass
class Citizen:
    """One citizen talking to the bot through the signed webhook.

    With `redis` set, a turn's replies are "everything sent once the outbox
    stream is empty" (the webhook answers 200 only after queueing them, and the
    sender deletes an entry only after the stand-in took it): no guessing how
    long to wait, and "no reply" can be asserted too.
    """

    client: TestClient
    standin: GraphStandIn
    wa_id: str
    seen: int = 0
    redis: aioredis.Redis | None = None
    outbox: str = outbox_key("kmcbot", 0)

    async def post(self, content: Content, *, via_list: bool = False, **kw: Any) -> int:
        raw = orjson.dumps(
            simulate.payload(
                [simulate.message(self.wa_id, content, via_list=via_list, **kw)],
                phone_number_id=PHONE_ID,
            )
        )
        resp = await self.client.post(
            "/webhook",
            data=raw,
            headers={"X-Hub-Signature-256": sign(SECRET, raw), "Content-Type": "application/json"},
        )
        return resp.status

    async def post_raw(self, raw: bytes) -> int:
        """POST exactly these bytes, signed (e.g. the same payload twice)."""
        resp = await self.client.post(
            "/webhook",
            data=raw,
            headers={"X-Hub-Signature-256": sign(SECRET, raw), "Content-Type": "application/json"},
        )
        return resp.status

    def payload(self, *contents: Content, **kw: Any) -> bytes:
        """One webhook payload carrying these messages of this citizen, in order."""
        return orjson.dumps(
            simulate.payload(
                [simulate.message(self.wa_id, c, **kw) for c in contents], phone_number_id=PHONE_ID
            )
        )

    async def say(self, content: Content | str, *, via_list: bool = False) -> list[dict]:
        """Send, expect 200, and return the replies it produced (at the stand-in)."""
        if isinstance(content, str):
            content = Text(content)
        assert await self.post(content, via_list=via_list) == 200
        return await self.replies()

    async def replies(self, at_least: int = 1) -> list[dict]:
        if self.redis is not None:
            await self.settle()
        else:
            await self.standin.wait_for(self.wa_id, self.seen + at_least)
            # Let any further replies of the same turn arrive too.
            await asyncio.sleep(0.05)
        fresh = self.standin.by_user[self.wa_id][self.seen :]
        self.seen += len(fresh)
        assert len(fresh) >= at_least, f"{len(fresh)} replies, expected at least {at_least}"
        return fresh

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every reply queued so far has reached the stand-in."""
        assert self.redis is not None, "settle() needs the citizen's redis"
        redis = self.redis

        async def drained() -> bool:
            return await redis.xlen(self.outbox) == 0

        await eventually(drained, timeout=timeout)

    @property
    def last(self) -> dict:
        """The last message the bot sent this citizen."""
        return self.standin.by_user[self.wa_id][-1]

    async def pick(self, n: int) -> list[dict]:
        """Tap the n-th (from 0) button or list row of the last reply."""
        return await self.tap(options(self.last)[n][0])

    async def tap(self, title_or_id: str) -> list[dict]:
        """Tap a button or list row of the last reply, by id or title prefix."""
        last = self.standin.by_user[self.wa_id][-1]
        for option_id, title, via_list in options(last):
            if (
                title_or_id in (option_id, title)
                or title.startswith(title_or_id)
                or option_id.startswith(f"{title_or_id}:")  # "confirm:yes" for confirm:yes:<slot>
            ):
                return await self.say(Choice(option_id, title), via_list=via_list)
        raise AssertionError(f"no option {title_or_id!r} in {options(last)}")

    async def tap_earlier(self, option_id: str) -> list[dict]:
        """Tap a button or row of an earlier message, by id (the menu scrolled up to)."""
        for body in reversed(self.standin.by_user[self.wa_id]):
            for oid, title, via_list in options(body):
                if oid == option_id:
                    return await self.say(Choice(oid, title), via_list=via_list)
        raise AssertionError(f"no earlier message offers {option_id!r}")

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
async def standin(aiohttp_server) -> HoldableStandIn:
    fake = HoldableStandIn()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


def bot_settings(pg_url: str, redis_url: str, standin: GraphStandIn, **more: Any) -> Settings:
    """A signed bot sending to `standin`, as the e2e and cluster tests run it."""
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        app_secret=SECRET,
        wa_token=standin.token,
        wa_phone_number_id=PHONE_ID,
        graph_url=standin.url,  # type: ignore[attr-defined]
        send_rate=1000,
        **more,
    )


@pytest.fixture
def settings(pg_url: str, redis_url: str, standin: GraphStandIn) -> Settings:
    return bot_settings(
        pg_url, redis_url, standin, verify_token="verify-me", id_pepper=b"e2e-pepper", dev=False
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


# ---------------------------------------------------------------- the demo city


@pytest.fixture
async def demo_centres(pg_url: str, pg) -> dict[str, int]:
    """The shipped Kolkata demo centres and 14 days of their sessions from today
    (Kolkata's today), loaded as `kmcbot seed --demo` does; centre code -> id."""
    await seed(pg_url, DEMO_CSV, datetime.now(IST).date(), days=14)
    return {r["code"]: r["id"] for r in await pg.fetch("SELECT code, id FROM centres")}


@pytest.fixture
async def demo_client(settings: Settings, demo_centres, aiohttp_client) -> TestClient:
    # aiohttp_client last: it is torn down first, so the app stops before its databases go.
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def citizens(
    demo_client: TestClient, standin: GraphStandIn, redis: aioredis.Redis, settings: Settings
) -> Callable[[str], Citizen]:
    """Citizens of the demo city: `citizens("919800000101")`."""

    def make(wa_id: str) -> Citizen:
        return Citizen(
            demo_client, standin, wa_id, redis=redis, outbox=outbox_key(settings.redis_prefix, 0)
        )

    return make
