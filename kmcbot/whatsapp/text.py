"""Cleaning what a citizen typed on a phone, before any step reads it.

Pure and shared: dates, names, ID numbers and booking references all need the
same two folds, so they live here rather than in any one reader.
"""

from __future__ import annotations

import unicodedata

# Invisible characters that phones and copy-paste insert: zero-width space,
# (non-)joiners, word joiner, soft hyphen, BOM and the bidi marks/embeddings.
# They carry no meaning here and would otherwise split or disguise a word.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x061C, 0x180E, 0xFEFF, *range(0x200B, 0x2010), *range(0x202A, 0x202F)]
    + [*range(0x2060, 0x2065), *range(0x2066, 0x206A)]
)


def strip_invisible(text: str) -> str:
    """Remove zero-width characters and bidi marks (never visible, never meaningful)."""
    return text.translate(_INVISIBLE)


def to_ascii_digits(text: str) -> str:
    """Replace every Unicode decimal digit (Bengali ২, Devanagari २, ...) by its ASCII digit.

    Other characters are left alone, so this is safe on whole messages.
    """
    return "".join(_ascii_digit(ch) for ch in text)


def _ascii_digit(ch: str) -> str:
    # unicodedata.decimal is defined exactly for decimal digits (category Nd);
    # superscripts and fractions have no decimal value and stay as they are.
    value = unicodedata.decimal(ch, None)
    return ch if value is None else str(value)
