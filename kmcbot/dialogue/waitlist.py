"""The waitlist in the conversation (issue 22): "Tell me when a place opens"
(at the first dose's step, or "None of these" at the centre list), where she
waits (a ward or borough, her location, the city), the entries in "My bookings"
and leaving them, and the offer of a place with Book / Not now (tapped anywhere,
or typed "yes" / "no" at the menu).

Pure, like every flow: the shell joins, leaves, takes and declines
(kmcbot/waitlist/store.py) and feeds the result back. The offer itself is sent
by the offer job (kmcbot/waitlist/job.py), which renders it with `offer_reply`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time

from kmcbot.booking.commands import (
    DeclineOffer,
    Joined,
    JoinWaitlist,
    LeaveWaitlist,
    OfferDeclined,
    Refused,
    Result,
    TakeOffer,
    Waiting,
    WaitlistLeft,
)
from kmcbot.booking.model import IST, Vaccine
from kmcbot.dialogue import offer
from kmcbot.dialogue.area import AreaError, Borough, Ward, read_area
from kmcbot.dialogue.catalogue import num, show_date, text, vaccine_name
from kmcbot.dialogue.core import Answer, Context, Outcome, Picked, Shared, Typed, lang_of, truncate
from kmcbot.dialogue.model import Draft, Lang, Session, State
from kmcbot.dialogue.questions import clock, slot_title
from kmcbot.dialogue.turns import ask, invalid, not_understood, to_menu, wait
from kmcbot.dialogue.understand import Meaning, Option, Word, tokens, understand
from kmcbot.messages import Ask, AskLocation, Button, Inbound, Reply, Template

OFFER_PREFIX = "offer:"  # offer:yes:<id>, offer:no:<id>: act wherever they are tapped
JOIN = "waitlist:join"
NONE_NEAR = "centre:none"  # a row of the centre list: none of these suits, tell me when
ANYWHERE = "area:city"  # the area question's buttons
SHARE = "area:near"
RADIUS_KM = 5  # a shared location: places within this distance (waitlist/store.RADIUS_KM)
LEAVE = "leave:"  # leave:<entry id>, a row of My bookings
# What a typed answer at the menu may mean about an offer (the ids only choose the
# [words] tables: understand.BUTTON_WORDS).
_TYPED: dict[str, list[str]] = {"offer:yes:0": [], "offer:no:0": []}
# WhatsApp's opt-out word, as people type it: alone at the menu it stops offers.
_STOP = frozenset({"stop", "স্টপ", "स्टॉप", "stop it", "stop please", "please stop"})
# Sounds that agree in a chat but are no answer to "Book this place?".
_HESITANT = frozenset({"hm", "hmm", "hmmm", "হুম", "হুঁ", "हम्म", "हूँ", "k"})


def is_stop(typed: str) -> bool:
    return " ".join(typed.lower().split()) in _STOP


@dataclass(frozen=True, slots=True)
class OfferView:
    """An offer as its message shows it (kmcbot/waitlist/job.py fills it in)."""

    offer_id: int
    lang: str
    vaccine: Vaccine
    centre: str
    address: str
    day: date
    start: time
    end: time
    expires_at: datetime


# ---------------------------------------------------------------- joining


def nothing_to_offer(s: Session, ctx: Context, first: date, note: str) -> Outcome:
    """No place suits her (none open from her due date, or not due yet): say why,
    and offer to tell her when a place opens."""
    return ask(s, ctx, State.WAITLIST, note, first_dose=first)


def on_waitlist(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    """ "Tell me when": what a booking needs is asked next (ID, name), then she joins."""
    if isinstance(answer, Picked) and answer.id == JOIN:
        return ask(s, ctx, State.ID_TYPE, waitlist=True)
    return not_understood(s, ctx, answer)


def none_near(s: Session, ctx: Context) -> Outcome:
    """ "None of these" at the centre list: ID and name are known, so she joins
    (her area asked first, unless she shared her location already)."""
    return join_now(replace(s, draft=replace(s.draft, waitlist=True)), ctx)


def join_now(s: Session, ctx: Context) -> Outcome:
    """ID and name known: join the waitlist from her due date (or today), in her
    area; the area is asked first when it is not known yet."""
    d = s.draft
    lang = lang_of(s, ctx)
    if d.near is None and d.borough is None and not d.anywhere:
        return ask(s, ctx, State.AREA)
    if None in (d.vaccine, d.first_dose, d.id_type, d.id_hash, d.id_last4, d.name):
        return to_menu(s, ctx, text(lang, "common.error"))
    assert d.vaccine and d.first_dose and d.id_type and d.id_hash and d.id_last4 and d.name
    due = offer.eligible_from(ctx.availability, d.vaccine, d.first_dose)
    effect = JoinWaitlist(
        vaccine=d.vaccine,
        first_dose=d.first_dose,
        earliest=max(due, offer.today(ctx.now)),
        id_type=d.id_type.value,
        id_hash=d.id_hash,
        id_last4=d.id_last4,
        name=d.name,
        lang=lang.value,
        near=d.near,
        borough=None if d.near else d.borough,
    )
    return wait(s, ctx, State.JOINING, effect)


def on_area(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    """Where she waits: a ward or borough typed, her location, or anywhere."""
    lang = lang_of(s, ctx)
    d = s.draft
    match answer:
        case Shared(lat, lon) if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return invalid(s, ctx, text(lang, "centre.bad_location"))  # NaN fails too
        case Shared(lat, lon):
            return join_now(replace(s, draft=replace(d, near=(lat, lon))), ctx)
        case Picked(option) if option == ANYWHERE:
            return join_now(replace(s, draft=replace(d, anywhere=True)), ctx)
        case Picked(option) if option == SHARE:
            # The location button; the question's own buttons still count after it.
            reply = AskLocation(text(lang, "area.location_ask"))
            return Outcome(replace(s, strikes=0, updated_at=ctx.now), (reply,))
        case Typed(typed):
            match read_area(typed):
                case Ward(ward) if ward in ctx.availability.ward_boroughs:
                    borough = ctx.availability.ward_boroughs[ward]
                    return join_now(replace(s, draft=replace(d, borough=borough, ward=ward)), ctx)
                case Ward(ward):
                    why = text(lang, "area_error.unknown_ward", ward=num(lang, ward))
                    return invalid(s, ctx, why)
                case Borough(borough):
                    return join_now(replace(s, draft=replace(d, borough=borough)), ctx)
                case AreaError() as error:
                    return invalid(s, ctx, text(lang, f"area_error.{error.value}"))
            return invalid(s, ctx, text(lang, "area_error.unreadable"))
    return not_understood(s, ctx, answer)


def back_from_area(s: Session, ctx: Context) -> Outcome:
    """ "back" at the area question: the centre list, if it has centres for her
    (she came from it, or places opened since), her ID and name kept; else the menu."""
    d = s.draft
    if d.vaccine and d.first_dose and d.name and d.id_hash:
        since = max(
            offer.eligible_from(ctx.availability, d.vaccine, d.first_dose), offer.today(ctx.now)
        )
        if offer.centres(ctx.availability, d.vaccine, since, ctx.now, d.near):
            return ask(s, ctx, State.CENTRE, waitlist=False)
    return to_menu(s, ctx)


def area_name(
    lang: Lang, *, borough: int | None, ward: int | None = None, near: bool = False
) -> str:
    """Her area as her confirmation and My bookings name it."""
    if near:
        return text(lang, "area.near", km=num(lang, RADIUS_KM))
    if borough is None:
        return text(lang, "area.city")
    if ward is not None:
        return text(lang, "area.ward", ward=num(lang, ward), borough=num(lang, borough))
    return text(lang, "area.borough", borough=num(lang, borough))


def on_joined(s: Session, ctx: Context, result: Result) -> Outcome:
    lang = lang_of(s, ctx)
    match result:
        case Joined(position):
            d = s.draft
            vaccine = vaccine_name(lang, d.vaccine) if d.vaccine else ""
            where = area_name(lang, borough=d.borough, ward=d.ward, near=d.near is not None)
            note = text(
                lang, "waitlist.joined", vaccine=vaccine, area=where, position=num(lang, position)
            )
            return to_menu(s, ctx, note)
        case Refused(reason):
            return to_menu(s, ctx, text(lang, f"refusal.{reason.value}"))
    return to_menu(s, ctx, text(lang, "common.error"))


# ---------------------------------------------------------------- leaving


def leave(s: Session, ctx: Context, entry_id: int | None) -> Outcome:
    return wait(replace(s, draft=Draft()), ctx, State.LEAVING, LeaveWaitlist(entry_id))


def on_left(s: Session, ctx: Context, result: Result) -> Outcome:
    lang = lang_of(s, ctx)
    if isinstance(result, WaitlistLeft):
        return to_menu(
            s, ctx, text(lang, "waitlist.left" if result.entries else "waitlist.left_none")
        )
    return to_menu(s, ctx, text(lang, "common.error"))


# ---------------------------------------------------------------- offers


def on_offer_tap(s: Session, option: str, msg: Inbound, ctx: Context) -> Outcome:
    """Book / Not now under an offer, whatever the conversation is doing."""
    _, verb, oid = option.split(":", 2) if option.count(":") == 2 else ("", "", "")
    if not oid.isdigit():
        return to_menu(s, ctx, text(lang_of(s, ctx), "common.stale"))
    s = replace(s, draft=Draft())
    if verb == "yes":
        return wait(s, ctx, State.BOOKING, TakeOffer(int(oid), msg.message_id))
    return wait(s, ctx, State.DECLINING, DeclineOffer(int(oid)))


def typed_at_menu(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome | None:
    """A typed "yes" / "no" at the menu answers this number's live offer, if any."""
    if not isinstance(answer, Typed):
        return None
    plain = understand(answer.text, {})
    if isinstance(plain, Meaning) and plain.word is not Word.THANKS:
        return None  # it also says something else ("hi book my bookings"): not a yes
    meant = understand(answer.text, dict(_TYPED), exact_only=False)
    if isinstance(meant, Option):
        verb = "yes" if meant.id.startswith("offer:yes") else "no"
        if verb == "yes":
            # Only a whole yes ("yes", "haan ji", "ok"): "yes tomorrow", "yes for my
            # mother" or a "hmm" must not book the place.
            if plain != Meaning(Word.THANKS) or " ".join(tokens(answer.text)) in _HESITANT:
                return None
            return wait(s, ctx, State.BOOKING, TakeOffer(None, msg.message_id))
        return wait(s, ctx, State.DECLINING, DeclineOffer(None))
    return None


def on_declined(s: Session, ctx: Context, result: Result) -> Outcome:
    lang = lang_of(s, ctx)
    match result:
        case OfferDeclined(found=True):
            return to_menu(s, ctx, text(lang, "waitlist.declined"))
        case OfferDeclined(typed=True):  # a "no" at the menu, and no offer: as before
            return invalid(s, ctx, text(lang, "common.pick_option"))
        case OfferDeclined():
            return to_menu(s, ctx, text(lang, "refusal.offer_gone"))
    return to_menu(s, ctx, text(lang, "common.error"))


def _lang(code: str) -> Lang:
    try:
        return Lang(code)
    except ValueError:
        return Lang.EN


def _until(lang: Lang, o: OfferView) -> str:
    at = o.expires_at.astimezone(IST)
    hour = clock(lang, at.time().replace(second=0, microsecond=0))
    return f"{show_date(lang, at.date())}, {hour}" if at.date() != o.day else hour


def offer_reply(o: OfferView, *, in_window: bool, template: str) -> Reply:
    """The offer with Book / Not now; outside the 24-hour window the approved
    template `template` ({{1}} centre, {{2}} date, {{3}} time, {{4}} held until)."""
    lang = _lang(o.lang)
    yes, no = f"{OFFER_PREFIX}yes:{o.offer_id}", f"{OFFER_PREFIX}no:{o.offer_id}"
    when = (show_date(lang, o.day), slot_title(lang, o.start, o.end))
    if not in_window:
        params = (truncate(o.centre, 200), *when, _until(lang, o))
        return Template(template, lang.value, tuple(p or "-" for p in params), (yes, no))
    body = text(
        lang,
        "waitlist.offer",
        vaccine=vaccine_name(lang, o.vaccine),
        centre=truncate(o.centre, 100),
        address=truncate(o.address, 300),
        date=when[0],
        slot=when[1],
        until=_until(lang, o),
    )
    buttons = (
        Button(yes, text(lang, "waitlist.offer_yes")),
        Button(no, text(lang, "waitlist.offer_no")),
    )
    return Ask(body[:1024], buttons)


def waiting_note(lang: Lang, waiting: tuple[Waiting, ...]) -> str:
    """The entries of "My bookings", one line each."""
    return "\n".join(
        text(
            lang,
            "waitlist.item",
            name=truncate(w.name, 60),
            vaccine=vaccine_name(lang, w.vaccine),
            area=area_name(lang, borough=w.borough, near=w.near),
            position=num(lang, w.position),
        )
        for w in waiting
    )
