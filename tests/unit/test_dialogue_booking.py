"""The booking conversation in English: one test per rule a citizen notices."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kmcbot.dialogue.model import Lang, State
from kmcbot.messages import AskLocation, CheckinQr, Choice, Pick, Say
from tests.support.conversation import Conversation, book, reach
from tests.support.ids import aadhaar_from


def test_first_message_ever_gets_welcome_and_language_buttons() -> None:
    chat = Conversation().send("Hi")
    assert chat.state == State.LANGUAGE
    assert chat.buttons == ["English", "বাংলা", "हिन्दी"]
    chat.expect("Welcome")


def test_language_is_remembered_and_greetings_go_to_the_menu() -> None:
    chat = Conversation().send("hello").tap("English")
    assert chat.buttons == ["Book 2nd dose", "My bookings", "Help"]
    chat.advance(hours=5).send("namaste")
    assert chat.state == State.MENU
    assert chat.buttons == ["Book 2nd dose", "My bookings", "Help"]


def test_full_booking_in_english() -> None:
    chat = Conversation(lang=Lang.EN).send("hi").tap("Book 2nd dose")
    chat.expect("Which vaccine").tap("Covishield")
    chat.expect("1st dose").send("5 April 2021")
    chat.expect("photo ID").pick("Aadhaar")
    number = aadhaar_from()
    chat.expect("Aadhaar number").send(number)
    chat.expect("XXXX XXXX " + number[-4:], "your name").send("Soumya  Das ")
    chat.expect("centre").pick("Roxy")
    chat.expect("Roxy Cinema Hall").pick("2 Jul 2021")
    chat.pick("10:00-12:00")
    chat.expect("Covishield", "Roxy Cinema Hall", "2 Jul 2021", "10:00-12:00")
    chat.expect("Aadhaar XXXX XXXX " + number[-4:], "Soumya Das")
    assert chat.buttons == ["Confirm", "Change", "Cancel"]
    chat.tap("Confirm")
    assert isinstance(chat.last, Say) and len(chat.replies) == 2
    [booking] = chat.bookings.active(chat.wa_id)
    chat.expect(booking.reference, booking.code, "Chowringhee Place")
    # Then the ticket's check-in QR: the reference and code to sign, a caption naming
    # the reference; nothing personal (the name and ID stay in the ticket's text).
    assert chat.qr == CheckinQr(
        booking.reference,
        booking.code,
        f"Your check-in QR code for {booking.reference}: show it at the centre "
        "(or say your code) with your ID.",
    )
    chat.expect("https://maps.google.com/?q=22.561500,88.352000")
    chat.expect("Carry a hard copy of your Aadhaar and show this message at the centre.")
    assert chat.state == State.MENU


def test_confirm_emits_book_with_the_inbound_message_id() -> None:
    chat = book(Conversation(lang=Lang.EN), confirm=False).tap("confirm:yes")
    [effect] = [e for e in chat.effects if type(e).__name__ == "Book"]
    assert effect.message_id.startswith("wamid.")
    assert effect.id_hash != aadhaar_from() and len(effect.id_last4) == 4


def test_each_step_has_exactly_one_reply() -> None:
    chat = Conversation(lang=Lang.EN)
    for st in (State.VACCINE, State.DOSE_DATE, State.ID_TYPE, State.NAME, State.CONFIRM):
        reach(chat, st)
        assert len(chat.replies) == 1


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("yesterday-ish", "could not read that date"),
        ("31-02-2021", "does not exist"),
        ("05-12-2021", "in the future"),
        ("10-01-2021", "16 Jan 2021"),
    ],
)
def test_each_date_error_has_its_own_reason_and_the_question_again(typed: str, reason: str) -> None:
    chat = reach(Conversation(lang=Lang.EN), State.DOSE_DATE).send(typed)
    chat.expect(reason, "On which date")
    assert chat.state == State.DOSE_DATE and len(chat.replies) == 1


def test_too_recent_first_dose_names_the_opening_date() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.DOSE_DATE).send("01-06-2021")
    chat.expect("due from 24 Aug 2021")
    assert chat.state == State.WAITLIST and chat.buttons == ["Tell me when", "Menu"]


def test_covaxin_interval_comes_from_the_data() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).tap("Covaxin").send("01-06-2021")
    assert chat.state == State.ID_TYPE  # 30 days: within Covaxin's 28-42
    chat.pick("Aadhaar").send(aadhaar_from()).send("Rina Sen")
    assert chat.rows == [
        "Garden Reach Borough Of…",
        "Tollygunge Covaxin Cent…",
        "📍 Nearest to me",
        "None of these",
    ]


def test_late_dose_is_noted_and_booking_goes_on() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.DOSE_DATE).send("20-01-2021")
    chat.expect("late 2nd dose is still given")
    assert chat.state == State.ID_TYPE


def test_a_date_picked_past_the_usual_interval_is_noted_at_confirm() -> None:
    # Covaxin on 21 May: due 18 Jun to 2 Jul (28-42 days); today is 1 July.
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).tap("Covaxin").send("21-05-2021")
    chat.pick("Aadhaar").send(aadhaar_from()).send("Rina Sen").pick("Tollygunge")
    chat.pick("2 Jul 2021").pick("10:00-12:00")
    assert chat.state == State.CONFIRM and "usual interval" not in chat.last.body
    chat.tap("Change").pick("Tollygunge").pick("5 Jul 2021").pick("10:00-12:00")
    chat.expect("past the usual interval for the 2nd dose (until 2 Jul 2021)", "Rina Sen")
    assert chat.buttons == ["Confirm", "Change", "Cancel"]


def test_only_dates_on_or_after_the_eligible_date_are_offered() -> None:
    # Eligible from 84 days after 12 April: 5 July; today is 1 July, slots run 14 days.
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).tap("Covishield").send("12-04-2021")
    chat.expect("due from 5 Jul 2021")
    assert chat.state == State.ID_TYPE
    chat.pick("Aadhaar").send(aadhaar_from()).send("Rina Sen").pick("Roxy")
    assert chat.rows[0] == "5 Jul 2021"


def test_a_first_dose_too_recent_names_the_date_booking_opens() -> None:
    # Covishield on 20 June: due from 12 September, beyond every slot on offer.
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).tap("Covishield").send("20-06-2021")
    chat.expect("due from 12 Sep 2021")
    chat.expect("come back")
    assert chat.state == State.WAITLIST


@pytest.mark.parametrize(
    ("id_type", "typed", "reason"),
    [
        ("Aadhaar", "12345", "wrong number of characters"),
        ("Aadhaar", "2341234123AB", "characters it cannot have"),
        ("Aadhaar", "234123412347", "typing mistake"),
        ("PAN card", "AAACA1234A", "company or trust"),
    ],
)
def test_each_id_error_has_its_own_reason(id_type: str, typed: str, reason: str) -> None:
    chat = reach(Conversation(lang=Lang.EN), State.ID_TYPE).pick(id_type).send(typed)
    chat.expect(reason)
    assert chat.state == State.ID_NUMBER


def test_the_full_id_number_is_never_shown_or_stored() -> None:
    number = aadhaar_from()
    chat = book(Conversation(lang=Lang.EN), id_number=number, confirm=False)
    seen = [chat.body]
    chat.tap("confirm:yes")
    seen.append(chat.body)
    seen.append(str(chat.stored))
    for text in seen:
        assert number not in text and number[:8] not in text
    assert "XXXX XXXX " + number[-4:] in seen[1]


@pytest.mark.parametrize(
    ("id_type", "typed", "masked"),
    [
        ("PAN card", "ABCPE1234F", "XXXX XXXX 234F"),
        ("Voter ID", "ABC1234566", "XXXX XXXX 4566"),
        ("Driving Licence", "WB-01-2011-0012345", "XXXX XXXX 2345"),
        ("Pension Passbook", "PPO123456", "XXXX XXXX 3456"),
        ("Disability ID", "WB0520000012345678", "XXXX XXXX 5678"),
    ],
)
def test_every_id_type_is_masked_alike_with_its_last_4_together(
    id_type: str, typed: str, masked: str
) -> None:
    """The note after the ID number shows the same mask as the summary and the
    ticket: never the last 4 split over two groups ("XXXX XX23 4F")."""
    chat = reach(Conversation(lang=Lang.EN), State.ID_TYPE).pick(id_type).send(typed)
    assert chat.state == State.NAME
    chat.expect(f"ID noted: {masked}")
    chat.send("Soumya Das").pick("centre:1").pick(chat.row_ids[0]).pick(chat.row_ids[0])
    chat.expect(f"ID: {id_type}")
    chat.expect(masked)


@pytest.mark.parametrize(
    "name", ["সৌমিত্র চট্টোপাধ্যায়", "अमिताभ बच्चन", "S. K. D'Souza", "Roy-Chowdhury Ma"]
)
def test_names_in_any_script_are_accepted(name: str) -> None:
    chat = reach(Conversation(lang=Lang.EN), State.NAME).send(name)
    assert chat.state == State.CENTRE
    assert chat.session.draft.name == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Soumya 2", "numbers"),
        ("A", "too short"),
        ("x" * 61, "too long"),
        ("Rina 😀", "only letters"),
    ],
)
def test_bad_names_are_refused_with_a_reason(name: str, reason: str) -> None:
    chat = reach(Conversation(lang=Lang.EN), State.NAME).send(name)
    chat.expect(reason)
    assert chat.state == State.NAME


def test_more_centres_pages_through_the_list() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CENTRE)
    # 8 centres, then More and "None of these": WhatsApp's 10 rows.
    assert len(chat.rows) == 10 and chat.rows[-2:] == ["More centres", "None of these"]
    first = chat.rows[:8]
    chat.pick("More centres")
    assert chat.rows == ["Sealdah UPHC", "Shyambazar UPHC", "📍 Nearest to me", "None of these"]
    assert not set(first) & set(chat.rows)


def test_centre_titles_are_cut_cleanly() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CENTRE)
    assert "Roxy Cinema Hall Vaccin…" in chat.rows
    assert all(len(t) <= 24 for t in chat.rows)


def test_nearest_asks_for_location_and_sorts_by_distance() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.LOCATION)
    assert isinstance(chat.last, AskLocation)
    chat.share_location(22.5990, 88.3700)  # next to Shyambazar
    assert chat.state == State.CENTRE
    assert chat.rows[0] == "Shyambazar UPHC"
    reply = chat.last
    assert isinstance(reply, Pick) and reply.rows[0].description.startswith("0.")
    assert " km" in reply.rows[0].description


def test_location_at_the_centre_step_sorts_too() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CENTRE).share_location(22.5270, 88.3660)
    assert chat.rows[0] == "Ballygunge UPHC"


def test_change_picks_the_centre_again_and_keeps_the_rest() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CONFIRM).tap("Change")
    assert chat.state == State.CENTRE
    chat.pick("Sealdah" if "Sealdah UPHC" in chat.rows else "Ballygunge").pick(chat.row_ids[0])
    chat.pick(chat.row_ids[0])
    chat.expect("Soumya Das", "Covishield")


def test_cancel_at_confirm_books_nothing() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CONFIRM).tap("Cancel")
    chat.expect("Nothing was booked")
    assert chat.state == State.MENU and not chat.bookings.active()


def test_typed_number_and_typed_title_pick_an_option() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).send("2")
    assert chat.session.draft.vaccine == "covaxin"
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).send("২")
    assert chat.session.draft.vaccine == "covaxin"
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).send("३")
    assert chat.session.draft.vaccine == "sputnik_v"
    chat = reach(Conversation(lang=Lang.EN), State.VACCINE).send("sputnik v")
    assert chat.session.draft.vaccine == "sputnik_v"
    chat = reach(Conversation(lang=Lang.EN), State.CENTRE).send("Roxy")
    assert chat.state == State.DAY


def test_slot_rows_show_the_places_left() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.SLOT)
    reply = chat.last
    assert isinstance(reply, Pick)
    assert reply.rows[0].description == "40 left"


def test_no_free_places_for_the_vaccine_says_so() -> None:
    chat = Conversation(lang=Lang.EN)
    for slot in chat.bookings.snapshot().slots:
        if slot.vaccine == "sputnik_v":
            chat.bookings.take(slot.id)
    reach(chat, State.VACCINE).tap("Sputnik V").send("01-06-2021")
    chat.expect("no centre has free places for Sputnik V")
    assert chat.state == State.WAITLIST


def test_an_impossible_location_is_refused_not_stored() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CENTRE).share_location(float("nan"), 88.0)
    chat.expect("could not read that location")
    assert chat.session.draft.near is None


def test_confirm_on_an_older_summary_never_books_the_newer_one() -> None:
    chat = reach(Conversation(lang=Lang.EN), State.CONFIRM)
    first_summary = chat.last
    chat.send("back").send("back").pick(chat.row_ids[1]).pick(chat.row_ids[0])  # another day
    assert chat.state == State.CONFIRM and chat.body != first_summary.body
    # The citizen scrolls up and taps Confirm under the first summary.
    confirm = first_summary.buttons[0]
    chat.deliver(Choice(confirm.id, confirm.title))
    assert chat.effects == [] and not chat.bookings.active(chat.wa_id)
    chat.expect("no longer available")
    assert chat.state == State.CONFIRM
    chat.tap("Confirm")  # the summary on screen now still books
    assert chat.bookings.active(chat.wa_id)


def test_confirm_as_a_version_before_the_deploy_named_it_still_books() -> None:
    """A deploy mid-chat: the summary on screen came from the old version, whose
    Confirm id did not name the slot; the session it saved offered that id."""
    chat = reach(Conversation(lang=Lang.EN), State.CONFIRM)
    old_ids = ("confirm:yes", "confirm:change", "confirm:no")
    chat._save(replace(chat.session, offered=old_ids))
    chat.deliver(Choice("confirm:yes", "Confirm"))
    assert chat.bookings.active(chat.wa_id)


def test_no_qr_image_when_turned_off() -> None:
    """KMCBOT_QR_IMAGES=off: the ticket goes alone."""
    chat = book(Conversation(lang=Lang.EN, qr_images=False))
    assert len(chat.replies) == 1 and chat.qr is None
    chat.expect("Your 2nd dose is booked")
