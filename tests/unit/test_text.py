"""Folding digits and dropping invisible marks (kmcbot.whatsapp.text)."""

from __future__ import annotations

import pytest

from kmcbot.whatsapp.text import strip_invisible, to_ascii_digits


@pytest.mark.parametrize(
    "text,expected",
    [
        ("২", "2"),
        ("০১২৩৪৫৬৭৮৯", "0123456789"),
        ("०१२३४५६७८९", "0123456789"),
        ("৫ জুন ২০২১", "5 জুন 2021"),
        ("abc 123", "abc 123"),
        ("৩ and ३ and 3", "3 and 3 and 3"),
        ("²½", "²½"),  # not decimal digits
        ("", ""),
    ],
)
def test_to_ascii_digits_converts_bengali_and_devanagari_digits_only(
    text: str, expected: str
) -> None:
    assert to_ascii_digits(text) == expected


def test_strip_invisible_removes_joiners_and_direction_marks_only() -> None:
    assert strip_invisible("a\u200cb\u200dc\u200ed\u200fe\ufeff জুন") == "abcde জুন"
