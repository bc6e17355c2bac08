"""The conversation as a pure function: step(session, event, ctx) -> Outcome.

No I/O: the shell runs the outcome's effects and feeds each Result back in.
This module only sorts the event out (stale session, old message, sticker,
what a typed answer means: see understand.py) and dispatches on the state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from kmcbot.booking.commands import Result
from kmcbot.dialogue import booking_flow, my_bookings, offer, returning, waitlist
from kmcbot.dialogue import globals as everywhere
from kmcbot.dialogue.area import read_area
from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.core import (
    Answer,
    Context,
    Outcome,
    Picked,
    Said,
    Shared,
    Stale,
    Typed,
    lang_of,
)
from kmcbot.dialogue.model import PENDING, Draft, Lang, Session, State
from kmcbot.dialogue.questions import render
from kmcbot.dialogue.spoken import day_phrases, slot_phrases
from kmcbot.dialogue.turns import again, ask, to_menu
from kmcbot.dialogue.understand import Meaning, Option, Unsure, Word, understand
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
RESUMABLE = timedelta(hours=24)  # an expired conversation younger than this can go on
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
    State.SAME: returning.on_same,
    State.RESUME: returning.on_resume,
    State.WAITLIST: waitlist.on_waitlist,
    State.AREA: waitlist.on_area,
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
    State.JOINING: waitlist.on_joined,
    State.LEAVING: waitlist.on_left,
    State.DECLINING: waitlist.on_declined,
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
        if stale and ctx.now - s.updated_at <= RESUMABLE and s.state not in PENDING:
            return returning.pause(s, ctx)
        return to_menu(s, ctx, text(lang_of(s, ctx), "common.expired"))
    if s.state in PENDING:
        s = replace(s, state=State.MENU)
    if isinstance(content, Media):
        return again(s, ctx, text(lang_of(s, ctx), _media_note(content)))
    answer = resolve(s, content, ctx)
    match answer:
        case Picked(option) if option.startswith(waitlist.OFFER_PREFIX):
            return waitlist.on_offer_tap(s, option, msg, ctx)
        case Picked(option) if option.startswith(everywhere.GLOBAL_PREFIXES):
            return everywhere.on_global_pick(s, option, ctx)
        case Unsure(ids):
            return _which(s, ctx, ids)
        case Said(Word.THANKS, typed) if s.state == State.MENU:
            # "ok" / "yes" at the menu: an offer's Book, if one is live (the offer
            # came outside the chat); else the thanks it always was.
            return (
                waitlist.typed_at_menu(s, Typed(typed), msg, ctx)
                or everywhere.on_word(s, Word.THANKS, ctx)
                or again(s, ctx, None)
            )
        case Said(Word.CANCEL, typed) if s.state == State.MENU and not waitlist.is_stop(typed):
            # "cancel" / "বাতিল" with nothing under way most likely means a booking:
            # My bookings (bookings and waiting entries, each with its own button),
            # never every waiting entry of the number dropped unasked.
            return my_bookings.show(s, ctx)
        case Said(word, typed):
            outcome = everywhere.on_word(s, word, ctx)
            if outcome is not None:
                return outcome
            answer = Typed(typed)
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
    if isinstance(content, Choice) and content.id.startswith(waitlist.OFFER_PREFIX):
        return waitlist.on_offer_tap(s, content.id, msg, ctx)
    if isinstance(content, Choice) and content.id.startswith(everywhere.GLOBAL_PREFIXES):
        return everywhere.on_global_pick(s, content.id, ctx)
    if s.lang is None:
        meant = understand(content.body[:MAX_TEXT], {}) if isinstance(content, Text) else None
        if isinstance(meant, Meaning) and meant.word in everywhere.LANG_WORDS:
            return everywhere.on_word(s, meant.word, ctx) or ask(s, ctx, State.LANGUAGE)
        return ask(s, ctx, State.LANGUAGE)
    if isinstance(content, Media) and content.kind is MediaKind.UNSUPPORTED:
        return to_menu(s, ctx, text(s.lang, "common.unsupported"))
    if isinstance(content, Text):
        meant = understand(content.body[:MAX_TEXT], {})
        if isinstance(meant, Meaning):
            outcome = everywhere.on_word(s, meant.word, ctx)
            if outcome is not None:
                return outcome
    return to_menu(s, ctx)


def resolve(s: Session, content: Text | Choice | Location, ctx: Context) -> Answer | Said | Unsure:
    """What the citizen answered, in terms of the options last offered."""
    match content:
        case Location(lat, lon):
            return Shared(lat, lon)
        case Choice(option):
            if option in s.offered or option.startswith(everywhere.GLOBAL_PREFIXES):
                return Picked(option)
            return Stale(option)
    body = content.body[:MAX_TEXT]
    if s.state == State.AREA and read_area(body) is not None:
        return Typed(body)  # "2" is ward 2 there, not the second button
    # In a booking "book" is no new start; at the cancel and delete questions it is
    # no answer either ("বুকিং?" there is about that booking): asked again.
    booking_asked = everywhere.BOOKING_STEPS | {State.CANCEL_CONFIRM, State.FORGET_CONFIRM}
    without = frozenset({Word.BOOK}) if s.state in booking_asked else frozenset()
    meant = understand(
        body,
        _phrases(s, ctx),
        titles=_names(s, ctx),
        exact_only=not s.offered,
        without=without,
    )
    match meant:
        case Option(oid):
            return Picked(oid)
        case Meaning(word):
            return Said(word, body)
        case Unsure():
            return meant  # "which one?"
    return Typed(body)


def _which(s: Session, ctx: Context, ids: tuple[str, ...]) -> Outcome:
    """ "Did you mean A or B?" above the same question; not a wrong answer."""
    lang = lang_of(s, ctx)
    titles = _titles(s, ctx, lang)
    named = [titles[oid] for oid in ids if oid in titles][:3]
    if len(named) < 2:
        return again(s, ctx, text(lang, "common.pick_option"))
    return again(s, ctx, text(lang, "common.which", options=" / ".join(named)))


def _names(s: Session, ctx: Context) -> dict[str, list[str]]:
    """Each option's title in every language, and a centre's whole name."""
    names: dict[str, list[str]] = {oid: [] for oid in s.offered}
    for lang in Lang:
        for oid, title in _titles(s, ctx, lang).items():
            names[oid].append(title.rstrip("…"))
    for oid in s.offered:
        head, _, rest = oid.partition(":")
        if head == "centre" and rest.isdigit() and int(rest) in ctx.availability.centres:
            names[oid].append(ctx.availability.centres[int(rest)].name)
    return names


def _phrases(s: Session, ctx: Context) -> dict[str, list[str]]:
    """For a date or a time of the lists, the ways people name it ("5 july",
    "10am", "১০টা"); for a booking, its reference."""
    phrases: dict[str, list[str]] = {oid: [] for oid in s.offered}
    for oid in s.offered:
        head, _, rest = oid.partition(":")
        if head == "day":
            with contextlib.suppress(ValueError):  # a row id this version does not know
                phrases[oid] += day_phrases(date.fromisoformat(rest), offer.today(ctx.now))
        elif head == "slot" and rest.isdigit() and (sl := ctx.availability.by_id.get(int(rest))):
            # by_id: built once per snapshot (the city's ~15,000 slots), not per message
            phrases[oid] += slot_phrases(sl.start, sl.end)
        elif head in ("cancel", "move") and rest.startswith("KMC-"):
            phrases[oid] += [rest, rest.removeprefix("KMC-")]
    return phrases


def _titles(s: Session, ctx: Context, lang: Lang) -> dict[str, str]:
    """Titles of the options on offer in `lang`, from the question asked again now."""
    shown_state = State.CENTRE if s.state == State.LOCATION else s.state
    reply, _ = render(replace(s, lang=lang, state=shown_state), ctx)
    match reply:
        case Ask(buttons=buttons):
            shown = {b.id: b.title for b in buttons}
        case Pick(rows=rows):
            shown = {r.id: r.title for r in rows}
        case _:
            shown = {}
    return {oid: title for oid, title in shown.items() if oid in s.offered}
