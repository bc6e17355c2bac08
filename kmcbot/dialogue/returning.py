"""A citizen who comes back: "Same as before?" at a new booking (the profile
remembers the last booking's vaccine, first dose and name, never the ID) and
"Continue where you left off?" after a conversation expired mid-way."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from kmcbot.booking.model import Vaccine
from kmcbot.dialogue import booking_flow
from kmcbot.dialogue.core import Answer, Before, Context, Outcome, Picked
from kmcbot.dialogue.effects import Book
from kmcbot.dialogue.model import Draft, Session, State
from kmcbot.dialogue.turns import ask, not_understood, to_menu
from kmcbot.messages import Inbound


def on_same(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    first = s.draft.first_dose
    match answer:
        case Picked("same:yes") if s.draft.vaccine and first:
            # The same checks as a typed first dose: it may be too soon, or nothing free.
            return booking_flow.after_first_dose(s, ctx, first)
        case Picked("same:yes" | "same:no"):
            return ask(replace(s, draft=Draft(listed=s.draft.listed)), ctx, State.VACCINE)
    return not_understood(s, ctx, answer)


def pause(s: Session, ctx: Context) -> Outcome:
    """The conversation expired mid-way: offer to go on from the same question."""
    paused = s.draft.paused if s.state == State.RESUME else s.state
    return ask(s, ctx, State.RESUME, paused=paused)


def on_resume(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    match answer:
        case Picked("resume:yes") if s.draft.paused is not None:
            return ask(s, ctx, s.draft.paused, paused=None)
        case Picked("resume:yes" | "resume:no"):
            return to_menu(s, ctx)
    return not_understood(s, ctx, answer)


# ---------------------------------------------------------------- the profile's part


def remembered(book: Book) -> dict[str, str]:
    """What the profile keeps of a booking made: never the ID."""
    return {"va": book.vaccine.value, "fd": book.first_dose.isoformat(), "n": book.name}


def before_from_profile(value: object) -> Before | None:
    """The profile's "before", or None if there is none or it is not readable."""
    if not isinstance(value, dict):
        return None
    try:
        name = value["n"]
        if not isinstance(name, str) or not 0 < len(name) <= 60:
            return None
        return Before(Vaccine(value["va"]), date.fromisoformat(value["fd"]), name)
    except (KeyError, ValueError, TypeError):
        return None
