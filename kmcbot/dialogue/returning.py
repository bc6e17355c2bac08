"""A citizen who comes back: "Same as before?" at a new booking (the last
booking's vaccine, first dose and name, never the ID) and "Continue where you
left off?" after a conversation expired mid-way."""

from __future__ import annotations

from dataclasses import replace

from kmcbot.booking.reference import is_reference
from kmcbot.dialogue import booking_flow
from kmcbot.dialogue.core import Answer, Context, Outcome, Picked
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


def last_booking(value: object) -> str | None:
    """The profile's "last": the reference of the number's last booking, or None.
    Its vaccine, first dose and name are read from PostgreSQL when a new booking
    starts (ListBookings' `also`): Redis keeps no name once a conversation is over."""
    if isinstance(value, str) and len(value) < 20 and is_reference(value):
        return value
    return None
