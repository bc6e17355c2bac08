"""What a typed answer means: one of the options on offer, a global meaning
("help", "bangla", "thanks"), "which of these two?", or nothing we know.

The words are data: the catalogues' [words] tables, per language and meaning,
in Bengali and Devanagari script and in Roman letters. Every language's words
count whatever the session's language. This module only matches them:

1. the option's number ("2", "২", "२", "option 2"), whatever else it could be;
2. phrases inside the message, a whole word at a time ("i want to book",
   "কোভিশিল্ড নিয়েছিলাম"), a Bengali word also with its case ending
   ("বাংলায়", "কোভিশিল্ডই"); the meaning whose phrases cover the most words
   wins, so "meri booking" (my bookings) beats "booking" (book);
3. failing that, a small typo in an option title or keyword ("covishild"),
   by rapidfuzz; never in a word with a digit in it (dates, ID numbers,
   references are read exactly, elsewhere).

A wrong guess is worse than asking again, so anything unclear is not
understood: two options about as close (-> Unsure, "which one?"), an option
and a global meaning both matched, or a negation ("not covishield", "বাতিল
করবেন না") that the matched phrase does not itself explain.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache, lru_cache

from rapidfuzz import fuzz, process

from kmcbot.dialogue.catalogue import catalogue
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.sounds import MIN_KEY, sound_key
from kmcbot.whatsapp.text import strip_invisible, to_ascii_digits


class Word(StrEnum):
    """A meaning that works at any question. Values are keys under [words]."""

    GREET = "greet"
    MENU = "menu"
    THANKS = "thanks"
    HELP = "help"
    BOOK = "book"
    BOOKINGS = "bookings"
    LANGUAGE = "language"
    LANG_EN = "lang_en"
    LANG_BN = "lang_bn"
    LANG_HI = "lang_hi"
    FORGET = "forget"
    CANCEL = "cancel"
    BACK = "back"
    LEAVE = "leave"  # leave the waitlist, no more offers (dialogue/waitlist.py)


# Global words that leave the question asked (the others answer and ask it again).
ACTING = frozenset(
    {Word.MENU, Word.BOOK, Word.BOOKINGS, Word.FORGET, Word.CANCEL, Word.BACK, Word.LANGUAGE}
)

LANG_WORDS = {Word.LANG_EN: Lang.EN, Word.LANG_BN: Lang.BN, Word.LANG_HI: Lang.HI}

# Which [words] tables choose a button, by the button's kind (see `kind`):
# Confirm takes "yes" and "confirm", "Yes, cancel it" takes "yes" and "cancel".
BUTTON_WORDS: Mapping[str, tuple[str, ...]] = {
    "confirm:yes": ("yes", "confirm"),
    "confirm:no": ("no", "cancel", "cancel_it"),
    "confirm:change": ("change",),
    "cancel:yes": ("yes", "cancel", "cancel_it"),
    "cancel:no": ("no", "keep"),
    "forget:yes": ("yes", "delete_it", "forget"),
    "forget:no": ("no", "keep"),
    "same:yes": ("yes", "same"),
    "same:no": ("no", "new"),
    "resume:yes": ("yes", "resume"),
    "resume:no": ("no", "fresh", "menu"),
    "menu:book": ("book",),
    "menu:bookings": ("bookings",),
    "menu:help": ("help",),
    "menu:main": ("menu",),
    "centre:more": ("more",),
    "centre:near": ("near",),
    "centre:none": ("none",),
    "area:city": ("anywhere",),
    "area:near": ("near",),
    "cancel:booking": ("cancel", "cancel_it"),
    "move:booking": ("move",),
    "lang:en": ("lang_en",),
    "lang:bn": ("lang_bn",),
    "lang:hi": ("lang_hi",),
    "waitlist:join": ("yes", "join"),
    "offer:yes": ("yes", "confirm"),
    "offer:no": ("no",),
    "leave:entry": ("leave",),
}

FUZZY_MIN_LENGTH = 5  # shorter words are too close to each other ("haan"/"hain")
FUZZY_SCORE = 83  # rapidfuzz ratio: one letter wrong or two swapped in 6+, missing or extra in 7+
FUZZY_SCORE_LONG = 80  # a word of 8+ letters may have two ("ballygunj") ...
FUZZY_LONG_AS = 85  # ... and then counts as close as one typo in a 7-letter word
FUZZY_TIE = 5  # two meanings this close are asked about, not guessed
MAX_TOKENS = 40  # a long paste is read by its first words only


# ---------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Option:
    id: str


@dataclass(frozen=True, slots=True)
class Meaning:
    word: Word


@dataclass(frozen=True, slots=True)
class Unsure:
    """Two or more options about equally close: ask which."""

    ids: tuple[str, ...]


Understood = Option | Meaning | Unsure | None


# ---------------------------------------------------------------- normalising

# Spelling variants people type either way (long/short i and u vowel signs,
# nukta, chandrabindu/anusvara): folding them lets one entry match all of them.
_FOLD = dict.fromkeys([0x093C, 0x09BC]) | {
    0x0940: "\u093f",
    0x0942: "\u0941",
    0x09C0: "\u09bf",
    0x09C2: "\u09c1",
    0x0901: "\u0902",  # Devanagari chandrabindu -> anusvara: हाँ = हां
}
_LATIN_MARKS = range(0x0300, 0x0370)  # é -> e; Indic vowel signs are letters here, kept


def normalise(text: str) -> str:
    """Case-, accent-, digit-script- and punctuation-insensitive form of a text."""
    text = strip_invisible(text[:400]).casefold()
    for sign, word in _signs():
        text = text.replace(sign, word)  # "👍" is "ok"
    text = unicodedata.normalize("NFKD", text)
    kept = []
    for ch in text:
        if ord(ch) in _LATIN_MARKS:
            continue
        # Letters, marks (Bengali/Devanagari vowel signs) and digits carry the
        # meaning; punctuation, emoji, symbols and controls become spaces.
        kept.append(ch if unicodedata.category(ch)[0] in "LMN" else " ")
    folded = to_ascii_digits(unicodedata.normalize("NFC", "".join(kept)).translate(_FOLD))
    # "2nd" is "2 nd", "১০টা" is "10 টা"; "yesss", "hiii", "okkk" are "yes", "hi", "ok",
    # and so are "yess", "noo", "nahii" (a doubled last letter); "নাহ্" is "নাহ".
    folded = _REPEATED.sub(r"\1", _DIGITS_EDGE.sub(" ", folded))
    folded = _FINAL_VIRAMA.sub("", _FINAL_DOUBLE.sub(r"\1", folded))
    return " ".join(folded.split())


@cache
def _signs() -> tuple[tuple[str, str], ...]:
    found = (pair for lang in Lang for pair in catalogue(lang)["words.signs"])
    return tuple((sign, f" {word} ") for sign, word in found)


_DIGITS_EDGE = re.compile(r"(?<=[0-9])(?=[^0-9\s])|(?<=[^0-9\s])(?=[0-9])")
_REPEATED = re.compile(r"([a-z])\1{2,}")
_FINAL_DOUBLE = re.compile(r"([a-z])\1\b")
_FINAL_VIRAMA = re.compile(r"[\u09cd\u094d](?=\s|$)")


def tokens(text: str) -> tuple[str, ...]:
    return tuple(normalise(text).split()[:MAX_TOKENS])


@lru_cache(maxsize=16384)
def _phrase_form(phrase: str) -> tuple[str, ...]:
    """An option's title or phrase as content tokens: the same few thousand (titles in
    three languages, centre names, days, times) come back every message, and
    normalising them again was most of a typed answer's cost at a list."""
    return _content(tokens(phrase), _tables().filler)


def _content(words: tuple[str, ...], filler: frozenset[str]) -> tuple[str, ...]:
    """The words that carry meaning ("2 please" -> "2"), or all if none does."""
    return tuple(w for w in words if w not in filler) or words


# ---------------------------------------------------------------- the tables


@dataclass(frozen=True)
class _Tables:
    phrases: Mapping[str, tuple[tuple[str, ...], ...]]  # [words] key -> phrases as tokens
    ordinals: tuple[frozenset[tuple[str, ...]], ...]  # "first", "দ্বিতীয়টা", "dusra wala"
    last: frozenset[tuple[str, ...]]  # "the last one", "শেষেরটা", "आखिरी वाला"
    numbers: Mapping[str, int]  # "two", "dui", "दो" -> 2
    counters: frozenset[str]  # "no", "নম্বর", "नंबर": "the option numbered"
    endings: frozenset[str]  # "টা", "baje": a number's word kept, as times have it
    index: Mapping[str, Mapping[str, tuple[tuple[str, ...], ...]]]  # key -> first word -> phrases
    filler: frozenset[str]
    negators: frozenset[str]
    questions: frozenset[str]  # "ki", "kya", "why": at a yes/no question, asked again
    postpositions: frozenset[str]  # "আগে", "pehle": after an answer, "before" it
    suffixes: tuple[str, ...]


@cache
def _tables() -> _Tables:
    phrases: dict[str, set[tuple[str, ...]]] = {}
    filler: set[str] = set()
    negators: set[str] = set()
    questions: set[str] = set()
    postpositions: set[str] = set()
    suffixes: set[str] = set()
    ordinals: list[set[tuple[str, ...]]] = []
    last: set[tuple[str, ...]] = set()
    numbers: dict[str, int] = {}
    counters: set[str] = set()
    endings: set[str] = set()
    for lang in Lang:
        for key, value in catalogue(lang).items():
            if not key.startswith("words.") or not isinstance(value, list):
                continue
            name = key.removeprefix("words.")
            if name == "ordinals":
                for place, forms in enumerate(value):
                    while len(ordinals) <= place:
                        ordinals.append(set())
                    ordinals[place].update(tokens(f) for f in forms)
                continue
            if name == "signs":
                continue  # read by normalise
            if name == "last":
                last.update(_content(tokens(v), frozenset()) for v in value)
                continue
            if name == "numbers":
                for n, spelled in enumerate(value, 1):
                    numbers.update((w, n) for form in spelled for w in tokens(form))
                continue
            if name in ("day_names", "date_word", "range_words"):
                continue  # read by spoken.day_phrases
            forms = {tokens(v) for v in value} - {()}
            match name:
                case "filler":
                    filler.update(t for form in forms for t in form)
                case "negators":
                    negators.update(t for form in forms for t in form)
                case "questions":
                    questions.update(t for form in forms for t in form)
                case "postpositions":
                    postpositions.update(t for form in forms for t in form)
                case "counters":
                    counters.update(t for form in forms for t in form)
                case "number_endings":
                    endings.update(t for form in forms for t in form)
                case "suffixes":
                    suffixes.update(normalise(v) for v in value if normalise(v))
                case (
                    "name_before"
                    | "name_before_two"
                    | "name_after"
                    | "name_links"
                    | "name_words"
                    | "id_before"
                    | "id_after"
                ):
                    pass
                case _:
                    phrases.setdefault(name, set()).update(forms)
    fill = frozenset(filler)
    content = {k: tuple(sorted({_content(p, fill) for p in v})) for k, v in phrases.items()}
    index: dict[str, dict[str, list[tuple[str, ...]]]] = {}
    for key, forms in content.items():
        for form in forms:
            index.setdefault(key, {}).setdefault(form[0], []).append(form)
    return _Tables(
        phrases=content,
        index={k: {w: tuple(f) for w, f in v.items()} for k, v in index.items()},
        ordinals=tuple(frozenset(_content(p, fill) for p in forms) for forms in ordinals),
        last=frozenset(_content(p, fill) for p in last),
        numbers=numbers,
        counters=frozenset(counters),
        endings=frozenset(endings),
        filler=frozenset(filler),
        negators=frozenset(negators),
        questions=frozenset(questions),
        postpositions=frozenset(postpositions),
        # Longest first, so "য়ের" is tried before "র".
        suffixes=tuple(sorted(suffixes, key=len, reverse=True)),
    )


def kind(option_id: str) -> str:
    """What a button does, without its subject: "confirm:yes:12" -> "confirm:yes",
    "cancel:KMC-4K7P2Q" (a row of My bookings) -> "cancel:booking"."""
    head, _, rest = option_id.partition(":")
    if rest == "yes" or rest.startswith("yes:"):
        return f"{head}:yes"
    if head in ("cancel", "move") and rest.startswith("KMC-"):
        return f"{head}:booking"
    if head == "offer" and rest.startswith("no:"):
        return "offer:no"
    if head == "leave" and rest.isdigit():
        return "leave:entry"
    return option_id


def option_keys(option_id: str) -> tuple[str, ...]:
    """The [words] tables whose phrases choose this option."""
    head, _, value = option_id.partition(":")
    if head in ("vaccine", "id"):
        return (f"{head}.{value}",)
    return BUTTON_WORDS.get(kind(option_id), ())


def option_phrases(option_id: str) -> tuple[tuple[str, ...], ...]:
    table = _tables().phrases
    return tuple(p for key in option_keys(option_id) for p in table.get(key, ()))


def _heads(kept: tuple[str, ...], suffixes: tuple[str, ...]) -> frozenset[str]:
    """The words a phrase found in `kept` can begin with (endings taken off)."""
    heads = set(kept)
    for w in kept:
        heads.update(w[: -len(e)] for e in suffixes if w.endswith(e) and len(w) - len(e) >= 3)
    return frozenset(heads)


def _phrases_in(keys: Iterable[str], heads: frozenset[str]) -> list[tuple[str, ...]]:
    """The phrases of these tables that may be in the message: an index lookup,
    so a message is not compared with every phrase of every table."""
    index = _tables().index
    return [p for key in keys for h in heads for p in index.get(key, {}).get(h, ())]


# ---------------------------------------------------------------- matching


def understand(
    text: str,
    options: Mapping[str, Iterable[str]],
    *,
    titles: Mapping[str, Iterable[str]] | None = None,
    exact_only: bool = False,
    without: frozenset[Word] = frozenset(),
    spell: bool = True,
) -> Understood:
    """What `text` means at a question offering `options` (id -> extra phrases:
    the day or time it stands for). `titles` (id -> its names in every language)
    may also be typed in part: "Roxy" for "Roxy Cinema Hall", "Kasba Heal".

    `exact_only`: the question wants free text (a date, a name): only an answer
    that is wholly a global word counts; no numbers, no phrases inside, no typos.
    `without`: global meanings that mean nothing at this question.
    """
    t = _tables()
    kept = _content(tokens(text), t.filler)
    if not kept:
        return None
    words_ = [w for w in Word if w not in without]
    heads = _heads(kept, t.suffixes)
    if exact_only:
        # Only an answer that is wholly one global word ("help", "বাংলায়").
        whole = [
            w
            for w in words_
            if len(_coverage(kept, _phrases_in((w.value,), heads), t.suffixes)) == len(kept)
        ]
        return Meaning(whole[0]) if len(whole) == 1 else None
    ids = list(options)
    # At a yes/no question only a bare digit is the option's number: there "do"
    # may be the Hindi "give", and "1 no" says both "1" and "no".
    yes_no = any(kind(oid).endswith(":yes") for oid in ids)
    spelled = not yes_no and spell and _spelled(kept, t) != kept
    if spelled:
        kept = _spelled(kept, t)  # "তিন নম্বর" -> "3", "দশটা" -> "10 টা"

    def said(phrases: Iterable[str]) -> set[tuple[str, ...]]:
        return {_phrase_form(p) for p in phrases} - {()}

    named = {oid: list(said((titles or {}).get(oid, ()))) for oid in ids}
    forms = {oid: said(options[oid]) | set(named[oid]) for oid in ids}
    candidates: dict[Option | Meaning, frozenset[int]] = {}
    spans: dict[Option | Meaning, frozenset[tuple[int, int]]] = {}  # each phrase found
    for oid in ids:
        found_at = _spans(kept, (*_phrases_in(option_keys(oid), heads), *forms[oid]), t.suffixes)
        if found_at:
            spans[Option(oid)] = found_at
            candidates[Option(oid)] = _covered(found_at)
    if not candidates:
        # Only when no option is named whole: "Roxy" for "Roxy Cinema Hall" (but
        # "book" is "Book 2nd dose", not the start of "My bookings").
        for oid in ids:
            if any(_part_of(kept, title) for title in named[oid]):
                candidates[Option(oid)] = frozenset(range(len(kept)))
        if candidates:
            # "bookin" starts "My bookings" but is a typo of "booking": ask.
            parts = tuple(c.id for c in candidates if isinstance(c, Option))
            typo = _fuzzy(kept, forms, named, words_)
            if isinstance(typo, Meaning):
                return None
            others = (typo.id,) if isinstance(typo, Option) else typo.ids if typo else ()
            if others and not set(others) & set(parts):
                return Unsure((*parts, *others))
    if not candidates:
        # A name typed in another script or as it sounds: "বালিগঞ্জ", "ballyganj".
        candidates.update(_sounding(kept, named, roman=False))
    for w in words_:
        found_at = _spans(kept, _phrases_in((w.value,), heads), t.suffixes)
        if found_at:
            spans[Meaning(w)] = found_at
            candidates[Meaning(w)] = _covered(found_at)
    # At a yes/no question a global word that acts ("booking", "menu") counts only
    # as the whole answer: "booking ta thakuk" (let it stay) is about the question,
    # never a new booking; what is not understood there is asked again.
    partial = yes_no and any(
        isinstance(c, Meaning) and c.word in ACTING and len(cover) < len(kept)
        for c, cover in candidates.items()
    )
    if partial:
        for c in [c for c in candidates if isinstance(c, Meaning) and c.word in ACTING]:
            if len(candidates[c]) < len(kept):
                del candidates[c]
        if not candidates:
            return None
    # "দুটো" is the second option, but at a list of times "১টা" is 1 o'clock: there
    # (the options' own phrases say "10 টা", "10 baje") an ending keeps its number.
    timed = any(
        len(p) == 2 and p[0].isdigit() and p[1] in t.endings for f in forms.values() for p in f
    )
    around = t.counters | t.filler | (frozenset() if timed else t.endings)
    bare = kept if yes_no else _without(kept, around)
    number = _number(bare, len(ids))
    if number is None and not yes_no:
        # "the first one", "দ্বিতীয়টা" at a list (never at a yes/no question)
        place = next((n for n, forms in enumerate(t.ordinals, 1) if {kept, bare} & forms), None)
        number = place if place is not None and place <= len(ids) else None
        rows = [i for i in ids if kind(i) not in BUTTON_WORDS]  # not "more", "nearest"
        if number is None and rows and {kept, bare} & t.last:
            number = ids.index(rows[-1]) + 1  # "the last one": the list's last row
    if number is not None:
        # The help says "answer with the option's number": "1" at a list of
        # times is the first time, not 1 pm; "12" beyond the list may be a time.
        target = ids[number - 1]
        if len(kept) == 1 and kept[0].isdigit() and not spelled:
            return Option(target)
        # Not a bare digit ("dui", "সাত", "২ নম্বর"): when the words also name
        # another option whole ("sat" is Saturday and 7), ask which.
        rivals = [
            c.id
            for c, cover in candidates.items()
            if isinstance(c, Option) and c.id != target and len(cover) == len(kept)
        ]
        if spelled:  # the words as typed may name another option: "sat" (Saturday)
            as_typed = understand(text, options, titles=titles, without=without, spell=False)
            if isinstance(as_typed, Option | Unsure):
                named_ids = (as_typed.id,) if isinstance(as_typed, Option) else as_typed.ids
                rivals += [i for i in named_ids if i != target and i not in rivals]
        return Unsure((target, *rivals)) if rivals else Option(target)
    if yes_no and any(
        w in t.questions and not any(i in cover for cover in candidates.values())
        for i, w in enumerate(kept)
    ):
        return None  # "booking er ki hobe?", "kya hoga": a question, not an answer
    _qualify(kept, candidates, t)
    if yes_no and any(
        w.isdigit() and not any(i in cover for cover in candidates.values())
        for i, w in enumerate(kept)
    ):
        return None  # "1 no", "yes 3": a number that is not an option's here
    # A greeting or a thanks beside an answer ("ok thanks", "hi, covishield")
    # is politeness: it counts as the whole message, or as its start when nothing
    # else is known in it ("thank you so much", "hello there").
    polite = [p for p in (Meaning(Word.GREET), Meaning(Word.THANKS)) if p in candidates]
    for p in polite:
        if len(candidates[p]) < len(kept) and (len(candidates) > 1 or 0 not in candidates[p]):
            del candidates[p]
    if candidates and any(isinstance(c, Option) for c in candidates):
        return _best(kept, candidates, t, spans)
    if _acknowledged(kept, t):
        return Meaning(Word.THANKS)  # "ok", "ঠিক আছে" where nothing asks yes or no
    if candidates:
        return _best(kept, candidates, t, spans)
    if any(w in t.negators for w in kept):
        return None
    typo = _fuzzy(kept, forms, named, words_)
    if yes_no and len(kept) > 1 and isinstance(typo, Meaning) and typo.word in ACTING:
        return None  # a typo of one word of several is no global act at a yes/no question
    if typo is None and (sounding := _sounding(kept, named, roman=True)):
        return _best(kept, sounding, t, {})  # "ballyganj", "dumdum"
    return typo


def _acknowledged(kept: tuple[str, ...], t: _Tables) -> bool:
    phrases = _phrases_in(("yes", Word.THANKS.value), _heads(kept, t.suffixes))
    return len(_coverage(kept, phrases, t.suffixes)) == len(kept)


def _without(kept: tuple[str, ...], dropped: frozenset[str]) -> tuple[str, ...]:
    return tuple(w for w in kept if w not in dropped) or kept


def _spelled(kept: tuple[str, ...], t: _Tables) -> tuple[str, ...]:
    """A number in words as its digit ("dui" -> "2", "তিন নম্বর" -> "3 নম্বর",
    "দশটা" -> "10 টা", "das baje" -> "10 baje"), when it is the whole answer
    beside counters, a number's endings and filler."""
    out: list[str] = []
    for w in kept:
        glued = next(  # "দশটা", "tinte": the ending written onto the number
            (e for e in t.endings if len(e) > 1 and w.endswith(e) and w[: -len(e)] in t.numbers),
            None,
        )
        if w in t.numbers:
            out.append(str(t.numbers[w]))
        elif glued:
            out += [str(t.numbers[w[: -len(glued)]]), glued]
        else:
            out.append(w)
    around = t.counters | t.endings | t.filler
    rest = _without(tuple(out), around)
    if len(rest) == 1 and rest[0].isdigit() and rest != _without(kept, around):
        return tuple(out)
    return kept


def _number(kept: tuple[str, ...], count: int) -> int | None:
    if len(kept) == 1 and kept[0].isascii() and kept[0].isdigit() and len(kept[0]) <= 2:
        n = int(kept[0])
        return n if 1 <= n <= count else None
    return None


def _coverage(
    typed: tuple[str, ...], phrases: Iterable[tuple[str, ...]], suffixes: tuple[str, ...]
) -> frozenset[int]:
    """The positions of `typed` that some phrase covers, word for word."""
    return _covered(_spans(typed, phrases, suffixes))


def _spans(
    typed: tuple[str, ...], phrases: Iterable[tuple[str, ...]], suffixes: tuple[str, ...]
) -> frozenset[tuple[int, int]]:
    """Where each phrase is found in `typed`: (first position, end)."""
    found: set[tuple[int, int]] = set()
    for phrase in phrases:
        n = len(phrase)
        for start in range(len(typed) - n + 1):
            if all(_same(typed[start + i], phrase[i], suffixes) for i in range(n)):
                found.add((start, start + n))
    return frozenset(found)


def _covered(spans: Iterable[tuple[int, int]]) -> frozenset[int]:
    return frozenset(i for start, end in spans for i in range(start, end))


def _part_of(kept: tuple[str, ...], title: tuple[str, ...]) -> bool:
    """`kept` is a run of the title's words, the last one maybe cut short
    ("roxy cin"); at least 3 letters in all, and no bare number."""
    if sum(len(w) for w in kept) < 3 or all(w.isdigit() for w in kept):
        return False
    n = len(kept)
    for start in range(len(title) - n + 1):
        run = title[start : start + n]
        if run[:-1] == kept[:-1] and run[-1].startswith(kept[-1]) and len(kept[-1]) >= 3:
            return True
    return False


def _sounding(
    kept: tuple[str, ...], named: Mapping[str, list[tuple[str, ...]]], *, roman: bool
) -> dict[Option | Meaning, frozenset[int]]:
    """The options a typed word sounds like a word of, by `sound_key`: a name in
    Bengali or Devanagari letters ("যাদবপুর"), or (`roman`, once no typo is
    found) spelt as it sounds ("ballyganj"); two words run together count as
    one ("দমদম", "dumdum" for "Dum Dum")."""
    typed = {
        i: key
        for i, w in enumerate(kept)
        if w.isascii() == roman and len(key := sound_key(w)) >= MIN_KEY
    }
    found: dict[Option | Meaning, frozenset[int]] = {}
    if not typed:
        return found
    for oid, titles in named.items():
        keys = {sound_key(w) for title in titles for w in title if w.isascii()}
        keys |= {sound_key(a + b) for title in titles for a, b in itertools.pairwise(title)}
        hits = frozenset(i for i, key in typed.items() if key in keys)
        if hits:
            found[Option(oid)] = hits
    return found


def _same(typed: str, word: str, suffixes: tuple[str, ...]) -> bool:
    """The typed word is `word`, maybe with a case ending ("বাংলায়" for "বাংলা");
    endings only on words of 3+ letters ("ha" + "i" is not "haan")."""
    if typed == word:
        return True
    if len(word) < 3 or not typed.startswith(word) or word.isdigit():
        return False
    return typed[len(word) :] in suffixes


def _qualify(
    kept: tuple[str, ...], candidates: dict[Option | Meaning, frozenset[int]], t: _Tables
) -> None:
    """Words that turn one meaning into a nearby one, from the tables: the noun
    "booking" with "my" or "dekho" is "my bookings", not a new booking; "language" beside
    a language's name ("bangla bhasha") is that language."""
    heads = _heads(kept, t.suffixes)
    # A word an option stands on ("radd karo" at My bookings) is that option's verb.
    acted = frozenset().union(
        *(cover for c, cover in candidates.items() if isinstance(c, Option) and c.id != "menu:book")
    )
    look = _coverage(kept, _phrases_in(("look",), heads), t.suffixes) - acted
    nouns = _coverage(kept, _phrases_in(("booking_noun",), heads), t.suffixes)
    for book, bookings in (
        (Meaning(Word.BOOK), Meaning(Word.BOOKINGS)),
        (Option("menu:book"), Option("menu:bookings")),
    ):
        found = candidates.get(book)
        if found and look and found <= nouns and bookings not in candidates:
            candidates[bookings] = candidates.pop(book) | look
    if any(isinstance(c, Option) for c in candidates):
        for noun in (Meaning(Word.BOOK), Meaning(Word.BOOKINGS)):
            if noun in candidates and candidates[noun] <= nouns:
                del candidates[noun]  # "बुकिंग रखें": the booking is what the option acts on
    language = candidates.get(Meaning(Word.LANGUAGE))
    named = [c for c in candidates if _names_a_language(c)]
    if language and named:
        del candidates[Meaning(Word.LANGUAGE)]
        for c in named:
            candidates[c] = candidates[c] | language


def _names_a_language(c: Option | Meaning) -> bool:
    if isinstance(c, Meaning):
        return c.word in LANG_WORDS
    return c.id.startswith("lang:")


def _best(
    kept: tuple[str, ...],
    candidates: Mapping[Option | Meaning, frozenset[int]],
    t: _Tables,
    spans: Mapping[Option | Meaning, frozenset[tuple[int, int]]],
) -> Understood:
    negators = t.negators
    top = max(len(c) for c in candidates.values())
    winners = {c: cover for c, cover in candidates.items() if len(cover) == top}
    options = [c for c in winners if isinstance(c, Option)]
    meanings = [c for c in winners if isinstance(c, Meaning)]
    if options:
        # An option and a global word on the same words: the option is what the
        # word means at this question ("cancel" at "Cancel booking X?" is "yes").
        option_covers = {winners[o] for o in options}
        meanings = [m for m in meanings if winners[m] not in option_covers]
    if options and meanings:
        return None
    if len(options) > 1:
        return Unsure(tuple(o.id for o in options))
    if len(meanings) > 1:
        return None
    winner = (options or meanings)[0]
    cover = winners[winner]
    if any(
        isinstance(c, Option) and c != winner and not (found & cover)
        for c, found in candidates.items()
    ):
        return None  # two options named apart: "yes, keep it", "covishield not covaxin"
    if any(w in negators and i not in cover for i, w in enumerate(kept)):
        return None  # "not covishield", "covishield na": say what you mean
    if min(cover) > 0 and any(kept[i] in negators for i in cover):
        return None  # "বদলাতে চাই না": the "না" negates what comes before it
    if _negated_after(kept, spans.get(winner, frozenset()), negators):
        return None  # "বাতিল করবেন না", "cancel mat karo", "keep nahi": both halves
    if (
        isinstance(winner, Option)
        and winner.id.startswith(("day:", "slot:"))
        and any(w.isdigit() and i not in cover for i, w in enumerate(kept))
    ):
        return None  # "dupur 12 ta" is no part of "2 - 4 pm": a number the row does not say
    if kept[-1] in t.postpositions and len(kept) - 1 not in cover:
        return None  # "২টার আগে", "kal se pehle": before it, not it ("pehle covaxin" is)
    return winner


def _negated_after(
    kept: tuple[str, ...], found: frozenset[tuple[int, int]], negators: frozenset[str]
) -> bool:
    """A negation that follows another phrase of the same answer, not inside it:
    Bengali and Hindi put "না"/"नहीं"/"mat" after the verb they turn round, so
    "cancel" + "mat karo" is not "cancel" + "no". A negation first ("না, রেখে
    দিন", "na na rakhun") says the same as what follows it."""
    for i, word in enumerate(kept):
        if word not in negators:
            continue
        for j in range(i):
            if kept[j] in negators or not any(s <= j < e for s, e in found):
                continue
            if not any(s <= j and i < e for s, e in found):
                return True
    return False


def _fuzzy(
    kept: tuple[str, ...],
    forms: Mapping[str, set[tuple[str, ...]]],
    named: Mapping[str, list[tuple[str, ...]]],
    words_: list[Word],
) -> Understood:
    """A small typo in an option title or keyword: the closest, if clearly closest."""
    scores: dict[Option | Meaning, float] = {}
    for oid, own in forms.items():
        # A title's own words count one by one too: "balygunge" for "Ballygunge UPHC".
        words_of_titles = {(w,) for title in named[oid] for w in title}
        scores[Option(oid)] = _closeness(kept, (*option_phrases(oid), *own, *words_of_titles))
    for meaning, score in _word_closeness(kept, tuple(words_)).items():
        scores[meaning] = score
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] < FUZZY_SCORE:
        return None
    close = [c for c, s in ranked if s >= FUZZY_SCORE and ranked[0][1] - s < FUZZY_TIE]
    # An option and the global word it stands for ("Help", "help") are one meaning.
    chosen = {w for c in close if isinstance(c, Option) for w in BUTTON_WORDS.get(kind(c.id), ())}
    close = [c for c in close if not (isinstance(c, Meaning) and c.word.value in chosen)]
    best, close = close[0], close[1:]
    if not close:
        return best
    if isinstance(best, Option) and all(isinstance(c, Option) for c in close):
        return Unsure((best.id, *(c.id for c in close if isinstance(c, Option))))
    return None


def _closeness(kept: tuple[str, ...], phrases: Iterable[tuple[str, ...]]) -> float:
    """How close the answer, or one of its words, is to a phrase (0-100)."""
    wholes, singles = _choices(tuple(phrases))
    whole = " ".join(kept)
    best = 0.0
    if wholes and not any(ch.isdigit() for ch in whole):
        best = process.extractOne(whole, wholes, scorer=fuzz.ratio)[1]
    for word in kept:
        if not singles or len(word) < FUZZY_MIN_LENGTH or any(ch.isdigit() for ch in word):
            continue
        match, score, _ = process.extractOne(word, singles, scorer=fuzz.ratio)
        if min(len(word), len(match)) >= 8 and score >= FUZZY_SCORE_LONG:
            score = max(score, FUZZY_LONG_AS)  # counts as close as a short typo
        best = max(best, score)
    return best


def _word_closeness(kept: tuple[str, ...], words_: tuple[Word, ...]) -> dict[Meaning, float]:
    """`_closeness` for every global word at once: one pass over all their phrases."""
    wholes, whole_words, singles, single_words = _word_choices(words_)
    scores: dict[Meaning, float] = {}

    def note(found: list[tuple[str, float, int]], owners: tuple[Word, ...], word: str) -> None:
        for match, score, at in found:
            if score < FUZZY_SCORE and (min(len(word), len(match)) < 8 or " " in word):
                continue  # only a long single word may have two typos
            m = Meaning(owners[at])
            scores[m] = max(scores.get(m, 0.0), max(score, FUZZY_LONG_AS))

    whole = " ".join(kept)
    cutoff = FUZZY_SCORE_LONG
    if not any(ch.isdigit() for ch in whole):
        found = process.extract(whole, wholes, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None)
        note(found, whole_words, whole)
    for word in kept:
        if len(word) >= FUZZY_MIN_LENGTH and not any(ch.isdigit() for ch in word):
            found = process.extract(
                word, singles, scorer=fuzz.ratio, score_cutoff=cutoff, limit=None
            )
            note(found, single_words, word)
    return scores


@cache
def _word_choices(
    words_: tuple[Word, ...],
) -> tuple[tuple[str, ...], tuple[Word, ...], tuple[str, ...], tuple[Word, ...]]:
    pairs = [(j, w) for w in words_ for j in _choices(_tables().phrases.get(w.value, ()))[0]]
    single = [(j, w) for j, w in pairs if " " not in j]
    return (
        tuple(j for j, _ in pairs),
        tuple(w for _, w in pairs),
        tuple(j for j, _ in single),
        tuple(w for _, w in single),
    )


@lru_cache(maxsize=1024)
def _choices(phrases: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The phrases a typo may be forgiven in (5+ letters, no digits), whole and one-word."""
    joined = [" ".join(p) for p in phrases]
    fit = [j for j in joined if len(j) >= FUZZY_MIN_LENGTH and not any(c.isdigit() for c in j)]
    return tuple(fit), tuple(j for j in fit if " " not in j)
