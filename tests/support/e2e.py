"""The whole service over HTTP: a citizen on the webhook, the stand-in hearing the replies."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from kmcbot.booking.model import IST
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.messages import Choice, Content, Location, Media, MediaKind, Text
from kmcbot.settings import Settings
from kmcbot.storage.keys import outbox_key
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign
from tests.support.factories import eventually

SECRET = b"e2e-app-secret"
PHONE_ID = "12345"  # the bot's KMCBOT_WA_PHONE_NUMBER_ID: payloads for another are not its


def opened() -> asyncio.Event:
    gate = asyncio.Event()
    gate.set()
    return gate


@dataclass
class HoldableStandIn(GraphStandIn):
    """The Graph API stand-in, able to hold every send until released: while it
    holds, the replies wait in the outbox stream, where a test can look at them."""

    gate: asyncio.Event = field(default_factory=opened)

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
    images: list[dict] = field(default_factory=list)  # the tickets' check-in QR images
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
        """The turn's replies. A ticket's check-in QR image is not one (it answers
        nothing and offers nothing): it is kept in `images`, in order."""
        if self.redis is not None:
            await self.settle()
        else:
            async with asyncio.timeout(5):
                while len(answers(self.standin.by_user[self.wa_id][self.seen :])) < at_least:
                    self.standin.arrived.clear()
                    await self.standin.arrived.wait()
            # Let any further replies of the same turn arrive too.
            await asyncio.sleep(0.05)
        fresh = self.standin.by_user[self.wa_id][self.seen :]
        self.seen += len(fresh)
        self.images += [body for body in fresh if body.get("type") == "image"]
        fresh = answers(fresh)
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
        """The last message the bot sent this citizen (a QR image not counted)."""
        return answers(self.standin.by_user[self.wa_id])[-1]

    async def pick(self, n: int) -> list[dict]:
        """Tap the n-th (from 0) button or list row of the last reply."""
        return await self.tap(options(self.last)[n][0])

    async def tap(self, title_or_id: str) -> list[dict]:
        """Tap a button or list row of the last reply, by id or title prefix."""
        last = self.last
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


def answers(bodies: list[dict]) -> list[dict]:
    """The bodies that are replies: all but the tickets' check-in QR images."""
    return [body for body in bodies if body.get("type") != "image"]


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


REFERENCE = re.compile(r"KMC-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}")


def option_ids(body: dict) -> list[str]:
    return [oid for oid, _, _ in options(body)]


async def start(citizen: Citizen, lang: str = "en") -> dict:
    """Hi, then the language: returns the menu."""
    await citizen.say("Hi")
    [menu] = await citizen.tap(f"lang:{lang}")
    assert option_ids(menu) == MENU
    return menu


async def reach_confirm(
    citizen: Citizen,
    id_number: str,
    *,
    first_dose: str | None = None,
    name: str = "Soumya Das",
    centre: str = "Roxy Cinema",
    day: int = 0,
    slot: int = 0,
) -> int:
    """From the menu to the Confirm question for Covishield and an Aadhaar; the slot's id.
    `day` and `slot` are row numbers (from 0) in the lists the bot offers."""
    await citizen.tap_earlier("menu:book")
    if "same:no" in option_ids(citizen.last):  # a second booking from this number
        await citizen.tap("same:no")
    await citizen.tap("vaccine:covishield")
    await citizen.say(first_dose or typed(days_ago(120)))
    await citizen.tap("id:aadhaar")
    await citizen.say(id_number)
    await citizen.say(name)
    await citizen.tap(centre)
    await citizen.pick(day)
    slot_id = option_ids(citizen.last)[slot]
    [summary] = await citizen.tap(slot_id)
    assert option_ids(summary) == [f"confirm:yes:{slot_id[5:]}", "confirm:change", "confirm:no"]
    return int(slot_id.removeprefix("slot:"))


MENU = ["menu:book", "menu:bookings", "menu:help"]


def days_ago(n: int) -> date:
    return datetime.now(IST).date() - timedelta(days=n)


def typed(d: date) -> str:
    return f"{d:%d-%m-%Y}"


async def serve_standin(aiohttp_server: Any) -> HoldableStandIn:
    """The Graph API stand-in on a real port of this test's aiohttp test server."""
    fake = HoldableStandIn()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")
    return fake
