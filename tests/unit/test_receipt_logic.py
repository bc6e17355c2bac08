"""Read receipts (outbox/receipts.py) as logic: which receipt a message gets, and that
each takes a token of the shared send rate (the transport and the limiter are
recorders here; tests/e2e/test_receipts.py runs the real ones)."""

from __future__ import annotations

import asyncio

import orjson

from kmcbot.outbox.receipts import BACKLOG_FRESH_S, Receipts, receipt
from kmcbot.whatsapp.graph import SendResult, Sent


class Recorder:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.tokens = 0

    async def send(self, to: str, body: bytes) -> SendResult:
        self.sent.append(body)
        return SendResult(Sent.OK)

    async def acquire(self) -> None:
        self.tokens += 1


async def backlog(seconds: float) -> float:
    return seconds


def receipts(rec: Recorder, backlog_s: float = 0.0) -> Receipts:
    return Receipts(rec, rec, lambda: backlog(backlog_s))  # type: ignore[arg-type]


async def test_a_quick_reply_gets_a_plain_receipt_and_takes_one_token() -> None:
    rec = Recorder()
    r = receipts(rec)
    for n in range(3):
        watch = r.watch(f"wamid.{n}", "919800000001")
        assert watch is not None
        watch.done(True)
    await asyncio.gather(*r._tasks)
    assert rec.tokens == 3 and len(rec.sent) == 3
    assert b'"typing_indicator"' not in b"".join(rec.sent)


async def test_a_reply_stuck_behind_the_backlog_gets_typing() -> None:
    rec = Recorder()
    r = receipts(rec, backlog_s=5.0)
    watch = r.watch("wamid.B", "919800000001")
    assert watch is not None
    watch.done(True)
    await asyncio.gather(*r._tasks)
    assert rec.sent == [orjson.dumps(receipt("wamid.B", typing=True))]


async def test_a_duplicate_or_a_503_gets_no_receipt() -> None:
    rec = Recorder()
    r = receipts(rec)
    watch = r.watch("wamid.D", "919800000001")
    assert watch is not None
    watch.done(None)
    await asyncio.gather(*r._tasks)
    assert rec.sent == [] and rec.tokens == 0


async def test_the_backlog_is_read_once_per_interval_not_per_message() -> None:
    rec = Recorder()
    reads: list[int] = []

    async def counted() -> float:
        reads.append(1)
        return 5.0

    r = Receipts(rec, rec, counted)  # type: ignore[arg-type]
    for n in range(50):
        watch = r.watch(f"wamid.{n}", "919800000001")
        assert watch is not None
        watch.done(True)
    await asyncio.gather(*r._tasks)
    assert len(reads) == 1  # 50 messages within BACKLOG_FRESH_S: one XLEN round
    assert all(b'"typing_indicator"' in body for body in rec.sent)  # each saw the backlog
    r._backlog_at -= BACKLOG_FRESH_S  # the interval has passed
    watch = r.watch("wamid.late", "919800000001")
    assert watch is not None
    watch.done(True)
    await asyncio.gather(*r._tasks)
    assert len(reads) == 2
