"""Turn a Reply into the JSON body of Cloud API `POST /{phone_number_id}/messages`.

`limits_violations` lists the WhatsApp limits a reply breaks; WhatsApp would
reject such a message with a 400, so tests run it on every reply the bot
can send.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, assert_never

from kmcbot.messages import Ask, AskLocation, CheckinQr, Pick, Reply, Row, Say, Template
from kmcbot.whatsapp.identity import address

# WhatsApp's limits, in characters (len() of the Python str) or items.
TEXT_BODY = 4096
INTERACTIVE_BODY = 1024
BUTTONS = 3
BUTTON_TITLE = 20
LIST_ROWS = 10
ROW_TITLE = 24
ROW_DESCRIPTION = 72
LIST_BUTTON = 20
SECTION_TITLE = 24
REPLY_ID = 200
TEMPLATE_NAME = 512
TEMPLATE_PARAM = 1024
CAPTION = 1024
# The field of an image message that asks the sender for a check-in QR: it makes
# the image and uploads it, puts the media id in "image" and drops this field
# (outbox/images.py). Never sent to WhatsApp.
QR_FIELD = "kmcbot_qr"
# Template parameters may hold no newline or tab, nor more than 4 spaces in a row.
_BAD_PARAM = re.compile(r"[\n\t]| {5}")


def body(to: str, reply: Reply, callback: str = "") -> dict[str, Any]:
    """The request body that sends `reply` to the citizen `to`: a phone number
    (in `to`) or a business-scoped user id (in `recipient`, see identity.py).
    `callback`: WhatsApp gives it back in this message's status webhooks
    (`biz_opaque_callback_data`, at most 512 characters)."""
    head: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **address(to),
    }
    if callback:
        head["biz_opaque_callback_data"] = callback[:512]
    match reply:
        case Say():
            return {**head, "type": "text", "text": {"preview_url": False, "body": reply.body}}
        case Ask():
            buttons = [
                {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in reply.buttons
            ]
            return _interactive(head, "button", reply.body, {"buttons": buttons})
        case Pick():
            rows = [_row(r) for r in reply.rows]
            section: dict[str, Any] = {"rows": rows}
            if reply.section:  # optional for a single section; WhatsApp rejects an empty one
                section = {"title": reply.section, "rows": rows}
            action = {"button": reply.button, "sections": [section]}
            return _interactive(head, "list", reply.body, action)
        case AskLocation():
            return _interactive(
                head, "location_request_message", reply.body, {"name": "send_location"}
            )
        case Template():
            template: dict[str, Any] = {"name": reply.name, "language": {"code": reply.lang}}
            components: list[dict[str, Any]] = []
            if reply.params:
                parameters = [{"type": "text", "text": p} for p in reply.params]
                components.append({"type": "body", "parameters": parameters})
            for index, payload in enumerate(reply.buttons):
                components.append(
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": str(index),
                        "parameters": [{"type": "payload", "payload": payload}],
                    }
                )
            if components:
                template["components"] = components
            return {**head, "type": "template", "template": template}
        case CheckinQr():
            want = {"reference": reply.reference, "code": reply.code}
            return {**head, "type": "image", "image": {"caption": reply.caption}, QR_FIELD: want}
        case _:
            assert_never(reply)


def _row(row: Row) -> dict[str, str]:
    # WhatsApp rejects an empty description; leave it out instead.
    if row.description:
        return {"id": row.id, "title": row.title, "description": row.description}
    return {"id": row.id, "title": row.title}


def _interactive(
    head: dict[str, Any], kind: str, text: str, action: dict[str, Any]
) -> dict[str, Any]:
    interactive = {"type": kind, "body": {"text": text}, "action": action}
    return {**head, "type": "interactive", "interactive": interactive}


def limits_violations(reply: Reply) -> list[str]:
    """Every WhatsApp limit `reply` breaks, as readable sentences; empty if none."""
    found: list[str] = []
    match reply:
        case Say():
            _length(found, "text body", reply.body, 1, TEXT_BODY)
        case Ask():
            _length(found, "body", reply.body, 1, INTERACTIVE_BODY)
            _count(found, "buttons", len(reply.buttons), 1, BUTTONS)
            for n, button in enumerate(reply.buttons, 1):
                _length(found, f"button {n} title", button.title, 1, BUTTON_TITLE)
                _length(found, f"button {n} id", button.id, 1, REPLY_ID)
            _unique(found, "button ids", (b.id for b in reply.buttons))
            _unique(found, "button titles", (b.title for b in reply.buttons))
        case Pick():
            _length(found, "body", reply.body, 1, INTERACTIVE_BODY)
            _length(found, "list button", reply.button, 1, LIST_BUTTON)
            _length(found, "section title", reply.section, 0, SECTION_TITLE)
            _count(found, "rows", len(reply.rows), 1, LIST_ROWS)
            for n, row in enumerate(reply.rows, 1):
                _length(found, f"row {n} title", row.title, 1, ROW_TITLE)
                _length(found, f"row {n} description", row.description, 0, ROW_DESCRIPTION)
                _length(found, f"row {n} id", row.id, 1, REPLY_ID)
            _unique(found, "row ids", (r.id for r in reply.rows))
        case AskLocation():
            _length(found, "body", reply.body, 1, INTERACTIVE_BODY)
        case Template():
            _length(found, "template name", reply.name, 1, TEMPLATE_NAME)
            if not reply.lang:
                found.append("template language is empty")
            for n, param in enumerate(reply.params, 1):
                _length(found, f"parameter {n}", param, 1, TEMPLATE_PARAM)
                if _BAD_PARAM.search(param):
                    found.append(
                        f"parameter {n} has a newline, a tab or more than 4 spaces in a row"
                    )
        case CheckinQr():
            _length(found, "caption", reply.caption, 1, CAPTION)
            _length(found, "reference", reply.reference, 1, 64)
        case _:
            assert_never(reply)
    return found


def _length(found: list[str], what: str, text: str, low: int, high: int) -> None:
    if not low <= len(text) <= high:
        found.append(f"{what} has {len(text)} characters, allowed {low}..{high}")


def _count(found: list[str], what: str, count: int, low: int, high: int) -> None:
    if not low <= count <= high:
        found.append(f"{count} {what}, allowed {low}..{high}")


def _unique(found: list[str], what: str, values: Iterable[str]) -> None:
    repeated = sorted(v for v, n in Counter(values).items() if n > 1)
    if repeated:
        found.append(f"{what} repeat: {', '.join(map(repr, repeated))}")
