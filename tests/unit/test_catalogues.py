"""The catalogues: every language has every key and the same placeholders."""

from __future__ import annotations

import string

import pytest

from kmcbot.booking.ids import IdError, IdType
from kmcbot.booking.model import Refusal, Vaccine
from kmcbot.dialogue.catalogue import catalogue
from kmcbot.dialogue.dates import DateError
from kmcbot.dialogue.model import PENDING, Lang, State
from kmcbot.dialogue.names import NameError_
from kmcbot.dialogue.understand import Word, normalise

OTHERS = [Lang.BN, Lang.HI]


def _placeholders(value: object) -> set[str]:
    if not isinstance(value, str):
        return set()
    return {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}


@pytest.mark.parametrize("lang", OTHERS)
def test_every_language_has_exactly_the_english_keys(lang: Lang) -> None:
    en, other = catalogue(Lang.EN), catalogue(lang)
    assert sorted(set(en) - set(other)) == [], "missing"
    assert sorted(set(other) - set(en)) == [], "extra"


@pytest.mark.parametrize("lang", OTHERS)
def test_every_text_has_the_english_placeholders(lang: Lang) -> None:
    en, other = catalogue(Lang.EN), catalogue(lang)
    wrong = {k: (_placeholders(v), _placeholders(other.get(k))) for k, v in en.items()}
    assert {k: v for k, v in wrong.items() if v[0] != v[1]} == {}


@pytest.mark.parametrize("lang", list(Lang))
def test_texts_and_lists_keep_their_kind(lang: Lang) -> None:
    en = catalogue(Lang.EN)
    for key, value in catalogue(lang).items():
        assert type(value) is type(en[key]), key
        if isinstance(value, str):
            assert value.strip(), key


@pytest.mark.parametrize("lang", list(Lang))
def test_enumerations_all_have_a_text(lang: Lang) -> None:
    cat = catalogue(lang)
    needed = (
        [f"vaccine.{v.value}" for v in Vaccine]
        + [f"id_type.{t.value}" for t in IdType]
        + [f"id_error.{e.value}" for e in IdError]
        + [f"date_error.{e.value}" for e in DateError]
        + [f"name_error.{e.value}" for e in NameError_]
        + [f"refusal.{r.value}" for r in Refusal]
        + [f"help.{s.value}" for s in State if s.value not in _PENDING]
        + [f"words.{w.value}" for w in Word]
    )
    assert [k for k in needed if k not in cat] == []
    assert len(cat["meta.weekdays"]) == 7 and len(cat["meta.digits"]) == 10


_PENDING = {s.value for s in PENDING}


def test_no_word_means_two_things() -> None:
    seen: dict[str, str] = {}
    for lang in Lang:
        for word in Word:
            for phrase in catalogue(lang)[f"words.{word.value}"]:
                key = normalise(phrase)
                assert key, phrase
                assert seen.setdefault(key, word.value) == word.value, phrase
