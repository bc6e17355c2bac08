"""Photo ID numbers: validation per type, masking and hashing (kmcbot.booking.ids).

Valid Aadhaar and EPIC numbers are made here with python-stdnum's own check
digit functions, never copied from real people's cards.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum import luhn

from kmcbot.booking.ids import IdError, IdType, id_hash, last4, mask_id, normalise_id
from tests.support.ids import aadhaar_from

BENGALI = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def make_epic(letters: str, serial6: str) -> str:
    return letters + serial6 + luhn.calc_check_digit(serial6)


AADHAAR = aadhaar_from("23412341234")  # 234123412346
AADHAAR_2 = aadhaar_from("98765432101")
EPIC = make_epic("WKH", "118625")
PAN = "ABCPE1234F"  # stdnum checks PAN's shape and holder type, not a check letter


def test_generated_test_numbers_are_the_expected_shapes() -> None:
    assert AADHAAR == "234123412346"
    assert len(AADHAAR_2) == 12
    assert re.fullmatch(r"[A-Z]{3}[0-9]{7}", EPIC)


def flip_last(number: str) -> str:
    """The same number with a different last character."""
    last = number[-1]
    return number[:-1] + ("1" if last == "0" else "0") if last.isdigit() else number[:-1] + "A"


# ---------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    "id_type,text,expected",
    [
        # Aadhaar: spaces, dashes, dots, other digit scripts
        (IdType.AADHAAR, AADHAAR, AADHAAR),
        (IdType.AADHAAR, "2341 2341 2346", AADHAAR),
        (IdType.AADHAAR, "2341-2341-2346", AADHAAR),
        (IdType.AADHAAR, "2341.2341.2346", AADHAAR),
        (IdType.AADHAAR, "  2341  2341 2346 ", AADHAAR),
        (IdType.AADHAAR, "2341\u20132341\u20142346", AADHAAR),  # en and em dashes
        (IdType.AADHAAR, "\u200e2341 2341 2346\u200f", AADHAAR),  # direction marks
        (IdType.AADHAAR, "２３４１２３４１２３４６", AADHAAR),  # full-width digits
        (IdType.AADHAAR, AADHAAR.translate(BENGALI), AADHAAR),
        (IdType.AADHAAR, AADHAAR.translate(DEVANAGARI), AADHAAR),
        (IdType.AADHAAR, "২৩৪১ 2341 २३४६", AADHAAR),  # mixed scripts
        (IdType.AADHAAR, AADHAAR_2, AADHAAR_2),
        # EPIC (voter ID)
        (IdType.EPIC, EPIC, EPIC),
        (IdType.EPIC, EPIC.lower(), EPIC),
        (IdType.EPIC, f"{EPIC[:3]} {EPIC[3:]}", EPIC),
        (IdType.EPIC, f"{EPIC[:3]}/{EPIC[3:]}".translate(BENGALI), EPIC),
        # PAN
        (IdType.PAN, PAN, PAN),
        (IdType.PAN, "abcpe1234f", PAN),
        (IdType.PAN, "ABCPE 1234 F", PAN),
        (IdType.PAN, "ABCPE১২৩৪F", PAN),
        # passport: one letter + 7 digits
        (IdType.PASSPORT, "K1234567", "K1234567"),
        (IdType.PASSPORT, "k 1234567", "K1234567"),
        (IdType.PASSPORT, "K-৮৭৬৫৪৩২", "K8765432"),
        # driving licence: 13-16 characters, 2-letter state code first
        (IdType.DRIVING_LICENCE, "WB0120110012345", "WB0120110012345"),
        (IdType.DRIVING_LICENCE, "WB-01-2011-0012345", "WB0120110012345"),
        (IdType.DRIVING_LICENCE, "wb01 20110012345", "WB0120110012345"),
        (IdType.DRIVING_LICENCE, "WB/01/2011/0012345", "WB0120110012345"),
        (IdType.DRIVING_LICENCE, "WB01 2011 ০০১২৩৪৫", "WB0120110012345"),
        (IdType.DRIVING_LICENCE, "DL04201101496", "DL04201101496"),  # 13 chars
        (IdType.DRIVING_LICENCE, "MH12A20110012345", "MH12A20110012345"),  # 16 chars
        (IdType.DRIVING_LICENCE, "WB01201100123456", "WB01201100123456"),  # 16 digits too
        # NPR smart card and pension passbook: 6-20 letters and digits
        (IdType.NPR, "123456", "123456"),
        (IdType.NPR, "ab12cd34ef56gh78ij90", "AB12CD34EF56GH78IJ90"),
        (IdType.PENSION, "PPO/123/2019", "PPO1232019"),
        (IdType.PENSION, "০১২৩৪৫৬৭", "01234567"),
        # UDID: 18 characters, 2-letter state code first
        (IdType.UDID, "WB0520000012345678", "WB0520000012345678"),
        (IdType.UDID, "wb05 2000 0012 3456 78", "WB0520000012345678"),
    ],
)
def test_accepts_valid_numbers_and_returns_their_stored_form(
    id_type: IdType, text: str, expected: str
) -> None:
    assert normalise_id(id_type, text) == expected


# ---------------------------------------------------------------- rejected


@pytest.mark.parametrize(
    "id_type,text,error",
    [
        # every type: nothing, or characters that are never part of an ID
        *[(t, "", IdError.WRONG_LENGTH) for t in IdType],
        *[(t, " - . ", IdError.WRONG_LENGTH) for t in IdType],
        *[(t, "AB12@3456789", IdError.WRONG_CHARACTERS) for t in IdType],
        *[(t, "রমেশ কুমার", IdError.WRONG_CHARACTERS) for t in IdType],
        *[(t, "ÄB1234567890", IdError.WRONG_CHARACTERS) for t in IdType],
        *[(t, "ẞ123456789012", IdError.WRONG_CHARACTERS) for t in IdType],
        # Aadhaar
        (IdType.AADHAAR, "23412341234", IdError.WRONG_LENGTH),
        (IdType.AADHAAR, "2341234123466", IdError.WRONG_LENGTH),
        (IdType.AADHAAR, "2341 2341 234A", IdError.WRONG_CHARACTERS),
        (IdType.AADHAAR, "ABCD", IdError.WRONG_CHARACTERS),
        (IdType.AADHAAR, flip_last(AADHAAR), IdError.CHECKSUM),
        (IdType.AADHAAR, "234123412364", IdError.CHECKSUM),  # last two digits swapped
        (IdType.AADHAAR, aadhaar_from("12341234123"), IdError.CHECKSUM),  # starts with 1
        (IdType.AADHAAR, aadhaar_from("01234123412"), IdError.CHECKSUM),  # starts with 0
        (IdType.AADHAAR, "222222222222", IdError.CHECKSUM),  # palindrome
        # EPIC
        (IdType.EPIC, EPIC[:-1], IdError.WRONG_LENGTH),
        (IdType.EPIC, EPIC + "1", IdError.WRONG_LENGTH),
        (IdType.EPIC, "123" + EPIC[3:], IdError.WRONG_CHARACTERS),
        (IdType.EPIC, EPIC[:3] + "A" + EPIC[4:], IdError.WRONG_CHARACTERS),
        (IdType.EPIC, flip_last(EPIC), IdError.CHECKSUM),
        # PAN
        (IdType.PAN, "ABCPE1234", IdError.WRONG_LENGTH),
        (IdType.PAN, "ABCPE1234FF", IdError.WRONG_LENGTH),
        (IdType.PAN, "ABCPE12345", IdError.WRONG_CHARACTERS),  # last must be a letter
        (IdType.PAN, "AB1PE1234F", IdError.WRONG_CHARACTERS),
        (IdType.PAN, "ABCCE1234F", IdError.NOT_PERSONAL_PAN),  # company
        (IdType.PAN, "ABCFE1234F", IdError.NOT_PERSONAL_PAN),  # firm
        (IdType.PAN, "ABCTE1234F", IdError.NOT_PERSONAL_PAN),  # trust
        (IdType.PAN, "ABCHE1234F", IdError.NOT_PERSONAL_PAN),  # Hindu undivided family
        (IdType.PAN, "ABCXE1234F", IdError.CHECKSUM),  # no such holder type: a typo
        (IdType.PAN, "ABCPE0000F", IdError.CHECKSUM),  # serial 0000 is never issued
        # passport
        (IdType.PASSPORT, "K123456", IdError.WRONG_LENGTH),
        (IdType.PASSPORT, "K12345678", IdError.WRONG_LENGTH),
        (IdType.PASSPORT, "12345678", IdError.WRONG_CHARACTERS),
        (IdType.PASSPORT, "KK123456", IdError.WRONG_CHARACTERS),
        (IdType.PASSPORT, "K123456A", IdError.WRONG_CHARACTERS),
        # driving licence
        (IdType.DRIVING_LICENCE, "WB012011001", IdError.WRONG_LENGTH),  # 11
        (IdType.DRIVING_LICENCE, "WB0120110012", IdError.WRONG_LENGTH),  # 12
        (IdType.DRIVING_LICENCE, "WB012011001234567", IdError.WRONG_LENGTH),  # 17
        (IdType.DRIVING_LICENCE, "010120110012345", IdError.WRONG_CHARACTERS),  # no state code
        (IdType.DRIVING_LICENCE, "W10120110012345", IdError.WRONG_CHARACTERS),
        (IdType.DRIVING_LICENCE, "WBABCDEFGHIJKLM", IdError.WRONG_CHARACTERS),  # no digit
        # NPR and pension
        (IdType.NPR, "12345", IdError.WRONG_LENGTH),
        (IdType.NPR, "1" * 21, IdError.WRONG_LENGTH),
        (IdType.NPR, "RAMESH", IdError.WRONG_CHARACTERS),  # a name, not a number
        (IdType.PENSION, "12345", IdError.WRONG_LENGTH),
        (IdType.PENSION, "PENSIONER", IdError.WRONG_CHARACTERS),
        # UDID
        (IdType.UDID, "WB052000001234567", IdError.WRONG_LENGTH),
        (IdType.UDID, "WB05200000123456789", IdError.WRONG_LENGTH),
        (IdType.UDID, "120520000012345678", IdError.WRONG_CHARACTERS),  # no state code
        (IdType.UDID, "WBABCDEFGHIJKLMNOP", IdError.WRONG_CHARACTERS),  # no digit
    ],
)
def test_rejects_invalid_numbers_with_the_reason(
    id_type: IdType, text: str, error: IdError
) -> None:
    assert normalise_id(id_type, text) == error


def test_id_types_keep_their_stored_values() -> None:
    assert {t.name: str(t) for t in IdType} == {
        "AADHAAR": "aadhaar",
        "EPIC": "epic",
        "PAN": "pan",
        "PASSPORT": "passport",
        "DRIVING_LICENCE": "dl",
        "NPR": "npr",
        "PENSION": "pension",
        "UDID": "udid",
    }


def test_id_types_can_be_looked_up_by_their_stored_value() -> None:
    assert normalise_id(IdType("aadhaar"), AADHAAR) == AADHAAR


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize(
    "number,masked",
    [
        (AADHAAR, "XXXX XXXX 2346"),
        ("2341 2341 2346", "XXXX XXXX 2346"),  # already grouped: same result
        ("K1234567", "XXXX 4567"),
        ("ABCPE1234F", "XXXX XX23 4F"),
        ("WB0120110012345", "XXXX XXXX XXX2 345"),
        ("WB0520000012345678", "XXXX XXXX XXXX XX56 78"),
        ("AB1234", "XX12 34"),  # short ids still show exactly the last 4
        ("12345", "X234 5"),
        ("1234", "XXXX"),  # never the whole number
        ("12", "XX"),
        ("", ""),
    ],
)
def test_mask_id_shows_only_the_last_four_in_groups_of_four(number: str, masked: str) -> None:
    assert mask_id(number) == masked


@pytest.mark.parametrize(
    "number,expected",
    [(AADHAAR, "2346"), ("2341 2341 2346", "2346"), ("K1234567", "4567"), ("12", "12")],
)
def test_last4_is_the_last_four_characters(number: str, expected: str) -> None:
    assert last4(number) == expected


# ---------------------------------------------------------------- hashing

PEPPER = b"test-pepper-not-a-secret"


def test_id_hash_is_hex_hmac_sha256_of_type_colon_number() -> None:
    expected = hmac.new(PEPPER, b"aadhaar:234123412346", hashlib.sha256).hexdigest()
    assert id_hash(PEPPER, IdType.AADHAAR, AADHAAR) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_id_hash_uses_the_stored_type_value() -> None:
    expected = hmac.new(PEPPER, b"dl:WB0120110012345", hashlib.sha256).hexdigest()
    assert id_hash(PEPPER, IdType.DRIVING_LICENCE, "WB0120110012345") == expected


def test_id_hash_differs_by_type_pepper_and_number() -> None:
    base = id_hash(PEPPER, IdType.NPR, "123456789012")
    assert base != id_hash(PEPPER, IdType.PENSION, "123456789012")
    assert base != id_hash(b"another pepper", IdType.NPR, "123456789012")
    assert base != id_hash(PEPPER, IdType.NPR, "123456789013")
    assert base == id_hash(PEPPER, IdType.NPR, "123456789012")


def test_id_hash_refuses_an_empty_pepper() -> None:
    with pytest.raises(ValueError, match="pepper"):
        id_hash(b"", IdType.AADHAAR, AADHAAR)


# ---------------------------------------------------------------- properties

aadhaar_bodies = st.from_regex(r"[2-9][0-9]{10}", fullmatch=True)


@given(id_type=st.sampled_from(IdType), text=st.text())
def test_normalise_id_never_raises_and_returns_upper_ascii_or_an_error(
    id_type: IdType, text: str
) -> None:
    result = normalise_id(id_type, text)
    assert isinstance(result, str)
    if not isinstance(result, IdError):
        assert re.fullmatch(r"[0-9A-Z]+", result)
        assert normalise_id(id_type, result) == result  # the stored form is stable


@given(id_type=st.sampled_from(IdType), text=st.text(alphabet="0123456789ABCPWK -./"))
def test_normalise_id_never_raises_on_id_shaped_text(id_type: IdType, text: str) -> None:
    assert isinstance(normalise_id(id_type, text), str)


@given(body=aadhaar_bodies)
def test_every_aadhaar_with_a_verhoeff_check_digit_is_accepted(body: str) -> None:
    number = aadhaar_from(body)
    assume(number != number[::-1])
    assert normalise_id(IdType.AADHAAR, number) == number
    assert normalise_id(IdType.AADHAAR, number.translate(BENGALI)) == number


@given(body=aadhaar_bodies, position=st.integers(1, 11), digit=st.sampled_from("0123456789"))
def test_any_single_digit_typo_in_an_aadhaar_is_caught(
    body: str, position: int, digit: str
) -> None:
    number = aadhaar_from(body)
    assume(number[position] != digit)
    typo = number[:position] + digit + number[position + 1 :]
    assert normalise_id(IdType.AADHAAR, typo) is IdError.CHECKSUM


@given(body=aadhaar_bodies, position=st.integers(0, 10))
def test_any_swap_of_adjacent_aadhaar_digits_is_caught(body: str, position: int) -> None:
    number = aadhaar_from(body)
    assume(number[position] != number[position + 1])
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    assert normalise_id(IdType.AADHAAR, swapped) is IdError.CHECKSUM


@given(
    letters=st.from_regex(r"[A-Z]{3}", fullmatch=True),
    serial=st.from_regex(r"[0-9]{6}", fullmatch=True),
)
def test_every_epic_with_a_luhn_check_digit_is_accepted(letters: str, serial: str) -> None:
    number = make_epic(letters, serial)
    assert normalise_id(IdType.EPIC, number.lower()) == number
    assert normalise_id(IdType.EPIC, flip_last(number)) is IdError.CHECKSUM


@given(pan=st.from_regex(r"[A-Z]{3}P[A-Z][0-9]{3}[1-9][A-Z]", fullmatch=True))
def test_every_well_formed_individual_pan_is_accepted(pan: str) -> None:
    assert normalise_id(IdType.PAN, pan.lower()) == pan


@given(number=st.from_regex(r"[0-9A-Z]{0,30}", fullmatch=True))
def test_mask_id_never_reveals_more_than_the_last_four(number: str) -> None:
    masked = mask_id(number).replace(" ", "")
    assert len(masked) == len(number)
    visible = 4 if len(number) > 4 else 0
    assert masked[: len(number) - visible] == "X" * (len(number) - visible)
    assert masked[len(number) - visible :] == number[len(number) - visible :]
    assert all(len(group) <= 4 for group in mask_id(number).split(" "))
