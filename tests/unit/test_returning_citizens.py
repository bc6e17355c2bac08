"""Issue 20, item 8: a returning citizen. "Same as before?" from what the profile
remembers of the last booking (never the ID number), and "Continue where you
left off" for a conversation that expired within the last 24 hours."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from kmcbot.booking.model import Vaccine
from kmcbot.dialogue.core import Before, Context
from kmcbot.dialogue.effects import Book
from kmcbot.dialogue.model import Lang, Session, State, session_from_dict
from kmcbot.dialogue.returning import before_from_profile, remembered
from tests.unit.conversation import Conversation, aadhaar, reach

ASHA = Before(Vaccine.COVISHIELD, date(2021, 4, 5), "Asha Das")


class Returning(Conversation):
    """A number the shell knows: the profile's "before", and sessions kept a day
    while unfinished (as Redis now keeps them)."""

    def __init__(self, before: Before | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.before = before

    def _ctx(self, expired: bool) -> Context:
        return replace(super()._ctx(expired), before=self.before)

    def _load(self) -> tuple[Session | None, bool]:
        if self.stored is None:
            return None, False
        session = session_from_dict(json.loads(json.dumps(self.stored)))
        kept = timedelta(hours=24) if session.in_flow else timedelta(minutes=30)
        if self.now - session.updated_at > kept:
            self.stored = None
            return None, session.in_flow
        return session, False


def test_same_as_before_skips_what_is_known_but_asks_the_id_again() -> None:
    chat = Returning(ASHA, lang=Lang.BN).send("বুক")
    assert chat.state == State.SAME
    chat.expect("Asha Das", "কোভিশিল্ড", "৫ এপ্রিল ২০২১")
    assert "XXXX" not in chat.body
    chat.send("হ্যাঁ")
    assert chat.state == State.ID_TYPE  # vaccine and first dose taken as before
    chat.send("আধার কার্ড").send(aadhaar())
    assert chat.state == State.CENTRE  # the name too
    chat.send("Roxy").send("১").send("১").send("ঠিক আছে")
    [b] = chat.bookings.active(chat.wa_id)
    assert b.name == "Asha Das" and b.vaccine == Vaccine.COVISHIELD
    assert b.first_dose == date(2021, 4, 5)


def test_not_the_same_asks_everything_afresh() -> None:
    chat = Returning(ASHA, lang=Lang.HI).send("book karna hai").send("nahi")
    assert chat.state == State.VACCINE
    assert chat.session.draft.name is None and chat.session.draft.vaccine is None


def test_same_as_before_still_checks_the_first_dose() -> None:
    soon = replace(ASHA, first_dose=date(2021, 6, 20))  # Covishield: 84 days later
    chat = Returning(soon, lang=Lang.EN).send("book").send("yes")
    assert chat.state == State.MENU and chat.effects == []
    chat.expect("is due from")


def test_without_a_profile_the_booking_starts_with_the_vaccine() -> None:
    chat = Returning(None, lang=Lang.EN).send("book")
    assert chat.state == State.VACCINE


def test_the_profile_keeps_no_id() -> None:
    book = Book(1, Vaccine.COVAXIN, date(2021, 5, 1), "aadhaar", "h" * 64, "1234", "R", "hi", "m")
    kept = remembered(book)
    assert kept == {"va": "covaxin", "fd": "2021-05-01", "n": "R"}
    assert before_from_profile(kept) == Before(Vaccine.COVAXIN, date(2021, 5, 1), "R")


def test_a_broken_profile_is_no_before() -> None:
    broken = [
        None,
        "x",
        {},
        {"va": "pfizer", "fd": "2021-05-01", "n": "R"},
        {"va": "covaxin", "fd": "May", "n": "R"},
        {"va": "covaxin", "fd": "2021-05-01"},
        {"va": "covaxin", "fd": "2021-05-01", "n": ""},
        {"va": 1, "fd": 2, "n": 3},
    ]
    for value in broken:
        assert before_from_profile(value) is None, value


# ---------------------------------------------------------------- continue where you left off


def test_an_expired_conversation_can_be_continued_within_a_day() -> None:
    chat = reach(Returning(lang=Lang.EN), State.NAME)
    draft = chat.session.draft
    chat.advance(hours=3).send("hi")
    assert chat.state == State.RESUME
    chat.expect("Continue where you left off?")
    chat.send("haan")
    assert chat.state == State.NAME and chat.session.draft == draft
    chat.send("my name is Asha Das")
    assert chat.state == State.CENTRE and chat.session.draft.name == "Asha Das"


def test_the_summary_comes_back_and_books() -> None:
    chat = reach(Returning(lang=Lang.BN), State.CONFIRM)
    chat.advance(hours=2).send("হ্যালো").send("চালিয়ে যান")
    assert chat.state == State.CONFIRM
    chat.send("হ্যাঁ")
    assert len(chat.bookings.active(chat.wa_id)) == 1


def test_starting_again_drops_what_was_given() -> None:
    chat = reach(Returning(lang=Lang.HI), State.ID_NUMBER).advance(hours=2).send("namaste")
    chat.send("phir se shuru")
    assert chat.state == State.MENU and chat.session.draft.vaccine is None


def test_after_a_day_the_conversation_has_expired() -> None:
    chat = reach(Returning(lang=Lang.EN), State.NAME).advance(hours=25).send("Asha Das")
    assert chat.state == State.MENU
    chat.expect("expired")


def test_asking_again_after_another_silence_keeps_the_question_to_go_back_to() -> None:
    chat = reach(Returning(lang=Lang.EN), State.DOSE_DATE).advance(hours=2).send("hi")
    chat.advance(hours=1).send("hello")
    assert chat.state == State.RESUME and chat.session.draft.paused == State.DOSE_DATE
    chat.send("continue")
    assert chat.state == State.DOSE_DATE
