"""The citizen's name as on the ID: letters of any script, checked, tidied."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from kmcbot.whatsapp.text import strip_invisible

MIN_LEN = 2
MAX_LEN = 60
_PUNCTUATION = frozenset(".'’-")  # "S. K. Das", "D'Souza", "Roy-Chowdhury"


class NameError_(StrEnum):  # noqa: N801 - `NameError` is a builtin
    """Why a name is refused (values are catalogue keys under [name_error])."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    DIGITS = "digits"
    CHARACTERS = "characters"
    ONLY_NAME = "only_name"  # "naam" left beside it (the dialogue's check, spoken.py)


def clean_name(raw: str) -> str | NameError_:
    """NFC, trimmed, single spaces; letters (with Bengali/Devanagari vowel signs,
    which are combining marks), spaces, dots, apostrophes and hyphens only."""
    name = " ".join(unicodedata.normalize("NFC", strip_invisible(raw[:1000])).split())
    if any(unicodedata.category(ch) == "Nd" for ch in name):
        return NameError_.DIGITS
    for ch in name:
        category = unicodedata.category(ch)
        if not (category[0] in "LM" or ch == " " or ch in _PUNCTUATION):
            return NameError_.CHARACTERS
    if not name or unicodedata.category(name[0])[0] != "L":
        # A name starts with a letter; a lone "." or "-" is not one.
        return NameError_.TOO_SHORT if len(name) < MIN_LEN else NameError_.CHARACTERS
    if sum(1 for ch in name if unicodedata.category(ch)[0] == "L") < MIN_LEN or len(name) < MIN_LEN:
        return NameError_.TOO_SHORT
    if len(name) > MAX_LEN:
        return NameError_.TOO_LONG
    return name
