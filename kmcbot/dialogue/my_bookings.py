""" "My bookings": list this number's active bookings, cancel one, or
reschedule one (the centre .. confirm steps of booking_flow, for that
booking's vaccine and first dose, ending in MoveBooking)."""

from __future__ import annotations

from dataclasses import replace

from kmcbot.booking.commands import (
    BookingsListed,
    CancelBooking,
    Cancelled,
    ListBookings,
    Refused,
    Result,
)
from kmcbot.booking.ids import IdType
from kmcbot.dialogue import offer, waitlist
from kmcbot.dialogue.booking_flow import listed, refused
from kmcbot.dialogue.catalogue import show_date, text
from kmcbot.dialogue.core import Answer, Context, Outcome, Picked, join, lang_of, truncate
from kmcbot.dialogue.model import Draft, Session, State
from kmcbot.dialogue.questions import CANCEL_YES, is_button, slot_title
from kmcbot.dialogue.turns import ask, not_understood, to_menu, wait
from kmcbot.messages import Inbound

MAX_SHOWN = 4  # the per-number limit: 4 x (Cancel, Reschedule) + Menu = 9 rows


def show(s: Session, ctx: Context) -> Outcome:
    return wait(replace(s, draft=Draft()), ctx, State.LISTING, ListBookings())


def on_listed(s: Session, ctx: Context, result: Result) -> Outcome:
    lang = lang_of(s, ctx)
    if isinstance(result, Refused):
        return refused(s, ctx, result.reason)
    if not isinstance(result, BookingsListed):
        return to_menu(s, ctx, text(lang, "common.error"))
    # One entry per reference (row ids must be unique), active ones only.
    unique = {b.reference: b for b in result.bookings if b.status == "booked"}
    views = list(unique.values())[:MAX_SHOWN]
    waiting = result.waiting[:MAX_SHOWN]
    if not views and not waiting:
        return to_menu(s, ctx, text(lang, "bookings.none"))
    items = [
        text(
            lang,
            "bookings.item",
            reference=b.reference,
            centre=truncate(b.centre.name, 60),
            date=show_date(lang, b.day),
            slot=slot_title(lang, b.start, b.end),
            name=truncate(b.name, 60),
        )
        for b in views
    ]
    note = join(
        text(lang, "bookings.header") if views else None,
        "\n".join(items),
        waitlist.waiting_note(lang, waiting),
    )
    return ask(
        s,
        ctx,
        State.MY_BOOKINGS,
        note,
        listed=listed(tuple(views)),
        waiting=tuple(w.entry_id for w in waiting),
    )


def on_my_bookings(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    if isinstance(answer, Picked):
        kind, _, ref = answer.id.partition(":")
        if kind == "leave" and ref.isdigit() and int(ref) in s.draft.waiting:
            return waitlist.leave(s, ctx, int(ref))
        booking = next((b for b in s.draft.listed if b.reference == ref), None)
        if booking is not None and kind == "cancel":
            return ask(s, ctx, State.CANCEL_CONFIRM, cancel_reference=ref)
        if booking is not None and kind == "move":
            try:
                id_type: IdType | None = IdType(booking.id_type)
            except ValueError:
                id_type = None
            draft = Draft(
                vaccine=booking.vaccine,
                first_dose=booking.first_dose,
                id_type=id_type,
                id_last4=booking.id_last4,
                moving_reference=ref,
            )
            eligible = offer.eligible_from(ctx.availability, booking.vaccine, booking.first_dose)
            if not any(offer.open_slots(ctx.availability, booking.vaccine, eligible, ctx.now)):
                return to_menu(s, ctx, text(lang, "bookings.no_other"))
            return ask(replace(s, draft=draft), ctx, State.CENTRE)
    return not_understood(s, ctx, answer)


def on_cancel_confirm(s: Session, answer: Answer, msg: Inbound, ctx: Context) -> Outcome:
    lang = lang_of(s, ctx)
    ref = s.draft.cancel_reference
    match answer:
        case Picked(option) if ref and is_button(option, CANCEL_YES):
            return wait(s, ctx, State.CANCELLING, CancelBooking(ref))
        case Picked("cancel:no"):
            return to_menu(s, ctx, text(lang, "cancel.kept"))
    return not_understood(s, ctx, answer)


def on_cancelled(s: Session, ctx: Context, result: Result) -> Outcome:
    lang = lang_of(s, ctx)
    match result:
        case Cancelled(reference):
            return to_menu(s, ctx, text(lang, "cancel.done", reference=reference))
        case Refused(reason):
            return to_menu(s, ctx, text(lang, f"refusal.{reason.value}"))
    return to_menu(s, ctx, text(lang, "common.error"))
