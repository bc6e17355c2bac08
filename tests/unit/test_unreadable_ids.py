"""The ids issue 19 added to an inbound message (the user id, a changed number's
new ids) are stored and keyed like wa_id, so web/unreadable.py checks them too."""

from __future__ import annotations

from datetime import UTC, datetime

from kmcbot.messages import IdentityChange, Inbound, Text
from kmcbot.web.unreadable import why_unreadable

AT = datetime(2026, 4, 1, tzinfo=UTC)


def test_a_control_character_in_the_user_id_drops_the_item() -> None:
    ok = Inbound("919800000001", "wamid.1", AT, Text("hi"), user_id="IN.1502576394655843")
    assert why_unreadable(ok) is None
    bad = Inbound("919800000001", "wamid.1", AT, Text("hi"), user_id="IN.15025\x00")
    assert why_unreadable(bad) == "control character in an id"


def test_a_changed_numbers_new_ids_are_checked() -> None:
    def change(number: str | None, user_id: str | None) -> Inbound:
        return Inbound("919800000001", "wamid.2", AT, IdentityChange(number, user_id))

    assert why_unreadable(change("919800000002", None)) is None
    assert why_unreadable(change("9198\x0000002", None)) == "control character in an id"
    assert why_unreadable(change(None, "IN.\ud83d")) == "lone surrogate"
