"""An outbox entry, the one owner of its fields: a turn's replies to one citizen
and the booking news they carry.

The session commit (storage/sessions.py) and the relay write entries, the
sender reads them; all through OutboxEntry. Each reply is one Cloud API body,
serialised once by whoever made it and carried as it is, one field per body
("b0", "b1", ...), so no one parses and dumps it again on the way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

# (booking reference, kind): news a reply announces, marked relayed once WhatsApp
# accepted it (see relay.py).
News = tuple[str, str]


class UnreadableEntry(ValueError):
    """An entry whose fields this version cannot read."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    to: str  # the WhatsApp number
    tag: str  # its keyed hash: for log lines
    bodies: tuple[bytes, ...]  # Cloud API bodies, each JSON already, sent in this order
    news: tuple[News, ...] = ()

    def fields(self) -> dict[str, str | bytes]:
        fields: dict[str, str | bytes] = {"to": self.to, "tag": self.tag}
        if self.news:
            fields["news"] = ";".join(f"{reference}:{kind}" for reference, kind in self.news)
        for n, body in enumerate(self.bodies):
            fields[f"b{n}"] = body
        return fields

    def flat(self) -> list[str | bytes]:
        """The fields as XADD takes them: name, value, name, value, ..."""
        return [item for pair in self.fields().items() for item in pair]

    @classmethod
    def decode(cls, fields: Mapping[bytes, bytes]) -> OutboxEntry:
        try:
            to = fields[b"to"].decode()
            tag = fields.get(b"tag", b"").decode()
            news = tuple(_news(fields.get(b"news", b"").decode()))
        except (KeyError, UnicodeDecodeError) as exc:
            raise UnreadableEntry(type(exc).__name__) from exc
        bodies = tuple(_bodies(fields))
        if not to or not bodies:
            raise UnreadableEntry("no number or no bodies")
        return cls(to, tag, bodies, news)


def _news(field: str) -> Iterable[News]:
    for item in field.split(";"):
        reference, _, kind = item.partition(":")
        if reference and kind:
            yield reference, kind


def _bodies(fields: Mapping[bytes, bytes]) -> Iterable[bytes]:
    if b"bodies" in fields:
        # Written by a version before the per-body fields (a rolling deploy): one
        # JSON array of bodies.
        try:
            array = orjson.loads(fields[b"bodies"])
        except orjson.JSONDecodeError as exc:
            raise UnreadableEntry("bodies") from exc
        if not isinstance(array, list) or not all(isinstance(b, dict) for b in array):
            raise UnreadableEntry("bodies")
        yield from (orjson.dumps(body) for body in array)
        return
    n = 0
    while (body := fields.get(f"b{n}".encode())) is not None:
        yield body
        n += 1


def written_at(entry_id: bytes | str) -> float:
    """When an entry was appended (Unix seconds), read from its stream id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0]) / 1000
