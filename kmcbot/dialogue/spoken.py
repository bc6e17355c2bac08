"""The other names of what the bot offers and asks, as people type them: a day
of the list ("5 july", "আগামীকাল", "kal"), a time ("10 baje", "সকাল ১০টা"), and
a name or ID number without the words around it ("my name is ...", "मेरा नाम
... है", "my aadhaar number is ..."). The words are the catalogues' tables."""

from __future__ import annotations

from datetime import date, time
from functools import cache

from kmcbot.dialogue.catalogue import words
from kmcbot.dialogue.dates import month_names
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.understand import normalise, tokens

# ---------------------------------------------------------------- rows of the lists


def day_phrases(day: date, today: date) -> tuple[str, ...]:
    """How people name a day of the list: "5 july", "জুলাইয়ের ৫", "5/7", "৫ তারিখ",
    "tomorrow", "আগামীকাল", "kal", "পরশু"."""
    forms = [f"{day.day} {day.month}", f"{day.day:02d} {day.month:02d}"]
    relative = {0: "words.today", 1: "words.tomorrow", 2: "words.day_after"}.get((day - today).days)
    if relative:
        forms += [phrase for lang in Lang for phrase in words(lang, relative)]
    months = month_names(day.month)
    for name in months:
        forms += [f"{day.day} {name}", f"{name} {day.day}"]
    for lang in Lang:
        forms.append(words(lang, "meta.weekdays")[day.weekday()])
        forms += _listed(words(lang, "words.day_names"), day.weekday())
    forms.append(str(day.day))
    # The day in words, with the month or "তারিখ": "আট জুলাই", "দুই তারিখ", "पहली जुलाई"
    # (never alone: "dui" alone is the second row).
    # "one" says nothing; a one-letter word ("ছ") is a typo away from "tarikh" alone.
    filler = {f for lang in Lang for f in words(lang, "words.filler")}
    spelled = [
        w
        for lang in Lang
        for w in _listed(words(lang, "words.numbers"), day.day - 1)
        if w not in filler and len(w) > 1
    ]
    ordinal = [w for lang in Lang for w in _listed(words(lang, "words.ordinals"), day.day - 1)]
    dated = [w for lang in Lang for w in words(lang, "words.date_word")]
    forms += [f"{n} {m}" for n in (*spelled, *ordinal) for m in months]
    forms += [f"{m} {n}" for n in spelled for m in months]
    forms += [f"{n} {d}" for n in spelled for d in dated]
    return tuple(forms)


def _listed(table: tuple[object, ...], place: int) -> list[str]:
    """The forms at `place` of a table of lists ("numbers", "day_names"), if any."""
    found = table[place] if 0 <= place < len(table) else ()
    if isinstance(found, str):
        return [found]
    return [str(f) for f in found] if isinstance(found, list | tuple) else []


@cache
def slot_phrases(start: time, end: time) -> tuple[str, ...]:
    """How people name a time of the list: "10", "10am", "10 baje", "১০টা", "10-12"."""
    forms = []
    for hour, to in ((start.hour, end.hour), (_twelve(start.hour), _twelve(end.hour))):
        half = "am" if start.hour < 12 else "pm"
        forms += [
            str(hour),
            f"{hour}{half}",
            f"{hour} {half}",
            f"{hour}:{start.minute:02d}",
            f"{hour} {to}",
            f"{hour} to {to}",
            f"{hour} baje",
            f"{hour} बजे",
            f"{hour}টা",
            f"{hour} টা",
            f"{hour}টায়",
            f"{hour}টার",
            f"{hour}টো",
        ]
    # The part of the day, as the bot says it (meta.hours: "সকাল ১০", "दोपहर 2")
    # and as people type it in Roman letters (words.morning ...): "সকালে", "shaam".
    for lang in Lang:
        said = words(lang, "meta.hours")[start.hour].split()
        if len(said) > 1:
            forms += [said[0], f"{said[0]} {_twelve(start.hour)}"]
    part = next((p for p, hours in _DAY_PARTS.items() if start.hour in hours), None)
    if part:
        forms += [phrase for lang in Lang for phrase in words(lang, f"words.{part}")]
    # The range as shown, the end with its part of the day: "10 ta theke dupur 12",
    # "10 se dopahar 12" (never the end alone: "dupur 12" may be another time's start).
    links = [w for lang in Lang for w in words(lang, "words.range_words")]
    # An end closes the part of the day before it too: 4 pm ends the afternoon ("bikel 4").
    parts = dict.fromkeys([*_part_words(end.hour), *_part_words(max(end.hour - 1, 0))])
    ends = ["", *(f"{p} " for p in parts)]
    for hour, to in ((start.hour, end.hour), (_twelve(start.hour), _twelve(end.hour))):
        half = "am" if start.hour < 12 else "pm"
        for said_start in (f"{hour}", f"{hour} ta", f"{hour}টা", f"{hour} baje", f"{hour} {half}"):
            forms += [f"{said_start} {link} {p}{to}" for link in links for p in ends]
    return tuple(forms)


def _part_words(hour: int) -> list[str]:
    """The one-word names of the part of the day `hour` is in: "দুপুর", "dupur", "दोपहर"."""
    found = [words(lang, "meta.hours")[hour].split()[0] for lang in Lang]
    part = next((p for p, hours in _DAY_PARTS.items() if hour in hours), None)
    if part:
        found += [w for lang in Lang for w in words(lang, f"words.{part}") if " " not in w]
    return [w for w in dict.fromkeys(found) if not w.isdigit()]


_DAY_PARTS = {"morning": range(5, 12), "afternoon": range(12, 16), "evening": range(16, 21)}


def _twelve(hour: int) -> int:
    return hour % 12 or 12


# ---------------------------------------------------------------- names


@cache
def _name_wrappers() -> tuple[tuple[tuple[str, ...], ...], ...]:
    def forms(key: str) -> tuple[tuple[str, ...], ...]:
        found = {tokens(p) for lang in Lang for p in words(lang, key)} - {()}
        return tuple(sorted(found, key=len, reverse=True))

    return (
        forms("words.name_before"),
        forms("words.name_after"),
        forms("words.name_before_two"),
        forms("words.name_links"),
    )


@cache
def _name_words() -> frozenset[str]:
    return frozenset(w for lang in Lang for p in words(lang, "words.name_words") for w in tokens(p))


def names_a_wrapper(name: str) -> bool:
    """A word of the wrappers ("naam", "নাম") is still in it: the name is not
    plain, so it is asked for again rather than stored with that word."""
    return any(w in _name_words() for w in tokens(name))


def unwrap_name(text: str) -> str:
    """The name inside "my name is Asha Das", "mera naam Ramesh Kumar hai",
    "আমার নাম রিনা সেন", "मेरा नाम ... है"; the name keeps its own spelling.
    A short word after the name ("h") goes only with one before it, so that a
    name ending in an initial ("Ramesh H") stays whole."""
    raw = text.split()
    keys = [normalise(w) for w in raw]

    def says(part: list[str], phrase: tuple[str, ...]) -> bool:
        return " ".join(k for k in part if k) == " ".join(phrase)  # "I'm" is "i m"

    before, after, before_two, links = _name_wrappers()
    cut = 0
    for n in range(1, min(len(raw), 5)):
        if any(says(keys[:n], p) for p in before):
            cut = n  # the longest: "my name is", not "my name"
        elif len(raw) - n >= 2 and any(says(keys[:n], p) for p in before_two):
            cut = n  # "ami Rina Sen", but "Ami Das" is a name
    # A linking word after the wrapper: "naam hai ...", "নাম হল ...", "मेरा नाम तो ...".
    while (
        cut
        and len(raw) - cut > 1
        and (not keys[cut] or any(says(keys[cut : cut + 1], p) for p in links))
    ):
        cut += 1
    raw, keys = raw[cut:], keys[cut:]
    for _ in range(2):  # "... naam hai": "hai", then "naam"
        for n in range(min(len(raw) - 1, 4), 0, -1):
            ending = [p for p in after if says(keys[-n:], p)]
            # Alone, a word after the name goes only if it cannot be an initial ("Ramesh H").
            if ending and (cut or len(ending[0]) > 1 or len(ending[0][0]) >= 3):
                raw, keys = raw[:-n], keys[:-n]
                break
    name = " ".join(raw).strip(" :,;-–—।!?")
    if name.endswith(".") and len(name.split()[-1]) > 3:
        name = name[:-1]  # the sentence's full stop, not an initial's ("S. K.")
    return name or text


# ---------------------------------------------------------------- ID numbers


def unwrap_id(text: str) -> str | None:
    """The ID number inside "my aadhaar number is 2341 2341 2346", "आधार नंबर: ...",
    or None when there are no such words around it. Whole words only, from the
    tables (words.id_before, words.id_after): an ID number is never guessed at."""
    before, after = _id_wrappers()
    raw = text.split()
    keys = [normalise(w) for w in raw]
    cut = 0
    while cut < len(raw) - 1 and (keys[cut] in before or not keys[cut]):
        cut += 1
    end = len(raw)
    while end > cut + 1 and (keys[end - 1] in after or not keys[end - 1]):
        end -= 1
    if cut == 0 and end == len(raw):
        return None
    return " ".join(raw[cut:end]).strip(" :-–.")


@cache
def _id_wrappers() -> tuple[frozenset[str], frozenset[str]]:
    def table(key: str) -> frozenset[str]:
        return frozenset(w for lang in Lang for p in words(lang, key) for w in tokens(p))

    return table("words.id_before"), table("words.id_after")
