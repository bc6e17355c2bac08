"""A small language for conversation tests, with the shell's loop in memory.

    chat = Conversation(lang=Lang.EN)         # a number whose language is known
    chat.send("hi")                           # a typed message
    chat.tap("Book 2nd dose")                 # a reply button, by title or id
    chat.pick("Roxy")                         # a list row, by title prefix or id
    chat.share_location(22.56, 88.35)
    chat.send_media("sticker")
    chat.advance(minutes=31)                  # time passes
    chat.expect("Which vaccine")              # substring of the last reply's body
    chat.buttons, chat.rows, chat.state, chat.body, chat.replies

Like the shell, each message is stepped, every effect is run (here against
`FakeBookings`), every result is stepped in turn, and the replies of the
turn are collected; the session is kept as JSON, through session_to_dict and
session_from_dict, as Redis would keep it. Every reply is checked against
WhatsApp's limits.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from itertools import count

from kmcbot.dialogue.model import Lang, Session, State, session_from_dict, session_to_dict
from kmcbot.dialogue.step import Context, step
from kmcbot.messages import (
    Ask,
    AskLocation,
    CheckinQr,
    Choice,
    Content,
    Inbound,
    Location,
    Media,
    MediaKind,
    Pick,
    Reply,
    Say,
    Text,
)
from kmcbot.whatsapp.outbound import limits_violations
from tests.support.fakes import FakeBookings, make_availability
from tests.support.ids import aadhaar_from

# 1 July 2021, 10:00 in Kolkata: a Thursday of the second wave.
NOW = datetime(2021, 7, 1, 4, 30, tzinfo=UTC)
PEPPER = b"test-pepper"
_ids = count(1)


class Conversation:
    def __init__(
        self,
        now: datetime = NOW,
        lang: Lang | None = None,
        bookings: FakeBookings | None = None,
        wa_id: str = "919830000001",
        qr_images: bool = True,
    ) -> None:
        self.now = now
        self.qr_images = qr_images
        self.wa_id = wa_id
        self.profile_lang = lang  # what the shell remembers for this number
        self.bookings = bookings or FakeBookings(make_availability(_ist_day(now)))
        self.stored: dict[str, object] | None = None  # the session as Redis keeps it
        self.replies: list[Reply] = []  # replies of the last message
        self.effects: list[object] = []  # effects of the last message
        self.refused: list[object] = []  # refusals the dialogue made itself (Outcome.refused)

    # ------------------------------------------------------------ acting

    def send(self, text: str, *, sent_minutes_ago: float = 0) -> Conversation:
        return self.deliver(Text(text), sent_minutes_ago=sent_minutes_ago)

    def tap(self, title_or_id: str) -> Conversation:
        """A reply button of the last reply (title, id, or the id without its subject:
        "confirm:yes" for "confirm:yes:<slot id>"); an unknown one is sent as an id."""
        for b in self._last_buttons():
            if title_or_id in (b.id, b.title) or b.id.startswith(f"{title_or_id}:"):
                return self.deliver(Choice(b.id, b.title))
        return self.deliver(Choice(title_or_id))

    def pick(self, prefix_or_id: str) -> Conversation:
        """A list row of the last reply, by id or by the start of its title."""
        rows = self._last_rows()
        for r in rows:
            if r.id == prefix_or_id or r.title.startswith(prefix_or_id):
                return self.deliver(Choice(r.id, r.title))
        raise AssertionError(f"no row {prefix_or_id!r} in {[r.title for r in rows]}")

    def share_location(self, latitude: float, longitude: float) -> Conversation:
        return self.deliver(Location(latitude, longitude))

    def send_media(self, kind: str) -> Conversation:
        return self.deliver(Media(MediaKind(kind)))

    def advance(self, minutes: float = 0, hours: float = 0, days: float = 0) -> Conversation:
        self.now += timedelta(minutes=minutes, hours=hours, days=days)
        return self

    def deliver(self, content: Content, *, sent_minutes_ago: float = 0) -> Conversation:
        """One inbound message through the shell's loop."""
        sent_at = self.now - timedelta(minutes=sent_minutes_ago)
        msg = Inbound(self.wa_id, f"wamid.{next(_ids)}", sent_at, content)
        session, expired = self._load()
        outcome = step(session, msg, self._ctx(expired))
        replies = list(outcome.replies)
        effects = list(outcome.effects)
        self.effects = list(effects)
        self.refused = [outcome.refused] if outcome.refused else []  # the dialogue's own
        while effects:
            result = self.bookings.run(self.wa_id, effects.pop(0), self.now)
            outcome = step(outcome.session, result, self._ctx(False))
            replies += outcome.replies
            effects += outcome.effects
            self.effects += outcome.effects
            self.refused += [outcome.refused] if outcome.refused else []
        for reply in replies:
            problems = limits_violations(reply)
            assert not problems, f"{reply!r}: {problems}"
        self._save(outcome.session)
        self.replies = replies
        return self

    # ------------------------------------------------------------ looking

    @property
    def session(self) -> Session:
        assert self.stored is not None, "no session yet"
        return session_from_dict(self.stored)

    @property
    def state(self) -> State:
        return self.session.state

    @property
    def last(self) -> Reply:
        """The last reply; a ticket's check-in QR image after it is not counted
        (it answers nothing and offers nothing: see `qr`)."""
        replies = [r for r in self.replies if not isinstance(r, CheckinQr)]
        assert replies, "the last message got no reply"
        return replies[-1]

    @property
    def qr(self) -> CheckinQr | None:
        """The check-in QR image the last message's replies end with, if any."""
        found = [r for r in self.replies if isinstance(r, CheckinQr)]
        assert len(found) <= 1 and (not found or self.replies[-1] is found[0])
        return found[0] if found else None

    @property
    def body(self) -> str:
        reply = self.last
        assert isinstance(reply, Say | Ask | Pick | AskLocation)
        return reply.body

    @property
    def buttons(self) -> list[str]:
        return [b.title for b in self._last_buttons()]

    @property
    def rows(self) -> list[str]:
        return [r.title for r in self._last_rows()]

    @property
    def row_ids(self) -> list[str]:
        return [r.id for r in self._last_rows()]

    def expect(self, *substrings: str) -> Conversation:
        for s in substrings:
            assert s in self.body, f"{s!r} not in {self.body!r}"
        return self

    def today(self) -> date:
        return _ist_day(self.now)

    # ------------------------------------------------------------ the shell's part

    def _ctx(self, expired: bool) -> Context:
        return Context(
            now=self.now,
            availability=self.bookings.snapshot(),
            pepper=PEPPER,
            profile_lang=self.profile_lang,
            expired=expired,
            qr_images=self.qr_images,
        )

    def _load(self) -> tuple[Session | None, bool]:
        """The stored session, or None when its 30-minute TTL ran out (as in
        Redis); `expired` tells the step that a session was mid-flow."""
        if self.stored is None:
            return None, False
        session = session_from_dict(json.loads(json.dumps(self.stored)))
        if self.now - session.updated_at > timedelta(minutes=30):
            self.stored = None
            return None, session.in_flow
        return session, False

    def _save(self, session: Session) -> None:
        self.stored = session_to_dict(session)
        if session.lang is not None:
            self.profile_lang = session.lang

    def _last_buttons(self) -> list:
        return list(self.last.buttons) if isinstance(self.last, Ask) else []

    def _last_rows(self) -> list:
        return list(self.last.rows) if isinstance(self.last, Pick) else []


def _ist_day(now: datetime) -> date:
    return (now + timedelta(hours=5, minutes=30)).date()


def book(
    chat: Conversation,
    *,
    vaccine: str = "vaccine:covishield",
    first_dose: str = "05-04-2021",
    id_type: str = "id:aadhaar",
    id_number: str | None = None,
    name: str = "Soumya Das",
    centre: str = "centre:1",
    confirm: bool = True,
) -> Conversation:
    """Walk the whole booking by option ids (language-independent), from any state."""
    chat.send("menu").tap("menu:book").tap(vaccine).send(first_dose)
    chat.pick(id_type).send(id_number or aadhaar_from()).send(name)
    chat.pick(centre).pick(chat.row_ids[0]).pick(chat.row_ids[0])
    if confirm:
        chat.tap("confirm:yes")
    return chat


# The steps (by option id, so in any language) that lead from the menu to each
# state a citizen can be in between two messages.
_PATH: dict[State, list[tuple[str, str]]] = {
    State.MENU: [],
    State.VACCINE: [("tap", "menu:book")],
    State.DOSE_DATE: [("tap", "menu:book"), ("tap", "vaccine:covishield")],
}
_PATH[State.ID_TYPE] = _PATH[State.DOSE_DATE] + [("send", "05-04-2021")]
_PATH[State.ID_NUMBER] = _PATH[State.ID_TYPE] + [("pick", "id:aadhaar")]
_PATH[State.NAME] = _PATH[State.ID_NUMBER] + [("send", aadhaar_from("98765432101"))]
_PATH[State.CENTRE] = _PATH[State.NAME] + [("send", "Soumya Das")]
_PATH[State.LOCATION] = _PATH[State.CENTRE] + [("pick", "centre:more"), ("pick", "centre:near")]
_PATH[State.DAY] = _PATH[State.CENTRE] + [("pick", "centre:1")]
_PATH[State.AREA] = _PATH[State.CENTRE] + [("pick", "centre:none")]
_PATH[State.SLOT] = _PATH[State.DAY] + [("first", "")]
_PATH[State.CONFIRM] = _PATH[State.SLOT] + [("first", "")]
_PATH[State.FORGET_CONFIRM] = [("send", "delete my data")]
_PATH[State.LANGUAGE] = [("send", "language")]
REACHABLE = (*_PATH, State.MY_BOOKINGS, State.CANCEL_CONFIRM)


def reach(chat: Conversation, state: State) -> Conversation:
    """Bring `chat` (language known) to `state` from wherever it is."""
    if state in (State.MY_BOOKINGS, State.CANCEL_CONFIRM):
        if not chat.bookings.active(chat.wa_id):
            book(chat, id_number=aadhaar_from("55556666777"))
        chat.send("menu").tap("menu:bookings")
        if state == State.CANCEL_CONFIRM:
            chat.pick(chat.row_ids[0])
    else:
        chat.send("menu")
        for how, what in _PATH[state]:
            match how:
                case "tap":
                    chat.tap(what)
                case "pick":
                    chat.pick(what)
                case "send":
                    chat.send(what)
                case "first":
                    chat.pick(chat.row_ids[0])
    assert chat.state == state, (chat.state, chat.body)
    return chat
