"""The conversation as a pure function: step(session, event, ctx) -> Outcome.

No I/O: the shell runs the outcome's effects and feeds each Result back in.
This module only sorts the event out (stale session, old message, sticker,
global word, typed option number) and dispatches on the state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from kmcbot.booking.commands import Result
from kmcbot.dialogue import booking_flow, my_bookings
from kmcbot.dialogue import globals as everywhere
from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.core import (
    Answer,
    Context,
    Outcome,
    Picked,
    Shared,
    Stale,
    Typed,
    lang_of,
)
from kmcbot.dialogue.model import PENDING, Draft, Session, State
from kmcbot.dialogue.questions import render
from kmcbot.dialogue.turns import again, ask, to_menu
from kmcbot.dialogue.words import global_word, match_title, option_number
from kmcbot.messages import (
    Ask,
    Choice,
    IdentityChange,
    Inbound,
    Location,
    Media,
    MediaKind,
    Pick,
    Text,
)

__all__ = ["Context", "Outcome", "step", "HANDLERS", "RESULTS"]

SESSION_TTL = timedelta(minutes=30)
TOO_OLD = timedelta(hours=1)  # WhatsApp redelivers for days after an outage
MAX_TEXT = 1000  # no answer is longer; a 10k-character paste is cut, not parsed

Handler = Callable[[Session, Answer, Inbound, Context], Outcome]
ResultHandler = Callable[[Session, Context, Result], Outcome]

HANDLERS: dict[State, Handler] = {
    State.LANGUAGE: everywhere.on_language,
    State.MENU: everywhere.on_menu,
    State.VACCINE: booking_flow.on_vaccine,
    State.DOSE_DATE: booking_flow.on_dose_date,
    State.ID_TYPE: booking_flow.on_id_type,
    State.ID_NUMBER: booking_flow.on_id_number,
    State.NAME: booking_flow.on_name,
    State.CENTRE: booking_flow.on_centre,
    State.LOCATION: booking_flow.on_location,
    State.DAY: booking_flow.on_day,
    State.SLOT: booking_flow.on_slot,
    State.CONFIRM: booking_flow.on_confirm,
    State.MY_BOOKINGS: my_bookings.on_my_bookings,
    State.CANCEL_CONFIRM: my_bookings.on_cancel_confirm,
    State.FORGET_CONFIRM: everywhere.on_forget_confirm,
    **dict.fromkeys(PENDING, everywhere.on_pending),
}

# The states that wait for a result, and who reads it.
RESULTS: dict[State, ResultHandler] = {
    State.CHECKING: booking_flow.on_checked,
    State.LISTING: my_bookings.on_listed,
    State.BOOKING: booking_flow.on_booked,
    State.MOVING: booking_flow.on_booked,
    State.CANCELLING: my_bookings.on_cancelled,
    State.FORGETTING: everywhere.on_forgotten,
}


def step(session: Session | None, event: Inbound | Result, ctx: Context) -> Outcome:
    if isinstance(event, Inbound):
        return _inbound(session, event, ctx)
    return _result(session, event, ctx)


def _result(session: Session | None, result: Result, ctx: Context) -> Outcome:
    s = session or Session(State.MENU, ctx.profile_lang, ctx.now)
    handler = RESULTS.get(s.state)
    if handler is None:
        # Nothing was waiting for it: never crash, never guess what it meant.
        return to_menu(s, ctx, text(lang_of(s, ctx), "common.error"))
    return handler(s, ctx, result)


def _inbound(session: Session | None, msg: Inbound, ctx: Context) -> Outcome:
    content = msg.content
    if isinstance(content, Media) and content.kind == MediaKind.REACTION:
        # A 👍 on an earlier message is not an answer, and needs none.
        return Outcome(session or _fresh(ctx), ())
    if isinstance(content, IdentityChange):
        # WhatsApp's own system message (the pipeline moves the citizen's data
        # before any step): nothing the citizen typed, so nothing to answer.
        return Outcome(session or _fresh(ctx), ())
    if ctx.now - msg.sent_at > TOO_OLD:
        s = session or _fresh(ctx)
        busy = text(lang_of(s, ctx), "common.busy")
        if s.lang is None and ctx.profile_lang is None:
            return ask(s, ctx, State.LANGUAGE, busy)
        return to_menu(s, ctx, busy)
    # A menu or language tap does what it says even after the session expired
    # ("Book again" under a notice that came days later); any other is not acted on.
    global_tap = isinstance(content, Choice) and content.id.startswith(everywhere.GLOBAL_PREFIXES)
    if session is None:
        s = _fresh(ctx)
        if ctx.expired and s.lang is not None and not global_tap:
            return to_menu(s, ctx, text(s.lang, "common.expired"))
        return _first(s, content, msg, ctx)
    s = session
    stale = ctx.now - s.updated_at > SESSION_TTL
    if (ctx.expired or stale) and s.in_flow:
        if global_tap:
            return _first(replace(s, draft=Draft(), state=State.MENU), content, msg, ctx)
        return to_menu(s, ctx, text(lang_of(s, ctx), "common.expired"))
    if s.state in PENDING:
        s = replace(s, state=State.MENU)
    if isinstance(content, Media):
        return again(s, ctx, text(lang_of(s, ctx), _media_note(content)))
    answer = resolve(s, content, ctx)
    if isinstance(answer, Picked) and answer.id.startswith(everywhere.GLOBAL_PREFIXES):
        return everywhere.on_global_pick(s, answer.id, ctx)
    if isinstance(answer, Typed):
        word = global_word(answer.text)
        if word is not None:
            outcome = everywhere.on_word(s, word, ctx)
            if outcome is not None:
                return outcome
    return HANDLERS[s.state](s, answer, msg, ctx)


def _media_note(media: Media) -> str:
    # WhatsApp could not deliver it whole (an "unsupported" message, or an
    # interactive with an `errors` array): the citizen did answer, so ask them to
    # try again rather than to use text or buttons.
    return "common.unsupported" if media.kind is MediaKind.UNSUPPORTED else "common.media"


def _fresh(ctx: Context) -> Session:
    if ctx.profile_lang is None:
        return Session(State.LANGUAGE, None, ctx.now)
    return Session(State.MENU, ctx.profile_lang, ctx.now)


def _first(s: Session, content: object, msg: Inbound, ctx: Context) -> Outcome:
    """The first message of a conversation: act on a menu or language tap or a
    global word ("my bookings"); anything else ("hi", "vaccine?") gets the
    welcome (language not known) or the menu."""
    if isinstance(content, Choice) and content.id.startswith(everywhere.GLOBAL_PREFIXES):
        return everywhere.on_global_pick(s, content.id, ctx)
    if s.lang is None:
        return ask(s, ctx, State.LANGUAGE)
    if isinstance(content, Media) and content.kind is MediaKind.UNSUPPORTED:
        return to_menu(s, ctx, text(s.lang, "common.unsupported"))
    if isinstance(content, Text):
        word = global_word(content.body[:MAX_TEXT])
        if word is not None:
            outcome = everywhere.on_word(s, word, ctx)
            if outcome is not None:
                return outcome
    return to_menu(s, ctx)


def resolve(s: Session, content: Text | Choice | Location, ctx: Context) -> Answer:
    """What the citizen answered, in terms of the options last offered."""
    match content:
        case Location(lat, lon):
            return Shared(lat, lon)
        case Choice(option):
            if option in s.offered or option.startswith(everywhere.GLOBAL_PREFIXES):
                return Picked(option)
            return Stale(option)
    body = content.body[:MAX_TEXT]
    if s.offered:
        n = option_number(body)
        if n is not None and 1 <= n <= len(s.offered):
            return Picked(s.offered[n - 1])
        picked = match_title(body, _titles(s, ctx))
        if picked is not None:
            return Picked(picked)
    return Typed(body)


def _titles(s: Session, ctx: Context) -> dict[str, str]:
    """Titles of the options on offer, from the question asked again now."""
    reply, _ = render(s, ctx)
    match reply:
        case Ask(buttons=buttons):
            shown = {b.id: b.title for b in buttons}
        case Pick(rows=rows):
            shown = {r.id: r.title for r in rows}
        case _:
            shown = {}
    return {oid: title for oid, title in shown.items() if oid in s.offered}
