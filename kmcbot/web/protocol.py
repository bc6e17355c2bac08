"""What happens before the app sees a request, and the Server header.

Requests aiohttp cannot parse (a Content-Length beside Transfer-Encoding, a
header over 8 KiB, a garbled request line) never reach the app or its
middlewares: aiohttp answers them itself in text/plain and logs each with a
traceback. `install` makes aiohttp's servers in this process use
`JsonErrorsHandler` instead: the answer is JSON like every other error, and
the log is one line naming the problem's kind (never the request's bytes).
aiohttp builds its connection handlers from the module-level name
`web_server.RequestHandler` and offers no other way to choose the class.

Every answer says `Server: kmcbot`, not aiohttp's and Python's versions.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import hdrs, web, web_protocol, web_server

log = structlog.get_logger()

SERVER = "kmcbot"


class JsonErrorsHandler(web_protocol.RequestHandler):
    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        kind = type(exc).__name__ if exc is not None else "none"
        if status >= 500:
            # A fault the app's middleware did not catch: the traceback is wanted.
            log.error("http_fault", status=status, error=kind, exc_info=exc)
        else:
            log.info("http_malformed", status=status, error=kind)
        if request.writer.output_size > 0:  # part of an answer went out already
            raise ConnectionError("Response is sent already, cannot send another one")
        text = "malformed HTTP request" if status < 500 else "internal error"
        response = web.json_response({"error": text}, status=status)
        response.headers[hdrs.SERVER] = SERVER
        response.force_close()
        return response


def install() -> None:
    web_server.RequestHandler = JsonErrorsHandler  # type: ignore[misc]


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """An on_response_prepare signal: no versions in the Server header."""
    response.headers[hdrs.SERVER] = SERVER
