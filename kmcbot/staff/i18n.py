"""The console's page texts, from catalogues/<lang>.toml (en and bn), as the chat's
are: no text in templates or code. tests/staff/test_staff_i18n.py checks that
both languages have the same keys and placeholders, and that every key the
templates and code use exists."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from kmcbot.dialogue.catalogue import read_flat

LANGS = ("en", "bn")
_DIR = Path(__file__).with_name("catalogues")


@cache
def catalogue(lang: str) -> dict[str, str]:
    return {key: str(value) for key, value in read_flat(_DIR / f"{lang}.toml").items()}


def text(lang: str, key: str, **params: object) -> str:
    template = catalogue(lang if lang in LANGS else "en")[key]
    return template.format(**params) if params else template
