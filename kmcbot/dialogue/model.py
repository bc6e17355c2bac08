"""The conversation's state: a closed set of states and a frozen session.

A session is what Redis keeps per citizen between two messages. It never
holds an ID number in the clear: only its keyed hash and last 4 characters.
`session_to_dict` / `session_from_dict` are the only (de)serialisers; the
keys are short because one key per citizen, times hundreds of thousands of
citizens, lives in Redis memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from kmcbot.booking.ids import IdType
from kmcbot.booking.model import Vaccine


class Lang(StrEnum):
    EN = "en"
    BN = "bn"
    HI = "hi"


class State(StrEnum):
    """Where the citizen is. The value is what Redis stores: never rename one
    without a migration (an unknown value makes `session_from_dict` fail and
    the shell resets the citizen to the start)."""

    LANGUAGE = "language"
    MENU = "menu"
    VACCINE = "vaccine"
    DOSE_DATE = "dose_date"
    ID_TYPE = "id_type"
    ID_NUMBER = "id_number"
    NAME = "name"
    CENTRE = "centre"
    LOCATION = "location"  # asked for a location to sort centres by distance
    DAY = "day"
    SLOT = "slot"
    CONFIRM = "confirm"
    MY_BOOKINGS = "my_bookings"
    CANCEL_CONFIRM = "cancel_confirm"
    FORGET_CONFIRM = "forget_confirm"
    SAME = "same"  # "Same as before?": a returning citizen's last details, prefilled
    RESUME = "resume"  # "Continue where you left off?" after the conversation expired
    WAITLIST = "waitlist"  # no place suits: "Tell me when a place opens?" (dialogue/waitlist.py)
    AREA = "area"  # joining the waitlist: where? a ward, a borough, her location, the city
    # Waiting for the result of an effect. The shell feeds the result back in
    # the same turn, so a saved session is never in one of these unless the
    # shell crashed in between; an inbound message there is treated as at MENU.
    CHECKING = "checking"  # ListBookings before a new booking (limit, same ID)
    LISTING = "listing"  # ListBookings for "My bookings"
    BOOKING = "booking"  # Book
    MOVING = "moving"  # MoveBooking
    CANCELLING = "cancelling"  # CancelBooking
    FORGETTING = "forgetting"  # ForgetMe
    JOINING = "joining"  # JoinWaitlist
    LEAVING = "leaving"  # LeaveWaitlist
    DECLINING = "declining"  # DeclineOffer (TakeOffer waits in BOOKING)


PENDING = frozenset(
    {
        State.CHECKING,
        State.LISTING,
        State.BOOKING,
        State.MOVING,
        State.CANCELLING,
        State.FORGETTING,
        State.JOINING,
        State.LEAVING,
        State.DECLINING,
    }
)


@dataclass(frozen=True, slots=True)
class Listed:
    """An active booking as "My bookings" showed it: enough to reschedule it
    (vaccine, first dose) and to refuse the same ID early, without a second query."""

    reference: str
    vaccine: Vaccine
    first_dose: date
    id_type: str
    id_last4: str
    id_key: str  # the start of the ID's keyed hash: enough to spot the same ID, and short


ID_KEY_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Draft:
    """The answers so far. Everything optional: filled step by step."""

    vaccine: Vaccine | None = None
    first_dose: date | None = None
    id_type: IdType | None = None
    id_hash: str | None = None
    id_last4: str | None = None
    name: str | None = None
    centre_id: int | None = None
    day: date | None = None
    slot_id: int | None = None
    moving_reference: str | None = None  # set while rescheduling that booking
    cancel_reference: str | None = None  # set while asking "cancel this booking?"
    page: int = 0  # centre list page
    near: tuple[float, float] | None = None  # (lat, lon) the citizen shared
    listed: tuple[Listed, ...] = ()  # this number's active bookings, last fetched
    paused: State | None = None  # the question to go back to (after RESUME, LANGUAGE)
    waitlist: bool = False  # asking ID and name to join the waitlist, not to book
    waiting: tuple[int, ...] = ()  # waitlist entries My bookings last showed (leave rows)
    # The waitlist's area, once answered: a borough (and the ward she typed, to
    # name it back), or anywhere in the city; a shared location is `near`.
    borough: int | None = None
    ward: int | None = None
    anywhere: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    state: State
    lang: Lang | None
    updated_at: datetime
    draft: Draft = field(default_factory=Draft)
    strikes: int = 0  # invalid answers in a row
    offered: tuple[str, ...] = ()  # option ids last shown: "2" or a typed title picks one

    @property
    def in_flow(self) -> bool:
        """Mid-conversation: worth telling the citizen when it expires."""
        return self.state not in (State.LANGUAGE, State.MENU)


# ---------------------------------------------------------------- serialising

_VERSION = 1


def session_to_dict(s: Session) -> dict[str, Any]:
    """A JSON-safe dict with short keys; fields at their default are left out."""
    out: dict[str, Any] = {"v": _VERSION, "s": s.state.value, "u": s.updated_at.isoformat()}
    if s.lang is not None:
        out["l"] = s.lang.value
    if s.strikes:
        out["k"] = s.strikes
    if s.offered:
        out["o"] = list(s.offered)
    d = _draft_to_dict(s.draft)
    if d:
        out["d"] = d
    return out


def _draft_to_dict(d: Draft) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "va": d.vaccine.value if d.vaccine else None,
        "fd": d.first_dose.isoformat() if d.first_dose else None,
        "it": d.id_type.value if d.id_type else None,
        "ih": d.id_hash,
        "l4": d.id_last4,
        "n": d.name,
        "c": d.centre_id,
        "dy": d.day.isoformat() if d.day else None,
        "sl": d.slot_id,
        "mr": d.moving_reference,
        "cr": d.cancel_reference,
        "p": d.page or None,
        "nr": [d.near[0], d.near[1]] if d.near else None,
        "ls": [
            [
                b.reference,
                b.vaccine.value,
                b.first_dose.isoformat(),
                b.id_type,
                b.id_last4,
                b.id_key,
            ]
            for b in d.listed
        ]
        or None,
        "ps": d.paused.value if d.paused else None,
        "wl": True if d.waitlist else None,
        "wt": list(d.waiting) or None,
        "bo": d.borough,
        "wd": d.ward,
        "an": True if d.anywhere else None,
    }
    return {k: v for k, v in raw.items() if v is not None}


def session_from_dict(d: object) -> Session:
    """The session `d` encodes; ValueError if anything is corrupt or unknown."""
    try:
        return _session_from_dict(d)
    except ValueError:
        raise
    except (TypeError, KeyError, AttributeError, IndexError, OverflowError) as e:
        raise ValueError(f"corrupt session: {e!r}") from e


def _session_from_dict(d: object) -> Session:
    if not isinstance(d, dict):
        raise ValueError("session is not an object")
    _only(d, {"v", "s", "u", "l", "k", "o", "d"})
    if d.get("v") != _VERSION:
        raise ValueError("unknown session version")
    updated_at = datetime.fromisoformat(_str(d["u"]))
    if updated_at.tzinfo is None:
        raise ValueError("naive updated_at")
    lang = Lang(_str(d["l"])) if "l" in d else None
    strikes = _int(d.get("k", 0))
    if not 0 <= strikes < 100:
        raise ValueError("strikes out of range")
    offered = d.get("o", [])
    if not isinstance(offered, list) or len(offered) > 20:
        raise ValueError("offered is not a short list")
    return Session(
        state=State(_str(d["s"])),
        lang=lang,
        updated_at=updated_at,
        draft=_draft_from_dict(d.get("d", {})),
        strikes=strikes,
        offered=tuple(_str(o) for o in offered),
    )


_DRAFT_KEYS = {"va", "fd", "it", "ih", "l4", "n", "c", "dy", "sl", "mr", "cr", "p", "nr", "ls"} | {
    "ps",
    "wl",
    "wt",
    "bo",
    "wd",
    "an",
}


def _draft_from_dict(d: object) -> Draft:
    if not isinstance(d, dict):
        raise ValueError("draft is not an object")
    _only(d, _DRAFT_KEYS)

    def opt(key: str, conv: Any) -> Any:
        return conv(d[key]) if key in d else None

    near = None
    if "nr" in d:
        pair = d["nr"]
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError("near is not a pair")
        near = (_float(pair[0]), _float(pair[1]))
    listed = []
    for item in d.get("ls", []):
        if not isinstance(item, list) or len(item) != 6:
            raise ValueError("listed booking is not a 6-list")
        ref, vac, fd, it, l4, key = item
        listed.append(
            Listed(
                _str(ref),
                Vaccine(_str(vac)),
                date.fromisoformat(_str(fd)),
                _str(it),
                _str(l4),
                _str(key),
            )
        )
    if len(listed) > 10:
        raise ValueError("too many listed bookings")
    waiting = d.get("wt", [])
    if not isinstance(waiting, list) or len(waiting) > 10:
        raise ValueError("waiting is not a short list")
    if d.get("wl", True) is not True or d.get("an", True) is not True:
        raise ValueError("waitlist flag is not true")
    borough, ward = opt("bo", _int), opt("wd", _int)
    if not (borough is None or 1 <= borough <= 99) or not (ward is None or 1 <= ward <= 999):
        raise ValueError("borough or ward out of range")
    page = _int(d.get("p", 0))
    if not 0 <= page < 10_000:
        raise ValueError("page out of range")
    return Draft(
        vaccine=opt("va", lambda v: Vaccine(_str(v))),
        first_dose=opt("fd", lambda v: date.fromisoformat(_str(v))),
        id_type=opt("it", lambda v: IdType(_str(v))),
        id_hash=opt("ih", _str),
        id_last4=opt("l4", _str),
        name=opt("n", _str),
        centre_id=opt("c", _int),
        day=opt("dy", lambda v: date.fromisoformat(_str(v))),
        slot_id=opt("sl", _int),
        moving_reference=opt("mr", _str),
        cancel_reference=opt("cr", _str),
        page=page,
        near=near,
        listed=tuple(listed),
        paused=opt("ps", lambda v: State(_str(v))),
        waitlist="wl" in d,
        waiting=tuple(_int(w) for w in waiting),
        borough=borough,
        ward=ward,
        anywhere="an" in d,
    )


def _only(d: dict[Any, Any], keys: set[str]) -> None:
    extra = set(d) - keys
    if extra:
        raise ValueError(f"unknown keys {sorted(map(str, extra))}")


def _str(v: object) -> str:
    if not isinstance(v, str) or len(v) > 200:
        raise ValueError("expected a short string")
    return v


def _int(v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("expected an integer")
    return v


def _float(v: object) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise ValueError("expected a number")
    f = float(v)
    if f != f or abs(f) > 180:
        raise ValueError("coordinate out of range")
    return f
