"""A simulated citizen whose cancel the bot refuses (the session started meanwhile)."""

from __future__ import annotations

import random
from datetime import date

from kmcbot.devtools.loadgen.citizen import Citizen, Done, Kind, Numbers, Step, Unexpected

REFERENCE = "KMC-4JF3HM"
TODAY = date(2026, 12, 7)


def menu(note: str) -> dict:
    buttons = [("menu:book", "Book"), ("menu:bookings", "My bookings"), ("menu:help", "Help")]
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": f"{note}\n\nWhat would you like to do?"},
            "action": {
                "buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in buttons]
            },
        },
    }


def cancelling() -> Citizen:
    rng = random.Random(1)
    c = Citizen("919800000001", rng, Numbers(rng), references=[REFERENCE])
    c.kind, c.step, c.cancelling = Kind.CANCEL, Step.CANCELLED, REFERENCE
    return c


def test_a_refused_cancel_ends_the_visit_and_keeps_the_booking() -> None:
    c = cancelling()
    action = c.answer(menu("The time of that booking has already started."), TODAY)
    assert action == Done(Kind.CANCEL, refused=True)
    assert c.references == [REFERENCE]


def test_a_done_cancel_names_the_booking() -> None:
    c = cancelling()
    assert c.answer(menu(f"Booking {REFERENCE} is cancelled."), TODAY) == Done(
        Kind.CANCEL, REFERENCE
    )
    assert c.references == []


def test_anything_else_at_that_step_is_unexpected() -> None:
    c = cancelling()
    assert isinstance(c.answer({"type": "text", "text": {"body": "hello"}}, TODAY), Unexpected)
