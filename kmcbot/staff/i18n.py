"""The console's page texts, from catalogues/<lang>.toml (en and bn), as the chat's
are: no text in templates or code. tests/staff/test_staff_i18n.py checks that
both languages have the same keys and placeholders, and that every key the
templates and code use exists."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LANGS = ("en", "bn")
_DIR = Path(__file__).with_name("catalogues")


@cache
def catalogue(lang: str) -> dict[str, str]:
    with (_DIR / f"{lang}.toml").open("rb") as f:
        return _flatten(tomllib.load(f))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def text(lang: str, key: str, **params: object) -> str:
    template = catalogue(lang if lang in LANGS else "en")[key]
    return template.format(**params) if params else template
