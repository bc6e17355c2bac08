"""The send rate shared by every process using one Redis: tokens per window."""

from __future__ import annotations

import asyncio
import math
import time

import structlog

from kmcbot.storage.scripts import lua
from kmcbot.storage.sessions import Commands

log = structlog.get_logger()

_TAKE_TOKENS = lua("take_tokens")


def send_windows(rate: float) -> tuple[int, int]:
    """(window in ms, sends per window) for `rate` a second: 100 ms, or the shortest
    multiple of it up to a second that holds a whole number of sends (200 ms for 5
    or 15 a second); else a second, rounded down. Never more than the rate."""
    for window_ms in range(100, 1001, 100):
        sends = rate * window_ms / 1000
        if sends >= 1 and abs(sends - round(sends)) < 1e-9:
            return window_ms, round(sends)
    return 1000, max(1, math.floor(rate))


class SharedRateLimiter:
    """At most `rate` sends a second in total, however many processes share `key`.

    Each process takes tokens from Redis a few at a time and uses them only
    within the window they were granted for, so no window is ever exceeded.
    """

    def __init__(self, redis: Commands, key: str, rate: float) -> None:
        self.key = key
        self.window_ms, self.per_window = send_windows(rate)
        self.chunk = max(1, min(32, self.per_window // 4))  # leave some for other processes
        self._take = redis.register_script(_TAKE_TOKENS)
        self._tokens = 0
        self._until = 0.0  # when the tokens in hand expire (monotonic)
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                if self._tokens and time.monotonic() < self._until:
                    self._tokens -= 1
                    return
                try:
                    granted, left_ms = await self._take(
                        keys=[self.key], args=[self.chunk, self.per_window, self.window_ms]
                    )
                except Exception as exc:  # noqa: BLE001 - Redis is down: wait for it
                    log.warning("send_rate_unavailable", error=type(exc).__name__)
                    await asyncio.sleep(0.5)
                    continue
                self._tokens, self._until = int(granted), time.monotonic() + int(left_ms) / 1000
                if not self._tokens:
                    await asyncio.sleep(int(left_ms) / 1000)
