"""Booking references ("KMC-4K7P2Q") and 4-digit verification codes.

Pure: randomness comes in through a `choice` / `randbelow` callable (from
`secrets` by default) so tests can be deterministic.

A reference is read aloud at a centre and typed by staff from a phone screen,
so its alphabet leaves out characters that look alike: 0/O, 1/I/L, and U
(next to V). 30 characters ** 6 positions gives about 729 million
references; the database's unique index catches the rare collision and the
caller draws again.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence

from kmcbot.whatsapp.text import strip_invisible, to_ascii_digits

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "KMC-"
LENGTH = 6  # characters after the prefix

_REFERENCE = re.compile(rf"KMC([{ALPHABET}]{{{LENGTH}}})")


def new_reference(choice: Callable[[Sequence[str]], str] = secrets.choice) -> str:
    """A fresh reference, "KMC-" + 6 characters from ALPHABET.

    `choice` picks one character from a sequence; pass `random.Random(seed).choice`
    in tests. The default is cryptographically random, so references cannot be
    guessed from one another.
    """
    return PREFIX + "".join(choice(ALPHABET) for _ in range(LENGTH))


def normalise_reference(text: str) -> str | None:
    """The reference in its canonical form "KMC-XXXXXX", or None if the text is not one.

    Tolerates lower case, spaces, a missing or different dash, surrounding
    punctuation ("KMC 4k7 p2q.") and Bengali/Devanagari digits. The "KMC"
    prefix is required, so that an arbitrary 6-letter word is never taken
    for a reference.
    """
    folded = to_ascii_digits(unicodedata.normalize("NFKC", strip_invisible(text)))
    # Drop spaces and punctuation of every kind: "KMC-4K7P2Q", "KMC 4K7 P2Q", "KMC:4K7P2Q."
    compact = "".join(ch for ch in folded if not _is_separator(ch))
    # ASCII only before upper-casing: "ß".upper() == "SS" would forge characters.
    if not compact.isascii():
        return None
    match = _REFERENCE.fullmatch(compact.upper())
    return PREFIX + match[1] if match else None


def _is_separator(ch: str) -> bool:
    return ch.isspace() or unicodedata.category(ch)[0] in "PZ"


def is_reference(text: str) -> bool:
    """Whether the text is a booking reference, by the rules of `normalise_reference`."""
    return normalise_reference(text) is not None


def new_code(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A 4-digit verification code, "0000" to "9999", shown at the centre with the reference."""
    return f"{randbelow(10_000):04d}"
