"""Issue 20, item 8: a returning citizen. "Same as before?" from this number's
last booking (the profile keeps its reference; the details come from the
bookings, never the ID number), and "Continue where you left off" for a
conversation that expired within the last 24 hours."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from kmcbot.booking.model import Vaccine
from kmcbot.dialogue.core import Context
from kmcbot.dialogue.model import Lang, Session, State, session_from_dict
from kmcbot.dialogue.returning import last_booking
from tests.support.conversation import Conversation, book, reach
from tests.support.ids import aadhaar_from as aadhaar


class Returning(Conversation):
    """A number the shell knows: the profile's last booking (as the pipeline keeps
    it), and sessions kept a day while unfinished (as Redis now keeps them)."""

    last_booking: str | None = None

    def _ctx(self, expired: bool) -> Context:
        return replace(super()._ctx(expired), last_booking=self.last_booking)

    def _load(self) -> tuple[Session | None, bool]:
        if self.stored is None:
            return None, False
        session = session_from_dict(json.loads(json.dumps(self.stored)))
        kept = timedelta(hours=24) if session.in_flow else timedelta(minutes=30)
        if self.now - session.updated_at > kept:
            self.stored = None
            return None, session.in_flow
        return session, False


def booked_once(lang: Lang, name: str = "Asha Das") -> Returning:
    chat = Returning(lang=lang)
    book(chat, name=name, first_dose="05-04-2021", id_number=aadhaar("87654321012"))
    [b] = chat.bookings.active(chat.wa_id)
    chat.last_booking = b.reference
    return chat


def test_same_as_before_skips_what_is_known_but_asks_the_id_again() -> None:
    chat = booked_once(Lang.BN).send("বুক")
    assert chat.state == State.SAME
    chat.expect("Asha Das", "কোভিশিল্ড", "৫ এপ্রিল ২০২১")
    assert "XXXX" not in chat.body
    chat.send("হ্যাঁ")
    assert chat.state == State.ID_TYPE  # vaccine and first dose taken as before
    chat.send("আধার কার্ড").send(aadhaar("76543210987"))
    assert chat.state == State.CENTRE  # the name too
    chat.send("Roxy").send("১").send("১").send("ঠিক আছে")
    second = chat.bookings.active(chat.wa_id)[-1]
    assert len(chat.bookings.active(chat.wa_id)) == 2
    assert second.name == "Asha Das" and second.vaccine == Vaccine.COVISHIELD
    assert second.first_dose == date(2021, 4, 5)


def test_a_cancelled_last_booking_is_offered_too() -> None:
    """ "Book again" after a centre cancelled the session: the booking is not
    active any more, its details still start the new one."""
    chat = booked_once(Lang.EN)
    chat.send("my bookings").send("cancel").send("yes")
    assert chat.bookings.active(chat.wa_id) == []
    chat.send("book")
    assert chat.state == State.SAME
    chat.expect("Asha Das")


def test_not_the_same_asks_everything_afresh() -> None:
    chat = booked_once(Lang.HI).send("book karna hai").send("nahi")
    assert chat.state == State.VACCINE
    assert chat.session.draft.name is None and chat.session.draft.vaccine is None


def test_without_a_last_booking_the_booking_starts_with_the_vaccine() -> None:
    chat = Returning(lang=Lang.EN).send("book")
    assert chat.state == State.VACCINE


def test_after_delete_my_data_nothing_is_offered() -> None:
    chat = booked_once(Lang.EN)
    chat.send("delete my data").send("yes")
    chat.send("book")
    assert chat.state == State.VACCINE


def test_the_profile_keeps_only_a_reference() -> None:
    assert last_booking("KMC-4K7P2Q") == "KMC-4K7P2Q"
    for value in (None, "", "Asha Das", 12, {"n": "x"}, "KMC-" + "X" * 40):
        assert last_booking(value) is None, value


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
