"""Dev-only endpoints (routed only with KMCBOT_DEV=1)."""

from __future__ import annotations

from aiohttp import web

from kmcbot.web.keys import DEV_OUTBOX


async def messages(request: web.Request) -> web.Response:
    """GET /dev/messages?wa_id=...: the Cloud API bodies sent to that number, oldest first."""
    wa_id = request.query.get("wa_id", "").strip()
    if not wa_id.isdigit() or len(wa_id) > 20:
        return web.json_response({"error": "wa_id must be digits"}, status=400)
    return web.json_response(await request.app[DEV_OUTBOX].messages(wa_id))
