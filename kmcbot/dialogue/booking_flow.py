"""Booking a second dose: vaccine, first-dose date, ID, name, centre, day,
slot, confirm; and the results of Book / MoveBooking.

Reschedule reuses the centre .. confirm steps with `moving_reference` set.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from kmcbot.booking.commands import (
    Book,
    Booked,
    BookingsListed,
    ListBookings,
    MoveBooking,
    Moved,
    Refused,
    Result,
)
from kmcbot.booking.ids import IdError, IdType, id_hash, last4, normalise_id
from kmcbot.booking.model import BookingStatus, BookingView, Refusal, Vaccine
from kmcbot.booking.rules import MAX_ACTIVE_PER_NUMBER
from kmcbot.dialogue import offer, waitlist
from kmcbot.dialogue.catalogue import id_type_name, num, show_date, text, vaccine_name
from kmcbot.dialogue.core import (
    Answer,
    Context,
    Outcome,
    Picked,
    Shared,
    Typed,
    lang_of,
)
from kmcbot.dialogue.dates import PROGRAMME_START, DateError, parse_date
from kmcbot.dialogue.model import ID_KEY_LENGTH, Draft, Lang, Listed, Session, State
from kmcbot.dialogue.names import NameError_, clean_name
from kmcbot.dialogue.questions import (
    CONFIRM_YES,
    is_button,
    map_link,
    masked_last4,
    since,
    slot_title,
)
from kmcbot.dialogue.spoken import names_a_wrapper, unwrap_id, unwrap_name
from kmcbot.dialogue.turns import ask, invalid, not_understood, to_menu, wait
from kmcbot.messages import CheckinQr, Inbound, Reply, Say


def start(s: Session, ctx: Context) -> Outcome:
    """ "Book 2nd dose": first look at this number's bookings (limit, same ID)."""
    return wait(replace(s, draft=Draft()), ctx, State.CHECKING, ListBookings(ctx.last_booking))


def listed(bookings: tuple[BookingView, ...]) -> tuple[Listed, ...]:
    return tuple(
        Listed(
            b.reference, b.vaccine, b.first_dose, b.id_type, b.id_last4, b.id_hash[:ID_KEY_LENGTH]
        )
        for b in bookings
        if b.status == BookingStatus.BOOKED
    )


def on_checked(s: Session, ctx: Context, result: Result) -> Outcome:
    lang = lang_of(s, ctx)
    match result:
        case BookingsListed(bookings):
            active = listed(bookings)
            if len(active) >= MAX_ACTIVE_PER_NUMBER:
                note = text(lang, "bookings.limit", max=num(lang, MAX_ACTIVE_PER_NUMBER))
                return replace(to_menu(s, ctx, note), refused=Refusal.NUMBER_LIMIT)
            last = next((b for b in bookings if b.reference == ctx.last_booking), None)
            if last is not None and last.name:  # a returning citizen: "Same as before?"
                draft = Draft(vaccine=last.vaccine, first_dose=last.first_dose, name=last.name)
                return ask(replace(s, draft=draft), ctx, State.SAME, listed=active)
            return ask(s, ctx, State.VACCINE, listed=active)
        case Refused(reason):
            return refused(s, ctx, reason)
        case _:
            return to_menu(s, ctx, text(lang, "common.error"))


# ---------------------------------------------------------------- inbound handlers


def on_vaccine(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    if isinstance(answer, Picked) and answer.id.removeprefix("vaccine:") in _VACCINES:
        return ask(s, ctx, State.DOSE_DATE, vaccine=Vaccine(answer.id.removeprefix("vaccine:")))
    return not_understood(s, ctx, answer)


_VACCINES = frozenset(v.value for v in Vaccine)
_ID_TYPES = frozenset(t.value for t in IdType)


def on_dose_date(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    if not isinstance(answer, Typed):
        return invalid(s, ctx, text(lang, "date_error.unreadable"))
    first = parse_date(answer.text, offer.today(ctx.now))
    if isinstance(first, DateError):
        reason = text(lang, f"date_error.{first.value}", start=show_date(lang, PROGRAMME_START))
        return invalid(s, ctx, reason)
    return after_first_dose(s, ctx, first)


def after_first_dose(s: Session, ctx: Context, first: date) -> Outcome:
    """The first dose is known (typed, or the same as before): can they book now?"""
    lang = lang_of(s, ctx)
    today = offer.today(ctx.now)
    vaccine = s.draft.vaccine
    if vaccine is None:
        return to_menu(s, ctx, text(lang, "common.error"))
    eligible = offer.eligible_from(ctx.availability, vaccine, first)
    names = {"vaccine": vaccine_name(lang, vaccine), "date": show_date(lang, eligible)}
    if not any(offer.open_slots(ctx.availability, vaccine, eligible, ctx.now)):
        # Nothing to offer: name the day booking opens, or say there are no places.
        # ... and offer to tell her when a place opens (the waitlist).
        if today < eligible:
            why = text(lang, "eligibility.too_soon", **names)
        else:
            why = text(lang, "centre.none", vaccine=names["vaccine"])
        if s.draft.moving_reference:
            return to_menu(s, ctx, why)
        return waitlist.nothing_to_offer(s, ctx, first, why)
    note = None
    if today < eligible:
        note = text(lang, "eligibility.from_date", **names)
    elif offer.is_late(ctx.availability, vaccine, first, today):
        note = text(lang, "eligibility.late")
    return ask(s, ctx, State.ID_TYPE, note, first_dose=first)


def on_id_type(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    if isinstance(answer, Picked) and answer.id.removeprefix("id:") in _ID_TYPES:
        return ask(s, ctx, State.ID_NUMBER, id_type=IdType(answer.id.removeprefix("id:")))
    return not_understood(s, ctx, answer)


def on_id_number(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    kind = s.draft.id_type
    if kind is None:
        return to_menu(s, ctx, text(lang, "common.error"))
    name = id_type_name(lang, kind)
    if not isinstance(answer, Typed):
        return invalid(s, ctx, text(lang, "id_error.wrong_characters", id_type=name))
    number = normalise_id(kind, answer.text)
    inside = unwrap_id(answer.text) if isinstance(number, IdError) else None
    if inside:  # "my aadhaar number is ...": the number alone, read as strictly
        number = normalise_id(kind, inside)
    if isinstance(number, IdError):
        return invalid(s, ctx, text(lang, f"id_error.{number.value}", id_type=name))
    tail = last4(number)
    digest = id_hash(ctx.pepper, kind, number)
    for b in s.draft.listed:
        # Only this number's bookings; PostgreSQL checks across numbers on Book.
        if b.id_type == kind.value and b.id_key and digest.startswith(b.id_key):
            note = text(lang, "id_number.already_booked", reference=b.reference)
            return replace(to_menu(s, ctx, note), refused=Refusal.ID_ALREADY_BOOKED)
    # The mask the summary and the ticket show too: the last 4 as one group.
    note = text(lang, "id_number.noted", masked=masked_last4(tail))
    if s.draft.waitlist and s.draft.name:
        return waitlist.join_now(
            replace(s, draft=replace(s.draft, id_hash=digest, id_last4=tail)), ctx
        )
    if s.draft.name:  # "Same as before": the name is known already
        return ask(s, ctx, State.CENTRE, note, id_hash=digest, id_last4=tail, page=0, near=None)
    return ask(s, ctx, State.NAME, note, id_hash=digest, id_last4=tail)


def on_name(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    if not isinstance(answer, Typed):
        return invalid(s, ctx, text(lang, "name_error.characters"))
    unwrapped = unwrap_name(answer.text)
    if names_a_wrapper(unwrapped):
        return invalid(s, ctx, text(lang, f"name_error.{NameError_.ONLY_NAME.value}"))
    name = clean_name(unwrapped)
    if isinstance(name, NameError_):
        return invalid(s, ctx, text(lang, f"name_error.{name.value}"))
    if s.draft.waitlist:
        return waitlist.join_now(replace(s, draft=replace(s.draft, name=name)), ctx)
    return ask(s, ctx, State.CENTRE, name=name, page=0, near=None)


def on_centre(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    match answer:
        case Shared(lat, lon) if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return invalid(s, ctx, text(lang, "centre.bad_location"))  # NaN fails too
        case Shared(lat, lon):
            return ask(s, ctx, State.CENTRE, text(lang, "centre.sorted"), near=(lat, lon), page=0)
        case Picked("centre:more"):
            return ask(s, ctx, State.CENTRE, page=s.draft.page + 1)
        case Picked(waitlist.NONE_NEAR) if not s.draft.moving_reference:
            return waitlist.none_near(s, ctx)
        case Picked("centre:near"):
            # Keep the list's options: a tap on the list above still counts.
            return ask(s, ctx, State.LOCATION)
        case Picked(oid) if oid.startswith("centre:") and oid[7:].isdigit():
            centre_id = int(oid[7:])
            d = s.draft
            if d.vaccine is None or d.first_dose is None:
                return to_menu(s, ctx, text(lang, "common.error"))
            if not offer.has_open(ctx.availability, d.vaccine, since(s, ctx), ctx.now, centre_id):
                return invalid(s, ctx, text(lang, "centre.gone"))
            return ask(s, ctx, State.DAY, centre_id=centre_id, day=None, slot_id=None)
    return not_understood(s, ctx, answer)


def on_location(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    if isinstance(answer, Shared | Picked):
        return on_centre(replace(s, state=State.CENTRE), answer, msg, ctx)
    # Anything else: they changed their mind; show the list again, no strike.
    return ask(s, ctx, State.CENTRE)


def on_day(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    if isinstance(answer, Picked) and answer.id.startswith("day:"):
        try:
            day = date.fromisoformat(answer.id.removeprefix("day:"))
        except ValueError:
            return invalid(s, ctx, text(lang, "common.stale"))
        d = s.draft
        if d.vaccine is None or d.first_dose is None or d.centre_id is None:
            return to_menu(s, ctx, text(lang, "common.error"))
        open_days = offer.days(ctx.availability, d.vaccine, since(s, ctx), ctx.now, d.centre_id)
        if day not in {dy for dy, _ in open_days}:
            return invalid(s, ctx, text(lang, "day.gone"))
        return ask(s, ctx, State.SLOT, day=day, slot_id=None)
    return not_understood(s, ctx, answer)


def on_slot(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    if isinstance(answer, Picked) and answer.id.removeprefix("slot:").isdigit():
        slot_id = int(answer.id.removeprefix("slot:"))
        d = s.draft
        if d.vaccine is None or d.first_dose is None or d.centre_id is None or d.day is None:
            return to_menu(s, ctx, text(lang, "common.error"))
        found = offer.slots(ctx.availability, d.vaccine, since(s, ctx), ctx.now, d.centre_id, d.day)
        if slot_id not in {sl.id for sl in found}:
            return invalid(s, ctx, text(lang, "slot.gone"))
        return ask(s, ctx, State.CONFIRM, slot_id=slot_id)
    return not_understood(s, ctx, answer)


def on_confirm(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    d = s.draft
    match answer:
        # Only the Confirm of the summary last shown is Picked (step.resolve); one
        # under an older summary, for another slot, is Stale.
        case Picked(option) if is_button(option, CONFIRM_YES):
            if d.slot_id is None:
                return to_menu(s, ctx, text(lang, "common.error"))
            if d.moving_reference:
                move = MoveBooking(d.moving_reference, d.slot_id, msg.message_id)
                return wait(s, ctx, State.MOVING, move)
            if None in (d.vaccine, d.first_dose, d.id_type, d.id_hash, d.id_last4, d.name):
                return to_menu(s, ctx, text(lang, "common.error"))
            assert d.vaccine and d.first_dose and d.id_type and d.id_hash and d.id_last4 and d.name
            book = Book(
                slot_id=d.slot_id,
                vaccine=d.vaccine,
                first_dose=d.first_dose,
                id_type=d.id_type.value,
                id_hash=d.id_hash,
                id_last4=d.id_last4,
                name=d.name,
                lang=lang.value,
                message_id=msg.message_id,
            )
            return wait(s, ctx, State.BOOKING, book)
        case Picked("confirm:change"):
            return ask(s, ctx, State.CENTRE, page=0, centre_id=None, day=None, slot_id=None)
        case Picked("confirm:no"):
            return to_menu(s, ctx, text(lang, "confirm.cancelled"))
    return not_understood(s, ctx, answer)


# ---------------------------------------------------------------- results


def on_booked(s: Session, ctx: Context, result: Result) -> Outcome:
    match result:
        case Booked(view):
            return _done(s, ctx, "booked.text", view)
        case Moved(view):
            return _done(s, ctx, "moved.text", view)
        case Refused(Refusal.NO_OFFER):
            # A typed "ok" at the menu with no offer live: the thanks it always was.
            return to_menu(s, ctx, text(lang_of(s, ctx), "common.thanks"))
        case Refused(reason):
            return refused(s, ctx, reason)
    return to_menu(s, ctx, text(lang_of(s, ctx), "common.error"))


def _done(s: Session, ctx: Context, key: str, b: BookingView) -> Outcome:
    """The booking as the ticket to show at the centre; plain text, so it stays
    readable when forwarded or screenshotted; then its check-in QR code (booked or
    moved alike: the QR names the reference, which a move keeps, with its code).
    The citizen is back at the menu."""
    new = replace(s, state=State.MENU, draft=Draft(), strikes=0, offered=(), updated_at=ctx.now)
    lang = lang_of(s, ctx)
    replies: tuple[Reply, ...] = (Say(booking_text(lang, key, b)),)
    if ctx.qr_images:
        caption = text(lang, "booked.qr", reference=b.reference)
        replies += (CheckinQr(b.reference, b.code, caption),)
    return Outcome(new, replies)


def booking_text(lang: Lang, key: str, b: BookingView) -> str:
    """A booking in the `key` text (the ticket, a moved ticket, the reminder): every
    field those texts use; each text takes the ones it names."""
    c = b.centre
    return text(
        lang,
        key,
        reference=b.reference,
        code=b.code,
        centre=c.name,
        address=c.address,
        map=map_link(c.latitude, c.longitude),
        date=show_date(lang, b.day),
        slot=slot_title(lang, b.start, b.end),
        vaccine=vaccine_name(lang, b.vaccine),
        id_type=id_type_label(lang, b.id_type),
        masked=masked_last4(b.id_last4),
        name=b.name,
    )[:4096]


def id_type_label(lang: Lang, id_type: str) -> str:
    """The ID type's name; a type this code does not know is shown as stored."""
    try:
        return id_type_name(lang, IdType(id_type))
    except ValueError:
        return id_type


def refused(s: Session, ctx: Context, reason: Refusal) -> Outcome:
    """Every refusal gets its own plain reason; a lost slot offers the others."""
    lang = lang_of(s, ctx)
    note = text(lang, f"refusal.{reason.value}")
    if reason in (Refusal.SLOT_FULL, Refusal.SLOT_STARTED, Refusal.SLOT_GONE) and s.draft.vaccine:
        # Fresh availability from the shell: the same day's other slots, else
        # other days, else other centres (render falls back by itself).
        return ask(s, ctx, State.SLOT, note, slot_id=None)
    if reason == Refusal.VACCINE_MISMATCH and s.draft.vaccine:
        return ask(s, ctx, State.CENTRE, note, centre_id=None, day=None, slot_id=None, page=0)
    return to_menu(s, ctx, note)
