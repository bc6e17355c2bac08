"""GET /dev/chat: a WhatsApp-like page to be several citizens at once (dev mode only).

One self-contained page (static/chat.html with chat.css and chat.js inlined; no
network but this server's /dev/send and /dev/messages). Every bot or citizen text
is put in the page with textContent, never as HTML; a Content-Security-Policy
allows only the page's own script and style.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent / "static"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _page() -> tuple[str, str]:
    """The page's HTML, and its Content-Security-Policy."""
    css = (STATIC / "chat.css").read_text(encoding="utf-8")
    js = (STATIC / "chat.js").read_text(encoding="utf-8")
    html = (STATIC / "chat.html").read_text(encoding="utf-8")
    html = html.replace("/*CHAT_CSS*/", css).replace("/*CHAT_JS*/", js)
    csp = (
        f"default-src 'none'; script-src {_sha256(js)}; style-src {_sha256(css)}; "
        "connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; "
        "form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return html, csp


# The page's own fonts, so Bengali and Hindi never show as boxes on a machine
# without them (static/fonts/OFL.txt: Noto, SIL Open Font License 1.1).
FONTS = {p.name: p for p in (STATIC / "fonts").glob("*.ttf")}


async def font(request: web.Request) -> web.StreamResponse:
    """GET /dev/fonts/{name}: one of FONTS (404 for any other name)."""
    path = FONTS.get(request.match_info["name"])
    if path is None:
        return web.json_response({"error": "no such font"}, status=404)
    return web.FileResponse(
        path, headers={"Content-Type": "font/ttf", "Cache-Control": "max-age=86400"}
    )


async def chat(request: web.Request) -> web.Response:
    html, csp = _page()
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": csp,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
