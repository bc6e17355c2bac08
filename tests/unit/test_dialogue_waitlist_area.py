"""Issue 22 in the chat: "None of these" at the centre list joins the waitlist,
and her area is asked when she joins (a ward or borough typed, her location, or
anywhere in Kolkata), named in her confirmation and in My bookings.

The fake city's centres (tests/support/fakes.py) carry the city data's wards and
boroughs: ward 64 is in Borough 7, ward 10 in Borough 2; ward 65 has no centre."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kmcbot.booking.commands import JoinWaitlist
from kmcbot.dialogue.area import AreaError, Borough, Ward, read_area
from kmcbot.dialogue.model import Lang, State, session_from_dict, session_to_dict
from kmcbot.messages import Ask, AskLocation, Pick
from kmcbot.whatsapp.outbound import limits_violations
from tests.support.conversation import Conversation, reach
from tests.support.ids import aadhaar_from

EN, BN, HI = Lang.EN, Lang.BN, Lang.HI


def at_centres(lang: Lang = EN) -> Conversation:
    return reach(Conversation(lang=lang), State.CENTRE)


def joined(chat: Conversation) -> JoinWaitlist:
    [join] = [e for e in chat.effects if isinstance(e, JoinWaitlist)]
    return join


def at_area(lang: Lang = EN) -> Conversation:
    chat = at_centres(lang).pick("centre:none")
    assert chat.state == State.AREA
    return chat


# ---------------------------------------------------------------- "None of these"


@pytest.mark.parametrize(
    ("lang", "row"), [(EN, "None of these"), (BN, "এগুলোর কোনোটাই না"), (HI, "इनमें से कोई नहीं")]
)
def test_none_of_these_is_a_row_of_every_page_within_whatsapps_ten(lang: Lang, row: str) -> None:
    chat = at_centres(lang)
    assert chat.rows[-1] == row and len(chat.rows) == 10
    assert not limits_violations(chat.last)
    chat.pick("centre:more")
    assert chat.rows[-1] == row and len(chat.rows) <= 10


@pytest.mark.parametrize("lang", [EN, BN, HI])
def test_none_of_these_asks_only_the_area_never_the_id_or_name_again(lang: Lang) -> None:
    chat = at_area(lang)
    assert isinstance(chat.last, Ask) and not limits_violations(chat.last)
    assert [b.id for b in chat.last.buttons] == ["area:city", "area:near"]
    d = chat.session.draft
    assert d.waitlist and d.id_hash and d.name == "Soumya Das"
    chat.send("64")
    join = joined(chat)
    assert (join.borough, join.near, join.name) == (7, None, "Soumya Das")
    assert (join.id_hash, join.id_last4) == (d.id_hash, d.id_last4) and chat.state == State.MENU


@pytest.mark.parametrize(
    "typed",
    [
        "none",
        "None of these",
        "none of these near me",
        "kono ta na",
        "কোনোটাই না",
        "कोई नहीं",
        "koi nahi",
        "inme se koi nahi",
    ],
)
def test_none_typed_at_the_centre_list(typed: str) -> None:
    chat = at_centres().send(typed)
    assert chat.state == State.AREA, chat.body


def test_a_reschedule_has_no_none_of_these_row() -> None:
    chat = reach(Conversation(lang=EN), State.MY_BOOKINGS)
    chat.pick(next(r for r in chat.row_ids if r.startswith("move:")))
    assert chat.state == State.CENTRE and "centre:none" not in chat.row_ids
    chat.send("none")
    assert chat.state == State.CENTRE and not chat.bookings.waiting


# ---------------------------------------------------------------- the area


@pytest.mark.parametrize(
    ("lang", "typed", "named"),
    [
        (EN, "64", "Covishield, ward 64 (Borough 7): number 1 in line"),
        (EN, "ward no. 64", "ward 64 (Borough 7)"),
        (BN, "৬৪ নম্বর ওয়ার্ড", "এলাকা: ওয়ার্ড ৬৪ (বরো ৭)। লাইনে ১ নম্বরে"),
        (BN, "ward 64", "ওয়ার্ড ৬৪ (বরো ৭)"),
        (HI, "वार्ड 64", "इलाका: वार्ड 64 (बरो 7)। लाइन में 1 नंबर पर"),
        (HI, "वार्ड ६४", "वार्ड 64 (बरो 7)"),
    ],
)
def test_a_typed_ward_waits_in_its_borough(lang: Lang, typed: str, named: str) -> None:
    chat = at_area(lang).send(typed)
    assert joined(chat).borough == 7
    chat.expect(named)


@pytest.mark.parametrize(
    ("lang", "typed", "named"),
    [
        (EN, "Borough VII", "Borough 7"),
        (EN, "borough 7", "Borough 7"),
        (EN, "VII", "Borough 7"),
        (BN, "বরো ৭", "বরো ৭"),
        (HI, "बरो 7", "बरो 7"),
    ],
)
def test_a_typed_borough(lang: Lang, typed: str, named: str) -> None:
    chat = at_area(lang).send(typed)
    assert joined(chat).borough == 7
    chat.expect(named)


@pytest.mark.parametrize(
    ("lang", "typed", "named"),
    [
        (EN, "Anywhere in Kolkata", "anywhere in Kolkata"),
        (EN, "anywhere", "anywhere in Kolkata"),
        (BN, "যেকোনো জায়গায়", "কলকাতার যেকোনো জায়গা"),
        (BN, "jekono jaygay", "কলকাতার যেকোনো জায়গা"),
        (HI, "कहीं भी", "कोलकाता में कहीं भी"),
        (HI, "kahin bhi", "कोलकाता में कहीं भी"),
    ],
)
def test_anywhere_tapped_or_typed_waits_in_the_whole_city(
    lang: Lang, typed: str, named: str
) -> None:
    chat = at_area(lang).send(typed)
    join = joined(chat)
    assert (join.borough, join.near) == (None, None)
    chat.expect(named)


@pytest.mark.parametrize("lang", [EN, BN, HI])
def test_the_anywhere_button(lang: Lang) -> None:
    chat = at_area(lang).tap("area:city")
    assert (joined(chat).borough, joined(chat).near) == (None, None)


def test_share_location_asks_for_it_then_waits_within_5_km() -> None:
    chat = at_area().tap("area:near")
    assert isinstance(chat.last, AskLocation) and chat.state == State.AREA
    assert "5 km" in chat.body
    chat.share_location(22.54, 88.365)
    join = joined(chat)
    assert (join.near, join.borough) == ((22.54, 88.365), None)
    chat.expect("within 5 km of the location you shared")


def test_a_location_sent_at_the_area_question_without_the_button() -> None:
    chat = at_area(BN).share_location(22.54, 88.365)
    assert joined(chat).near == (22.54, 88.365)
    chat.expect("পাঠানো লোকেশনের ৫ কিমির মধ্যে")


def test_a_location_shared_earlier_is_used_without_asking_and_said() -> None:
    chat = at_centres().share_location(22.54, 88.365)
    chat.pick("centre:none")
    join = joined(chat)
    assert join.near == (22.54, 88.365) and chat.state == State.MENU
    chat.expect("within 5 km of the location you shared", "number 1 in line")


def test_from_the_first_dose_step_the_area_is_asked_after_the_name() -> None:
    chat = reach(Conversation(lang=HI), State.DOSE_DATE).send("01-06-2021")
    chat.tap("waitlist:join").pick("id:aadhaar").send(aadhaar_from()).send("Rina Sen")
    assert chat.state == State.AREA
    chat.send("Borough VII")
    assert joined(chat).borough == 7


def test_a_bare_number_is_a_ward_never_the_button_numbered_so() -> None:
    chat = at_area().send("2")  # ward 2 has no centre: asked again, not "Share location"
    assert chat.state == State.AREA and not isinstance(chat.last, AskLocation)
    chat.expect("which borough ward 2 is in")
    chat.send("10")
    assert joined(chat).borough == 2


@pytest.mark.parametrize(
    ("lang", "typed", "reason"),
    [
        (EN, "145", "numbered 1 to 144"),
        (EN, "borough 17", "numbered 1 to 16"),
        (EN, "65", "which borough ward 65 is in"),
        (EN, "behala", "could not read that"),
        (EN, "not 64", "could not read that"),
        (EN, "64 or 68", "could not read that"),
        (BN, "১৪৫", "১ থেকে ১৪৪"),
        (BN, "বরো ১৭", "১ থেকে ১৬"),
        (BN, "৬৫", "ওয়ার্ড ৬৫ কোন বরোতে"),
        (HI, "वार्ड 200", "1 से 144"),
        (HI, "बरो 20", "1 से 16"),
        (HI, "कुछ भी", "समझ नहीं आया"),
    ],
)
def test_a_wrong_area_is_a_one_line_reason_and_the_same_question(
    lang: Lang, typed: str, reason: str
) -> None:
    chat = at_area(lang)
    before = chat.session.draft
    chat.send(typed)
    assert chat.state == State.AREA and chat.session.draft == before
    assert chat.effects == [] and chat.session.strikes == 1
    chat.expect(reason)
    assert chat.body.count("\n\n") == 1  # the reason, then the question


def test_three_wrong_areas_bring_help_and_keep_everything() -> None:
    chat = at_area()
    before = chat.session.draft
    for typed in ("145", "behala", "borough 99"):
        chat.send(typed)
    assert chat.state == State.AREA and chat.session.draft == before
    chat.expect("electricity or tax bill")
    chat.send("64")
    assert joined(chat).borough == 7


def test_my_bookings_shows_each_entrys_area() -> None:
    chat = at_area().send("Borough VII")
    chat.tap("menu:book").tap("vaccine:covishield").send("05-04-2021").pick("id:aadhaar")
    chat.send(aadhaar_from("32121212121")).send("Mina Das").pick("centre:none").tap("area:city")
    chat.tap("menu:bookings")
    chat.expect(
        "Soumya Das · Covishield · Borough 7 · number 1 in line",
        "Mina Das · Covishield · anywhere in Kolkata · number 2 in line",
    )
    assert isinstance(chat.last, Pick)


def test_the_area_survives_the_session_store() -> None:
    chat = at_area()
    s = chat.session
    for draft in (
        replace(s.draft, borough=7, ward=64),
        replace(s.draft, anywhere=True),
    ):
        again = replace(s, draft=draft)
        assert session_from_dict(session_to_dict(again)) == again


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("65", Ward(65)),
        ("Ward No. 65", Ward(65)),
        ("৬৫ নম্বর ওয়ার্ড", Ward(65)),
        ("৬৫নং ওয়ার্ড", Ward(65)),
        ("वार्ड 65", Ward(65)),
        ("mera ward 65 hai", Ward(65)),
        ("i live in ward 65", Ward(65)),
        ("Borough VII", Borough(7)),
        ("borough xvi", Borough(16)),
        ("বরো ৭", Borough(7)),
        ("बरो 7", Borough(7)),
        ("0", AreaError.NO_WARD),
        ("700019", AreaError.NO_WARD),
        ("borough 17", AreaError.NO_BOROUGH),
        ("65 nahi", AreaError.UNREADABLE),
        ("ward 65 borough 7", AreaError.UNREADABLE),
        ("anywhere", None),
        ("i", None),
    ],
)
def test_read_area(typed: str, read: object) -> None:
    assert read_area(typed) == read


def test_back_at_the_area_question_is_the_centre_list_she_came_from() -> None:
    chat = at_area().send("back")
    assert chat.state == State.CENTRE and not chat.session.draft.waitlist
    assert chat.session.draft.name == "Soumya Das"  # nothing she gave is lost
    chat.pick("centre:1")
    assert chat.state == State.DAY  # and she can still book


def test_back_at_the_area_question_with_no_centre_open_is_the_menu() -> None:
    chat = reach(Conversation(lang=EN), State.DOSE_DATE).send("01-06-2021")  # not yet due
    chat.tap("waitlist:join").pick("id:aadhaar").send(aadhaar_from()).send("Rina Sen")
    chat.send("back")
    assert chat.state == State.MENU and not chat.bookings.waiting
