"""Turn a decoded Cloud API webhook payload into typed updates.

Shape: {"object": "whatsapp_business_account", "entry": [{"id": ..., "changes":
[{"field": "messages", "value": {"metadata": {"phone_number_id": ...},
"contacts": [...], "messages": [...], "statuses": [...], "errors": [...]}}]}]}.

The sender (see `identity.py`): since 2026 a message carries the citizen's
business-scoped user id in `from_user_id` (the contact in `user_id`), and
`from` / `wa_id` only while WhatsApp shares the phone number; a citizen is
the phone number when one is given, else the BSUID.

`parse` never raises. A payload WhatsApp cannot fix will be redelivered for
days if the webhook fails on it, and one bad item must not cost the others
their answer: so every malformed item becomes an `Error(0, "malformed ...")`
in place and parsing goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from kmcbot.messages import (
    Choice,
    Content,
    Error,
    IdentityChange,
    Inbound,
    Location,
    Media,
    MediaKind,
    Status,
    Text,
    Update,
)
from kmcbot.whatsapp.identity import bsuid, phone_number

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


OBJECT = "whatsapp_business_account"


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a payload held: the updates, the change fields that were skipped, the
    updates past MAX_UPDATES that were dropped, and the changes (or whole payload)
    ignored as meant for another phone number id or another `object`."""

    updates: list[Update]
    ignored_fields: list[str]
    dropped: int = 0
    foreign: int = 0


def parse(
    payload: object, *, phone_number_id: str | None = None, now: datetime | None = None
) -> Parsed:
    """Every update in `payload`, in order, at most MAX_UPDATES plus an overflow marker.

    `phone_number_id`: the bot's own; a change whose `metadata.phone_number_id`
    is another is not ours (a shared app can be subscribed for several numbers)
    and is skipped. None accepts any (dev mode without a number). `now`: a
    timestamp in the future counts as now (default: the clock).
    """
    if isinstance(payload, dict) and payload.get("object", OBJECT) != OBJECT:
        # An Instagram or Page webhook sent here: not ours.
        return Parsed(updates=[], ignored_fields=[], foreign=1)
    skipped = _Skipped()
    # Lazy: parsing stops once the cap is passed.
    items = _payload(payload, skipped, phone_number_id, now or datetime.now(UTC))
    updates = list(islice(items, MAX_UPDATES + 1))
    dropped = 0
    if len(updates) > MAX_UPDATES:
        updates[MAX_UPDATES:] = [Error(code=0, title="too many updates")]
        dropped = sum(1 for _ in _count_only(payload, phone_number_id)) - MAX_UPDATES
    return Parsed(updates, skipped.fields, dropped=dropped, foreign=skipped.foreign)


@dataclass(slots=True)
class _Skipped:
    fields: list[str] = field(default_factory=list)
    foreign: int = 0


# ------------------------------------------------------------- envelope


def _values(
    payload: object, skipped: _Skipped | None, phone_number_id: str | None
) -> Iterator[object]:
    """Each change's `value` (or an Error for a malformed envelope part)."""
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
            if not isinstance(change, dict) or not isinstance(name := change.get("field"), str):
                yield _malformed("change")
                continue
            if name != "messages":
                # Other subscriptions (template status, account updates, ...) are not
                # ours to act on; the caller logs them.
                if skipped is not None:
                    skipped.fields.append(name[:MAX_LABEL])
                continue
            value = change.get("value")
            if not isinstance(value, dict):
                yield _malformed("change")
                continue
            if phone_number_id is not None and _their_number(value, phone_number_id):
                if skipped is not None:
                    skipped.foreign += 1
                continue
            yield value


def _their_number(value: dict[str, object], ours: str) -> bool:
    metadata = value.get("metadata")
    theirs = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    # Absent: older samples and some test tools leave metadata out; not a claim.
    return theirs is not None and theirs != ours


def _payload(
    payload: object, skipped: _Skipped, phone_number_id: str | None, now: datetime
) -> Iterator[Update]:
    for value in _values(payload, skipped, phone_number_id):
        if isinstance(value, Error):
            yield value
            continue
        assert isinstance(value, dict)
        contacts = _contacts(value.get("contacts"))
        for key, parse_one in _VALUE_LISTS:
            items = value.get(key)
            if items is None:  # absent or null: nothing of this kind
                continue
            if not isinstance(items, list):
                yield _malformed(key)
                continue
            for item in items:
                yield _guarded(parse_one, item, key[:-1], contacts, now)


def _count_only(payload: object, phone_number_id: str | None) -> Iterator[None]:
    """One None per update `_payload` would yield, without parsing any: to count
    what a payload past the cap held."""
    for value in _values(payload, None, phone_number_id):
        if isinstance(value, Error):
            yield None
            continue
        assert isinstance(value, dict)
        for key, _ in _VALUE_LISTS:
            items = value.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                yield None
                continue
            yield from (None for _ in items)


def _contacts(value: object) -> dict[str, str]:
    """The value's contacts as BSUID -> phone number, for the messages whose sender
    comes with a `from_user_id` and the number only in the contact (or none)."""
    pairs: dict[str, str] = {}
    for contact in value if isinstance(value, list) else ():
        if isinstance(contact, dict) and (uid := bsuid(contact.get("user_id"))) is not None:
            number = phone_number(contact.get("wa_id"))
            pairs[uid] = number or ""
    return pairs


def _guarded(
    parse_one: Callable[[object, dict[str, str], datetime], Update],
    item: object,
    what: str,
    contacts: dict[str, str],
    now: datetime,
) -> Update:
    # The item parsers check every type they touch; this is the last line of
    # defence so that a case they missed costs one item, not the payload.
    try:
        return parse_one(item, contacts, now)
    except Exception:  # noqa: BLE001 - any bug in an item parser costs that item only
        return _malformed(what)


# ---------------------------------------------------------------- items


def _message(item: object, contacts: dict[str, str], now: datetime) -> Update:
    if not isinstance(item, dict):
        return _malformed("message")
    sender = _sender(item, contacts)
    message_id = _id(item.get("id"))
    sent_at = _timestamp(item.get("timestamp"))
    kind = item.get("type")
    if sender is None or message_id is None or sent_at is None or not isinstance(kind, str):
        return _malformed("message")
    wa_id, user_id = sender
    # A clock ahead (or a forged year 9999) must not pass the staleness check
    # for ever nor move the 24-hour window: the future is now.
    sent_at = min(sent_at, now)
    if kind == "system":
        content: Content | None = _system(item.get("system"))
    else:
        content = _content(kind, item)
    if content is None:
        return _malformed(kind[:MAX_LABEL])
    return Inbound(
        wa_id=wa_id, message_id=message_id, sent_at=sent_at, content=content, user_id=user_id
    )


def _sender(item: dict[str, object], contacts: dict[str, str]) -> tuple[str, str | None] | None:
    """(the citizen's id, their BSUID if given): the phone number when WhatsApp
    shares one, else the BSUID; None if neither is a valid one, or a `from` is
    given that is no phone number ("abc", "../x": refused, not guessed at)."""
    raw_from = item.get("from")
    number = phone_number(raw_from)
    if raw_from is not None and raw_from != "" and number is None:
        return None
    user_id = bsuid(item.get("from_user_id"))
    if item.get("from_user_id") not in (None, "") and user_id is None:
        return None
    if user_id is None:
        # Only the parent id (managed businesses), or an older sender with
        # neither: the single contact of the value names them.
        user_id = bsuid(item.get("from_parent_user_id"))
    if number is None and user_id is not None:
        number = contacts.get(user_id) or None
    if number is not None:
        return number, user_id
    if user_id is not None:
        return user_id, user_id
    return None


def _system(part: object) -> Content | None:
    """`user_changed_number` (the new number in `wa_id`, maybe a new BSUID in
    `user_id`) or `user_changed_user_id` (a new BSUID only), per Meta's system
    messages webhook reference (updated Aug 2026); other system messages are
    not about who the citizen is and read as unsupported, as before."""
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    new_number = phone_number(part.get("wa_id"))
    new_user_id = bsuid(part.get("user_id"))
    if kind in ("user_changed_number", "user_changed_user_id") and (new_number or new_user_id):
        return IdentityChange(new_wa_id=new_number, new_user_id=new_user_id)
    return Media(MediaKind.UNSUPPORTED)


def _content(kind: str, item: dict[str, object]) -> Content | None:
    """The message's content, or None if its `kind` part is malformed."""
    part = item.get(kind)
    if part is None and isinstance(item.get("errors"), list):
        # WhatsApp could not deliver it whole (an interactive with code 131000
        # "Unsupported webhook payload" and no body, say): the citizen sent
        # something and is asked to try again, not met with silence.
        return Media(MediaKind.UNSUPPORTED)
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


def _status(item: object, contacts: dict[str, str], now: datetime) -> Update:
    if not isinstance(item, dict):
        return _malformed("status")
    # A reply sent to a BSUID has its status under recipient_user_id, and
    # recipient_id only while the number is shared.
    wa_id = phone_number(item.get("recipient_id")) or bsuid(item.get("recipient_user_id"))
    message_id = _id(item.get("id"))
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
    callback = item.get("biz_opaque_callback_data")
    return Status(
        wa_id=wa_id,
        message_id=message_id,
        status=status[:MAX_LABEL],
        error_codes=codes,
        callback=callback[:512] if isinstance(callback, str) else "",
    )


def _error(item: object, contacts: dict[str, str], now: datetime) -> Update:
    if not isinstance(item, dict) or (code := _code(item.get("code"))) is None:
        return _malformed("error")
    title = item.get("title")
    return Error(code=code, title=title[:MAX_LABEL] if isinstance(title, str) else "")


_VALUE_LISTS: tuple[tuple[str, Callable[[object, dict[str, str], datetime], Update]], ...] = (
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
