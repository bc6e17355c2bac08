"""Reading what a citizen typed: global words ("menu", "মেনু", "मेनू"), option
numbers ("2", "২", "२") and option titles.

Words are matched in every language whatever the session's language: people
switch script mid-chat, and "hi" means the same to everyone.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import cache

from kmcbot.dialogue.catalogue import words
from kmcbot.dialogue.model import Lang
from kmcbot.whatsapp.text import strip_invisible, to_ascii_digits

# Spelling variants people type either way (long/short i and u vowel signs,
# nukta): folding them lets one catalogue entry match all of them.
_FOLD = dict.fromkeys([0x093C, 0x09BC]) | {
    0x0940: "\u093f",
    0x0942: "\u0941",
    0x09C0: "\u09bf",
    0x09C2: "\u09c1",
}
_LATIN_MARKS = range(0x0300, 0x0370)  # é -> e; Indic vowel signs are letters here, kept


def normalise(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form for matching words and titles."""
    text = unicodedata.normalize("NFKD", strip_invisible(text[:200]).casefold())
    kept = []
    for ch in text:
        if ord(ch) in _LATIN_MARKS:
            continue
        cat = unicodedata.category(ch)
        # Letters, marks (Bengali/Devanagari vowel signs) and digits carry the
        # meaning; punctuation, emoji, symbols and controls become spaces.
        kept.append(ch if cat[0] in "LMN" else " ")
    folded = unicodedata.normalize("NFC", "".join(kept)).translate(_FOLD)
    return " ".join(folded.split())


class Word(StrEnum):
    """What a global word asks for. Values are the catalogue keys under [words]."""

    MENU = "menu"  # greetings, "menu", "restart"
    HELP = "help"
    BOOKINGS = "bookings"
    LANGUAGE = "language"
    FORGET = "forget"
    CANCEL = "cancel"
    BACK = "back"


@cache
def _word_table() -> dict[str, Word]:
    table: dict[str, Word] = {}
    for lang in Lang:
        for word in Word:
            for phrase in words(lang, f"words.{word.value}"):
                table.setdefault(normalise(phrase), word)
    return table


def global_word(text: str) -> Word | None:
    return _word_table().get(normalise(text))


_NUMBER = re.compile(r"\d{1,2}")


def option_number(text: str) -> int | None:
    """1-based option number typed in any script, or None."""
    compact = to_ascii_digits(strip_invisible(text)).strip().rstrip(".)")
    return int(compact) if _NUMBER.fullmatch(compact) else None


def match_title(text: str, titles: dict[str, str]) -> str | None:
    """The id whose title the citizen typed: exact, or an unambiguous start of
    it (at least 3 characters, so "Roxy" finds "Roxy Cinema Hall")."""
    typed = normalise(text)
    if not typed:
        return None
    shown = {oid: normalise(title.rstrip("…")) for oid, title in titles.items()}
    exact = [oid for oid, title in shown.items() if title == typed]
    if len(exact) == 1:
        return exact[0]
    if len(typed) < 3:
        return None
    starts = [oid for oid, title in shown.items() if title.startswith(typed)]
    return starts[0] if len(starts) == 1 else None
