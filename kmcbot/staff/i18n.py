"""The console's page texts, from catalogues/<lang>.toml (en and bn), as the chat's
are: no text in templates or code. tests/staff/test_staff_i18n.py checks that
both languages have the same keys and placeholders, that every key the
templates and code use exists, and that a Bengali page shows no Latin digit
outside references, codes and the ID's last 4.

Values on the pages go through `show`: in Bengali, counts, dates and times in
Bengali digits, dates as the chat writes them ("৬ ডিসেম্বর ২০২৬"); vaccine and
weekday names come from the chat's own catalogues (dialogue/catalogues)."""

from __future__ import annotations

from datetime import date, datetime, time
from functools import cache
from pathlib import Path

from kmcbot.dialogue.catalogue import (
    id_type_name,
    num,
    read_flat,
    show_date,
    vaccine_name,
    words,
)
from kmcbot.dialogue.model import Lang

LANGS = ("en", "bn")
_DIR = Path(__file__).with_name("catalogues")


@cache
def catalogue(lang: str) -> dict[str, str]:
    return {key: str(value) for key, value in read_flat(_DIR / f"{lang}.toml").items()}


def text(lang: str, key: str, **params: object) -> str:
    """The `key` text; numbers, dates and times among `params` are shown as `show`
    shows them (strings are put in as they are: references keep their digits)."""
    template = catalogue(lang if lang in LANGS else "en")[key]
    if not params:
        return template
    return template.format(**{name: _shown(lang, value) for name, value in params.items()})


def _shown(lang: str, value: object) -> object:
    if isinstance(value, int | date | time) and not isinstance(value, bool):
        return show(lang, value)
    return value


def show(lang: str, value: object) -> str:
    """A count, a date, a time (HH:MM) or a date and time (to the second), for a page
    in `lang`. English keeps ISO dates; Bengali gets the chat's date and its digits."""
    bengali = lang == "bn"
    match value:
        case datetime():
            return f"{show(lang, value.date())} {digits(lang, f'{value:%H:%M:%S}')}"
        case date():
            return show_date(Lang.BN, value) if bengali else value.isoformat()
        case time():
            return digits(lang, f"{value:%H:%M}")
    return digits(lang, str(value))


def digits(lang: str, text: str) -> str:
    """Latin digits as the page's own: Bengali digits on a Bengali page."""
    return num(Lang.BN, text) if lang == "bn" else text


def vaccine(lang: str, code: str) -> str:
    """A vaccine's name as the chat says it in `lang` (the code itself if unknown)."""
    try:
        return vaccine_name(Lang(lang), code)
    except (KeyError, ValueError):
        return code


def id_type(lang: str, code: str) -> str:
    """An ID type's name as the chat says it in `lang` (the code itself if unknown)."""
    try:
        return id_type_name(Lang(lang), code)
    except (KeyError, ValueError):
        return code


def weekday(lang: str, code: str) -> str:
    """ "mon" .. "sun" as the chat names the weekday in `lang`."""
    order = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    try:
        return words(Lang(lang), "meta.weekdays")[order.index(code)]
    except (KeyError, ValueError, IndexError):
        return code
