"""The few ways a turn ends, shared by every flow: ask the next question, ask
the same one again with a reason, go to the menu, or wait for an effect."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kmcbot.booking.commands import Effect
from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.core import Answer, Context, Outcome, Picked, Shared, Stale, join, lang_of
from kmcbot.dialogue.model import PENDING, Draft, Session, State
from kmcbot.dialogue.questions import render

MAX_STRIKES = 3


def ask(s: Session, ctx: Context, state: State, note: str | None = None, **draft: Any) -> Outcome:
    """A valid answer: move to `state` (with the draft changes) and ask its question."""
    new = replace(
        s,
        state=state,
        draft=replace(s.draft, **draft) if draft else s.draft,
        strikes=0,
        updated_at=ctx.now,
    )
    reply, new = render(new, ctx, note)
    return Outcome(new, (reply,))


def again(s: Session, ctx: Context, note: str | None) -> Outcome:
    """The same question with a note (help, a sticker), strikes unchanged."""
    reply, new = render(replace(s, updated_at=ctx.now), ctx, note)
    return Outcome(new, (reply,))


def to_menu(s: Session, ctx: Context, note: str | None = None) -> Outcome:
    """Back to the menu; the draft is dropped (nothing half-entered survives)."""
    return ask(replace(s, draft=Draft()), ctx, State.MENU, note)


def invalid(s: Session, ctx: Context, reason: str) -> Outcome:
    """One-line reason + the same question; the third in a row adds help. Nothing
    the citizen gave is dropped: the summary at Confirm stays answerable."""
    strikes = s.strikes + 1
    if strikes >= MAX_STRIKES:
        note = join(reason, text(lang_of(s, ctx), "common.strikes"), help_text(s, ctx))
        reply, new = render(replace(s, strikes=0, updated_at=ctx.now), ctx, note)
        return Outcome(new, (reply,))
    reply, new = render(replace(s, strikes=strikes, updated_at=ctx.now), ctx, reason)
    return Outcome(new, (reply,))


def wait(s: Session, ctx: Context, state: State, *effects: Effect, **draft: Any) -> Outcome:
    """Hand effects to the shell; the reply comes with their result."""
    new = replace(
        s,
        state=state,
        draft=replace(s.draft, **draft) if draft else s.draft,
        strikes=0,
        offered=(),
        updated_at=ctx.now,
    )
    return Outcome(new, (), effects)


def help_text(s: Session, ctx: Context) -> str:
    state = State.MENU if s.state in PENDING else s.state
    return text(lang_of(s, ctx), f"help.{state.value}")


def not_understood(s: Session, ctx: Context, answer: Answer) -> Outcome:
    """The reason for an answer of the wrong kind at a question with options."""
    lang = lang_of(s, ctx)
    match answer:
        case Stale():
            return invalid(s, ctx, text(lang, "common.stale"))
        case Shared():
            return invalid(s, ctx, text(lang, "common.no_location"))
        case Picked():
            return invalid(s, ctx, text(lang, "common.stale"))
        case _:
            return invalid(s, ctx, text(lang, "common.pick_option"))
