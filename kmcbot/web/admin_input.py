"""Reading /admin requests: JSON bodies, query values, dates, session times, centres.

Pure apart from `read_centres_text` (a temporary file, see there). Every
problem raises `Invalid` with a message that starts with the field's name.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, time
from typing import Any

import orjson

from kmcbot.devtools.data import demo
from kmcbot.dialogue.notices import REASON_CODES

INT4 = 2**31 - 1  # centres.id is serial
INT8 = 2**63 - 1  # slots.id is bigserial
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
MAX_TIMES = 24
MAX_REASON = 200
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMES = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")


class Invalid(Exception):
    """A malformed request; the message names the field (answered with 400)."""


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid("body: not JSON") from None
    if not isinstance(body, dict):
        raise Invalid("body: must be a JSON object")
    return body


def integer(value: object, field: str, low: int, high: int) -> int:
    # bool is an int in Python: `true` must not pass for 1.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(f"{field}: must be a whole number from {low} to {high}")
    return value


def query_id(text: str | None, field: str) -> int:
    if not text or not text.isascii() or not text.isdigit():
        raise Invalid(f"{field}: the query needs ?{field}=<id>")
    return integer(int(text), field, 1, INT4)


def day(value: object, field: str, default: date | None = None) -> date:
    if value is None and default is not None:
        return default
    # The pattern first: fromisoformat also takes "20210605" and week dates.
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid(f"{field}: must be a date YYYY-MM-DD")


def session_times(value: object) -> list[tuple[time, time]]:
    """["10:00-12:00", ...] -> [(start, end), ...] by start; starts must differ."""
    if not isinstance(value, list) or not value or len(value) > MAX_TIMES:
        raise Invalid('times: must be a list such as ["10:00-12:00", "12:00-14:00"]')
    out: dict[time, time] = {}
    for item in value:
        match = _TIMES.fullmatch(item) if isinstance(item, str) else None
        try:
            if match is None:
                raise ValueError
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            start, end = time(h1, m1), time(h2, m2)
        except ValueError:
            raise Invalid(f"times: {item!r} is not like 10:00-12:00") from None
        if end <= start:
            raise Invalid(f"times: {item!r} ends before it starts")
        if start in out:
            raise Invalid(f"times: two sessions start at {start:%H:%M}")
        out[start] = end
    return sorted(out.items())


def weekdays(value: object) -> set[int]:
    """["sun", "Saturday"] -> {6, 5} (date.weekday() numbers)."""
    if not isinstance(value, list):
        raise Invalid('skip_weekdays: must be a list such as ["sun"]')
    names = [v.strip().lower()[:3] if isinstance(v, str) else "" for v in value]
    if any(n not in WEEKDAYS for n in names):
        raise Invalid(f"skip_weekdays: each must be one of {', '.join(WEEKDAYS)}")
    return {WEEKDAYS.index(n) for n in names}


def reason(body: dict[str, Any]) -> tuple[str, str | None]:
    """(code, note): `reason` is one of REASON_CODES, the citizen reading its text
    in their language, with an optional `note` for staff. Any other text (a client
    of the API before the codes) is kept as the note, under the code "other":
    what staff typed in English never reaches a citizen."""
    text = body.get("reason")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_REASON:
        raise Invalid(
            f"reason: one of {', '.join(REASON_CODES)} (or a text of 1-{MAX_REASON} characters)"
        )
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_REASON):
        raise Invalid(f"note: a text of at most {MAX_REASON} characters")
    if any(ord(ch) < 32 and ch not in "\t\n" or ord(ch) == 127 for ch in text + (note or "")):
        raise Invalid("reason: must not hold control characters")
    text = text.strip()
    if text in REASON_CODES:
        return text, (note or "").strip() or None
    return "other", text


def centre(body: dict[str, Any]) -> demo.CentreRow:
    """A JSON centre, checked by the very rules of the centres CSV (devtools/data/demo.py)."""
    for field in ("code", "name", "kind", "address"):
        if not isinstance(body.get(field), str):
            raise Invalid(f"{field}: missing or not a string")
    for field in ("borough", "ward", "latitude", "longitude"):
        value = body.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"{field}: missing or not a number")
    vaccines = body.get("vaccines")
    if isinstance(vaccines, list) and vaccines and all(isinstance(v, str) for v in vaccines):
        vaccines = ";".join(vaccines)
    if not isinstance(vaccines, str):
        raise Invalid('vaccines: must be a list such as ["covishield", "covaxin"]')
    fields = [str(body[c]) for c in demo.COLUMNS[:-1]] + [vaccines]
    try:
        return demo.parse_row(fields)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def read_centres_text(text: str) -> list[demo.CentreRow]:
    """Centres from CSV text (an upload), validated as `kmcbot seed --file` does."""
    try:
        return demo.parse_centres(io.StringIO(text, newline=""))
    except (ValueError, csv.Error) as exc:
        raise Invalid(str(exc)) from None
