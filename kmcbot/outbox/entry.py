"""An outbox entry, the one owner of its fields: a turn's replies to one citizen
and the booking news they carry.

The session commit (storage/sessions.py) and the relay write entries, the
sender reads them; all through OutboxEntry. Each reply is one Cloud API body,
serialised once by whoever made it and carried as it is: the entry's "bodies"
field is them joined into one JSON array, and "cuts" says where each one ends,
so the sender slices them out again without parsing. (A sender of the version
before reads "bodies" as the JSON array it always was: a rolling deploy loses
nothing either way.)

`cid` is the correlation id (observe/events.py) of the inbound message the
replies answer, or `n<id>` for a notice relayed from `notifications` row <id>:
it goes on the sender's lines, and each body carries it, with the news, as
`biz_opaque_callback_data` (callback_data), which WhatsApp gives back in the
status webhooks of that message.
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
    cid: str = ""  # the correlation id, for log lines

    def fields(self) -> dict[str, str | bytes]:
        fields: dict[str, str | bytes] = {"to": self.to, "tag": self.tag}
        if self.cid:
            fields["cid"] = self.cid
        cuts, end = [], 0
        for body in self.bodies:
            end += len(body) + 1  # the "[" or "," before it
            cuts.append(str(end))
        fields["bodies"] = b"[" + b",".join(self.bodies) + b"]"
        fields["cuts"] = ",".join(cuts)
        if self.news:
            fields["news"] = ";".join(f"{reference}:{kind}" for reference, kind in self.news)
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
            cid = fields.get(b"cid", b"").decode()
            array = fields[b"bodies"]
        except (KeyError, UnicodeDecodeError) as exc:
            raise UnreadableEntry(type(exc).__name__) from exc
        cuts = fields.get(b"cuts")
        bodies = tuple(_sliced(array, cuts) if cuts is not None else _parsed(array))
        if not to or not bodies:
            raise UnreadableEntry("no number or no bodies")
        return cls(to, tag, bodies, news, cid)


def callback_data(cid: str, news: Iterable[News]) -> str:
    """What a body gives WhatsApp to hand back in its status webhooks: the
    correlation id, and the booking news the message carries ("cid|REF:kind;...")."""
    joined = ";".join(f"{reference}:{kind}" for reference, kind in news)
    return f"{cid}|{joined}" if joined else cid


def read_callback(data: str) -> tuple[str, tuple[News, ...]]:
    """callback_data's string back into the correlation id and the news."""
    cid, _, joined = data.partition("|")
    return cid[:64], tuple(_news(joined[:512]))


def _news(field: str) -> Iterable[News]:
    for item in field.split(";"):
        reference, _, kind = item.partition(":")
        if reference and kind:
            yield reference, kind


def _sliced(array: bytes, cuts: bytes) -> Iterable[bytes]:
    """The bodies out of their JSON array, by where each ends: no parsing."""
    if not cuts:
        return  # no bodies
    try:
        ends = [int(cut) for cut in cuts.split(b",")]
    except ValueError as exc:
        raise UnreadableEntry("cuts") from exc
    start = 1
    for end in ends:
        if not start < end < len(array) or array[end] not in b",]":
            raise UnreadableEntry("cuts")
        yield array[start:end]
        start = end + 1
    if start != len(array):
        raise UnreadableEntry("cuts")


def _parsed(array: bytes) -> Iterable[bytes]:
    """Written by the version before "cuts" (a rolling deploy): parsed, then each
    body serialised again."""
    try:
        bodies = orjson.loads(array)
    except orjson.JSONDecodeError as exc:
        raise UnreadableEntry("bodies") from exc
    if not isinstance(bodies, list) or not all(isinstance(b, dict) for b in bodies):
        raise UnreadableEntry("bodies")
    yield from (orjson.dumps(body) for body in bodies)


def written_at(entry_id: bytes | str) -> float:
    """When an entry was appended (Unix seconds), read from its stream id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-")[0]) / 1000
