"""A stand-in for the WhatsApp Graph API: accepts and records sent messages.

Load tests point KMCBOT_GRAPH_URL at it; tests script failures into it
(rate limits, server errors, permanent errors) to watch the sender cope.
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

# (status, Graph error code) answers to give before answering normally.
Failure = tuple[int, int | None]


@dataclass
class GraphStandIn:
    token: str = "test-token"
    received: list[dict[str, Any]] = field(default_factory=list)
    by_user: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    failures: list[Failure] = field(default_factory=list)
    on_message: Callable[[dict[str, Any]], None] | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{phone_number_id}/messages", self.messages)
        return app

    async def messages(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, 190, "Invalid OAuth access token")
        if self.failures:
            status, code = self.failures.pop(0)
            return _error(status, code, "scripted failure")
        try:
            body = orjson.loads(await request.read())
            to = body["to"]
        except (ValueError, KeyError, TypeError):
            return _error(400, 100, "Invalid parameter")
        self.received.append(body)
        self.by_user[to].append(body)
        self.arrived.set()
        if self.on_message is not None:
            self.on_message(body)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": f"wamid.OUT{next(self._ids)}"}],
            }
        )

    async def wait_for(self, to: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The first `count` messages sent to `to`, waiting for them to arrive."""
        async with asyncio.timeout(timeout):
            while len(self.by_user[to]) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.by_user[to][:count]


def _error(status: int, code: int | None, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "OAuthException", "code": code}}, status=status
    )
