"""Every citizen-facing string, loaded from catalogues/<lang>.toml.

A translator edits the TOML files, never the code. Keys are "section.key";
values are str.format templates, or lists (the words a citizen may type, the
weekday names). tests/unit/test_catalogues.py checks that every language has
the same keys and the same placeholders.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from kmcbot.dialogue.dates import format_date
from kmcbot.dialogue.model import Lang

_DIR = Path(__file__).with_name("catalogues")


def read_flat(path: Path) -> dict[str, Any]:
    """A TOML catalogue flattened: {"section.key": value} (the staff console's too)."""
    with path.open("rb") as f:
        return _flatten(tomllib.load(f))


@cache
def catalogue(lang: Lang) -> dict[str, Any]:
    """The flattened catalogue of one language: {"section.key": value}."""
    return read_flat(_DIR / f"{lang.value}.toml")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def text(lang: Lang, key: str, **params: object) -> str:
    """The `key` template of `lang`, formatted with `params` (KeyError if missing)."""
    template = catalogue(lang)[key]
    if not isinstance(template, str):
        raise TypeError(f"{key} is not a text")
    return template.format(**params) if params else template


def words(lang: Lang, key: str) -> tuple[str, ...]:
    value = catalogue(lang)[key]
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return tuple(value)


def num(lang: Lang, value: object) -> str:
    """A number for display: Bengali text shows Bengali digits (as format_date does)."""
    digits = text(lang, "meta.digits")
    return str(value).translate(str.maketrans("0123456789", digits))


def show_date(lang: Lang, d: date) -> str:
    return format_date(d, lang.value)


def weekday(lang: Lang, d: date) -> str:
    return words(lang, "meta.weekdays")[d.weekday()]


def vaccine_name(lang: Lang, vaccine: str) -> str:
    return text(lang, f"vaccine.{vaccine}")


def id_type_name(lang: Lang, id_type: str) -> str:
    return text(lang, f"id_type.{id_type}")
