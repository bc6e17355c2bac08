"""Dev-only endpoints (routed only with KMCBOT_DEV=1)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import orjson
from aiohttp import web

from kmcbot.messages import Choice, Content, Inbound, Location, Text
from kmcbot.web import chat_page
from kmcbot.web.errors import json_error
from kmcbot.web.keys import DEV_OUTBOX, PIPELINE
from kmcbot.web.webhook import handle_all
from kmcbot.whatsapp import inbound, simulate
from kmcbot.whatsapp.identity import citizen_id

MAX_SEND_BODY = 64 * 1024
MAX_TEXT = 4096  # WhatsApp's limit on a text message body


async def messages(request: web.Request) -> web.Response:
    """GET /dev/messages?wa_id=...: the Cloud API bodies sent to that citizen (a number,
    or a business-scoped user id), oldest first."""
    wa_id = citizen_id(request.query.get("wa_id", "").strip())
    if wa_id is None:
        return web.json_response(
            {"error": "wa_id must be a phone number or a business-scoped user id"}, status=400
        )
    # Bengali and Hindi as text, not \u escapes: the page is read by people.
    return web.json_response(await request.app[DEV_OUTBOX].messages(wa_id), dumps=_readable)


async def media(request: web.Request) -> web.Response:
    """GET /dev/media/{id}: an image the dev outbox took as uploaded (a ticket's
    check-in QR), for the chat page; 404 once it is gone (a day)."""
    media_id = request.match_info["media_id"]
    data = await request.app[DEV_OUTBOX].media(media_id) if media_id.isalnum() else None
    if data is None:
        return json_error(404, "no such media")
    return web.Response(
        body=data,
        content_type="image/png",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def _readable(value: object) -> str:
    return orjson.dumps(value).decode()  # UTF-8 as is (json.dumps would escape it)


async def chat(request: web.Request) -> web.Response:
    """GET /dev/chat: a WhatsApp-like page to be several citizens at once (chat_page.py)."""
    return await chat_page.chat(request)


async def send(request: web.Request) -> web.Response:
    """POST /dev/send: be a citizen without signing a webhook (the dev chat page uses it).

    `{"wa_id": "...", "text": "..."}`, `{"wa_id", "choice": {"id", "title", "list": bool}}`
    or `{"wa_id", "location": {"latitude", "longitude"}}`. The message is built as
    WhatsApp would send it (kmcbot.whatsapp.simulate), parsed as the webhook parses it and
    handled by the same code; so it works with KMCBOT_APP_SECRET set too.
    """
    if request.content_length is not None and request.content_length > MAX_SEND_BODY:
        return json_error(413, "body over 64 KiB")
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return json_error(400, "body is not JSON")
    try:
        wa_id, content, via_list = _citizen_message(data)
    except ValueError as exc:
        return json_error(400, str(exc))
    message = simulate.message(wa_id, content, via_list=via_list)
    parsed = inbound.parse(simulate.payload([message]))
    by_user: dict[str, list[Inbound]] = defaultdict(list)
    for update in parsed.updates:
        if isinstance(update, Inbound):
            by_user[update.wa_id].append(update)
    if not by_user:
        return json_error(400, "the message could not be parsed")
    failures = await handle_all(request.app[PIPELINE], list(by_user.values()))
    if failures:
        return json_error(503, "the message was not handled; send it again")
    return web.json_response({"ok": True, "message_id": message["id"]})


def _citizen_message(data: Any) -> tuple[str, Content, bool]:
    """The sender, the content and whether a choice is a list reply; ValueError names the fault."""
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    wa_id = data.get("wa_id")
    if not isinstance(wa_id, str) or not wa_id.isascii() or not wa_id.isdigit():
        raise ValueError("wa_id must be a string of digits")
    if not 5 <= len(wa_id) <= 20:
        raise ValueError("wa_id must have 5 to 20 digits")
    kinds = [k for k in ("text", "choice", "location") if k in data]
    if len(kinds) != 1:
        raise ValueError("give exactly one of text, choice, location")
    match kinds[0]:
        case "text":
            text = data["text"]
            if not isinstance(text, str) or not text.strip():
                raise ValueError("text must be a non-empty string")
            if len(text) > MAX_TEXT:
                raise ValueError(f"text must be at most {MAX_TEXT} characters")
            return wa_id, Text(text), False
        case "choice":
            choice = data["choice"]
            if not isinstance(choice, dict):
                raise ValueError("choice must be an object")
            choice_id, title = choice.get("id"), choice.get("title", "")
            via_list = choice.get("list", False)
            if not isinstance(choice_id, str) or not 1 <= len(choice_id) <= 256:
                raise ValueError("choice.id must be a string of 1 to 256 characters")
            if not isinstance(title, str) or len(title) > 100:
                raise ValueError("choice.title must be a string of at most 100 characters")
            if not isinstance(via_list, bool):
                raise ValueError("choice.list must be true or false")
            return wa_id, Choice(choice_id, title), via_list
        case _:
            location = data["location"]
            if not isinstance(location, dict):
                raise ValueError("location must be an object")
            lat = _number(location.get("latitude"), "location.latitude", 90)
            lon = _number(location.get("longitude"), "location.longitude", 180)
            return wa_id, Location(lat, lon), False


def _number(value: object, name: str, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise ValueError(f"{name} must be between -{bound} and {bound}")
    return float(value)
