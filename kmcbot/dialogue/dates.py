"""The date of a citizen's first dose, read from what they typed on a phone.

Pure: no I/O and no clock (the caller passes `today`), so the dialogue stays a
function of its inputs and tests can pin any day.

Reading rules (see `parse_date`):
- numeric dates are always day first (Indian convention), except ISO
  year-month-day, recognised by its 4-digit first number;
- 2-digit years are 20xx;
- a date without a year is the most recent such date not after `today`;
- digits may be ASCII, Bengali (০-৯), Devanagari (०-९) or any other Unicode
  decimal digits, mixed freely; month names may be English (full, any prefix
  of 3+ letters such as "Jun" or "Sept"), Bengali or Hindi;
- the words people wrap a date in ("২৮ আগস্ট ২০২৬ তারিখে", "28 अगस्त 2026 को",
  "1st dose on 5th of June"), other month spellings and short forms (জানু,
  সেপ্টে, agust) and Bengali month endings (জুনের, আগস্টের) come from
  date_words.toml, so that a new spelling is data, not code.

Formats deliberately not accepted (they read as UNREADABLE):
- digits without separators ("05062021", "050621"): DDMMYYYY and YYYYMMDD
  cannot be told apart reliably, and a run of digits is as likely to be an ID
  or a phone number typed into the wrong step;
- month first numeric dates ("06/05/2021" is 6 May, never 5 June);
- a month with a year but no day ("June 2021"), or words we do not know
  (weekday names, "yesterday"): asking again is safer than guessing.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from kmcbot.whatsapp.text import strip_invisible, to_ascii_digits

# India's vaccination programme began on 16 January 2021; no first dose is older.
PROGRAMME_START = date(2021, 1, 16)


class DateError(StrEnum):
    """Why a text is not an acceptable first-dose date (values are catalogue key parts)."""

    UNREADABLE = "unreadable"
    IMPOSSIBLE = "impossible"  # no such calendar day, e.g. 31-02-2021 or 30/13/2021
    FUTURE = "future"  # after today
    TOO_EARLY = "too_early"  # before PROGRAMME_START


# ---------------------------------------------------------------- month names

_EN_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip

# Display names: the first spelling of each month below is the one we print.
_EN_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_BN_MONTHS: tuple[tuple[str, ...], ...] = (
    ("জানুয়ারি", "জানুয়ারী"),
    ("ফেব্রুয়ারি", "ফেব্রুয়ারী"),
    ("মার্চ",),
    ("এপ্রিল",),
    ("মে",),
    ("জুন",),
    ("জুলাই",),
    ("আগস্ট", "আগষ্ট", "অগাস্ট", "অগস্ট"),
    ("সেপ্টেম্বর",),
    ("অক্টোবর",),
    ("নভেম্বর",),
    ("ডিসেম্বর",),
)
_HI_MONTHS: tuple[tuple[str, ...], ...] = (
    ("जनवरी",),
    ("फ़रवरी", "फरवरी"),
    ("मार्च",),
    ("अप्रैल", "अप्रेल"),
    ("मई",),
    ("जून",),
    ("जुलाई",),
    ("अगस्त",),
    ("सितंबर", "सितम्बर"),
    ("अक्टूबर", "अक्तूबर"),
    ("नवंबर", "नवम्बर"),
    ("दिसंबर", "दिसम्बर"),
)

# Spelling differences that do not change the word for a reader: nukta
# (फ़/फ, য়/য) and long/short i and u vowel signs (ী/ি, ू/ु), which people
# type either way. Folding them lets one table entry match every variant.
_SPELLING_FOLD = dict.fromkeys([0x093C, 0x09BC]) | {
    0x0940: "\u093f",  # Devanagari ii -> i
    0x0942: "\u0941",  # Devanagari uu -> u
    0x09C0: "\u09bf",  # Bengali ii -> i
    0x09C2: "\u09c1",  # Bengali uu -> u
}


def _word_key(word: str) -> str:
    """The form under which a word is looked up: NFC, case-folded, spelling-folded."""
    return unicodedata.normalize("NFC", strip_invisible(word)).casefold().translate(_SPELLING_FOLD)


def _load_words() -> dict[str, dict[str, list[str]]]:
    with Path(__file__).with_name("date_words.toml").open("rb") as f:
        return tomllib.load(f)


_DATA = _load_words()


def _month_table() -> Mapping[str, int]:
    table: dict[str, int] = {}
    for number, name in enumerate(_EN_MONTHS, start=1):
        # Any prefix of 3+ letters: "jun", "sept", "janu"; the 3-letter
        # prefixes of the twelve months are all different, so none is ambiguous.
        table.update({name[:end]: number for end in range(3, len(name) + 1)})
    for spellings in (_BN_MONTHS, _HI_MONTHS):
        for number, names in enumerate(spellings, start=1):
            table.update({_word_key(name): number for name in names})
    for month, forms in _DATA["months"].items():
        table.update({_word_key(form): int(month) for form in forms})
    return MappingProxyType(table)


_MONTHS = _month_table()

# Ordinal endings after a day number: English 5th, Bengali ৫ই / ১লা / ২রা /
# ৪ঠা / ২১শে. Hindi writes dates without ordinals. Dropped when they follow a number.
_ORDINAL_SUFFIXES = frozenset(
    _word_key(s) for s in ("st", "nd", "rd", "th", "লা", "রা", "ঠা", "ই", "শে")
)
# Words people put around a date that change nothing: "5th of June", "২৮ আগস্ট তারিখে".
_FILLER = frozenset(_word_key(w) for words in _DATA["filler"].values() for w in words)
# Endings of a month name in a Bengali sentence: "জুনের", "আগস্টের", "marcher".
_MONTH_ENDINGS = tuple(
    sorted(
        {_word_key(s) for endings in _DATA["suffixes"].values() for s in endings},
        key=len,
        reverse=True,
    )
)


def month_names(month: int) -> tuple[str, ...]:
    """Every spelling of `month` the reader knows (lower-case, spelling-folded)."""
    return tuple(name for name, number in _MONTHS.items() if number == month)


# ---------------------------------------------------------------- parsing

_RUN = re.compile(r"[0-9]+|[^0-9]+")

# A token after classification: a digit string, or a month number read from a name.
_Token = str | int


def parse_date(text: str, today: date) -> date | DateError:
    """Read a first-dose date, or say why it cannot be one.

    Checks run in this order: readable, a real calendar day, not before
    PROGRAMME_START, not after `today`. Never raises, whatever the text.
    """
    tokens = _classify(_without_phrases(_words(text)))
    fields = _fields(tokens) if tokens is not None else None
    if fields is None:
        return DateError.UNREADABLE
    day, month, year = fields
    if year is None:
        return _most_recent(day, month, today)
    return _in_range(_make_date(year, month, day), today)


def _words(text: str) -> list[str]:
    """Split into runs of digits and runs of other word characters."""
    cleaned = to_ascii_digits(unicodedata.normalize("NFC", strip_invisible(text))).casefold()
    # Punctuation, symbols, spaces and control characters all separate words:
    # "5/6/21", "5-Jun-2021", "June 5, 2021", "৫ জুন ২০২১।" and "5 Jun '21 🙏".
    spaced = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in cleaned)
    # Digits glued to letters are split too: "5th", "৫ই", "5june2021".
    return [run for chunk in spaced.split() for run in _RUN.findall(chunk)]


def _phrase_words(phrase: str) -> tuple[str, ...]:
    return tuple(_word_key(w) for w in _words(phrase))


_DROP = tuple(sorted({_phrase_words(p) for p in _DATA["drop"]["all"]}, key=len, reverse=True))


def _without_phrases(words: list[str]) -> list[str]:
    """`words` without the phrases that are never part of a date ("1st dose")."""
    keys = [_word_key(w) for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        drop = next((p for p in _DROP if tuple(keys[i : i + len(p)]) == p), None)
        if drop:
            i += len(drop)
            continue
        out.append(words[i])
        i += 1
    return out


def _month(key: str) -> int | None:
    """The month a word names, also with a Bengali ending ("জুনের" is June)."""
    if key in _MONTHS:
        return _MONTHS[key]
    for ending in _MONTH_ENDINGS:
        if key.endswith(ending) and key[: -len(ending)] in _MONTHS:
            return _MONTHS[key[: -len(ending)]]
    return None


def _classify(words: Iterable[str]) -> list[_Token] | None:
    """Digit strings stay, month names become their number; None if a word is unknown."""
    tokens: list[_Token] = []
    for word in words:
        key = _word_key(word)
        if key.isascii() and key.isdigit():
            tokens.append(key)
        elif key in _ORDINAL_SUFFIXES and tokens and isinstance(tokens[-1], str):
            continue  # "5th": the suffix only confirms the number before it
        elif key in _FILLER:
            continue
        elif (month := _month(key)) is not None:
            tokens.append(month)
        else:
            return None
    return tokens


def _fields(tokens: list[_Token]) -> tuple[int, int, int | None] | None:
    """(day, month, year or None) from the token shape, or None if the shape is unknown."""
    shape = "".join("m" if isinstance(t, int) else "n" for t in tokens)
    year: _Token | None
    match shape:
        case "nnn" if len(str(tokens[0])) == 4:  # ISO 2021-06-05
            year, month, day = tokens
        case "nmn" if len(str(tokens[0])) == 4:  # 2021 June 5, "२०२१ अप्रैल ५"
            year, month, day = tokens
        case "nnm" if len(str(tokens[0])) == 4:  # "২০২১ সালের ১৮ ফেব্রুয়ারি"
            year, day, month = tokens
        case "nnn" | "nmn":  # 05-06-2021, 5 June 2021
            day, month, year = tokens
        case "nn" | "nm":  # 5/6, 5 June
            (day, month), year = tokens, None
        case "mnn":  # June 5, 2021
            month, day, year = tokens
        case "mn":  # June 5
            (month, day), year = tokens, None
        case _:
            return None
    return _numbers(day, month, year)


def _numbers(day: _Token, month: _Token, year: _Token | None) -> tuple[int, int, int | None] | None:
    """Check digit counts (day and month 1-2 digits, year 2 or 4) and convert."""
    if not (isinstance(day, str) and 1 <= len(day) <= 2):
        return None
    if isinstance(month, str) and not 1 <= len(month) <= 2:
        return None
    if year is None:
        return int(day), int(month), None
    if not (isinstance(year, str) and len(year) in (2, 4)):
        return None
    # A 2-digit year can only mean this century: the programme began in 2021.
    return int(day), int(month), int(year) + (2000 if len(year) == 2 else 0)


def _make_date(year: int, month: int, day: int) -> date | DateError:
    try:
        return date(year, month, day)
    except ValueError:  # 31-02, month 13, day 0, year 0
        return DateError.IMPOSSIBLE


def _in_range(parsed: date | DateError, today: date) -> date | DateError:
    if isinstance(parsed, DateError):
        return parsed
    if parsed < PROGRAMME_START:
        return DateError.TOO_EARLY
    if parsed > today:
        return DateError.FUTURE
    return parsed


def _most_recent(day: int, month: int, today: date) -> date | DateError:
    """The latest `day`/`month` not after today: "5 Jun" typed in 2021 means 5 June 2021."""
    # 2000 was a leap year, so a day that fails there (31 April, 30 February)
    # fails in every year.
    if isinstance(_make_date(2000, month, day), DateError):
        return DateError.IMPOSSIBLE
    # Leap days recur at most 8 years apart (1896 -> 1904), so 9 years back always finds one.
    for year in range(today.year, max(today.year - 9, 0), -1):
        candidate = _make_date(year, month, day)
        if isinstance(candidate, date) and candidate <= today:
            return _in_range(candidate, today)
    return DateError.TOO_EARLY  # only near date.min: anything that old predates the programme


# ---------------------------------------------------------------- formatting

_BENGALI_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


def format_date(d: date, lang: str) -> str:
    """A date as the bot shows it: "5 Jun 2021", "৫ জুন ২০২১", "5 जून 2021".

    Bengali text uses Bengali digits; Hindi commonly uses Latin digits.
    Raises ValueError for a language other than "en", "bn", "hi".
    """
    match lang:
        case "en":
            return f"{d.day} {_EN_ABBR[d.month - 1]} {d.year}"
        case "bn":
            name = unicodedata.normalize("NFC", _BN_MONTHS[d.month - 1][0])
            return f"{d.day} {name} {d.year}".translate(_BENGALI_DIGITS)
        case "hi":
            return f"{d.day} {unicodedata.normalize('NFC', _HI_MONTHS[d.month - 1][0])} {d.year}"
        case _:
            raise ValueError(f"unsupported language: {lang!r}")
