"""Booking references and verification codes (kmcbot.booking.reference)."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmcbot.booking.reference import (
    ALPHABET,
    is_reference,
    new_code,
    new_reference,
    normalise_reference,
)

LOOK_ALIKES = set("0O1IL")
CANONICAL = re.compile(rf"KMC-[{ALPHABET}]{{6}}")


def test_alphabet_has_no_look_alike_characters() -> None:
    assert not LOOK_ALIKES & set(ALPHABET)


def test_alphabet_is_30_distinct_upper_case_letters_and_digits() -> None:
    assert ALPHABET == "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    assert len(set(ALPHABET)) == len(ALPHABET) == 30
    assert ALPHABET.isascii() and ALPHABET.isalnum() and ALPHABET.upper() == ALPHABET


def test_new_reference_is_kmc_dash_and_six_alphabet_characters() -> None:
    assert CANONICAL.fullmatch(new_reference())


def test_new_reference_is_deterministic_with_a_seeded_choice() -> None:
    first = new_reference(random.Random(42).choice)
    assert first == new_reference(random.Random(42).choice)
    assert CANONICAL.fullmatch(first)


def test_new_reference_uses_the_given_choice_for_each_character() -> None:
    picks = iter("4K7P2Q")
    assert new_reference(lambda _alphabet: next(picks)) == "KMC-4K7P2Q"


def test_new_reference_by_default_varies() -> None:
    assert len({new_reference() for _ in range(50)}) > 1


@given(seed=st.integers())
def test_references_never_contain_look_alike_characters(seed: int) -> None:
    reference = new_reference(random.Random(seed).choice)
    assert CANONICAL.fullmatch(reference)
    assert not LOOK_ALIKES & set(reference.removeprefix("KMC-"))


@given(seed=st.integers())
def test_new_references_are_recognised_as_they_are(seed: int) -> None:
    reference = new_reference(random.Random(seed).choice)
    assert normalise_reference(reference) == reference
    assert normalise_reference(reference.lower().replace("-", " ")) == reference


@pytest.mark.parametrize(
    "text",
    [
        "KMC-4K7P2Q",
        "kmc-4k7p2q",
        "Kmc-4K7p2Q",
        "KMC4K7P2Q",
        "kmc4k7p2q",
        "KMC 4K7P2Q",
        "kmc 4k7 p2q",
        " KMC - 4K7P2Q ",
        "K M C 4 K 7 P 2 Q",
        "KMC\u20134K7P2Q",  # en dash, as phones autocorrect
        "KMC_4K7P2Q",
        "KMC-4K7P2Q.",
        "KMC: 4K7P2Q",
        "\u200eKMC-4K7P2Q\u200f",
        "KMC-৪K৭P২Q",  # Bengali digits
        "KMC-४K७P२Q",  # Devanagari digits
        "ＫＭＣ－４Ｋ７Ｐ２Ｑ",  # full-width
        "\tKMC-4K7P2Q\n",
    ],
)
def test_recognises_references_in_any_case_spacing_and_dash(text: str) -> None:
    assert normalise_reference(text) == "KMC-4K7P2Q"
    assert is_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "KMC-",
        "KMC",
        "4K7P2Q",  # the prefix is required
        "KMC-4K7P2",  # 5 characters
        "KMC-4K7P2QQ",  # 7 characters
        "KMC-4K7P20",  # 0 is not in the alphabet
        "KMC-OK7P2Q",  # O
        "KMC-1K7P2Q",  # 1
        "KMC-IK7P2Q",  # I
        "KMC-LK7P2Q",  # L
        "KMC-UK7P2Q",  # U
        "ABC-4K7P2Q",
        "KMD-4K7P2Q",
        "KMC-4K7P2Q-KMC-4K7P2Q",
        "my reference is KMC-4K7P2Q",
        "KMC-4K7P2ẞ",
        "kmc-4k7p2ß",  # "ß".upper() would be "SS"
        "KMC-4K7P2Q🙂",
    ],
)
def test_rejects_text_that_is_not_a_reference(text: str) -> None:
    assert normalise_reference(text) is None
    assert not is_reference(text)


@given(text=st.text())
def test_normalise_reference_never_raises_and_returns_canonical_or_none(text: str) -> None:
    result = normalise_reference(text)
    assert result is None or CANONICAL.fullmatch(result)
    assert is_reference(text) == (result is not None)


# ---------------------------------------------------------------- verification codes


def test_new_code_is_four_digits() -> None:
    assert re.fullmatch(r"[0-9]{4}", new_code())


@pytest.mark.parametrize("drawn,code", [(0, "0000"), (7, "0007"), (123, "0123"), (9999, "9999")])
def test_new_code_keeps_leading_zeros(drawn: int, code: str) -> None:
    assert new_code(lambda _n: drawn) == code


def test_new_code_draws_from_ten_thousand_values() -> None:
    bounds: list[int] = []

    def record(n: int) -> int:
        bounds.append(n)
        return 0

    new_code(record)
    assert bounds == [10_000]


@given(drawn=st.integers(min_value=0, max_value=9999))
def test_every_drawn_number_gives_a_four_digit_code(drawn: int) -> None:
    code = new_code(lambda _n: drawn)
    assert re.fullmatch(r"[0-9]{4}", code) and int(code) == drawn
