"""The conversation in Bengali and Hindi, and every state's question within
WhatsApp's limits in every language."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest

from kmcbot.booking.availability import Availability
from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.model import Draft, Lang, Session, State
from kmcbot.dialogue.questions import render, slot_title
from kmcbot.dialogue.step import Context
from kmcbot.messages import Say
from kmcbot.whatsapp.outbound import limits_violations
from tests.support.conversation import REACHABLE, Conversation, reach
from tests.support.fakes import make_availability
from tests.support.ids import aadhaar_from


def test_full_booking_in_bengali_with_bengali_digits_and_month() -> None:
    chat = Conversation().send("নমস্কার").tap("বাংলা")
    assert chat.buttons == ["দ্বিতীয় ডোজ বুকিং", "আমার বুকিং", "সাহায্য"]
    chat.tap("দ্বিতীয় ডোজ বুকিং").expect("প্রথম ডোজে কোন টিকা").tap("কোভিশিল্ড")
    chat.send("৫ এপ্রিল ২০২১")
    chat.expect("সচিত্র পরিচয়পত্র").pick("আধার")
    number = aadhaar_from()
    chat.send(number.translate(str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")))
    chat.expect("XXXX XXXX " + number[-4:]).send("সৌমিত্র দাস")
    chat.pick("Roxy").pick("২ জুলাই ২০২১").pick("সকাল ১০টা–দুপুর ১২টা")
    chat.expect("কোভিশিল্ড", "২ জুলাই ২০২১", "আধার XXXX XXXX " + number[-4:], "সৌমিত্র দাস")
    chat.tap("নিশ্চিত করুন")
    [b] = chat.bookings.active(chat.wa_id)
    assert isinstance(chat.last, Say) and b.lang == "bn"
    chat.expect(b.reference, b.code, "আপনার পরিচয়পত্রের (আধার) হার্ড কপি সঙ্গে আনুন")


def test_full_booking_in_hindi() -> None:
    chat = Conversation().send("नमस्ते").tap("हिन्दी")
    chat.tap("दूसरी डोज़ बुक करें").tap("कोविशील्ड").send("5 अप्रैल 2021")
    chat.pick("आधार").send(aadhaar_from()).send("अमिताभ बच्चन")
    chat.pick("Roxy").pick("2 जुलाई 2021").pick("सुबह 10–दोपहर 12 बजे")
    chat.expect("अपनी बुकिंग जाँच लें", "कोविशील्ड").tap("पक्का करें")
    [b] = chat.bookings.active(chat.wa_id)
    chat.expect(b.reference, "अपने पहचान पत्र (आधार) की हार्ड कॉपी साथ लाएँ")


@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("state", REACHABLE)
def test_every_reachable_state_speaks_the_language_within_limits(lang: Lang, state: State) -> None:
    chat = reach(Conversation(lang=lang), state)  # the harness checks every reply's limits
    chat.send("help")
    assert chat.state == state
    chat.send_media("sticker")
    assert chat.state == state


@pytest.mark.parametrize("lang", [*Lang, None])
@pytest.mark.parametrize("state", list(State))
def test_every_state_question_is_within_limits(lang: Lang | None, state: State) -> None:
    """Rendered directly, with the longest drafts, notes and names we allow."""
    now = datetime(2021, 7, 1, 4, 30, tzinfo=UTC)
    av: Availability = make_availability(now.date())
    ctx = Context(now, av, b"pepper", lang, False)
    draft = Draft(
        vaccine="covishield",  # type: ignore[arg-type]
        first_dose=now.date().replace(month=4),
        id_type="pan",  # type: ignore[arg-type]
        id_last4="1234",
        name="ম" * 60,
        centre_id=1,
        day=av.slots[-1].day,
        slot_id=av.slots[-1].id,
        cancel_reference="KMC-4K7P2Q",
    )
    session = Session(state, lang, now, draft)
    for note in (None, "x" * 2000):
        reply, _ = render(session, ctx, note)
        assert limits_violations(reply) == []


_LOCATION_WORD = {Lang.EN: "location", Lang.BN: "লোকেশন", Lang.HI: "लोकेशन"}


@pytest.mark.parametrize("lang", list(Lang))
def test_the_first_centre_page_tells_how_to_see_the_nearest_and_help_names_no_missing_row(
    lang: Lang,
) -> None:
    """Page 1 has 8 centres, "More centres" and "None of these", no room for "Nearest to me": the
    question itself says a location can be shared, and help does not send the
    citizen to a row that is not there."""
    chat = reach(Conversation(lang=lang), State.CENTRE)
    near = text(lang, "centre.near").removeprefix("📍").strip()
    assert not any(near in row for row in chat.rows)
    assert _LOCATION_WORD[lang] in chat.body.casefold()
    chat.send("help")
    assert f"'{near}'" not in chat.body  # as help names a row: in quotes
    assert _LOCATION_WORD[lang] in chat.body.split("\n\n")[0].casefold()


@pytest.mark.parametrize("lang", list(Lang))
def test_a_very_long_centre_name_and_address_never_push_the_booking_out_of_the_summary(
    lang: Lang,
) -> None:
    """The interactive body holds 1024 characters: an operator's long centre name
    and address are shortened there, not the date, time, ID and name after them."""
    chat = Conversation(lang=lang)
    centres = chat.bookings._centres
    centres[1] = replace(centres[1], name="Mega Vaccination Centre " * 10, address="Lane, " * 150)
    reach(chat, State.CENTRE).pick("centre:1").pick(chat.row_ids[0]).pick(chat.row_ids[0])
    assert chat.state == State.CONFIRM
    chat.expect("Mega Vaccination Centre", "Lane,", "XXXX XXXX", "Soumya Das")
    chat.expect(slot_title(lang, time(14), time(16)))
