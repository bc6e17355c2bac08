"""Reading a webhook body without letting slow or stalled uploads hold memory.

An upload is read only when it can be paid for: its announced length (or the
3 MiB cap when it announces none) is taken from a budget shared by every
connection of the process, and given back once the request is answered.
Beyond the budget the POST is answered 503 at once, before its body is read;
the body must arrive within `body_timeout_s` (408 otherwise). Until the
handler reads it, aiohttp keeps at most a small buffer of a body (reading
pauses), so unread uploads cost little; read ones are what the budget bounds.

A refused POST closes its connection: aiohttp would otherwise keep reading
(and discarding) the rest of the body for up to 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator

import structlog
from aiohttp import web

from kmcbot import metrics
from kmcbot.web.errors import json_error

log = structlog.get_logger()


GIVE_BACK_S = 1.0
# Bodies this large are what leave the C heap grown (see give_back_memory).
LARGE_BODY = 1024 * 1024


def _malloc_trim() -> Callable[[], object]:
    """glibc's malloc_trim(0), or nothing where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    return lambda: trim(0)


class BodyBudget:
    """Bytes of request bodies being read or held, across all connections."""

    def __init__(self, limit: int, trim: Callable[[], object] | None = None) -> None:
        self.limit = limit
        self.in_flight = 0
        self.large = False  # a large body was read since the last trim
        self._trim = trim or _malloc_trim()
        self._pending: asyncio.TimerHandle | None = None

    def give_back_memory(self) -> None:
        """Once no body is in flight after a large one: a cycle collection soon after
        (the cli makes automatic ones rare, and a failed read's exception keeps its
        request's buffers in a cycle), then malloc_trim, which returns the freed
        pages that glibc would keep in its heap (RSS would stay up for good).
        At most once per GIVE_BACK_S, so uploads cannot make it a busy loop."""
        if not self.large or self.in_flight or self._pending is not None:
            return
        self.large = False
        loop = asyncio.get_running_loop()
        self._pending = loop.call_later(GIVE_BACK_S, self._give_back)

    def _give_back(self) -> None:
        self._pending = None
        gc.collect()
        self._trim()
        log.info("upload_memory_returned")

    @contextlib.contextmanager
    def take(self, size: int) -> Iterator[bool]:
        """Yields whether `size` bytes fit; they are given back on leaving."""
        if self.in_flight + size > self.limit:
            yield False
            return
        self.in_flight += size
        self.large = self.large or size >= LARGE_BODY
        try:
            yield True
        finally:
            self.in_flight -= size
            self.give_back_memory()


class Refused(Exception):
    """The body was not read: answer `response` (its connection closes after it)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def closing(response: web.Response) -> web.Response:
    """The response, with the connection closed after it (the body is left unread)."""
    response.force_close()
    return response


async def read_within(request: web.Request, timeout_s: float) -> bytes:
    """The whole body, or Refused (408 when it is too slow, 400 when the client went)."""

    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        metrics.UPLOADS_REFUSED.labels("timeout").inc()
        log.info("webhook_body_timeout", seconds=timeout_s)
        raise Refused(closing(json_error(408, "body not received in time"))) from None
    except ConnectionError:
        # The client closed the connection mid-body: nothing to answer, not a fault.
        metrics.UPLOADS_REFUSED.labels("disconnected").inc()
        log.info("webhook_client_disconnected")
        raise Refused(closing(json_error(400, "connection closed before the body ended"))) from None
