"""Acknowledgements of sent outbox entries, on their way to Redis in batches, and
with them what messages with booking news carried, kept by their id for the
status webhooks that come back without it (observe/delivery.py)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import structlog
from redis.exceptions import ResponseError

from kmcbot.storage.scripts import lua
from kmcbot.storage.sessions import Commands

log = structlog.get_logger()

_ACK = lua("ack")
_REMEMBER = lua("remember")
# How long a sent message's news is kept for its statuses: WhatsApp reports
# most within seconds, and tries a phone that is off for days.
SENT_NEWS_TTL_S = 8 * 86_400


class Acks:
    """Acknowledge (and delete) what was sent, a batch per stream: whatever gathered
    while the last batch was on its way. Until acknowledged, an entry would be sent
    again."""

    def __init__(self, commands: Commands, group: str) -> None:
        self.group = group
        self._ack = commands.register_script(_ACK)
        self._remember = commands.register_script(_REMEMBER)
        self._due: dict[str, list[bytes]] = defaultdict(list)
        self._notes: dict[str, dict[str, str]] = defaultdict(dict)  # slot's tag: key: value
        self._sending: set[bytes] = set()  # on their way to Redis
        self._wake = asyncio.Event()

    def add(self, stream: str, entry_id: bytes) -> None:
        self._due[stream].append(entry_id)
        self._wake.set()

    def remember(self, key: str, value: str) -> None:
        """Keep `value` under `key` (storage/keys.sent_key) for SENT_NEWS_TTL_S."""
        self._notes[key.partition("}")[0]][key] = value
        self._wake.set()

    def holds(self, stream: str, entry_id: bytes) -> bool:
        """Sent, and not yet acknowledged in Redis."""
        return entry_id in self._sending or entry_id in self._due.get(stream, ())

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(0.5)  # Redis is down: try again in a while
                self._wake.set()

    async def flush(self) -> bool:
        """Send what is due; False if some of it must wait for the next try."""
        if not self._notes:
            return await self._flush_acks()
        # Beside the acknowledgements, not after: down a pipelined connection they
        # go in the same write, so keeping the news costs no round trip.
        kept, acked = await asyncio.gather(self._flush_notes(), self._flush_acks())
        return kept and acked

    async def _flush_notes(self) -> bool:
        notes, self._notes = self._notes, defaultdict(dict)
        kept = await asyncio.gather(*(self._keep(slot, pairs) for slot, pairs in notes.items()))
        return all(kept)

    async def _keep(self, slot: str, pairs: dict[str, str]) -> bool:
        try:
            await self._remember(keys=list(pairs), args=[SENT_NEWS_TTL_S, *pairs.values()])
        except BaseException as exc:  # kept for the next try, even when cancelled
            if isinstance(exc, ResponseError):  # refused (out of memory?): not again
                log.error("sender_error", error="ResponseError", during="remember")
                return True
            self._notes[slot] = pairs | self._notes[slot]
            if not isinstance(exc, Exception):
                raise
            log.error("sender_error", error=type(exc).__name__, during="remember")
            return False
        return True

    async def _flush_acks(self) -> bool:
        batches, self._due = self._due, defaultdict(list)
        failed = False
        for stream, ids in batches.items():
            self._sending.update(ids)
            try:
                await self._ack(keys=[stream], args=[self.group, *ids])
            except BaseException as exc:  # kept for the next try, even when cancelled
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    continue  # Redis restarted empty: nothing is left to acknowledge
                self._due[stream].extend(ids)
                if not isinstance(exc, Exception):
                    raise
                log.error("sender_error", error=type(exc).__name__, during="ack")
                failed = True
            finally:
                self._sending.difference_update(ids)
        return not failed
