"""One simulated citizen: a small state machine over the bot's replies.

The citizen knows which question it expects next (its `step`), checks that the
reply carries options with that step's id prefix (or is plain text where a
typed answer is due), and picks its answer among those options. It knows no
option id in advance beyond the prefixes, the fixed answers below (Book, My
bookings, Aadhaar, confirm, cancel) and the booking references it was given.
When others took the last places of its pick, it picks again from what the
bot offers instead; when nothing is left to book, the conversation ends.

Pure apart from its random generator: no I/O, so it is unit-testable.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from stdnum import verhoeff
from stdnum.in_ import aadhaar

from kmcbot.messages import Choice, Content, Text

MIXES = ("full", "hi")  # full: booking conversations and follow-ups; hi: a storm of first messages

# ------------------------------------------------------------ the mix, explicit

# Share of booking conversations that make each mistake once on the way.
WRONG_DATE_SHARE = 0.20  # an impossible or future first-dose date before the right one
INVALID_ID_SHARE = 0.15  # an Aadhaar with a wrong check digit before the right one
HELP_SHARE = 0.10  # "help" typed at one random step
# After booking, the same number comes back (shares of citizens who booked):
MY_BOOKINGS_SHARE = 0.20  # to look at "My bookings"
CANCEL_SHARE = 0.10  # to cancel the booking from "My bookings"
# Languages, in the order of the welcome's buttons (English, Bengali, Hindi).
LANGUAGE_WEIGHTS = (0.30, 0.50, 0.20)

# The bot answers at most this many messages per number a minute (kmcbot's
# RATE_LIMIT_PER_MINUTE); a citizen never plans a conversation past it.
try:
    from kmcbot.storage.sessions import RATE_LIMIT_PER_MINUTE as MESSAGES_PER_MINUTE
except ImportError:  # a kmcbot without a per-number limit
    MESSAGES_PER_MINUTE = 1_000_000
RATE_WINDOW_S = 61.0  # the bot counts the messages of the last 60 s; 1 s of slack
# The most messages each kind of conversation can take (with every mistake and
# one slot lost to someone else at confirm).
MAX_MESSAGES = {"book": 19, "my_bookings": 2, "cancel": 4, "hi": 1}

BOOK, MY_BOOKINGS = "menu:book", "menu:bookings"
AADHAAR_ROW = "id:aadhaar"  # the one ID type the citizens make valid numbers for
CONFIRM = "confirm:yes"
CANCEL_YES = "cancel:yes"
REFERENCE = re.compile(r"KMC-[0-9A-Z]{6}")
NAMES = ("Anjali Das", "Rahul Sen", "Sk. Abdul Karim", "Mousumi Ghosh", "রিয়া বসু", "प्रिया शर्मा")


class Kind(StrEnum):
    HI = "hi"  # a storm of first messages: say Hi once, read the welcome
    BOOK = "book"
    MY_BOOKINGS = "my_bookings"
    CANCEL = "cancel"


class Step(StrEnum):
    """What the next reply answers; the value is the id prefix it must offer."""

    LANGUAGE = "lang:"
    MENU = "menu:"
    VACCINE = "vaccine:"
    DOSE_DATE = "date"  # typed
    ID_TYPE = "id:"
    ID_NUMBER = "id number"  # typed
    NAME = "name"  # typed
    CENTRE = "centre:"
    DAY = "day:"
    SLOT = "slot:"
    CONFIRM = "confirm:"
    TICKET = "ticket"  # text with a reference
    BOOKINGS = "move:"  # "My bookings": cancel:/move: rows
    CANCEL_CONFIRM = "cancel:"
    CANCELLED = "cancelled"  # the menu, with the reference in the note


TYPED = {Step.DOSE_DATE, Step.ID_NUMBER, Step.NAME, Step.TICKET}


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    title: str
    via_list: bool


@dataclass(frozen=True, slots=True)
class Send:
    content: Content
    via_list: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    kind: Kind
    reference: str = ""  # the booking made, for BOOK
    no_places: bool = False  # the bot went back to the menu: nothing left to book
    refused: bool = False  # a cancel answered with the menu: its session started meanwhile


@dataclass(frozen=True, slots=True)
class Unexpected:
    expected: str
    got: str  # a short description of the reply


Action = Send | Done | Unexpected


def options(body: dict[str, Any]) -> list[Option]:
    inter = body.get("interactive") or {}
    action = inter.get("action") or {}
    if inter.get("type") == "button":
        return [Option(b["reply"]["id"], b["reply"]["title"], False) for b in action["buttons"]]
    if inter.get("type") == "list":
        return [Option(r["id"], r["title"], True) for s in action["sections"] for r in s["rows"]]
    return []


def text_of(body: dict[str, Any]) -> str:
    if body.get("type") == "text":
        return str(body["text"]["body"])
    return str(((body.get("interactive") or {}).get("body") or {}).get("text", ""))


def describe(body: dict[str, Any]) -> str:
    ids = [o.id for o in options(body)]
    return f"{body.get('type')} {ids or ''} {text_of(body)[:120]!r}"


class Numbers:
    """WhatsApp and Aadhaar numbers, distinct within a run and random across runs."""

    def __init__(self, rng: random.Random) -> None:
        self._phones = itertools.count(rng.randrange(10**9 - 10**8))
        self._ids = itertools.count(rng.randrange(10**10 - 10**9))

    def wa_id(self) -> str:
        return f"919{next(self._phones):09d}"

    def aadhaar(self) -> str:
        while True:  # an Aadhaar starts with 2-9 and is never a palindrome
            n = next(self._ids)
            stem = f"{2 + n % 8}{n:010d}"
            number = stem + verhoeff.calc_check_digit(stem)
            if aadhaar.is_valid(number):
                return number


@dataclass
class Citizen:
    wa_id: str
    rng: random.Random
    numbers: Numbers
    references: list[str] = field(default_factory=list)  # its active bookings
    lang_chosen: bool = False
    sent_at: deque[float] = field(default_factory=deque)  # the bot's sliding minute, mirrored
    # the conversation under way
    kind: Kind = Kind.HI
    step: Step = Step.LANGUAGE
    wrong_date: bool = False
    invalid_id: bool = False
    help_at: Step | None = None
    id_number: str = ""
    masked_due: bool = False  # the next reply must show the ID masked
    first_dose: date | None = None
    cancelling: str = ""
    lost_slots: int = 0  # picks whose last places others took first
    picked: tuple[str, str] = ("", "")  # (centre id, slot id) of the last booking's picks

    def fits(self, kind: Kind, now: float) -> bool:
        """Whether the conversation fits in the number's per-minute budget."""
        return self._sent_lately(now) + MAX_MESSAGES[kind] <= MESSAGES_PER_MINUTE

    def wait_for_room(self, now: float) -> float:
        """Seconds until one more message fits the number's minute (0.0: it fits now).

        A conversation's plan can run over: each pick that others' bookings took
        away costs messages. The citizen then waits, as one told to slow down would.
        """
        if self._sent_lately(now) < MESSAGES_PER_MINUTE:
            return 0.0
        return self.sent_at[0] + RATE_WINDOW_S - now

    def sending(self, now: float) -> None:
        self._sent_lately(now)
        self.sent_at.append(now)

    def _sent_lately(self, now: float) -> int:
        while self.sent_at and now - self.sent_at[0] >= RATE_WINDOW_S:
            self.sent_at.popleft()
        return len(self.sent_at)

    def next_kind(self, now: float) -> Kind | None:
        """After a booking, maybe a follow-up on the same number; None: this citizen is done."""
        if not self.references:
            return None
        roll = self.rng.random()
        kind = None
        if roll < CANCEL_SHARE:
            kind = Kind.CANCEL
        elif roll < CANCEL_SHARE + MY_BOOKINGS_SHARE:
            kind = Kind.MY_BOOKINGS
        return kind if kind is not None and self.fits(kind, now) else None

    def start(self, kind: Kind, today: date) -> Send:
        self.kind = kind
        self.step = Step.MENU if self.lang_chosen else Step.LANGUAGE
        roll = self.rng.random
        book = kind is Kind.BOOK
        self.wrong_date = book and roll() < WRONG_DATE_SHARE
        self.invalid_id = book and roll() < INVALID_ID_SHARE
        self.help_at = self.rng.choice(_HELP_STEPS) if book and roll() < HELP_SHARE else None
        self.id_number = self.numbers.aadhaar() if book else ""
        # ~3-5 months ago: eligible for every vaccine (late for some, which is still bookable).
        self.first_dose = today - timedelta(days=self.rng.randint(90, 150))
        return Send(Text("Hi"))

    def answer(self, body: dict[str, Any], today: date) -> Action:
        """The next message, given the bot's reply to the last one."""
        if self.kind is Kind.HI:
            return Done(Kind.HI)
        opts = options(body)
        if not self._fits_step(opts, body):
            # Others took the last places of what we picked: the bot offers the
            # other slots, else the other days, else the other centres. Pick again.
            back = next((s for s in _PICK_AGAIN if _with(opts, s.value)), None)
            if self.step in _PLACES and back is None and _with(opts, Step.MENU.value):
                return Done(self.kind, no_places=True)  # sold out for this vaccine
            if self.step is Step.CANCELLED and _with(opts, Step.MENU.value):
                # The menu without the reference: the bot refused, the booking's session
                # having started since "My bookings" listed it (a run that crosses a
                # session's start). The booking stays, and stays the citizen's.
                return Done(self.kind, refused=True)
            if self.step not in _PICKING or back is None:
                return Unexpected(self.step.value, describe(body))
            self.lost_slots += 1
            self.step = back
        if self.help_at is self.step:
            self.help_at = None
            return Send(Text("help"))  # the same question comes back, with help
        return self._act(opts, body, today)

    def _fits_step(self, opts: list[Option], body: dict[str, Any]) -> bool:
        if self.step is Step.NAME and self.masked_due:
            self.masked_due = False
            return not opts and self.id_number[-4:] in text_of(body)  # "ID noted: XXXX XXXX 1234"
        if self.step in TYPED:
            return not opts
        if self.step is Step.CANCELLED:
            return bool(_with(opts, Step.MENU.value)) and self.cancelling in text_of(body)
        return bool(_with(opts, self.step.value))

    def _act(self, opts: list[Option], body: dict[str, Any], today: date) -> Action:
        match self.step:
            case Step.LANGUAGE:
                self.lang_chosen = True
                langs = _with(opts, "lang:")
                weights = LANGUAGE_WEIGHTS if len(langs) == len(LANGUAGE_WEIGHTS) else None
                return self._tap(self.rng.choices(langs, weights)[0], Step.MENU)
            case Step.MENU:
                wanted = BOOK if self.kind is Kind.BOOK else MY_BOOKINGS
                nxt = Step.VACCINE if self.kind is Kind.BOOK else Step.BOOKINGS
                return self._tap(_find(opts, wanted), nxt)
            case Step.VACCINE:
                return self._tap(self.rng.choice(_with(opts, "vaccine:")), Step.DOSE_DATE)
            case Step.DOSE_DATE:
                if self.wrong_date:
                    self.wrong_date = False
                    impossible, future = "31-02-2021", today + timedelta(days=30)
                    typed = self.rng.choice((impossible, future.strftime("%d-%m-%Y")))
                    return Send(Text(typed))  # the same question comes again
                assert self.first_dose is not None
                self.step = Step.ID_TYPE
                return Send(Text(self.first_dose.strftime(self.rng.choice(_DATE_FORMATS))))
            case Step.ID_TYPE:
                return self._tap(_find(opts, AADHAAR_ROW), Step.ID_NUMBER)
            case Step.ID_NUMBER:
                if self.invalid_id:
                    self.invalid_id = False
                    bad_check_digit = str((int(self.id_number[-1]) + 1) % 10)
                    return Send(Text(self.id_number[:-1] + bad_check_digit))
                self.step, self.masked_due = Step.NAME, True
                return Send(Text(" ".join(_groups(self.id_number))))
            case Step.NAME:
                self.step = Step.CENTRE
                return Send(Text(self.rng.choice(NAMES)))
            case Step.CENTRE:
                centres = [o for o in _with(opts, "centre:") if o.id[7:].isdigit()]
                if not centres:
                    return Unexpected("a centre row", describe(body))
                centre = self.rng.choice(centres)
                self.picked = (centre.id[7:], "")
                return self._tap(centre, Step.DAY)
            case Step.DAY:
                return self._tap(self.rng.choice(_with(opts, "day:")), Step.SLOT)
            case Step.SLOT:
                slot = self.rng.choice(_with(opts, "slot:"))
                self.picked = (self.picked[0], slot.id[5:])
                return self._tap(slot, Step.CONFIRM)
            case Step.CONFIRM:
                return self._tap(_find(opts, CONFIRM), Step.TICKET)
            case Step.TICKET:
                found = REFERENCE.search(text_of(body))
                if found is None:
                    return Unexpected("a booking reference", describe(body))
                self.references.append(found.group())
                return Done(Kind.BOOK, found.group())
            case Step.BOOKINGS:
                if self.kind is Kind.MY_BOOKINGS:
                    return Done(Kind.MY_BOOKINGS)
                mine = [o for o in _with(opts, "cancel:") if o.id[7:] in self.references]
                if not mine:
                    return Unexpected("a cancel row for a booking of mine", describe(body))
                row = self.rng.choice(mine)
                self.cancelling = row.id[7:]
                return self._tap(row, Step.CANCEL_CONFIRM)
            case Step.CANCEL_CONFIRM:
                return self._tap(_find(opts, CANCEL_YES), Step.CANCELLED)
            case Step.CANCELLED:
                self.references.remove(self.cancelling)
                return Done(Kind.CANCEL, self.cancelling)
        raise AssertionError(self.step)

    def _tap(self, option: Option | None, nxt: Step) -> Action:
        if option is None:
            return Unexpected(f"an option for {self.step.value}", "no such option")
        self.step = nxt
        return Send(Choice(option.id, option.title), option.via_list)


_PICKING = {Step.DAY, Step.SLOT, Step.CONFIRM, Step.TICKET}  # after a centre was picked
_PICK_AGAIN = (Step.SLOT, Step.DAY, Step.CENTRE)
# Steps after which the bot may find no places left at all (the date step checks first).
_PLACES = _PICKING | {Step.ID_TYPE, Step.CENTRE}
_HELP_STEPS = (Step.VACCINE, Step.DOSE_DATE, Step.ID_TYPE, Step.NAME, Step.CENTRE, Step.SLOT)
_DATE_FORMATS = ("%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%d %B %Y")


def _with(opts: list[Option], prefix: str) -> list[Option]:
    return [o for o in opts if o.id.startswith(prefix)]


def _find(opts: list[Option], option_id: str) -> Option | None:
    """The option `option_id`, or one that names its subject after it (confirm:yes:<slot>)."""
    return next((o for o in opts if o.id == option_id or o.id.startswith(f"{option_id}:")), None)


def _groups(number: str) -> list[str]:
    return [number[i : i + 4] for i in range(0, len(number), 4)]  # typed as "2345 6789 0123"
