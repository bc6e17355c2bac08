"""Build inbound webhook payloads as WhatsApp would send them.

For the terminal chat, the load generator and tests: they all play the
citizen's side through the real, signed webhook.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from kmcbot.messages import Choice, Content, Location, Media, Text
from kmcbot.whatsapp.identity import is_bsuid

_counter = itertools.count(1)
_run = os.urandom(4).hex().upper()


def new_message_id() -> str:
    return f"wamid.SIM{_run}{next(_counter):010d}"


def message(
    wa_id: str,
    content: Content,
    *,
    msg_id: str | None = None,
    ts: float | None = None,
    via_list: bool = False,
    user_id: str | None = None,
) -> dict[str, Any]:
    """One entry of `value.messages`; a Choice is a button reply, or a list reply with via_list.

    `wa_id` is a phone number (sent in `from`) or, for a citizen who hides their
    number behind a username, a business-scoped user id (sent in `from_user_id`
    with no `from`, as WhatsApp does since 2026); `user_id` adds the BSUID of a
    citizen whose number is shared.
    """
    sender = {"from_user_id": wa_id} if is_bsuid(wa_id) else {"from": wa_id}
    if user_id is not None:
        sender["from_user_id"] = user_id
    base: dict[str, Any] = {
        **sender,
        "id": msg_id or new_message_id(),
        "timestamp": str(int(time.time() if ts is None else ts)),
    }
    match content:
        case Text(body=body):
            return {**base, "type": "text", "text": {"body": body}}
        case Choice(id=choice_id, title=title):
            kind = "list_reply" if via_list else "button_reply"
            return {
                **base,
                "type": "interactive",
                "interactive": {"type": kind, kind: {"id": choice_id, "title": title}},
            }
        case Location(latitude=lat, longitude=lon):
            return {**base, "type": "location", "location": {"latitude": lat, "longitude": lon}}
        case Media(kind=kind):
            return {**base, "type": str(kind), str(kind): {"id": "media-1"}}
    raise TypeError(type(content).__name__)


def payload(
    messages: list[dict[str, Any]], *, phone_number_id: str = "dev", profile_name: str = "Citizen"
) -> dict[str, Any]:
    contacts = [_contact(m, profile_name) for m in messages[:1]]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "910000000000", "phone_number_id": phone_number_id},
        "contacts": contacts,
        "messages": messages,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}],
    }


def _contact(message: dict[str, Any], profile_name: str) -> dict[str, Any]:
    """The value's contact for a message: `wa_id` while the number is shared,
    `user_id` (and a `username` in the profile) when a BSUID is given."""
    contact: dict[str, Any] = {"profile": {"name": profile_name}}
    if "from" in message:
        contact["wa_id"] = message["from"]
    if "from_user_id" in message:
        contact["user_id"] = message["from_user_id"]
        if "from" not in message:
            contact["profile"]["username"] = f"@{profile_name.lower().replace(' ', '.')}"
    return contact
