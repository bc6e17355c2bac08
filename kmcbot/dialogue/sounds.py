"""How a word sounds, roughly, whatever script it is typed in: a centre's name
typed in Bengali or Devanagari ("বালিগঞ্জ", "जादवपुर") against its English title
("Ballygunge", "Jadavpur").

The key keeps the consonants only, each folded to a class of near sounds as
Bengali and Hindi speakers write them in Roman letters (v/b/w, g/j/z, the
aspirated with the plain, the three sibilants); vowels are left out, and a
doubled class counts once. Two words with the same key of 3 or more consonants
sound alike; a shorter key says too little to be trusted.
"""

from __future__ import annotations

import re
from functools import lru_cache

MIN_KEY = 3

# Consonants of the Bengali and Devanagari scripts (nukta and vowel signs drop out).
_INDIC = {
    **dict.fromkeys("কখकख", "k"),
    **dict.fromkeys("গঘজঝযगघजझ", "g"),  # g and j: "Ballygunge" is "-gunj"
    **dict.fromkeys("চছचछ", "c"),
    **dict.fromkeys("টঠতথৎटठतथ", "t"),
    **dict.fromkeys("ডঢদধडढदध", "d"),
    **dict.fromkeys("ঙঞণনংङञणनं", "n"),
    **dict.fromkeys("পप", "p"),
    **dict.fromkeys("ফफ", "f"),
    **dict.fromkeys("বভবवबभ", "b"),
    **dict.fromkeys("মम", "m"),
    **dict.fromkeys("রर", "r"),
    **dict.fromkeys("লल", "l"),
    **dict.fromkeys("শষসशषस", "s"),
    **dict.fromkeys("হह", "h"),
}
# ড়, ঢ়, ड़, ढ़: with the nukta apart (as NFC leaves them) and composed.
_DOTTED = (
    *("\u09a1\u09bc", "\u09a2\u09bc", "\u0921\u093c", "\u0922\u093c"),
    *("\u09dc", "\u09dd", "\u095c", "\u095d"),
)
# Roman spellings, longest first: "ch" before "c", "ph" before "p".
_ROMAN = [
    ("ch", "C"),  # not the "c" of "centre" below
    ("sh", "s"),
    ("ph", "f"),
    ("([tdbkgj])h", r"\1"),  # the aspirated as the plain: "dh", "bh", "kh"
    ("ck", "k"),
    ("x", "ks"),
    ("q", "k"),
    ("c(?=[eiy])", "s"),
    ("c", "k"),
    ("[jz]", "g"),
    ("[vw]", "b"),
    ("[aeiouy]", ""),
]
_ROMAN_RE = [(re.compile(pattern), to) for pattern, to in _ROMAN]
_SOUNDS = frozenset("kgctdnpfbmrlsh")


@lru_cache(maxsize=16384)  # the words of the titles on offer come back every message
def sound_key(word: str) -> str:
    """The consonant classes of `word` ("ballygunge" -> "blgng"), "" for a word
    in neither Roman letters nor a script we know."""
    if word.isascii():
        key = word.lower()
        for pattern, to in _ROMAN_RE:
            key = pattern.sub(to, key)
        key = key.lower()
    else:
        # Bengali য sounds j only at the start ("যাদবপুর"); after a consonant
        # ("প্যা") or a vowel it is a glide, like Devanagari य.
        for dot in _DOTTED:  # ড়, ঢ়, ड़, ढ़ (composed or not) sound r
            word = word.replace(dot, "র")
        key = "".join(
            "" if ch in "যय" and (at or ch == "य") else _INDIC.get(ch, "")
            for at, ch in enumerate(word)
        )
    key = "".join(ch for ch in key if ch in _SOUNDS)
    return re.sub(r"(.)\1+", r"\1", key)
