"""Issue 20: no typed answer ever throws away a summary the citizen reached.

At the booking summary (and a reschedule's), whatever is typed, in any number
and any script, either is one of the explicit answers (Confirm, Change, Cancel,
menu, back, my bookings, delete my data, "language"), or leaves the summary as
it was: the same question, the same answers kept, and Confirm (tapped or typed)
still books that very slot. Three wrong answers in a row bring help, not the menu.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmcbot.dialogue.catalogue import words
from kmcbot.dialogue.core import Picked, Said
from kmcbot.dialogue.model import Lang, State
from kmcbot.dialogue.step import resolve
from kmcbot.dialogue.understand import Word
from kmcbot.messages import Ask, Text
from tests.support.conversation import Conversation, reach

# The words that leave a summary on purpose, and the buttons that answer it.
LEAVING = {Word.MENU, Word.CANCEL, Word.BOOKINGS, Word.FORGET, Word.BACK, Word.LANGUAGE}
ANSWERS = ("confirm:yes", "confirm:change", "confirm:no")

KIND_WORDS = sorted(
    {
        phrase
        for lang in Lang
        for key in ("words.greet", "words.thanks", "words.help", "words.lang_bn", "words.lang_hi")
        for phrase in words(lang, key)
    }
)
CHATTER = [
    "what is this",
    "kal",
    "আমি জানি না",
    "पता नहीं",
    "5 June",
    "২৮ আগস্ট",
    "Asha Das",
    "KMC-ABCDEF",
    "2341 2341 2346",
    "4",
    "99",
    "?",
    "...",
    "😀",
    "ঠিক আছে কিন্তু",
    "yes no",
    "na haan",
]
typed = st.one_of(
    st.text(max_size=60),
    st.sampled_from(KIND_WORDS),
    st.sampled_from(CHATTER),
    st.text(alphabet="অআইকখগচজটডতদনপবমযরলশসহািীুূেৈোৌ্ংঁ ", max_size=20),
    st.text(alphabet="अआइकखगचजटडतदनपबमयरलशसहािीुूेैोौ्ंँ ", max_size=20),
)


def _at_summary(start: str, lang: Lang) -> Conversation:
    chat = Conversation(lang=lang)
    if start == "booking":
        return reach(chat, State.CONFIRM)
    reach(chat, State.MY_BOOKINGS)
    move = next(r for r in chat.row_ids if r.startswith("move:"))
    chat.pick(move).pick(chat.row_ids[0])
    chat.pick(chat.row_ids[1]).pick(chat.row_ids[0])  # another day: not the booked slot
    assert chat.state == State.CONFIRM
    return chat


def _leaves(chat: Conversation, text: str) -> bool:
    s = chat.session
    answer = resolve(s, Text(text), chat._ctx(False))
    match answer:
        case Picked(option):
            return option.startswith(ANSWERS)
        case Said(word, _):
            return word in LEAVING
    return False


@pytest.mark.parametrize("start", ["booking", "reschedule"])
@pytest.mark.parametrize("lang", list(Lang))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(typed, min_size=1, max_size=7))
def test_typing_never_throws_a_summary_away(start: str, lang: Lang, answers: list[str]) -> None:
    chat = _at_summary(start, lang)
    summary = chat.session.draft
    slot = summary.slot_id
    for text in answers:
        if _leaves(chat, text):
            return  # an explicit answer: what it does is tested elsewhere
        chat.send(text)
        s = chat.session
        assert s.state == State.CONFIRM, (text, s.state)
        assert replace(s.draft, listed=()) == replace(summary, listed=()), text
        assert chat.effects == [] and s.strikes < 3
        assert isinstance(chat.last, Ask) and chat.last.buttons[0].id.startswith("confirm:yes")
    before = len(chat.bookings.active(chat.wa_id))
    chat.tap("confirm:yes")
    assert chat.effects, "Confirm still answers the summary"
    booked = chat.bookings.active(chat.wa_id)
    assert any(b.slot_id == slot for b in booked)
    assert len(booked) == before + (start == "booking")
