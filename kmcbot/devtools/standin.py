"""A stand-in for the WhatsApp Graph API: accepts and records sent messages.

Load tests point KMCBOT_GRAPH_URL at it; tests script failures into it
(rate limits, server errors, permanent errors) to watch the sender cope.
It checks the addressing as the Cloud API does: a phone number in `to`, a
business-scoped user id in `recipient` (see whatsapp/identity.py). It takes media
uploads (`POST /{phone-number-id}/media`, multipart: `messaging_product`, `type`,
`file`) and refuses an image message whose media id it did not hand out.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from kmcbot.whatsapp.identity import bsuid, phone_number

# (status, Graph error code) answers to give before answering normally.
Failure = tuple[int, int | None]
# The image types the Cloud API takes, and their size limit (5 MB).
MEDIA_TYPES = {"image/png": 5 * 1024 * 1024, "image/jpeg": 5 * 1024 * 1024}
# An image message holds these and nothing else (kmcbot's own "kmcbot_qr" must be gone).
IMAGE_FIELDS = {
    "messaging_product",
    "recipient_type",
    "to",
    "recipient",
    "type",
    "image",
    "biz_opaque_callback_data",  # any message may carry it (observe/delivery.py)
}


@dataclass
class GraphStandIn:
    token: str = "test-token"
    received: list[dict[str, Any]] = field(default_factory=list)
    # The message id (wamid) answered for each of `received`, in the same order.
    wamids: list[str] = field(default_factory=list)
    by_user: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    failures: list[Failure] = field(default_factory=list)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    # Uploads, in order: {"id", "type", "data", "after"}: "after" is how many messages
    # had been received before it (so a test sees the upload came before its image).
    uploads: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, bytes] = field(default_factory=dict)
    upload_failures: list[Failure] = field(default_factory=list)  # as `failures`, for uploads
    # Message templates submitted, by (name, language): the body, its id and status.
    templates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    on_message: Callable[[dict[str, Any]], None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{phone_number_id}/messages", self.messages)
        app.router.add_post("/{phone_number_id}/media", self.upload)
        app.router.add_post("/{waba_id}/message_templates", self.create_template)
        app.router.add_get("/{waba_id}/message_templates", self.list_templates)
        return app

    async def create_template(self, request: web.Request) -> web.Response:
        """Meta's create-template call: a new (name, language) goes to review (PENDING);
        one that exists is refused, as Meta does."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Invalid OAuth access token")
        try:
            body = orjson.loads(await request.read())
            key = (body["name"], body["language"])
            if body["category"] not in ("UTILITY", "MARKETING", "AUTHENTICATION"):
                raise ValueError("category")
            if not any(c["type"] == "BODY" and c["text"] for c in body["components"]):
                raise ValueError("components")
        except (ValueError, KeyError, TypeError):
            return _error(400, 100, "Invalid parameter")
        if key in self.templates:
            return _error(400, 2388024, "Content in this language already exists")
        self.templates[key] = {**body, "id": f"tmpl{next(self._ids)}", "status": "PENDING"}
        return web.json_response(
            {"id": self.templates[key]["id"], "status": "PENDING", "category": body["category"]}
        )

    async def list_templates(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Invalid OAuth access token")
        name = request.query.get("name")
        data = [
            {"name": t["name"], "language": t["language"], "status": t["status"], "id": t["id"]}
            for t in self.templates.values()
            if name is None or t["name"] == name
        ]
        return web.json_response({"data": data})

    async def upload(self, request: web.Request) -> web.Response:
        """The Cloud API's media upload: multipart `messaging_product=whatsapp`, `type`
        (the MIME type) and `file`; answers {"id"}."""
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Invalid OAuth access token")
        if self.upload_failures:
            status, code = self.upload_failures.pop(0)
            return _error(status, code, "scripted failure")
        try:
            form = await request.post()
            upload = form["file"]
            mime = str(form["type"])
            if form["messaging_product"] != "whatsapp" or mime not in MEDIA_TYPES:
                raise ValueError("messaging_product or type")
            if not isinstance(upload, web.FileField) or upload.content_type != mime:
                raise ValueError("file")
            data = upload.file.read()
            if not 0 < len(data) <= MEDIA_TYPES[mime]:
                raise ValueError("size")
        except (ValueError, KeyError, TypeError):
            return _error(400, 100, "Invalid parameter")
        media_id = str(9_000_000_000 + next(self._ids))
        self.media[media_id] = data
        self.uploads.append(
            {"id": media_id, "type": mime, "data": data, "after": len(self.received)}
        )
        return web.json_response({"id": media_id})

    async def messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Invalid OAuth access token")
        try:
            body = orjson.loads(await request.read())
            if isinstance(body, dict) and body.get("status") == "read":
                # A read receipt (maybe with typing): recorded apart, and never given
                # a scripted failure, which tests mean for the replies.
                return self._receipt(body)
        except (ValueError, TypeError):
            return _error(400, 100, "Invalid parameter")
        if self.failures:
            status, code = self.failures.pop(0)
            return _error(status, code, "scripted failure")
        try:
            to, contact = _addressee(body)
        except (ValueError, KeyError, TypeError, AttributeError):
            return _error(400, 100, "Invalid parameter")
        if body.get("type") == "image" and not self._image_ok(body):
            return _error(400, 131053, "Media upload error: unknown media id")
        wamid = f"wamid.OUT{next(self._ids)}"
        self.received.append(body)
        self.wamids.append(wamid)
        self.by_user[to].append(body)
        self.arrived.set()
        if self.on_message is not None:
            self.on_message(body)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, **contact}],
                "messages": [{"id": wamid}],
            }
        )

    def wamid_of(self, body: dict[str, Any]) -> str:
        """The message id this stand-in answered for `body` (one it received)."""
        return self.wamids[next(i for i, b in enumerate(self.received) if b is body)]

    def _image_ok(self, body: dict[str, Any]) -> bool:
        image = body.get("image")
        if not isinstance(image, dict) or set(body) - IMAGE_FIELDS:
            return False
        caption = image.get("caption", "")
        return image.get("id") in self.media and isinstance(caption, str) and len(caption) <= 1024

    def _receipt(self, body: dict[str, Any]) -> web.Response:
        """Read receipts are kept apart from the messages sent, as WhatsApp shows them
        apart (blue ticks, "typing..."): `receipts`, in arrival order."""
        if body.get("messaging_product") != "whatsapp" or not isinstance(
            body.get("message_id"), str
        ):
            raise ValueError("receipt")
        typing = body.get("typing_indicator")
        if typing is not None and typing != {"type": "text"}:
            raise ValueError("typing_indicator")
        self.receipts.append(body)
        return web.json_response({"success": True})

    async def wait_for(self, to: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The first `count` messages sent to `to`, waiting for them to arrive."""
        async with asyncio.timeout(timeout):
            while len(self.by_user[to]) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.by_user[to][:count]


def _addressee(body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Who a send is for, checked as the Cloud API does: a phone number in `to`,
    or a business-scoped user id in `recipient` (`to` wins when both come); a
    BSUID in `to`, or a number in `recipient`, is refused. Also the response's
    contact: `wa_id` for a number, `user_id` for a BSUID."""
    if body.get("messaging_product") != "whatsapp":
        raise ValueError("messaging_product")
    if "to" in body:
        number = phone_number(body["to"])
        if number is None or number != body["to"]:
            raise ValueError("to is not a phone number")
        return number, {"wa_id": number}
    user_id = bsuid(body["recipient"])
    if user_id is None:
        raise ValueError("recipient is not a business-scoped user id")
    return user_id, {"user_id": user_id}


def _error(status: int, code: int | None, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "OAuthException", "code": code}}, status=status
    )
