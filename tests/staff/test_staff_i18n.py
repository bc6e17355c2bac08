"""The console's pages in English and Bengali: the same keys and placeholders in
both catalogues, every key the templates and code use exists, no text left in
English in the Bengali catalogue by mistake."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from kmcbot.dialogue.notices import REASON_CODES
from kmcbot.staff import i18n

STAFF = Path(i18n.__file__).parent
# t("key") in templates and code; "cancel.reason_" ~ code and the like are listed below.
_USED = re.compile(r"""\bt\(\s*(?:request,\s*)?["']([a-z_]+\.[a-z_0-9]+)["']""")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*STAFF.glob("templates/*.html"), *STAFF.glob("*.py")]:
        # A prefix such as "cancel.reason_" ~ code is completed below.
        keys |= {k for k in _USED.findall(path.read_text()) if not k.endswith("_")}
    keys |= {f"cancel.reason_{code}" for code in REASON_CODES}
    keys |= {f"nav.role_{role}" for role in ("clerk", "operator")}
    keys |= {f"day.status_{s}" for s in ("booked", "attended", "missed", "cancelled")}
    return keys


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    en, bn = i18n.catalogue("en"), i18n.catalogue("bn")
    assert en.keys() == bn.keys()
    for key in en:
        assert placeholders(en[key]) == placeholders(bn[key]), key


def test_every_key_the_pages_use_exists() -> None:
    used = used_keys()
    assert len(used) > 60  # the pattern finds them
    assert used - i18n.catalogue("en").keys() == set()


# Literal names a translation keeps: file formats, the CSV's column names, a command.
LITERAL = {
    "CSV",
    "UTF",
    "kmcbot",
    "seed",
    "file",
    "code",
    "name",
    "kind",
    "borough",
    "ward",
    "address",
    "latitude",
    "longitude",
    "vaccines",
}


@pytest.mark.parametrize("key", sorted(i18n.catalogue("bn")))
def test_the_bengali_pages_are_in_bengali(key: str) -> None:
    text = i18n.catalogue("bn")[key]
    words = re.sub(r"\{[a-z_]+\}|KMC-[0-9A-Z]+|[·:()/.,\-]", " ", text).split()
    english = [w for w in words if re.fullmatch(r"[A-Za-z]{3,}", w) and w not in LITERAL]
    assert english == [], (key, english)
