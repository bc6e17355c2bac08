"""Turn a decoded Cloud API webhook payload into typed updates.

Shape: {"object": "whatsapp_business_account", "entry": [{"id": ..., "changes":
[{"field": "messages", "value": {"messages": [...], "statuses": [...],
"errors": [...]}}]}]}.

`parse` never raises. A payload WhatsApp cannot fix will be redelivered for
days if the webhook fails on it, and one bad item must not cost the others
their answer: so every malformed item becomes an `Error(0, "malformed ...")`
in place and parsing goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice

from kmcbot.messages import (
    Choice,
    Content,
    Error,
    Inbound,
    Location,
    Media,
    MediaKind,
    Status,
    Text,
    Update,
)

MAX_UPDATES = 1000  # the most WhatsApp puts in one payload
MAX_TEXT = 4096  # WhatsApp's own limit on a text body
# Ids end up in Redis keys, database rows and logs: refuse absurd ones.
MAX_ID = 256
# Titles and field names end up in logs: keep them short.
MAX_LABEL = 256
# Unix seconds of 9999-12-31T23:59:59Z, the last instant datetime can hold.
MAX_TIMESTAMP = 253_402_300_799
# Error codes must survive JSON logging (orjson refuses ints past 64 bits).
MAX_CODE = 2**53

_MEDIA_KINDS = {kind.value: kind for kind in MediaKind if kind is not MediaKind.UNSUPPORTED}


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a payload held: the updates, and the change fields that were skipped."""

    updates: list[Update]
    ignored_fields: list[str]


def parse(payload: object) -> Parsed:
    """Every update in `payload`, in order, at most MAX_UPDATES plus an overflow marker."""
    ignored: list[str] = []
    # Lazy: parsing stops once the cap is passed.
    updates = list(islice(_payload(payload, ignored), MAX_UPDATES + 1))
    if len(updates) > MAX_UPDATES:
        updates[MAX_UPDATES:] = [Error(code=0, title="too many updates")]
    return Parsed(updates=updates, ignored_fields=ignored)


# ------------------------------------------------------------- envelope


def _payload(payload: object, ignored: list[str]) -> Iterator[Update]:
    entries = payload.get("entry") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        yield _malformed("payload")
        return
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            yield _malformed("entry")
            continue
        for change in changes:
            yield from _change(change, ignored)


def _change(change: object, ignored: list[str]) -> Iterator[Update]:
    if not isinstance(change, dict) or not isinstance(field := change.get("field"), str):
        yield _malformed("change")
        return
    if field != "messages":
        # Other subscriptions (template status, account updates, ...) are not
        # ours to act on; the caller logs them.
        ignored.append(field[:MAX_LABEL])
        return
    value = change.get("value")
    if not isinstance(value, dict):
        yield _malformed("change")
        return
    for key, parse_one in _VALUE_LISTS:
        items = value.get(key)
        if items is None:  # absent or null: nothing of this kind
            continue
        if not isinstance(items, list):
            yield _malformed(key)
            continue
        for item in items:
            yield _guarded(parse_one, item, key[:-1])


def _guarded(parse_one: Callable[[object], Update], item: object, what: str) -> Update:
    # The item parsers check every type they touch; this is the last line of
    # defence so that a case they missed costs one item, not the payload.
    try:
        return parse_one(item)
    except Exception:  # noqa: BLE001 - any bug in an item parser costs that item only
        return _malformed(what)


# ---------------------------------------------------------------- items


def _message(item: object) -> Update:
    if not isinstance(item, dict):
        return _malformed("message")
    wa_id, message_id = _id(item.get("from")), _id(item.get("id"))
    sent_at = _timestamp(item.get("timestamp"))
    kind = item.get("type")
    if wa_id is None or message_id is None or sent_at is None or not isinstance(kind, str):
        return _malformed("message")
    content = _content(kind, item)
    if content is None:
        return _malformed(kind[:MAX_LABEL])
    return Inbound(wa_id=wa_id, message_id=message_id, sent_at=sent_at, content=content)


def _content(kind: str, item: dict[str, object]) -> Content | None:
    """The message's content, or None if its `kind` part is malformed."""
    part = item.get(kind)
    if kind == "text":
        body = part.get("body") if isinstance(part, dict) else None
        # Truncate rather than reject: the citizen did send something.
        return Text(body[:MAX_TEXT]) if isinstance(body, str) else None
    if kind == "interactive":
        return _interactive(part)
    if kind == "button":  # a quick-reply button of a template message
        if not isinstance(part, dict):
            return None
        return _choice(part.get("payload"), part.get("text"))
    if kind == "location":
        return _location(part)
    if kind in _MEDIA_KINDS:
        # The bot cannot read media as an answer; what it holds is irrelevant.
        return Media(_MEDIA_KINDS[kind])
    # "unsupported", "system", "order", "request_welcome", future types, ...
    return Media(MediaKind.UNSUPPORTED)


def _interactive(part: object) -> Content | None:
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in ("button_reply", "list_reply"):
        reply = part.get(kind)
        if not isinstance(reply, dict):
            return None
        return _choice(reply.get("id"), reply.get("title"))
    if not isinstance(kind, str):
        return None
    return Media(MediaKind.UNSUPPORTED)  # nfm_reply (flows) and the like


def _choice(choice_id: object, title: object) -> Choice | None:
    checked_id = _id(choice_id)
    if checked_id is None:
        return None
    return Choice(id=checked_id, title=title[:MAX_TEXT] if isinstance(title, str) else "")


def _location(part: object) -> Location | None:
    if not isinstance(part, dict):
        return None
    latitude = _coordinate(part.get("latitude"), 90)
    longitude = _coordinate(part.get("longitude"), 180)
    if latitude is None or longitude is None:
        return None
    return Location(latitude=latitude, longitude=longitude)


def _status(item: object) -> Update:
    if not isinstance(item, dict):
        return _malformed("status")
    wa_id, message_id = _id(item.get("recipient_id")), _id(item.get("id"))
    status = item.get("status")
    if wa_id is None or message_id is None or not isinstance(status, str) or not status:
        return _malformed("status")
    errors = item.get("errors")
    # Lenient on purpose: a "failed" status matters more than a bad error code.
    codes = tuple(
        code
        for error in (errors if isinstance(errors, list) else ())
        if isinstance(error, dict) and (code := _code(error.get("code"))) is not None
    )
    return Status(wa_id=wa_id, message_id=message_id, status=status[:MAX_LABEL], error_codes=codes)


def _error(item: object) -> Update:
    if not isinstance(item, dict) or (code := _code(item.get("code"))) is None:
        return _malformed("error")
    title = item.get("title")
    return Error(code=code, title=title[:MAX_LABEL] if isinstance(title, str) else "")


_VALUE_LISTS: tuple[tuple[str, Callable[[object], Update]], ...] = (
    ("messages", _message),
    ("statuses", _status),
    ("errors", _error),
)


# --------------------------------------------------------------- fields


def _malformed(what: str) -> Error:
    return Error(code=0, title=f"malformed {what}")


def _id(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID else None


def _coordinate(value: object, bound: int) -> float | None:
    # bool is an int subclass, and true/false is no coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    # Compare before converting: float() of a huge int raises OverflowError.
    # NaN fails the comparison and infinities are out of range.
    if not -bound <= value <= bound:
        return None
    return float(value)


def _code(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < MAX_CODE:
        return value
    return None


def _timestamp(value: object) -> datetime | None:
    """Unix seconds: a digit string as WhatsApp sends it (an int is accepted too)."""
    if isinstance(value, str):
        # isascii: int() would also accept Bengali or Devanagari digits.
        if not (value.isascii() and value.isdigit() and len(value) <= 12):
            return None
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TIMESTAMP:
        return None
    return datetime.fromtimestamp(value, tz=UTC)
