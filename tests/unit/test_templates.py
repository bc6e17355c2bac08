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
    "kmcbot_booking_update", "kmcbot_slot_cancelled", "kmcbot_reminder", "kmcbot_on_list"
)
FIELD_OF = {
    NAMES.booking: "booking",
    NAMES.slot_cancelled: "slot_cancelled",
    NAMES.reminder: "reminder",
    NAMES.on_list: "on_list",
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
