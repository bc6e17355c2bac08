"""Read receipts and the typing indicator (issue 19, item 3).

The Cloud API marks an inbound message (and the ones before it) read with
`POST /{phone_number_id}/messages` `{"messaging_product": "whatsapp",
"status": "read", "message_id": ...}`; with `"typing_indicator": {"type":
"text"}` the citizen also sees "typing..." until the reply comes or 25 s
pass. Meta asks to show it only when a reply is coming and will take a few
seconds (developers.facebook.com/documentation/business-messaging/whatsapp/
typing-indicators/, updated Jun 2026).

Off the webhook's hot path: the webhook only starts a watch (no I/O); a
task of its own waits for the message to be handled. If that takes more
than TYPING_AFTER_S (a lock wait, a slow booking) it sends read + typing at
once; otherwise, once handled, plain read, or read + typing when the outbox
backlog means the reply will wait more than TYPING_AFTER_S for the send
rate. Each receipt takes a token of the shared send rate, as a reply does.
A duplicate or a message handed back to WhatsApp (503) is not marked: the
delivery that is handled will be.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog

from kmcbot import metrics
from kmcbot.outbox.rate import SharedRateLimiter
from kmcbot.whatsapp.graph import Sent, Transport

log = structlog.get_logger()

TYPING_AFTER_S = 1.0  # "a reply will take more than about a second"
MAX_WATCHES = 2000  # receipts in flight per process; past it, receipts are skipped
# The backlog is read (XLEN of every outbox stream) at most this often per process,
# not per message: it was 2.5% of kmcbot's CPU in a day's profile, and a backlog
# half a second old tells "will the reply wait?" as well.
BACKLOG_FRESH_S = 0.5


def receipt(message_id: str, *, typing: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": message_id,
    }
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


class Watch:
    """One message being handled: `done(replying)` when its handling ends."""

    def __init__(self) -> None:
        self._ended = asyncio.Event()
        self.replying: bool | None = None  # None: no receipt (duplicate, retry later)

    def done(self, replying: bool | None) -> None:
        self.replying = replying
        self._ended.set()


class Receipts:
    def __init__(
        self,
        transport: Transport,
        limiter: SharedRateLimiter,
        backlog_s: Callable[[], Awaitable[float]],
    ) -> None:
        """`backlog_s`: about how long a reply queued now waits for the send rate."""
        self.transport = transport
        self.limiter = limiter
        self.backlog_s = backlog_s
        self._backlog = 0.0
        self._backlog_at = float("-inf")
        self._reading: asyncio.Future[float] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self, message_id: str, to: str) -> Watch | None:
        if len(self._tasks) >= MAX_WATCHES:
            metrics.RECEIPTS.labels("skipped").inc()
            return None
        watch = Watch()
        task = asyncio.create_task(self._run(watch, message_id, to))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return watch

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _backlog_now(self) -> float:
        """The backlog, read again when older than BACKLOG_FRESH_S; the messages
        meanwhile wait for that one read (their receipts keep their order)."""
        now = time.monotonic()
        if self._reading is None and now - self._backlog_at >= BACKLOG_FRESH_S:
            self._backlog_at = now
            self._reading = asyncio.ensure_future(self.backlog_s())
        if self._reading is not None:
            reading = self._reading
            try:
                self._backlog = await asyncio.shield(reading)
            finally:
                if self._reading is reading and reading.done():
                    self._reading = None
        return self._backlog

    async def _run(self, watch: Watch, message_id: str, to: str) -> None:
        try:
            try:
                async with asyncio.timeout(TYPING_AFTER_S):
                    await watch._ended.wait()
                slow = False
            except TimeoutError:
                slow = True  # still being handled: most messages get a reply
            if not slow:
                if watch.replying is None:
                    return
                slow = watch.replying and await self._backlog_now() > TYPING_AFTER_S
            await self.limiter.acquire()
            result = await self.transport.send(to, orjson.dumps(receipt(message_id, typing=slow)))
            sent = "typing" if slow else "read"
            metrics.RECEIPTS.labels(sent if result.outcome is Sent.OK else "failed").inc()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a receipt is a courtesy: never more
            metrics.RECEIPTS.labels("failed").inc()
            log.warning("receipt_failed", error=type(exc).__name__)
