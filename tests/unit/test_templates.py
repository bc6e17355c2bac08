"""The approved templates as data (issue 19, item 6): each template, in each language,
has exactly the parameters kmcbot/dialogue/notices.py sends, numbered 1..n in that
order, and the quick-reply buttons it sends."""

from __future__ import annotations

from datetime import date, time

import pytest

from kmcbot.booking.model import BookingStatus, BookingView, Centre, Vaccine
from kmcbot.dialogue.catalogue import catalogue
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.notices import Kind, Notice, Templates, template
from kmcbot.whatsapp.templates import SPECS, definitions, placeholders

NAMES = Templates(
    "kmcbot_booking_update",
    "kmcbot_slot_cancelled",
    "kmcbot_reminder",
    "kmcbot_on_list",
    "kmcbot_waitlist_offer",
)
FIELD_OF = {
    NAMES.booking: "booking",
    NAMES.slot_cancelled: "slot_cancelled",
    NAMES.reminder: "reminder",
    NAMES.on_list: "on_list",
    NAMES.waitlist_offer: "waitlist_offer",
}


def booking(lang: Lang) -> BookingView:
    centre = Centre(7, "C7", "Netaji Indoor Stadium", "Strand Road, Kolkata 700001", 45, 22.5, 88.3)
    return BookingView(
        reference="KMC-7QH3KD", code="4821", status=BookingStatus.BOOKED, centre=centre,
        slot_id=3, day=date(2021, 6, 5), start=time(10), end=time(12),
        vaccine=Vaccine.COVISHIELD, first_dose=date(2021, 3, 1), id_type="aadhaar",
        id_last4="1234", name="Sukanya Roy", lang=lang.value,
    )  # fmt: skip


@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("kind", list(Kind))
def test_each_template_takes_exactly_the_parameters_the_code_sends(kind: Kind, lang: Lang) -> None:
    sent = template(Notice(kind, booking(lang), reason="no stock"), NAMES)
    spec = SPECS[FIELD_OF[sent.name]]
    body = catalogue(lang)[spec.key]
    assert placeholders(body) and sorted(placeholders(body)) == list(
        range(1, len(sent.params) + 1)
    ), (body, sent.params)
    assert len(spec.examples) == len(sent.params)
    assert bool(sent.buttons) == (spec.button is not None)
    assert sent.lang == lang.value


def test_the_definitions_are_what_metas_template_api_takes() -> None:
    found = definitions(NAMES)
    assert {(d["name"], d["language"]) for d in found} == {
        (name, lang.value) for name in FIELD_OF for lang in Lang
    }
    for d in found:
        assert d["category"] == "UTILITY"
        [body] = [c for c in d["components"] if c["type"] == "BODY"]
        [examples] = body["example"]["body_text"]
        assert len(examples) == len(placeholders(body["text"]))
        assert "{" not in body["text"].replace("{{", "").replace("}}", "")
        for c in d["components"]:
            if c["type"] == "BUTTONS":
                assert all(b["type"] == "QUICK_REPLY" and 0 < len(b["text"]) <= 25
                           for b in c["buttons"])  # fmt: skip


@pytest.mark.parametrize("lang", list(Lang))
def test_the_waitlist_offer_template_takes_what_the_offer_job_sends(lang: Lang) -> None:
    from datetime import UTC, datetime

    from kmcbot.dialogue.waitlist import OfferView, offer_reply

    view = OfferView(
        7, lang.value, Vaccine.COVISHIELD, "Netaji Indoor Stadium", "Strand Road",
        date(2021, 6, 5), time(10), time(12), datetime(2021, 6, 4, 14, 30, tzinfo=UTC),
    )  # fmt: skip
    sent = offer_reply(view, in_window=False, template=NAMES.waitlist_offer)
    spec = SPECS[FIELD_OF[sent.name]]
    body = catalogue(lang)[spec.key]
    assert sorted(placeholders(body)) == list(range(1, len(sent.params) + 1))
    assert len(spec.examples) == len(sent.params)
    assert len(sent.buttons) == len(spec.buttons) == 2  # Book, Not now
