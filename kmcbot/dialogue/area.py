"""What a typed area means when a citizen joins the waitlist: a ward number
("65", "ward 65", "৬৫ নম্বর ওয়ার্ড", "वार्ड 65") or a borough number ("borough 7",
"Borough VII", "বরো ৭"). A bare number is a ward: citizens know their ward
better than their borough. The ward's borough comes from the centres' data
(`Availability.ward_boroughs`), looked up by the caller.

Read strictly, like an ID number: one number, with only the words people put
around it; anything else ("not 65", "65 or 66", "behala") is not guessed at.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from kmcbot.whatsapp.text import to_ascii_digits

WARDS = 144  # KMC's wards, 1-144
BOROUGHS = 16  # and its boroughs, 1-16 (written I-XVI)


@dataclass(frozen=True, slots=True)
class Ward:
    number: int


@dataclass(frozen=True, slots=True)
class Borough:
    number: int


class AreaError(StrEnum):
    """Why a typed area is refused (keys under [area_error])."""

    UNREADABLE = "unreadable"
    NO_WARD = "no_ward"  # a ward number outside 1-144
    NO_BOROUGH = "no_borough"  # a borough number outside 1-16


def _norm(word: str) -> str:
    # "য়" may come as one letter or as য + nukta: compare one form.
    return unicodedata.normalize("NFC", word.lower())


def _set(*words: str) -> frozenset[str]:
    return frozenset(_norm(w) for w in words)


_WARD = _set("ward", "wards", "wd", "wrd", "word", "ওয়ার্ড", "ওয়ার্ড", "ওয়ার্ডে", "वार्ड", "वॉर्ड")
_BOROUGH = _set("borough", "boro", "bouro", "brough", "burrow", "বরো", "বোরো", "बरो", "बोरो")
# The words around the number: "my ward no is 65", "আমার ৬৫ নম্বর ওয়ার্ড", "मेरा वार्ड 65 है".
_AROUND = _set(
    *("no", "nos", "num", "number", "nr", "nambar", "nomber", "numbar", "th", "st", "nd", "rd"),
    *("my", "is", "in", "i", "am", "im", "live", "stay", "the", "of", "at", "its", "it"),
    *("kolkata", "kmc", "please", "pls", "amar", "amader", "er", "e", "te", "ta", "ti", "thaki"),
    *("mera", "meri", "hamara", "ka", "ki", "mein", "me", "hai", "hu", "hoon", "rehta", "rehti"),
    *("নম্বর", "নম্বরে", "নং", "আমার", "আমাদের", "এর", "টা", "টি", "থাকি", "কলকাতা", "এ"),
    *("नंबर", "नम्बर", "नं", "मेरा", "मेरी", "हमारा", "का", "की", "में", "है", "हूँ", "हूं", "कोलकाता"),
    *("रहता", "रहती"),
)
# "Not 65", "65 nahi": a number turned round is not an answer.
_NOT = _set("not", "nahi", "nahin", "na", "noy", "nai", "না", "নয়", "নেই", "नहीं", "नही", "or", "ya")
_ROMAN = {
    r: n
    for n, r in enumerate(
        ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii")
        + ("ix", "x", "xi", "xii", "xiii", "xiv", "xv", "xvi"),
        start=1,
    )
}


def _tokens(text: str) -> list[str]:
    plain = "".join(
        " " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in to_ascii_digits(text)
    )
    # "ward65", "৬৫নং", "65th": the number apart from the word.
    return [p for w in plain.split() for p in re.split(r"(\d+)", _norm(w)) if p]


def read_area(text: str) -> Ward | Borough | AreaError | None:
    """The ward or borough `text` names; an AreaError if it gives a number that
    cannot be one; None if it names no number at all (words: "anywhere")."""
    words = _tokens(text)
    digits = [int(w) for w in words if w.isdigit()]
    borough_said = any(w in _BOROUGH for w in words)
    romans = [] if digits else [w for w in words if w in _ROMAN]
    # A Roman numeral only as a borough's ("Borough VII", or "VII" alone): "I" is a word.
    if romans and not borough_said and (len(words) > 1 or words == ["i"]):
        romans = []
    if not digits and not romans:
        return None
    known = _WARD | _BOROUGH | _AROUND
    others = [w for w in words if not w.isdigit() and w not in known and w not in romans]
    if others or any(w in _NOT for w in words) or len(digits) + len(romans) != 1:
        return AreaError.UNREADABLE
    if romans or borough_said:
        number = digits[0] if digits else _ROMAN[romans[0]]
        return Borough(number) if 1 <= number <= BOROUGHS else AreaError.NO_BOROUGH
    return Ward(digits[0]) if 1 <= digits[0] <= WARDS else AreaError.NO_WARD
