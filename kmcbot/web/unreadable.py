"""Items of a webhook payload that no part of the bot can store (issue 18, finding 6).

WhatsApp redelivers a POST that is not answered 200 for 7 days, so one such
item must cost only itself: it is dropped (logged and counted by the
webhook), and the other items of the POST are handled as usual.

- A lone UTF-16 surrogate ("\\ud83d") is valid JSON, but no UTF-8 text: orjson
  refuses the whole body for it, so the body is decoded again with the
  standard library, and the items that hold one are dropped.
- A control character (NUL above all) in a sender or message id: PostgreSQL
  refuses NUL in text, and an id is no free text anyway.
"""

from __future__ import annotations

import json

import orjson

from kmcbot.messages import Choice, Error, IdentityChange, Inbound, Status, Text, Update


class NotJson(ValueError):
    """The body is not JSON at all."""


def load_json(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # lone surrogates: the standard library decodes them (as unpaired code points)
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise NotJson from None


def why_unreadable(update: Update) -> str | None:
    """Why the item cannot be handled, or None when it can."""
    match update:
        case Inbound(wa_id=wa_id, message_id=message_id, content=content, user_id=user_id):
            ids, texts = [wa_id, message_id, *_ids(user_id, content)], _texts(content)
        case Status(wa_id=wa_id, message_id=message_id, status=status, callback=callback):
            ids, texts = [wa_id, message_id], [status, callback]
        case Error(title=title):
            ids, texts = [], [title]
    if any(_control(i) for i in ids):
        return "control character in an id"
    if not all(_utf8(t) for t in (*ids, *texts)):
        return "lone surrogate"
    return None


def _ids(user_id: str | None, content: object) -> list[str]:
    """The user id, and a changed number's new ids: stored and keyed like wa_id."""
    ids = [user_id]
    if isinstance(content, IdentityChange):
        ids += [content.new_wa_id, content.new_user_id]
    return [i for i in ids if i is not None]


def _texts(content: object) -> list[str]:
    match content:
        case Text(body=body):
            return [body]
        case Choice(id=choice_id, title=title):
            return [choice_id, title]
    return []


def _control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """For a log line: lone surrogates cannot be written as JSON."""
    return text.encode(errors="replace").decode()
