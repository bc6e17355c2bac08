"""Sample WhatsApp Cloud API webhook payloads, as Python dicts, for any test.

Build one message with a helper (`text_message`, `button_reply`, ...), wrap
messages in `message_payload` (or statuses in `status_payload`) and, for an
HTTP test, turn the payload into a signed body with `signed_body`.

Every message helper takes the sender's `wa_id` first and has optional
`msg_id` (a fresh unique "wamid.TEST..." if omitted) and `ts` (when it was
sent: unix seconds, an aware datetime, or None for now). The shapes follow
the Cloud API webhook reference.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kmcbot.whatsapp.signature import sign

BUSINESS_NUMBER = "919800000000"  # the bot's own display number in samples
WABA_ID = "102290129340398"  # a WhatsApp Business Account id, as in Meta's samples

Timestamp = int | float | datetime | None

_ids = itertools.count(1)


def new_message_id() -> str:
    """A message id unique within this test process."""
    return f"wamid.TEST{next(_ids):012d}"


def unix(ts: Timestamp = None) -> str:
    """`ts` as WhatsApp writes a timestamp: unix seconds in a string."""
    if ts is None:
        return str(int(time.time()))
    if isinstance(ts, datetime):
        return str(int(ts.timestamp()))
    return str(int(ts))


# ------------------------------------------------------------- envelopes


def webhook(*changes: dict[str, Any]) -> dict[str, Any]:
    """The outer envelope: one entry holding `changes` (see `change`)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": list(changes)}],
    }


def change(value: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    """One change; `field` other than "messages" is e.g. "message_template_status_update"."""
    return {"field": field, "value": value}


def messages_value(phone_number_id: str = "123456", **lists: Any) -> dict[str, Any]:
    """A "messages" change value with its metadata plus `lists` (messages=, statuses=, ...)."""
    metadata = {"display_phone_number": BUSINESS_NUMBER, "phone_number_id": phone_number_id}
    return {"messaging_product": "whatsapp", "metadata": metadata, **lists}


def message_payload(
    messages: list[dict[str, Any]],
    *,
    contacts: list[dict[str, Any]] | None = None,
    phone_number_id: str = "123456",
) -> dict[str, Any]:
    """A whole webhook payload carrying `messages` from citizens.

    `contacts` defaults to one profile per distinct sender, as WhatsApp sends.
    """
    if contacts is None:
        senders = dict.fromkeys(m["from"] for m in messages if isinstance(m, dict) and "from" in m)
        contacts = [contact(wa_id) for wa_id in senders]
    value = messages_value(phone_number_id, contacts=contacts, messages=messages)
    return webhook(change(value))


def status_payload(
    statuses: list[dict[str, Any]], *, phone_number_id: str = "123456"
) -> dict[str, Any]:
    """A whole webhook payload carrying delivery `statuses` (see `status_update`)."""
    return webhook(change(messages_value(phone_number_id, statuses=statuses)))


def error_payload(
    errors: list[dict[str, Any]], *, phone_number_id: str = "123456"
) -> dict[str, Any]:
    """A whole webhook payload carrying value-level `errors` (see `value_error`)."""
    return webhook(change(messages_value(phone_number_id, errors=errors)))


def contact(wa_id: str, name: str = "Test Citizen") -> dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def signed_body(payload: object, secret: bytes) -> tuple[bytes, dict[str, str]]:
    """The raw JSON body of `payload` and the headers Meta would send with it."""
    raw = json.dumps(payload, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, raw)}
    return raw, headers


# -------------------------------------------------------------- messages


def message(
    wa_id: str, kind: str, part: Any, msg_id: str | None = None, ts: Timestamp = None
) -> dict[str, Any]:
    """Any message: `part` goes under the key `kind` (e.g. kind="text", part={"body": ...})."""
    return {
        "from": wa_id,
        "id": msg_id or new_message_id(),
        "timestamp": unix(ts),
        "type": kind,
        kind: part,
    }


def text_message(
    wa_id: str, text: str, msg_id: str | None = None, ts: Timestamp = None
) -> dict[str, Any]:
    return message(wa_id, "text", {"body": text}, msg_id, ts)


def _replying(msg: dict[str, Any], context_id: str | None) -> dict[str, Any]:
    # A tap on a button or a row answers the bot's message, which WhatsApp names.
    msg["context"] = {"from": BUSINESS_NUMBER, "id": context_id or new_message_id()}
    return msg


def button_reply(
    wa_id: str,
    button_id: str,
    title: str = "",
    msg_id: str | None = None,
    ts: Timestamp = None,
    *,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A tap on an interactive reply button."""
    part = {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}
    return _replying(message(wa_id, "interactive", part, msg_id, ts), context_id)


def list_reply(
    wa_id: str,
    row_id: str,
    title: str = "",
    description: str = "",
    msg_id: str | None = None,
    ts: Timestamp = None,
    *,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A choice of one row in an interactive list message."""
    row = {"id": row_id, "title": title}
    if description:
        row["description"] = description
    part = {"type": "list_reply", "list_reply": row}
    return _replying(message(wa_id, "interactive", part, msg_id, ts), context_id)


def template_button(
    wa_id: str,
    payload: str,
    text: str = "",
    msg_id: str | None = None,
    ts: Timestamp = None,
    *,
    context_id: str | None = None,
) -> dict[str, Any]:
    """A tap on a quick-reply button of a template message (message type "button")."""
    part = {"payload": payload, "text": text}
    return _replying(message(wa_id, "button", part, msg_id, ts), context_id)


def location_message(
    wa_id: str,
    latitude: float,
    longitude: float,
    msg_id: str | None = None,
    ts: Timestamp = None,
    *,
    name: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """A shared location; `name` and `address` come only with a picked place."""
    part: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        part["name"] = name
    if address is not None:
        part["address"] = address
    return message(wa_id, "location", part, msg_id, ts)


def media_message(
    kind: str, wa_id: str, msg_id: str | None = None, ts: Timestamp = None
) -> dict[str, Any]:
    """A message the bot cannot read as an answer.

    `kind` is image, video, audio, document, sticker, contacts, reaction,
    unsupported, or any other type name (e.g. "system", "order"), which gets a
    generic part.
    """
    return message(wa_id, kind, _media_part(kind), msg_id, ts) | _media_extra(kind)


def _media_part(kind: str) -> Any:
    if kind in ("image", "video", "audio", "document", "sticker"):
        part: dict[str, Any] = {"id": "1037543291543636", "mime_type": _MIME[kind]}
        part["sha256"] = "6yPpKqx/JSEYBW4oQ+3G5hAU7nDRlD5Af1l0vJ0Bnn0="
        if kind == "sticker":
            part["animated"] = False
        return part
    if kind == "contacts":
        return [{"name": {"formatted_name": "A Friend"}, "phones": [{"phone": "+919800000001"}]}]
    if kind == "reaction":
        return {"message_id": new_message_id(), "emoji": "\U0001f44d"}
    return {}


def _media_extra(kind: str) -> dict[str, Any]:
    if kind == "unsupported":
        # WhatsApp explains an unsupported message in a message-level errors list.
        error = {"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}
        return {"errors": [error]}
    return {}


_MIME = {
    "image": "image/jpeg",
    "video": "video/mp4",
    "audio": "audio/ogg; codecs=opus",
    "document": "application/pdf",
    "sticker": "image/webp",
}


# ------------------------------------------------------- statuses, errors


def status_update(
    wa_id: str,
    msg_id: str,
    status: str = "delivered",
    ts: Timestamp = None,
    *,
    error_codes: Iterable[int] = (),
) -> dict[str, Any]:
    """The delivery status of a message the bot sent to `wa_id`."""
    item: dict[str, Any] = {
        "id": msg_id,
        "status": status,
        "timestamp": unix(ts),
        "recipient_id": wa_id,
    }
    errors = [value_error(code, "Message failed") for code in error_codes]
    if errors:
        item["errors"] = errors
    return item


def value_error(code: int, title: str) -> dict[str, Any]:
    """An error object, as in `value.errors[]` or `statuses[].errors[]`."""
    return {"code": code, "title": title, "message": title, "error_data": {"details": title}}
