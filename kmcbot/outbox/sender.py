"""The outbox: Redis Streams of Cloud API bodies, and the sender that drains them.

The pipeline appends a turn's replies, as one entry, in the same Lua script
that saves the session (one stream per shard; see sessions.py). The sender
reads each stream through a consumer group, one process at a time per stream
(a lease in Redis, so a citizen's replies go out in order however many
processes run). Another process takes a stream over within LEASE_MS of its
holder dying or freezing, and first claims and sends what the holder had read
and not acknowledged; a holder that wakes past its lease sends nothing more.
The sender keeps to the send rate shared by every process using this Redis,
sends each citizen's entries in order in one task per citizen (different
citizens concurrently, and a citizen whose sends are being retried holds up
no one else), retries rate limits and server errors with backoff, drops
permanent failures with a log line, moves an entry it cannot read to the
stream's dead letters (`<stream>:dead`), and acknowledges an entry only after
WhatsApp accepted (or refused for good) each of its bodies. Acknowledgements
go to Redis in batches. Entries whose sends were given up after the retries
are claimed again after a minute (KMCBOT_CLAIM_IDLE_MS). Delivery is at least
once: a send under way when its lease ends, or when the sender stops, may be
sent again by the next holder. A ticket's check-in QR image is made and
uploaded just before it is sent (images.py), within the same rate and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ResponseError

from kmcbot import metrics
from kmcbot.observe import events
from kmcbot.outbox.acks import Acks
from kmcbot.outbox.entry import News, OutboxEntry, UnreadableEntry, callback_data
from kmcbot.outbox.images import QrImages, wants_qr
from kmcbot.outbox.rate import SharedRateLimiter
from kmcbot.storage.keys import dead_letters_of
from kmcbot.storage.scripts import lua
from kmcbot.storage.sessions import Commands
from kmcbot.whatsapp.graph import (
    SendResult,
    Sent,
    Transport,
)

log = structlog.get_logger()

# Entries as redis-py reads them from a stream: (id, fields).
Entries = list[tuple[bytes, dict[bytes, bytes]]]

GROUP = "senders"
CLAIM_IDLE_MS = 60_000
LEASE_MS = 10_000
MAX_TRIES_IN_A_ROW = 6
DEAD_LETTERS_KEPT = 10_000  # per stream; the oldest go first


_LEASE = lua("lease")
_ALIVE = lua("alive")
_GONE = lua("gone")
_RELEASE = lua("release")


@dataclass(slots=True, eq=False)
class InHand:
    """An entry read from its stream and not yet acknowledged."""

    stream: str
    id: bytes
    entry: OutboxEntry
    epoch: int  # of the stream's lease it was read under (Sender._epoch)
    next: int = 0  # bodies sent (or refused for good) so far
    all_accepted: bool = True


class Sender:
    """Drains `streams`; `redis` for the blocking reads, `commands` (default: `redis`)
    for the acknowledgements, e.g. a pipelined connection."""

    def __init__(
        self,
        redis: aioredis.Redis,
        streams: Sequence[str],
        transport: Transport,
        limiter: SharedRateLimiter,
        *,
        commands: Commands | None = None,
        batch: int = 200,
        consumer: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        on_news: Callable[[tuple[News, ...]], Awaitable[None]] | None = None,
        senders_key: str | None = None,
        images: QrImages | None = None,
        sent_key: Callable[[str], str] | None = None,
    ) -> None:
        """With `senders_key`, each sender reads its fair share of the streams
        (streams / senders alive, rounded up); without, as many as it can lease."""
        self.redis = redis
        self.senders_key = senders_key
        self._senders_alive = 1
        self.streams = list(streams)
        self.transport = transport
        self.limiter = limiter
        self.batch = batch
        self.max_in_flight = 2 * batch  # entries read and not yet done, per process
        self.claim_idle_ms = claim_idle_ms
        self.on_news = on_news  # told of the booking news an entry carried, once it is sent
        self.images = images  # makes and uploads check-in QR images (None: they are dropped)
        # Names where a message with booking news keeps its callback data by its
        # wamid (storage/keys.sent_key), for statuses that come without it.
        self.sent_key = sent_key
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.sent = 0
        self.failed: dict[int | None, int] = defaultdict(int)
        self._lease = (commands or redis).register_script(_LEASE)
        self._release = (commands or redis).register_script(_RELEASE)
        self._alive = (commands or redis).register_script(_ALIVE)
        self._gone = (commands or redis).register_script(_GONE)
        self.reading: set[str] = set()  # the streams whose lease this sender holds
        # Until when (this process's clock) each of those leases surely holds. A
        # process frozen past it (a paused VM, SIGSTOP) must not send on when it
        # wakes: another sender may be sending the same citizens' later replies.
        self._lease_until: dict[str, float] = {}
        # Bumped each time this sender takes a stream or lets it go: an entry read
        # under an earlier lease (its chain in a retry's backoff meanwhile) is not
        # sent under a later one; another holder may have sent it since.
        self._epoch: dict[str, int] = defaultdict(int)
        self._reclaim: set[str] = set()  # streams with entries given up for the lease
        self._handing_over: dict[str, float] = {}  # stream: since when (see _hold)
        self._chains: dict[str, deque[InHand]] = {}  # per citizen, while they have entries
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[bytes] = set()
        self._room = asyncio.Event()
        self.acks = Acks(commands or redis, GROUP)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Stop reading, finish the entries in hand, then return from run()."""
        self._stopping.set()

    async def run(self) -> None:
        acks = asyncio.create_task(self.acks.run())
        alive = asyncio.create_task(self._say_alive()) if self.senders_key else None
        try:
            await asyncio.gather(*(self._read(stream) for stream in self.streams))
            while self._tasks:  # the entries in hand
                await asyncio.wait(set(self._tasks))
        finally:
            for task in (acks, alive):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            try:
                # What is left; if Redis fails now, those entries are sent again later.
                await self.acks.flush()
            finally:
                # Only now, after the entries in hand: the next holder of a stream
                # sends after them, not beside them. The others take the streams
                # over at once; with Redis unreachable, when the leases run out.
                leases = list(self.reading)
                for stream in leases:
                    self._let_go(stream)
                goodbyes = [
                    self._release(keys=[f"{stream}:sender"], args=[self.consumer])
                    for stream in leases
                ]
                if self.senders_key:
                    goodbyes.append(self._gone(keys=[self.senders_key], args=[self.consumer]))
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(2):
                        await asyncio.gather(*goodbyes, return_exceptions=True)

    async def _read(self, stream: str) -> None:
        grouped = False
        last_claim = 0.0
        claim_every = min(15.0, self.claim_idle_ms / 2000)
        # Stopped by a flag, not by cancelling: redis-py can hang when a blocking
        # XREADGROUP is cancelled, and a flag lets the entries in hand finish.
        leased_at = 0.0
        take_over = True  # claim what earlier holders left, before reading on
        while not self._stopping.is_set():
            try:
                if time.monotonic() - leased_at > LEASE_MS / 3000:
                    # Not held, or held and lapsed by our own clock (the renewal came
                    # late): the entries in hand may have been given up.
                    lapsed = time.monotonic() >= self._lease_until.get(stream, 0.0)
                    if not await self._hold(stream):  # another process reads it
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._stopping.wait(), 1)
                        continue
                    leased_at = time.monotonic()
                    take_over = take_over or lapsed
                if stream in self._handing_over:  # no more reads: see _hold
                    leased_at = 0.0  # look again soon
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopping.wait(), 0.1)
                    continue
                if stream in self._reclaim:  # given up for the lease: take them back
                    self._reclaim.discard(stream)
                    take_over = True
                if not grouped:  # inside the try: Redis may be down when we start
                    await self._ensure_group(stream)
                    grouped = True
                if take_over:
                    self._dispatch(stream, await self._claim_all(stream))
                    take_over = False
                if len(self._in_flight) >= self.max_in_flight:  # enough in hand: wait
                    self._room.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._room.wait(), 0.25)
                    continue
                if time.monotonic() - last_claim > claim_every:
                    last_claim = time.monotonic()
                    self._dispatch(stream, await self._claim_stale(stream))
                read = await self.redis.xreadgroup(
                    GROUP, self.consumer, {stream: ">"}, count=self.batch, block=250
                )
                # RESP2, bytes (decode_responses off): a list of (stream, entries).
                for _, entries in cast(list[tuple[bytes, Entries]], read):
                    self._dispatch(stream, entries)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis restarted empty: make the group again
                    grouped = False
                    continue
                log.error("sender_error", error=str(exc))
                await asyncio.sleep(1)
            except Exception as exc:  # noqa: BLE001 - the sender must outlive Redis outages
                log.error("sender_error", error=type(exc).__name__)
                await asyncio.sleep(1)

    async def _hold(self, stream: str) -> bool:
        """Take or renew the stream's lease, within this sender's fair share."""
        share = -(-len(self.streams) // self._senders_alive)
        if stream in self.reading:
            keeping = len(self.reading) - len(self._handing_over)
            if stream in self._handing_over:
                since = self._handing_over[stream]
                if keeping < share:  # fewer senders again: keep it after all
                    del self._handing_over[stream]
                elif not self._in_hand(stream) or time.monotonic() - since > LEASE_MS / 1000:
                    del self._handing_over[stream]
                    self._let_go(stream)
                    await self._release(keys=[f"{stream}:sender"], args=[self.consumer])
                    return False
            elif keeping > share:
                # More senders now: leave this stream to them, once its entries in
                # hand are out (the next holder would send them again), reading
                # none meanwhile; at most a lease's time.
                self._handing_over[stream] = time.monotonic()
        elif len(self.reading) >= share:
            return False
        asked = time.monotonic()
        if not await self._lease(keys=[f"{stream}:sender"], args=[self.consumer, LEASE_MS]):
            self._let_go(stream)
            return False
        if stream not in self.reading:
            self._epoch[stream] += 1
            self.reading.add(stream)
        self._lease_until[stream] = asked + LEASE_MS / 1000
        return True

    def _in_hand(self, stream: str) -> bool:
        return any(e.stream == stream for chain in self._chains.values() for e in chain)

    def _let_go(self, stream: str) -> None:
        """No more sends from `stream`: its entries in hand stay pending, and the
        next holder claims them before anything newer (_claim_all)."""
        if stream in self.reading:
            self._epoch[stream] += 1
        self.reading.discard(stream)
        self._lease_until.pop(stream, None)

    async def _say_alive(self) -> None:
        assert self.senders_key is not None
        while True:
            try:
                alive = await self._alive(keys=[self.senders_key], args=[self.consumer, LEASE_MS])
                self._senders_alive = max(1, int(alive))
            except Exception as exc:  # noqa: BLE001 - keep the last count meanwhile
                log.warning("sender_error", error=type(exc).__name__, during="alive")
            await asyncio.sleep(LEASE_MS / 3000)

    async def _ensure_group(self, stream: str) -> None:
        try:
            await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _claim_all(self, stream: str) -> Entries:
        """On taking a stream's lease: every entry read by an earlier holder and not
        acknowledged, oldest first, so that a citizen's replies keep their order.
        (That holder sends no more of them: see _lease_until.)"""
        claimed: Entries = []
        cursor: bytes | str = "0-0"
        while True:
            cursor, entries, *_ = await self.redis.xautoclaim(
                stream, GROUP, self.consumer, min_idle_time=0, start_id=cursor, count=self.batch
            )
            claimed += [e for e in entries if e[1] and not self._have(stream, e[0])]
            if cursor in (b"0-0", "0-0"):
                return claimed

    async def _claim_stale(self, stream: str) -> Entries:
        result = await self.redis.xautoclaim(
            stream, GROUP, self.consumer, min_idle_time=self.claim_idle_ms, count=self.batch
        )
        # Deleted entries come back empty; our own slow ones are still in hand.
        return [e for e in result[1] if e[1] and not self._have(stream, e[0])]

    def _have(self, stream: str, entry_id: bytes) -> bool:
        """In hand, or sent and its acknowledgement not yet in Redis: claimed again,
        it would be sent twice."""
        return entry_id in self._in_flight or self.acks.holds(stream, entry_id)

    def _dispatch(self, stream: str, entries: Entries) -> None:
        """Queue each entry behind its citizen's earlier ones; start a task per new citizen."""
        for entry_id, fields in entries:
            self._in_flight.add(entry_id)
            try:
                entry = OutboxEntry.decode(fields)
            except UnreadableEntry as exc:
                self._start(self._bury(stream, entry_id, fields, str(exc)))
                continue
            hand = InHand(stream, entry_id, entry, self._epoch[stream])
            chain = self._chains.get(entry.to)
            if chain is not None:
                chain.append(hand)
                continue
            self._chains[entry.to] = deque([hand])
            self._start(self._send_chain(entry.to))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bury(
        self, stream: str, entry_id: bytes, fields: dict[bytes, bytes], why: str
    ) -> None:
        """An entry this sender cannot read: nothing is sent and its news is not marked
        (the relay sends it later); kept, as it was, in the stream's dead letters for
        someone to look at, and acknowledged so that it does not block the stream."""
        log.error("outbox_entry_unreadable", stream=stream, entry=entry_id.decode(), reason=why)
        metrics.DEAD_LETTERS.inc()
        try:
            await self.redis.xadd(dead_letters_of(stream), fields, maxlen=DEAD_LETTERS_KEPT)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - left pending: claimed and buried again later
            log.error("sender_error", error=type(exc).__name__, during="dead_letter")
            self._in_flight.discard(entry_id)
            return
        self._in_flight.discard(entry_id)
        self.acks.add(stream, entry_id)

    async def _send_chain(self, to: str) -> None:
        chain = self._chains[to]
        try:
            while chain:
                if not await self._deliver(chain[0]):
                    # Given up for now: this entry and the citizen's later ones stay
                    # pending, in order, and are claimed again later.
                    self._in_flight.difference_update(e.id for e in chain)
                    break
                chain.popleft()
        except Exception:  # its pending entries are claimed again later
            log.exception("sender_chain_failed")
            self._in_flight.difference_update(e.id for e in chain)
        finally:
            del self._chains[to]
            self._room.set()

    async def _deliver(self, hand: InHand) -> bool:
        bodies = hand.entry.bodies
        while hand.next < len(bodies):
            result = await self._send_one(hand, bodies[hand.next])
            if result is None:
                return False
            # The news is the ticket's text: a QR image WhatsApp refused (the window
            # closed while it waited, say) does not make the relay send it again.
            if not wants_qr(bodies[hand.next]):
                hand.all_accepted &= result.outcome is Sent.OK
            hand.next += 1
        if hand.all_accepted:
            entry = hand.entry
            events.sent(cid=entry.cid, user=entry.tag, news=entry.news, bodies=len(bodies))
            await self._news_sent(entry)
        self._in_flight.discard(hand.id)
        self.acks.add(hand.stream, hand.id)
        return True

    async def _send_one(self, hand: InHand, body: bytes) -> SendResult | None:
        """Sent or refused for good (the result), or still failing after the retries (None)."""
        for attempt in range(MAX_TRIES_IN_A_ROW):
            await self.limiter.acquire()
            if hand.epoch != self._epoch[hand.stream] or time.monotonic() >= (
                self._lease_until.get(hand.stream, 0.0)
            ):
                # The lease may be another's now: left pending, for that holder or,
                # if it is still ours, to claim back before anything newer. (A send
                # already under way when the lease ends is not called back.)
                self._reclaim.add(hand.stream)
                return None
            result = await self._post(hand.entry.to, body)
            if result.outcome is Sent.RETRY:
                log.warning(
                    "send_retry",
                    user=hand.entry.tag,
                    cid=hand.entry.cid,
                    code=result.code,
                    status=result.status,
                    attempt=attempt + 1,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), min(30.0, 0.5 * 2**attempt))
                if self._stopping.is_set():
                    # Not retried through a stop (that would hold it up for half a
                    # minute): left pending, for whichever sender reads next.
                    return None
                continue
            if result.outcome is Sent.OK:
                self.sent += 1
                metrics.REPLIES_SENT.inc()
                entry = hand.entry
                # Kept for statuses without callback data: only a message with news (the
                # ticket's text, not its QR image, as in _deliver), with the next batch
                # of acknowledgements (no round trip of its own).
                if entry.news and result.message_id and self.sent_key and not wants_qr(body):
                    value = callback_data(entry.cid, entry.news)
                    self.acks.remember(self.sent_key(result.message_id), value)
            else:
                self.failed[result.code] += 1
                metrics.REPLIES_FAILED.labels(str(result.code)).inc()
                log.error(
                    "send_failed",
                    user=hand.entry.tag,
                    cid=hand.entry.cid,
                    code=result.code,
                    status=result.status,
                )
            return result
        if wants_qr(body):
            # The ticket's text went before it; left pending, the entry would be
            # claimed again from its first body and the ticket sent again and again
            # while uploads fail. The image is optional: given up, like a refused one.
            log.warning("qr_given_up", user=hand.entry.tag, cid=hand.entry.cid)
            return SendResult(Sent.PERMANENT)
        return None

    async def _post(self, to: str, body: bytes) -> SendResult:
        if not wants_qr(body):
            return await self.transport.send(to, body)
        if self.images is None:  # a sender without images: the ticket goes alone
            return SendResult(Sent.PERMANENT)
        ready = await self.images.ready(body)  # made and uploaded (once per booking)
        if isinstance(ready, SendResult):
            return ready
        return await self.transport.send(to, ready)

    async def _news_sent(self, entry: OutboxEntry) -> None:
        if not entry.news or self.on_news is None:
            return
        try:
            await self.on_news(entry.news)
        except Exception:  # noqa: BLE001 - unmarked news is relayed again later: a duplicate
            log.warning("news_mark_failed", user=entry.tag)
