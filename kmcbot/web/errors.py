"""Every error answer is JSON `{"error": "..."}`: aiohttp's own too (unknown path,
wrong method) and a server fault outside the handlers' own error handling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

log = structlog.get_logger()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = json_error(exc.status, exc.reason)
        if "Allow" in exc.headers:  # 405: the methods the path takes
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("http_error", path=request.path[:200])
        return json_error(500, "internal error")
