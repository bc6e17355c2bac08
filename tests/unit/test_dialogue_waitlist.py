"""The waitlist in the conversation (kmcbot/dialogue/waitlist.py): "Tell me when a
place opens", the entry and its position in My bookings, leaving by button or by
word, an offer's Book / Not now tapped or typed, and the offer message itself."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from kmcbot.booking.model import BookingStatus, Vaccine
from kmcbot.dialogue.model import Lang, State
from kmcbot.dialogue.waitlist import OfferView, offer_reply
from kmcbot.messages import Ask, Choice, Template
from kmcbot.whatsapp.outbound import limits_violations
from tests.support.conversation import Conversation, reach
from tests.support.ids import aadhaar_from


def waiting(lang: Lang = Lang.EN, wa_id: str = "919830000001") -> Conversation:
    """A citizen not yet due (Covishield on 1 June: due 24 August) who joins,
    anywhere in the city."""
    chat = reach(Conversation(lang=lang, wa_id=wa_id), State.DOSE_DATE).send("01-06-2021")
    assert chat.state == State.WAITLIST
    chat.tap("waitlist:join").pick("id:aadhaar").send(aadhaar_from()).send("Rina Sen")
    assert chat.state == State.AREA
    chat.tap("area:city")
    return chat


def test_not_yet_due_she_can_ask_to_be_told_and_hears_her_position() -> None:
    chat = waiting()
    chat.expect("on the waitlist for Covishield", "number 1 in line")
    assert chat.state == State.MENU
    [(number, joined)] = chat.bookings.waiting.values()
    assert number == chat.wa_id and joined.earliest == date(2021, 8, 24)
    assert joined.name == "Rina Sen" and joined.id_last4


def test_a_second_citizen_is_told_she_is_second_in_bengali_digits() -> None:
    first = waiting()
    chat = reach(Conversation(lang=Lang.BN, bookings=first.bookings, wa_id="919830000002"),
                 State.DOSE_DATE)  # fmt: skip
    chat.send("01-06-2021").tap("waitlist:join").pick("id:aadhaar")
    chat.send(aadhaar_from("32121212121")).send("Sukanya Roy").tap("area:city")
    chat.expect("২ নম্বরে")


def test_typed_tell_me_when_joins_too() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.DOSE_DATE).send("01-06-2021")
    chat.send("yes please tell me when")
    assert chat.state == State.ID_TYPE


def test_the_same_id_cannot_wait_twice() -> None:
    chat = waiting()
    chat.tap("menu:book").tap("vaccine:covishield").send("01-06-2021").tap("waitlist:join")
    chat.pick("id:aadhaar").send(aadhaar_from()).send("Rina Sen").tap("area:city")
    chat.expect("already on the waitlist")


def test_my_bookings_shows_the_entry_and_its_position_and_leaves_by_button() -> None:
    chat = waiting()
    chat.tap("menu:bookings")
    chat.expect("Waiting: Rina Sen · Covishield · anywhere in Kolkata · number 1 in line")
    chat.pick("Leave the waitlist")
    chat.expect("left the waitlist")
    assert chat.bookings.waiting == {}


@pytest.mark.parametrize(
    "typed", ["leave waitlist", "stop", "stop offers", "প্রতীক্ষা সূচি", "waitlist chharun"]
)
def test_leaving_by_a_typed_word(typed: str) -> None:
    chat = waiting()
    chat.send(typed)
    if typed == "প্রতীক্ষা সূচি":  # not a phrase of ours: not understood, nothing left
        assert chat.bookings.waiting
        return
    chat.expect("left the waitlist")
    assert chat.bookings.waiting == {}


def test_stop_during_a_booking_still_cancels_the_booking_not_the_waitlist() -> None:
    chat = waiting()
    reach(chat, State.ID_TYPE).send("stop")
    assert chat.bookings.waiting  # "stop" mid-flow abandons the flow, as before
    chat.expect("Cancelled")


def _offer(chat: Conversation) -> int:
    # A session added on her due date, as supply recorded for it.
    slot = chat.bookings.add_slot(Vaccine.COVISHIELD, date(2021, 8, 24), time(10), 5)
    return chat.bookings.offer(chat.wa_id, slot)


def test_book_under_an_offer_books_with_the_usual_ticket_from_any_state() -> None:
    chat = waiting()
    offer = _offer(chat)
    reach(chat, State.VACCINE)  # she is elsewhere when she taps it
    chat.deliver(Choice(f"offer:yes:{offer}", "Book"))
    chat.expect("Reference: KMC-", "Carry a hard copy")
    [booking] = chat.bookings.active(chat.wa_id)
    assert booking.status == BookingStatus.BOOKED and booking.name == "Rina Sen"
    assert chat.bookings.waiting == {}


def test_not_now_passes_the_place_on_and_she_keeps_waiting() -> None:
    chat = waiting()
    offer = _offer(chat)
    chat.deliver(Choice(f"offer:no:{offer}", "Not now"))
    chat.expect("goes to the next person")
    assert chat.bookings.offers == {} and chat.bookings.waiting


def test_a_typed_yes_at_the_menu_takes_the_live_offer() -> None:
    chat = waiting()
    _offer(chat)
    chat.send("haan")
    chat.expect("Reference: KMC-")


@pytest.mark.parametrize(
    "typed", ["hmm", "k", "yes tomorrow", "yes for my mother", "hmm let me think", "হুম"]
)
def test_a_typed_answer_that_is_not_a_whole_yes_never_takes_the_offer(typed: str) -> None:
    chat = waiting()
    _offer(chat)
    chat.send(typed)
    assert not chat.bookings.active(chat.wa_id) and chat.bookings.offers  # still held


def test_cancel_at_the_menu_shows_my_bookings_and_keeps_the_waitlist() -> None:
    chat = waiting()
    for typed in ("cancel", "বাতিল", "radd karo"):
        chat.send("menu").send(typed)
        assert chat.state == State.MY_BOOKINGS and chat.bookings.waiting, typed
    chat.send("menu").send("STOP")  # WhatsApp's opt-out word: no more offers
    assert not chat.bookings.waiting


def test_a_typed_no_at_the_menu_declines_it() -> None:
    chat = waiting()
    _offer(chat)
    chat.send("not now")
    chat.expect("goes to the next person")


def test_a_typed_ok_with_no_offer_is_thanked_as_before() -> None:
    chat = waiting()
    chat.send("ok")
    chat.expect("You are welcome")
    chat.send("no")
    chat.expect("Please choose one of the options")


def test_an_old_offer_tapped_says_it_is_gone() -> None:
    chat = waiting()
    chat.deliver(Choice("offer:yes:999", "Book"))
    chat.expect("no longer open")


OFFER = OfferView(
    offer_id=42, lang="bn", vaccine=Vaccine.COVISHIELD, centre="Roxy Cinema",
    address="5 Chowringhee Place", day=date(2021, 7, 2), start=time(10), end=time(12),
    expires_at=datetime(2021, 7, 1, 14, 30, tzinfo=UTC),
)  # fmt: skip


@pytest.mark.parametrize("lang", list(Lang))
def test_the_offer_has_book_and_not_now_within_whatsapps_limits(lang: Lang) -> None:
    from dataclasses import replace

    reply = offer_reply(replace(OFFER, lang=lang.value), in_window=True, template="t")
    assert isinstance(reply, Ask) and not limits_violations(reply)
    assert [b.id for b in reply.buttons] == ["offer:yes:42", "offer:no:42"]
    if lang == Lang.BN:
        assert "রাত ৮টা" in reply.body or "৮" in reply.body  # 20:00 IST, Bengali digits


def test_outside_the_window_the_offer_is_the_approved_template() -> None:
    reply = offer_reply(OFFER, in_window=False, template="kmcbot_waitlist_offer")
    assert isinstance(reply, Template) and reply.name == "kmcbot_waitlist_offer"
    assert len(reply.params) == 4 and reply.buttons == ("offer:yes:42", "offer:no:42")
