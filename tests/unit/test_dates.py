"""Reading and showing first-dose dates (kmcbot.dialogue.dates)."""

from __future__ import annotations

import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kmcbot.dialogue.dates import (
    PROGRAMME_START,
    DateError,
    format_date,
    parse_date,
)

TODAY = date(2021, 9, 1)
JUNE_5 = date(2021, 6, 5)

BENGALI = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
LATIN = str.maketrans("", "")

# Every numeric and English form from the product contract, all meaning 5 June 2021.
LATIN_FORMS = [
    "05-06-2021",
    "5/6/21",
    "05.06.2021",
    "5 6 2021",
    "2021-06-05",
    "5 June 2021",
    "5 Jun 2021",
    "June 5, 2021",
    "5th June",
    "5 Jun",
]


@pytest.mark.parametrize("script", [LATIN, BENGALI, DEVANAGARI], ids=["latin", "bn", "deva"])
@pytest.mark.parametrize("text", LATIN_FORMS)
def test_accepts_every_contract_format_in_every_digit_script(text: str, script: dict) -> None:
    assert parse_date(text.translate(script), TODAY) == JUNE_5


@pytest.mark.parametrize(
    "text",
    [
        # numeric, day first, any separator, 2- or 4-digit year
        "5-6-2021",
        "05/06/2021",
        "5.6.21",
        "05 06 21",
        "5/6",
        "05-06",
        "5 / 6 / 2021",
        "5-6/2021",
        "2021/06/05",
        "2021.6.5",
        # English month names: case, abbreviations, order, ordinals, punctuation
        "5 JUNE 2021",
        "5 june 2021",
        "5 jUn 2021",
        "5-Jun-2021",
        "5/Jun/21",
        "05 Jun. 2021",
        "Jun 5",
        "June 5 2021",
        "June 5th, 2021",
        "5th of June 2021",
        "on 5th June",
        "5 th June",
        "5june2021",
        "5 Jun '21",
        # extra spaces and trailing punctuation
        "  5   June   2021  ",
        "5 June 2021.",
        "5/6/2021!",
        "(5 June 2021)",
        "5 June 2021 🙏",
        "\t5\n6\n2021\n",
    ],
)
def test_accepts_latin_variants(text: str) -> None:
    assert parse_date(text, TODAY) == JUNE_5


@pytest.mark.parametrize(
    "text",
    [
        "৫ জুন ২০২১",
        "০৫ জুন ২০২১",
        "৫ জুন",
        "৫ই জুন ২০২১",
        "৫ই জুন",
        "জুন ৫, ২০২১",
        "৫ জুন, ২০২১।",  # Bengali full stop (danda)
        "৫-জুন-২০২১",
        "৫জুন২০২১",
        "5 জুন 2021",
        "৫ June ২০২১",
    ],
)
def test_accepts_bengali_dates(text: str) -> None:
    assert parse_date(text, TODAY) == JUNE_5


@pytest.mark.parametrize(
    "text",
    [
        "५ जून २०२१",
        "०५ जून २०२१",
        "५ जून",
        "5 जून 2021",
        "जून ५, २०२१",
        "५ जून २०२१।",
        "५-जून-२१",
        "५ June २०२१",
        "५ জুন 2021",
    ],
)
def test_accepts_hindi_dates(text: str) -> None:
    assert parse_date(text, TODAY) == JUNE_5


@pytest.mark.parametrize(
    "text",
    ["৫/06/২০২১", "०५-০৬-2021", "2021-০৬-०५", "৫ 6 २०२१", "५/৬/21"],
)
def test_accepts_digits_of_mixed_scripts_in_one_date(text: str) -> None:
    assert parse_date(text, TODAY) == JUNE_5


ENGLISH_MONTHS = [
    ("January", "Jan"),
    ("February", "Feb"),
    ("March", "Mar"),
    ("April", "Apr"),
    ("May", "May"),
    ("June", "Jun"),
    ("July", "Jul"),
    ("August", "Aug"),
    ("September", "Sep"),
    ("October", "Oct"),
    ("November", "Nov"),
    ("December", "Dec"),
]
BENGALI_MONTHS = [
    ("জানুয়ারি", 1),
    ("জানুয়ারী", 1),
    ("ফেব্রুয়ারি", 2),
    ("ফেব্রুয়ারী", 2),
    ("মার্চ", 3),
    ("এপ্রিল", 4),
    ("মে", 5),
    ("জুন", 6),
    ("জুলাই", 7),
    ("আগস্ট", 8),
    ("আগষ্ট", 8),
    ("অগাস্ট", 8),
    ("সেপ্টেম্বর", 9),
    ("অক্টোবর", 10),
    ("নভেম্বর", 11),
    ("ডিসেম্বর", 12),
]
HINDI_MONTHS = [
    ("जनवरी", 1),
    ("फ़रवरी", 2),
    ("फरवरी", 2),
    ("मार्च", 3),
    ("अप्रैल", 4),
    ("मई", 5),
    ("जून", 6),
    ("जुलाई", 7),
    ("अगस्त", 8),
    ("सितंबर", 9),
    ("सितम्बर", 9),
    ("अक्टूबर", 10),
    ("अक्तूबर", 10),
    ("नवंबर", 11),
    ("नवम्बर", 11),
    ("दिसंबर", 12),
    ("दिसम्बर", 12),
]
END_OF_2021 = date(2021, 12, 31)


@pytest.mark.parametrize(
    "name,month",
    [(full, n) for n, (full, _) in enumerate(ENGLISH_MONTHS, 1)]
    + [(abbr, n) for n, (_, abbr) in enumerate(ENGLISH_MONTHS, 1)]
    + [("Sept", 9), ("SEPT", 9), ("sept.", 9), ("janu", 1), ("DECEMBER", 12)],
)
def test_reads_english_month_names_and_abbreviations_in_any_case(name: str, month: int) -> None:
    assert parse_date(f"20 {name} 2021", END_OF_2021) == date(2021, month, 20)
    assert parse_date(f"20 {name.lower()} 2021", END_OF_2021) == date(2021, month, 20)


@pytest.mark.parametrize("name,month", BENGALI_MONTHS + HINDI_MONTHS)
@pytest.mark.parametrize("script", [LATIN, BENGALI, DEVANAGARI], ids=["latin", "bn", "deva"])
def test_reads_every_bengali_and_hindi_month_spelling(name: str, month: int, script: dict) -> None:
    assert parse_date(f"20 {name} 2021".translate(script), END_OF_2021) == date(2021, month, 20)


@pytest.mark.parametrize(
    "text",
    [
        "\u200e05-06-2021\u200f",  # LTR / RTL marks around the text
        "05\u200b-06-2021",  # zero-width space
        "৫ জু\u200cন ২০২১",  # zero-width non-joiner inside the month
        "৫ জুন\u200d ২০২১",  # zero-width joiner after it
        "\ufeff5 June 2021",  # byte-order mark from copy-paste
        "5 Ju\u00adne 2021",  # soft hyphen
        unicodedata.normalize("NFD", "৫ জুন ২০২১"),
        "\u202b5 जून 2021\u202c",  # bidi embedding
    ],
)
def test_ignores_invisible_marks_and_normalisation_form(text: str) -> None:
    assert parse_date(text, TODAY) == JUNE_5


@pytest.mark.parametrize(
    "text,expected",
    [
        # precomposed য় (U+09DF), which NFC decomposes
        ("20 \u099c\u09be\u09a8\u09c1\u09df\u09be\u09b0\u09bf 2021", date(2021, 1, 20)),
        # য + nukta
        ("20 \u099c\u09be\u09a8\u09c1\u09af\u09bc\u09be\u09b0\u09bf 2021", date(2021, 1, 20)),
        # precomposed फ़ (U+095E), which NFC decomposes
        ("20 \u095e\u0930\u0935\u0930\u0940 2021", date(2021, 2, 20)),
        # फ + nukta
        ("20 \u092b\u093c\u0930\u0935\u0930\u0940 2021", date(2021, 2, 20)),
    ],
)
def test_reads_month_names_whether_nukta_is_precomposed_or_not(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("১লা জুন ২০২১", date(2021, 6, 1)),
        ("২রা জুন ২০২১", date(2021, 6, 2)),
        ("৪ঠা জুন ২০২১", date(2021, 6, 4)),
        ("২১শে জুন ২০২১", date(2021, 6, 21)),
        ("1st June 2021", date(2021, 6, 1)),
        ("2nd June 2021", date(2021, 6, 2)),
        ("3rd June 2021", date(2021, 6, 3)),
        ("21st June 2021", date(2021, 6, 21)),
        ("22ND JUNE", date(2021, 6, 22)),
    ],
)
def test_drops_english_and_bengali_ordinal_endings(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "।",
        "hello",
        "hi",
        "5",
        "২",
        "June",
        "জুন",
        "June 2021",
        "2021 June",
        "2021",
        "2021-06",
        "6/2021",
        "05062021",  # no separators: DDMMYYYY and YYYYMMDD look alike
        "050621",
        "5 Junk 2021",
        "5 Ju 2021",  # two letters are too few to name a month
        "5/6/202",  # 3-digit year
        "5/6/20211",
        "123/6/2021",
        "5/006/2021",
        "5/6/2021/7",
        "5 June 2021 June",
        "June June",
        "5 June 6 July",
        "Saturday 5 June 2021",
        "yesterday",
        "th June",
        "st",
        "5th",
        "৫ জুন ২০২১ সকালে",
        "½ June 2021",
        "5² June 2021",
    ],
)
def test_rejects_unreadable_text(text: str) -> None:
    assert parse_date(text, TODAY) is DateError.UNREADABLE


@pytest.mark.parametrize(
    "text",
    [
        "31-02-2021",
        "30/13/2021",
        "29-02-2021",  # 2021 is not a leap year
        "2021-02-30",
        "00/06/2021",
        "5/0/2021",
        "32/01/2021",
        "31 Apr 2021",
        "31 June",
        "30 Feb",
        "31/11",
        "05/06/0000",
        "৩১/০২/২০২১",
        "३१ फ़रवरी २०२१",
        "৩০ ফেব্রুয়ারি",
    ],
)
def test_rejects_impossible_calendar_dates(text: str) -> None:
    assert parse_date(text, TODAY) is DateError.IMPOSSIBLE


@pytest.mark.parametrize(
    "text",
    ["02-09-2021", "2 Sep 2021", "5 June 2022", "5/6/99", "01/01/2030", "২/৯/২০২১", "२ सितंबर 2021"],
)
def test_rejects_dates_after_today_as_future(text: str) -> None:
    assert parse_date(text, TODAY) is DateError.FUTURE


@pytest.mark.parametrize(
    "text",
    ["15-01-2021", "2021-01-15", "5 June 2020", "5/6/20", "01/01/00", "5/6/1999", "১৫ জানুয়ারি ২০২১"],
)
def test_rejects_dates_before_the_programme_as_too_early(text: str) -> None:
    assert parse_date(text, TODAY) is DateError.TOO_EARLY


def test_programme_start_is_16_january_2021() -> None:
    assert date(2021, 1, 16) == PROGRAMME_START


@pytest.mark.parametrize(
    "text,today,expected",
    [
        ("16-01-2021", TODAY, date(2021, 1, 16)),  # first day of the programme
        ("2021-01-15", TODAY, DateError.TOO_EARLY),  # the day before
        ("01-09-2021", TODAY, TODAY),  # today itself
        ("02-09-2021", TODAY, DateError.FUTURE),  # tomorrow
        ("29-02-2024", date(2024, 3, 1), date(2024, 2, 29)),  # leap day in a leap year
        ("29/2/24", date(2024, 2, 29), date(2024, 2, 29)),
        ("29-02-2021", TODAY, DateError.IMPOSSIBLE),  # no leap day in 2021
        ("29-02-2100", date(2100, 3, 1), DateError.IMPOSSIBLE),  # centuries skip it
        ("31-12-2021", date(2022, 1, 1), date(2021, 12, 31)),  # across a year end
        ("16 Jan", date(2021, 1, 16), PROGRAMME_START),
    ],
)
def test_edge_dates(text: str, today: date, expected: date | DateError) -> None:
    assert parse_date(text, today) == expected


@pytest.mark.parametrize(
    "text,today,expected",
    [
        ("5 Jun", date(2021, 9, 1), date(2021, 6, 5)),  # earlier this year
        ("5 Jun", date(2022, 3, 1), date(2021, 6, 5)),  # not yet this year: last year
        ("5 Jun", date(2021, 6, 5), date(2021, 6, 5)),  # today counts as not future
        ("5 Jun", date(2021, 6, 4), DateError.TOO_EARLY),  # last year's predates the programme
        ("5/6", date(2023, 1, 1), date(2022, 6, 5)),
        ("31 Dec", date(2022, 1, 1), date(2021, 12, 31)),
        ("29 Feb", date(2025, 1, 10), date(2024, 2, 29)),  # the last leap day
        ("29 Feb", date(2024, 2, 28), DateError.TOO_EARLY),  # 2020-02-29
        ("29 Feb", date(2104, 2, 28), date(2096, 2, 29)),  # 8 years back: 2100 is no leap year
        ("30 Feb", date(2024, 3, 1), DateError.IMPOSSIBLE),
        ("৫ জুন", date(2022, 3, 1), date(2021, 6, 5)),
        ("५ जून", date(2022, 3, 1), date(2021, 6, 5)),
    ],
)
def test_date_without_year_is_the_most_recent_one_not_after_today(
    text: str, today: date, expected: date | DateError
) -> None:
    assert parse_date(text, today) == expected


def test_date_without_year_near_the_first_calendar_year_is_too_early() -> None:
    assert parse_date("5 Jun", date(1, 1, 1)) is DateError.TOO_EARLY


def test_two_digit_years_are_this_century() -> None:
    assert parse_date("5/6/21", TODAY) == date(2021, 6, 5)
    assert parse_date("5/6/30", date(2031, 1, 1)) == date(2030, 6, 5)


def test_numeric_dates_are_day_first_even_when_month_first_would_also_be_valid() -> None:
    assert parse_date("06/05/2021", TODAY) == date(2021, 5, 6)
    assert parse_date("12/1/2021", TODAY) == DateError.TOO_EARLY  # 12 Jan, not 1 Dec


def test_errors_are_strings_usable_as_catalogue_keys() -> None:
    assert {str(e) for e in DateError} == {"unreadable", "impossible", "future", "too_early"}


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    "d,lang,expected",
    [
        (date(2021, 6, 5), "en", "5 Jun 2021"),
        (date(2021, 6, 5), "bn", "৫ জুন ২০২১"),
        (date(2021, 6, 5), "hi", "5 जून 2021"),
        (date(2021, 12, 25), "en", "25 Dec 2021"),
        (date(2021, 12, 25), "bn", "২৫ ডিসেম্বর ২০২১"),
        (date(2021, 12, 25), "hi", "25 दिसंबर 2021"),
        (date(2021, 2, 10), "bn", unicodedata.normalize("NFC", "১০ ফেব্রুয়ারি ২০২১")),
        (date(2021, 2, 10), "hi", unicodedata.normalize("NFC", "10 फ़रवरी 2021")),
        (date(2021, 9, 1), "en", "1 Sep 2021"),
    ],
)
def test_format_date_per_language(d: date, lang: str, expected: str) -> None:
    assert format_date(d, lang) == expected


def test_format_date_output_is_nfc() -> None:
    for month in range(1, 13):
        for lang in ("en", "bn", "hi"):
            text = format_date(date(2021, month, 20), lang)
            assert unicodedata.is_normalized("NFC", text)


def test_format_date_rejects_an_unknown_language() -> None:
    with pytest.raises(ValueError, match="unsupported language"):
        format_date(JUNE_5, "fr")


# ---------------------------------------------------------------- properties

any_today = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@given(text=st.text(), today=st.dates())
@example(text="5 Jun", today=date.max)
@example(text="5 Jun", today=date.min)
@example(text="31/12/99", today=date.max)
def test_parse_date_never_raises_and_any_date_lies_between_programme_start_and_today(
    text: str, today: date
) -> None:
    result = parse_date(text, today)
    assert isinstance(result, date | DateError)
    if isinstance(result, date):
        assert PROGRAMME_START <= result <= today


NUMBERS = st.integers(min_value=0, max_value=10**5).map(str)
MONTH_NAMES = st.sampled_from(
    [name for pair in ENGLISH_MONTHS for name in pair]
    + [name for name, _ in BENGALI_MONTHS + HINDI_MONTHS]
    + ["st", "th", "ই", "of", "x"]
)
SEPARATORS = st.sampled_from([" ", "-", "/", ".", ", ", "  ", "।", "\u200d", ""])
SCRIPTS = st.sampled_from([LATIN, BENGALI, DEVANAGARI])


@st.composite
def date_like_text(draw: st.DrawFn) -> str:
    """Text built from the pieces of dates, to reach deeper than random characters do."""
    pieces = draw(st.lists(st.one_of(NUMBERS, MONTH_NAMES), min_size=1, max_size=5))
    text = ""
    for piece in pieces:
        text += piece.translate(draw(SCRIPTS)) + draw(SEPARATORS)
    return text


@given(text=date_like_text(), today=any_today)
def test_parse_date_never_raises_on_date_shaped_text(text: str, today: date) -> None:
    result = parse_date(text, today)
    if isinstance(result, date):
        assert PROGRAMME_START <= result <= today


@st.composite
def today_and_past_date(draw: st.DrawFn) -> tuple[date, date]:
    today = draw(st.dates(min_value=PROGRAMME_START, max_value=date(2099, 12, 31)))
    return today, draw(st.dates(min_value=PROGRAMME_START, max_value=today))


@given(pair=today_and_past_date(), lang=st.sampled_from(["en", "bn", "hi"]))
def test_format_date_round_trips_through_parse_date(pair: tuple[date, date], lang: str) -> None:
    today, d = pair
    assert parse_date(format_date(d, lang), today) == d


@given(
    pair=today_and_past_date(),
    script=SCRIPTS,
    sep=st.sampled_from(["-", "/", ".", " ", " / ", "- "]),
    pad=st.booleans(),
    short_year=st.booleans(),
)
def test_any_valid_date_written_day_first_parses_back(
    pair: tuple[date, date], script: dict, sep: str, pad: bool, short_year: bool
) -> None:
    today, d = pair
    day, month = (f"{d.day:02d}", f"{d.month:02d}") if pad else (str(d.day), str(d.month))
    year = f"{d.year % 100:02d}" if short_year else str(d.year)
    assert parse_date(sep.join([day, month, year]).translate(script), today) == d


@given(pair=today_and_past_date(), script=SCRIPTS)
def test_any_valid_date_written_iso_parses_back(pair: tuple[date, date], script: dict) -> None:
    today, d = pair
    assert parse_date(d.isoformat().translate(script), today) == d


@given(today=any_today, days=st.integers(min_value=1, max_value=3000))
def test_any_date_after_today_is_future(today: date, days: int) -> None:
    later = today + timedelta(days=days)
    assert parse_date(later.isoformat(), today) in (DateError.FUTURE, DateError.TOO_EARLY)
    if today >= PROGRAMME_START:
        assert parse_date(later.isoformat(), today) is DateError.FUTURE
