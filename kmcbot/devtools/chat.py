"""`kmcbot chat`: be a citizen from the terminal, against a running bot.

Messages go in through the real webhook (signed when KMCBOT_APP_SECRET is
set); replies are read from the dev outbox (`GET /dev/messages`), so the bot
must run with KMCBOT_DEV=1 and without KMCBOT_WA_TOKEN, as `make run` does.
Buttons and list rows are shown numbered: answer with the number.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from kmcbot.messages import Choice, Content, Location, Text
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign


@dataclass(frozen=True)
class Option:
    id: str
    title: str
    via_list: bool


def render(body: dict[str, Any]) -> tuple[str, list[Option]]:
    """A Cloud API body as terminal text, and the options it offers."""
    if body.get("type") == "text":
        return body["text"]["body"], []
    if body.get("type") == "template":
        params = [
            p["text"]
            for c in body["template"].get("components", [])
            for p in c.get("parameters", [])
        ]
        return f"[template {body['template']['name']}] " + " | ".join(params), []
    if body.get("type") == "image":
        image = body["image"]
        return f"[image /dev/media/{image.get('id', '')}] {image.get('caption', '')}", []
    inter = body.get("interactive", {})
    text = inter.get("body", {}).get("text", "")
    action = inter.get("action", {})
    options: list[Option] = []
    if inter.get("type") == "button":
        options = [Option(b["reply"]["id"], b["reply"]["title"], False) for b in action["buttons"]]
    elif inter.get("type") == "list":
        options = [
            Option(
                r["id"],
                r["title"] + (f" ({r['description']})" if r.get("description") else ""),
                True,
            )
            for s in action["sections"]
            for r in s["rows"]
        ]
    elif inter.get("type") == "location_request_message":
        text += "\n  (share a location: type  /loc 22.5726 88.3639)"
    lines = [text] + [f"  {i}. {o.title}" for i, o in enumerate(options, 1)]
    return "\n".join(lines), options


def interpret(line: str, options: list[Option]) -> tuple[Content, bool] | None:
    """What a typed line sends: a number picks an option; /loc shares a location."""
    line = line.strip()
    if line.isdecimal() and 1 <= int(line) <= len(options):
        option = options[int(line) - 1]
        return Choice(option.id, option.title.split(" (")[0]), option.via_list
    if line.startswith("/loc"):
        try:
            lat, lon = (float(x) for x in line.split()[1:3])
        except ValueError:
            return None
        return Location(lat, lon), False
    return (Text(line), False) if line else None


class Client:
    def __init__(
        self, http: aiohttp.ClientSession, url: str, wa_id: str, secret: bytes | None
    ) -> None:
        self.http, self.url, self.wa_id, self.secret = http, url.rstrip("/"), wa_id, secret
        self.seen = 0

    async def send(self, content: Content, via_list: bool = False) -> int:
        # The bot ignores payloads for another number than its own.
        phone_number_id = os.environ.get("KMCBOT_WA_PHONE_NUMBER_ID") or "dev"
        raw = orjson.dumps(
            simulate.payload(
                [simulate.message(self.wa_id, content, via_list=via_list)],
                phone_number_id=phone_number_id,
            )
        )
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers["X-Hub-Signature-256"] = sign(self.secret, raw)
        async with self.http.post(f"{self.url}/webhook", data=raw, headers=headers) as resp:
            return resp.status

    async def new_replies(self, wait_s: float = 3.0) -> list[dict[str, Any]]:
        """Replies that arrived since the last call; waits until they stop coming."""
        deadline, got = time.monotonic() + wait_s, []
        while time.monotonic() < deadline:
            async with self.http.get(
                f"{self.url}/dev/messages", params={"wa_id": self.wa_id}
            ) as resp:
                if resp.status != 200:
                    raise SystemExit("no /dev/messages: start the bot with KMCBOT_DEV=1")
                bodies = await resp.json()
            fresh = bodies[self.seen :]
            if fresh:
                self.seen = len(bodies)
                got += fresh
                deadline = min(deadline, time.monotonic() + 0.4)
            await asyncio.sleep(0.1)
        return got


async def run(url: str, wa_id: str, secret: bytes | None) -> None:
    async with aiohttp.ClientSession() as http:
        client = Client(http, url, wa_id, secret)
        client.seen = len(await client.new_replies(0.1))  # skip earlier history
        print(f"Chatting as {wa_id} with {url}. Say hi; /quit to leave.")
        options: list[Option] = []
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line or line.strip() == "/quit":
                return
            what = interpret(line, options)
            if what is None:
                continue
            status = await client.send(*what)
            if status != 200:
                print(f"[webhook answered {status}]")
            for body in await client.new_replies():
                text, new_options = render(body)
                options = new_options or options
                print(f"\n{text}\n")
