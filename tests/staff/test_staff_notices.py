"""The console's news to citizens, rendered (pure): "on the list" and a cancelled
session's reason, in each language, inside the 24-hour window and outside it."""

from __future__ import annotations

from datetime import date, time

import pytest

from kmcbot.booking.model import BookingStatus, BookingView, Centre, Vaccine
from kmcbot.dialogue.notices import REASON_CODES, Kind, Notice, Templates, render
from kmcbot.messages import Ask, Say, Template

TEMPLATES = Templates("t_booking", "t_cancelled", "t_reminder", "t_on_list")


def view(lang: str) -> BookingView:
    return BookingView(
        reference="KMC-4K7P2Q",
        code="1234",
        status=BookingStatus.BOOKED,
        centre=Centre(1, "HC-A", "Ward 46 Health Centre", "5 Chowringhee", 46, 22.5, 88.3),
        slot_id=1,
        day=date(2026, 12, 7),
        start=time(12),
        end=time(14),
        vaccine=Vaccine.COVISHIELD,
        first_dose=date(2026, 8, 1),
        id_type="aadhaar",
        id_last4="1234",
        name="Rina Das",
        lang=lang,
    )


@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "Your name is on the list"), ("bn", "তালিকায় আপনার নাম আছে"), ("hi", "सूची में आपका नाम")],
)
def test_on_the_list_in_each_language(lang: str, words: str) -> None:
    reply = render(Notice(Kind.ON_LIST, view(lang)), in_window=True, templates=TEMPLATES)
    assert isinstance(reply, Say) and words in reply.body
    assert "Ward 46 Health Centre" in reply.body and "KMC-4K7P2Q" in reply.body
    assert "1234" not in reply.body.replace("KMC-4K7P2Q", "")  # neither code nor ID digits
    outside = render(Notice(Kind.ON_LIST, view(lang)), in_window=False, templates=TEMPLATES)
    assert isinstance(outside, Template) and outside.name == "t_on_list"
    assert outside.lang == lang and outside.params[0] == "Ward 46 Health Centre"
    assert outside.params[3] == "KMC-4K7P2Q" and len(outside.params) == 5


@pytest.mark.parametrize("lang", ["en", "bn", "hi"])
@pytest.mark.parametrize("code", REASON_CODES)
def test_a_reason_code_reaches_the_citizen_in_their_language(lang: str, code: str) -> None:
    from kmcbot.dialogue.catalogue import text
    from kmcbot.dialogue.model import Lang

    expected = text(Lang(lang), f"notice.reason_{code}")
    notice = Notice(Kind.SLOT_CANCELLED, view(lang), reason=code)
    inside = render(notice, in_window=True, templates=TEMPLATES)
    assert isinstance(inside, Ask) and expected in inside.body and "_" not in inside.body
    assert inside.buttons[0].id == "menu:book"
    outside = render(notice, in_window=False, templates=TEMPLATES)
    assert outside.params[3] == expected and outside.buttons == ("menu:book",)
