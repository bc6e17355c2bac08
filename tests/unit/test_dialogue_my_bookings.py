"""My bookings, cancel, reschedule, the limits, and slots taken meanwhile."""

from __future__ import annotations

from dataclasses import replace

from kmcbot.booking.commands import CancelBooking, MoveBooking
from kmcbot.booking.model import Refusal
from kmcbot.dialogue.model import Lang, State
from kmcbot.messages import Choice, Pick, Say
from tests.support.conversation import Conversation, book, reach
from tests.support.ids import aadhaar_from


def test_my_bookings_lists_each_booking_with_cancel_and_reschedule() -> None:
    chat = book(Conversation(lang=Lang.EN))
    [b] = chat.bookings.active(chat.wa_id)
    chat.send("My bookings")
    chat.expect(b.reference, "Roxy Cinema Hall", "1 Jul 2021", "14:00-16:00")
    assert chat.rows == [f"Cancel {b.reference}", f"Reschedule {b.reference}", "Menu"]
    assert len(chat.replies) == 1


def test_no_bookings_says_so_and_shows_the_menu() -> None:
    chat = Conversation(lang=Lang.EN).send("hi").tap("My bookings")
    chat.expect("no active bookings")
    assert chat.state == State.MENU


def test_cancel_asks_first_then_cancels() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CANCEL_CONFIRM)
    ref = chat.session.draft.cancel_reference
    chat.tap("Yes, cancel it")
    assert chat.effects == [CancelBooking(ref)]
    chat.expect(f"{ref} is cancelled")
    assert not chat.bookings.active() and chat.state == State.MENU


def test_cancel_no_keeps_the_booking() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CANCEL_CONFIRM).tap("No, keep it")
    chat.expect("kept")
    assert chat.bookings.active()


def test_reschedule_moves_the_booking_for_its_vaccine() -> None:
    chat = book(Conversation(lang=Lang.EN))
    [b] = chat.bookings.active(chat.wa_id)
    chat.send("My bookings").pick(f"Reschedule {b.reference}")
    assert chat.state == State.CENTRE
    chat.pick("Sealdah" if "Sealdah UPHC" in chat.rows else "Ballygunge")
    chat.pick(chat.row_ids[1]).pick(chat.row_ids[0])
    chat.expect(f"Move booking {b.reference}")
    chat.tap("Confirm")
    assert isinstance(chat.effects[0], MoveBooking)
    assert isinstance(chat.last, Say)
    chat.expect("has been moved", b.reference, "Carry a hard copy of your Aadhaar")
    [moved] = chat.bookings.active(chat.wa_id)
    assert moved.reference == b.reference and moved.slot_id != b.slot_id
    # The moved ticket's QR: the same reference and code, so the same image (its
    # upload is reused) and the same token at check-in.
    assert chat.qr is not None and (chat.qr.reference, chat.qr.code) == (b.reference, b.code)


def test_slot_taken_between_listing_and_confirming_offers_the_other_slots() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.DAY).pick(chat_first_day := "2 Jul 2021")
    assert chat_first_day
    chat.pick("10:00-12:00")
    slot_id = chat.session.draft.slot_id
    chat.bookings.take(slot_id)
    chat.tap("Confirm")
    chat.expect("just taken")
    assert chat.state == State.SLOT and chat.rows == ["14:00-16:00"]
    assert len(chat.replies) == 1


def test_last_slot_of_the_day_taken_offers_other_days() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.DAY).pick("2 Jul 2021").pick("10:00-12:00")
    for s in chat.bookings.snapshot().slots:
        if s.centre_id == 1 and str(s.day) == "2021-07-02":
            chat.bookings.take(s.id)
    chat.tap("Confirm").expect("just taken")
    assert chat.state == State.DAY and "2 Jul 2021" not in chat.rows


def test_a_session_cancelled_by_the_centre_is_explained() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CONFIRM)
    chat.bookings.remove(chat.session.draft.slot_id)
    chat.tap("Confirm").expect("cancelled by the centre")


def test_number_limit_four_bookings_per_number() -> None:
    chat = Conversation(lang=Lang.EN)
    for n in range(4):
        book(chat, id_number=aadhaar_from(f"{n + 2}2345678901"), name="Family Member")
        assert chat.last and "booked" in chat.body
    chat.send("menu").tap("Book 2nd dose")
    chat.expect("already has 4 active bookings")
    assert chat.state == State.MENU
    assert chat.refused == [Refusal.NUMBER_LIMIT]  # the shell logs it as booking_refused


def test_four_bookings_fit_in_one_list() -> None:
    chat = Conversation(lang=Lang.EN)
    for n in range(4):
        book(chat, id_number=aadhaar_from(f"{n + 2}2345678901"))
    chat.send("my bookings")
    assert isinstance(chat.last, Pick) and len(chat.rows) == 9


def test_same_id_is_refused_early_on_this_number() -> None:
    chat = book(Conversation(lang=Lang.EN))
    [b] = chat.bookings.active(chat.wa_id)
    chat.send("menu").tap("Book 2nd dose").tap("Covishield").send("05-04-2021")
    chat.pick("Aadhaar").send(aadhaar_from())
    chat.expect("already has a 2nd dose booking", b.reference)
    assert chat.state == State.MENU
    assert chat.refused == [Refusal.ID_ALREADY_BOOKED]


def test_same_id_from_another_number_is_refused_by_the_database() -> None:
    first = book(Conversation(lang=Lang.EN))
    other = Conversation(lang=Lang.EN, bookings=first.bookings, wa_id="919830000002")
    book(other)
    other.expect("This ID already has an active 2nd dose booking")
    assert other.state == State.MENU


def test_a_family_members_id_with_the_same_last_4_is_not_mistaken_for_a_booked_one() -> None:
    first = aadhaar_from("23412341234")
    # Another valid Aadhaar of the same type ending in the same 4 digits.
    other = next(
        n
        for n in (aadhaar_from(f"{d}9876541{first[8:11]}") for d in range(2, 10))
        if n[-4:] == first[-4:]
    )
    chat = book(Conversation(lang=Lang.EN), id_number=first)
    chat.send("menu").tap("Book 2nd dose").tap("Covishield").send("05-04-2021")
    chat.pick("Aadhaar").send(other)
    assert chat.state == State.NAME


def _booked_and_started() -> tuple[Conversation, str]:
    """A booking for today 14:00-16:00, and the clock at 14:30 (Kolkata)."""
    chat = book(Conversation(lang=Lang.EN))
    [b] = chat.bookings.active(chat.wa_id)
    assert b.start.hour == 14 and b.day == chat.today()
    chat.advance(hours=4, minutes=30).send("hi")
    return chat, b.reference


def test_a_booking_whose_time_has_started_cannot_be_rescheduled_and_says_why() -> None:
    chat, ref = _booked_and_started()
    chat.send("My bookings").pick(f"Reschedule {ref}")
    chat.pick("Sealdah" if "Sealdah UPHC" in chat.rows else "Ballygunge")
    chat.pick(chat.row_ids[0]).pick(chat.row_ids[0]).tap("Confirm")
    # Not "that time has already started" over a list of times that have not.
    chat.expect("already started", "can no longer be moved or cancelled")
    assert chat.state == State.MENU
    assert [b.reference for b in chat.bookings.active(chat.wa_id)] == [ref]


def test_a_booking_whose_time_has_started_cannot_be_cancelled_and_says_why() -> None:
    chat, ref = _booked_and_started()
    chat.send("My bookings").pick(f"Cancel {ref}").tap("Yes, cancel it")
    chat.expect("already started", "can no longer be moved or cancelled")
    assert chat.state == State.MENU and chat.bookings.active(chat.wa_id)


def test_yes_on_an_older_cancel_question_never_cancels_another_booking() -> None:
    chat = book(Conversation(lang=Lang.EN))
    book(chat, id_number=aadhaar_from("55556666777"))
    first, second = chat.bookings.active(chat.wa_id)
    chat.send("My bookings").pick(f"Cancel {first.reference}")
    asked_first = chat.last
    chat.send("My bookings").pick(f"Cancel {second.reference}")
    # The citizen scrolls up and taps "Yes" under the question about the first booking.
    [yes, _] = asked_first.buttons
    chat.deliver(Choice(yes.id, yes.title))
    assert chat.effects == []
    chat.expect("no longer available", second.reference)
    assert {b.reference for b in chat.bookings.active(chat.wa_id)} == {
        first.reference,
        second.reference,
    }


def test_yes_as_a_version_before_the_deploy_named_it_still_cancels() -> None:
    chat = book(Conversation(lang=Lang.EN))
    [booking] = chat.bookings.active(chat.wa_id)
    chat.send("My bookings").pick(f"Cancel {booking.reference}")
    chat._save(replace(chat.session, offered=("cancel:yes", "cancel:no")))
    chat.deliver(Choice("cancel:yes", "Yes, cancel"))
    assert not chat.bookings.active(chat.wa_id)
