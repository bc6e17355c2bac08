"""One outbox entry: a turn's replies to one citizen, and the booking news they carry."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import structlog

log = structlog.get_logger()


@dataclass(slots=True)
class Entry:
    stream: str
    id: bytes
    to: str
    tag: str
    bodies: list[bytes]
    news: str
    next: int = 0  # bodies sent (or refused for good) so far
    all_accepted: bool = True
    epoch: int = 0  # of the stream's lease it was read under (Sender._epoch)


def read_entry(stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> Entry:
    try:
        bodies = [orjson.dumps(b) for b in orjson.loads(fields.get(b"bodies", b"[]"))]
    except (orjson.JSONDecodeError, TypeError):
        bodies = []  # unreadable: nothing to send, and it must not block the stream
        log.error("outbox_entry_unreadable", stream=stream)
    return Entry(
        stream,
        entry_id,
        fields.get(b"to", b"").decode(),
        fields.get(b"tag", b"").decode(),
        bodies,
        fields.get(b"news", b"").decode(),
    )
