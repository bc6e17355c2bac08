"""A background task that runs a pass now and then until stopped, outliving failures
(the relay, the reminder scheduler and the sweep of missed bookings)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger()


class Periodic:
    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Run the next pass now instead of after the pause (news that work waits)."""
        self._wake.set()

    async def run(self) -> None:
        """The job's loop: `repeat` with its own pass (what the app starts in every process)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Finish the pass in hand, then return from the loop."""
        self._stopping.set()

    async def repeat(
        self, one_pass: Callable[[], Awaitable[bool]], pause_s: float, error_event: str
    ) -> None:
        """`one_pass` until stopped; it returns whether to go again at once (more
        work waits), else the loop pauses `pause_s`. A failed pass is logged and
        counts as done: PostgreSQL or Redis may be down for a while."""
        while not self._stopping.is_set():
            try:
                again = await one_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - must outlive PostgreSQL and Redis outages
                log.error(error_event, error=type(exc).__name__)
                again = False
            if not again:
                stop = asyncio.ensure_future(self._stopping.wait())
                woken = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait(
                        (stop, woken), timeout=pause_s, return_when="FIRST_COMPLETED"
                    )
                finally:
                    stop.cancel()
                    woken.cancel()
                self._wake.clear()
