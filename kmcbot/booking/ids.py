"""Photo ID numbers: checking them per type, masking them, and the keyed hash we store.

Pure: no I/O. An ID number is never stored or logged in the clear (UIDAI
forbids storing Aadhaar numbers outside a vault); the database keeps only
`id_hash` and `last4`, and the bot only ever shows `mask_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.in_ import aadhaar, epic, pan

from kmcbot.whatsapp.text import strip_invisible, to_ascii_digits


class IdType(StrEnum):
    """The photo IDs accepted at the centre. Values are stored in the database and sessions."""

    AADHAAR = "aadhaar"
    EPIC = "epic"
    PAN = "pan"
    PASSPORT = "passport"
    DRIVING_LICENCE = "dl"
    NPR = "npr"
    PENSION = "pension"
    UDID = "udid"


class IdError(StrEnum):
    """Why a text is not a valid number of the chosen ID type (values are catalogue key parts)."""

    WRONG_LENGTH = "wrong_length"
    # A character that cannot appear there: a letter in an Aadhaar number, a
    # digit where EPIC or PAN need a letter, punctuation such as "@".
    WRONG_CHARACTERS = "wrong_characters"
    # Right length and characters but not a number that can exist: a failed
    # check digit (Aadhaar Verhoeff, EPIC Luhn) or a structural rule (an Aadhaar
    # cannot start with 0 or 1 or be a palindrome; a PAN serial cannot be 0000
    # and its 4th letter must be a known holder type). Usually a typo.
    CHECKSUM = "checksum"
    NOT_PERSONAL_PAN = "not_personal_pan"  # a company's, trust's, ... PAN: 4th letter not P


# What people type between groups of an ID number: spaces, dashes of every
# kind, dots, and the slashes of older driving licences ("WB/01/2011/...").
def _is_separator(ch: str) -> bool:
    return ch in "./" or unicodedata.category(ch) in ("Zs", "Zl", "Zp", "Pd") or ch.isspace()


def _compact(text: str) -> str:
    # NFKC folds full-width and other compatibility forms ("Ａ１") into plain ones.
    folded = to_ascii_digits(unicodedata.normalize("NFKC", strip_invisible(text)))
    return "".join(ch for ch in folded if not _is_separator(ch))


_ASCII_ALNUM = re.compile(r"[0-9A-Za-z]+")


def normalise_id(id_type: IdType, text: str) -> str | IdError:
    """The number in its stored form (upper-case ASCII letters and digits), or why it is wrong.

    Separators (spaces, dashes, dots, slashes) and invisible marks are
    dropped and Bengali/Devanagari digits become ASCII before the per-type
    check. Never raises, whatever the text.
    """
    compact = _compact(text)
    if not compact:
        return IdError.WRONG_LENGTH
    # Checked before upper-casing: "ß".upper() is "SS" and "ı".upper() is "I",
    # which would turn foreign letters into plausible ID characters.
    if not _ASCII_ALNUM.fullmatch(compact):
        return IdError.WRONG_CHARACTERS
    return _VALIDATORS[id_type](compact.upper())


# ---------------------------------------------------------------- per type
# Types with a character class only check characters first (a letter in an
# Aadhaar is the clearer message); types with a positional pattern check
# length first, since "which position is wrong" means little at the wrong length.


def _stdnum(validate: Callable[[str], str], number: str, on_format: IdError) -> str | IdError:
    """Run a python-stdnum validator and map its exception to the nearest IdError."""
    try:
        return validate(number)
    except InvalidLength:
        return IdError.WRONG_LENGTH
    except InvalidFormat:
        return on_format
    except InvalidChecksum:
        return IdError.CHECKSUM
    except ValidationError:  # InvalidComponent and anything stdnum adds later
        return IdError.CHECKSUM


def _aadhaar(number: str) -> str | IdError:
    # 12 digits, Verhoeff check digit, not starting with 0/1, not a palindrome.
    if not number.isdigit():
        return IdError.WRONG_CHARACTERS
    if len(number) != 12:
        return IdError.WRONG_LENGTH
    # Characters and length are already right, so stdnum's remaining format
    # rules (first digit, palindrome) mean "no such number", like a bad check digit.
    return _stdnum(aadhaar.validate, number, on_format=IdError.CHECKSUM)


def _epic(number: str) -> str | IdError:
    # 3 letters (the constituency's FUSN) + 6 digits + a Luhn check digit.
    # Older state-format cards ("WB/01/001/123456") are not accepted: stdnum
    # does not know them and their shape varies by state.
    if len(number) != 10:
        return IdError.WRONG_LENGTH
    return _stdnum(epic.validate, number, on_format=IdError.WRONG_CHARACTERS)


def _pan(number: str) -> str | IdError:
    # 5 letters (4th: holder type) + 4 digits + 1 letter. Only an individual's
    # PAN (4th letter P) identifies a person who can be vaccinated.
    if len(number) != 10:
        return IdError.WRONG_LENGTH
    valid = _stdnum(pan.validate, number, on_format=IdError.WRONG_CHARACTERS)
    if isinstance(valid, IdError):
        return valid
    return valid if valid[3] == "P" else IdError.NOT_PERSONAL_PAN


def _pattern(length: range, shape: re.Pattern[str], number: str) -> str | IdError:
    """Length first, then the positional character pattern."""
    if len(number) not in length:
        return IdError.WRONG_LENGTH
    return number if shape.fullmatch(number) else IdError.WRONG_CHARACTERS


_PASSPORT = re.compile(r"[A-Z][0-9]{7}")
# Driving licence: the 2004 national format is state (2 letters) + RTO (2
# digits) + year of issue (4 digits) + serial (7 digits), 15 characters, e.g.
# "WB0120110012345". Older and state-specific numbers vary (a 1-3 character
# RTO code, a shorter serial, letters in the RTO part), so we accept 13-16
# letters and digits that start with a 2-letter state code and contain a digit.
_DRIVING_LICENCE = re.compile(r"[A-Z]{2}(?=[A-Z0-9]*[0-9])[A-Z0-9]{11,14}")
# NPR smart card and pension passbook (PPO) numbers have no single published
# format: 6-20 letters and digits with at least one digit, so a name typed into
# the wrong step is caught.
_FREE_FORM = re.compile(r"(?=[A-Z0-9]*[0-9])[A-Z0-9]{6,20}")
# UDID (Unique Disability ID): 18 characters, a 2-letter state code first
# (e.g. "WB0520000012345678"). The rest is digits in the numbers we have seen;
# we accept letters there too rather than turn away a real card.
_UDID = re.compile(r"[A-Z]{2}(?=[A-Z0-9]*[0-9])[A-Z0-9]{16}")


def _passport(number: str) -> str | IdError:
    return _pattern(range(8, 9), _PASSPORT, number)  # one letter + 7 digits: "K1234567"


def _driving_licence(number: str) -> str | IdError:
    return _pattern(range(13, 17), _DRIVING_LICENCE, number)


def _free_form(number: str) -> str | IdError:
    return _pattern(range(6, 21), _FREE_FORM, number)


def _udid(number: str) -> str | IdError:
    return _pattern(range(18, 19), _UDID, number)


_VALIDATORS: Mapping[IdType, Callable[[str], str | IdError]] = MappingProxyType(
    {
        IdType.AADHAAR: _aadhaar,
        IdType.EPIC: _epic,
        IdType.PAN: _pan,
        IdType.PASSPORT: _passport,
        IdType.DRIVING_LICENCE: _driving_licence,
        IdType.NPR: _free_form,
        IdType.PENSION: _free_form,
        IdType.UDID: _udid,
    }
)

# ---------------------------------------------------------------- display and storage


def last4(number: str) -> str:
    """The last 4 characters (stored beside the hash, shown to the citizen)."""
    return "".join(number.split())[-4:]


def mask_id(number: str) -> str:
    """Everything but the last 4 characters as X, in groups of 4 from the left.

    "234123412346" -> "XXXX XXXX 2346"; "K1234567" -> "XXXX 4567". A number of
    4 characters or fewer is masked entirely: the bot never shows a whole ID.
    """
    compact = "".join(number.split())
    shown = 4 if len(compact) > 4 else 0
    masked = "X" * (len(compact) - shown) + compact[len(compact) - shown :]
    return " ".join(masked[i : i + 4] for i in range(0, len(masked), 4))


def id_hash(pepper: bytes, id_type: IdType, number: str) -> str:
    """Hex HMAC-SHA256 of "<id type>:<normalised number>" under the secret pepper.

    The only form in which an ID number is stored. Keyed, so that the 10^11
    possible Aadhaar numbers cannot be hashed in bulk by someone holding only
    the database; the type is part of the message so equal numbers of
    different ID types never collide. Pass the output of `normalise_id`.
    """
    if not pepper:
        # Without a key this is a plain hash, which a leaked table would give away.
        raise ValueError("id_hash needs a non-empty pepper")
    message = f"{id_type}:{number}".encode()
    return hmac.new(pepper, message, hashlib.sha256).hexdigest()
