"""What works at any step: greetings and "menu", "help", "thanks", "book",
"my bookings", "language" and a language by name, "delete my data", "cancel",
"back"; the menu and language questions; erasing the citizen's data."""

from __future__ import annotations

from dataclasses import replace

from kmcbot.booking.commands import ForgetMe, Forgotten, Result
from kmcbot.dialogue import booking_flow, my_bookings, waitlist
from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.core import Answer, Context, Outcome, Picked, join, lang_of
from kmcbot.dialogue.model import Draft, Lang, Session, State
from kmcbot.dialogue.turns import again, ask, help_text, not_understood, to_menu, wait
from kmcbot.dialogue.understand import LANG_WORDS, Word
from kmcbot.messages import Inbound

# Option ids that act wherever they are tapped: an old menu or language
# message scrolled up in the chat still does what it says.
# An offer's Book / Not now (dialogue/waitlist.py) acts wherever it is tapped too.
GLOBAL_PREFIXES = ("menu:", "lang:", waitlist.OFFER_PREFIX)

# Where "back" goes. From CENTRE it is NAME, or the menu in a reschedule (it starts there).
_BACK = {
    State.DOSE_DATE: State.VACCINE,
    State.ID_TYPE: State.DOSE_DATE,
    State.ID_NUMBER: State.ID_TYPE,
    State.NAME: State.ID_NUMBER,
    State.DAY: State.CENTRE,
    State.SLOT: State.DAY,
    State.CONFIRM: State.SLOT,
    State.LOCATION: State.CENTRE,
}
# The steps of a booking: "book" there is no new start (Confirm takes it as "yes").
BOOKING_STEPS = frozenset(
    {
        State.SAME,
        State.VACCINE,
        State.DOSE_DATE,
        State.ID_TYPE,
        State.ID_NUMBER,
        State.NAME,
        State.CENTRE,
        State.LOCATION,
        State.DAY,
        State.SLOT,
        State.CONFIRM,
    }
)
# Where "cancel" abandons what is under way (elsewhere it is an ordinary answer).
_CANCELLABLE = frozenset(
    {
        State.VACCINE,
        State.DOSE_DATE,
        State.ID_TYPE,
        State.ID_NUMBER,
        State.NAME,
        State.CENTRE,
        State.LOCATION,
        State.DAY,
        State.SLOT,
        State.CONFIRM,
        State.MY_BOOKINGS,
        State.CANCEL_CONFIRM,
        State.FORGET_CONFIRM,
        State.SAME,
        State.RESUME,
        State.AREA,
    }
)


def on_global_pick(s: Session, option: str, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    match option:
        case "menu:book":
            return booking_flow.start(s, ctx)
        case "menu:bookings":
            return my_bookings.show(s, ctx)
        case "menu:help":
            return to_menu(s, ctx, text(lang, "help.menu"))
        case "lang:en" | "lang:bn" | "lang:hi":
            return set_language(s, ctx, Lang(option.removeprefix("lang:")))
    return to_menu(s, ctx)


def set_language(s: Session, ctx: Context, chosen: Lang) -> Outcome:
    """Speak `chosen` from now on: at the language question, go back to where the
    citizen asked for it (or the menu); elsewhere, ask the same question again."""
    note = text(chosen, "language.set")
    s = replace(s, lang=chosen)
    if s.state == State.LANGUAGE:
        if s.draft.paused is not None:
            return ask(s, ctx, s.draft.paused, note, paused=None)
        return to_menu(s, ctx, note)
    return again(s, ctx, note)


def on_word(s: Session, word: Word, ctx: Context) -> Outcome | None:
    """The global word's outcome, or None where it is an ordinary answer."""
    lang = lang_of(s, ctx)
    if word in LANG_WORDS:
        return set_language(s, ctx, LANG_WORDS[word])
    if s.state == State.LANGUAGE and s.lang is None:
        return again(s, ctx, None)  # no language yet: the welcome is the menu
    match word:
        case Word.GREET if s.state == State.CONFIRM:
            # A "hi" never throws away a summary the citizen reached.
            return again(s, ctx, text(lang, "common.greet"))
        case Word.MENU | Word.GREET:
            return to_menu(s, ctx)
        case Word.THANKS:
            return again(s, ctx, text(lang, "common.thanks"))
        case Word.HELP:
            return again(s, ctx, help_text(s, ctx))
        case Word.BOOK if s.state not in BOOKING_STEPS:
            return booking_flow.start(s, ctx)
        case Word.BOOKINGS:
            return my_bookings.show(s, ctx)
        case Word.LANGUAGE if s.state != State.LANGUAGE:
            paused = s.state if s.in_flow else None
            return ask(s, ctx, State.LANGUAGE, paused=paused)
        case Word.FORGET:
            return ask(replace(s, draft=Draft()), ctx, State.FORGET_CONFIRM)
        case Word.CANCEL if s.state in _CANCELLABLE:
            return to_menu(s, ctx, text(lang, "common.cancelled"))
        case Word.LEAVE:
            return waitlist.leave(s, ctx, None)
        case Word.CANCEL if s.state == State.MENU:
            # "stop" with nothing under way: no more offers (leave the waitlist).
            return waitlist.leave(s, ctx, None)
        case Word.BACK if s.state in _BACK:
            return ask(s, ctx, _BACK[s.state])
        case Word.BACK if s.state == State.CENTRE and s.draft.page > 0:
            return ask(s, ctx, State.CENTRE, page=s.draft.page - 1)
        case Word.BACK if s.state == State.CENTRE and not s.draft.moving_reference:
            return ask(s, ctx, State.NAME)
        case Word.BACK if s.state == State.AREA:
            return waitlist.back_from_area(s, ctx)
        case Word.BACK if s.state in _CANCELLABLE:
            return to_menu(s, ctx)
    return None


# ---------------------------------------------------------------- handlers


def on_language(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    # Language picks are global; anything else shows the choice again. No
    # strikes here: "help and the menu" would be in a language not chosen.
    return again(s, ctx, None)


def on_menu(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    # A typed "yes" / "no" after an offer came (it is sent outside the chat).
    return waitlist.typed_at_menu(s, answer, msg, ctx) or not_understood(s, ctx, answer)


def on_pending(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    """A message while an effect's result was due: the shell lost the turn
    (crash between effect and save). Nothing is known to be done: the menu."""
    return to_menu(s, ctx, text(lang_of(s, ctx), "common.error"))


def on_forget_confirm(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    match answer:
        case Picked("forget:yes"):
            return wait(s, ctx, State.FORGETTING, ForgetMe())
        case Picked("forget:no"):
            return to_menu(s, ctx, text(lang, "forget.kept"))
    return not_understood(s, ctx, answer)


def on_forgotten(s: Session, ctx: Context, result: Result) -> Outcome:
    lang = lang_of(s, ctx)
    if isinstance(result, Forgotten):
        return to_menu(s, ctx, text(lang, "forget.done"))
    return to_menu(s, ctx, join(text(lang, "common.error")))
