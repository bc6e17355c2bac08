"""News of a booking as a reply: pure functions, no I/O.

The relay (kmcbot/outbox/relay.py) loads a `notifications` row with its booking and
calls `render`. Inside WhatsApp's 24-hour customer-service window the citizen
gets free-form text, the same the chat sends; outside it WhatsApp accepts only
an approved template, so `render` returns a Template with the same facts as
one-line parameters. The templates must be registered with Meta, per language
(en, bn, hi), with these body parameters in this order:

- booking update (booked / moved / cancelled):
  {{1}} reference, {{2}} what happened, {{3}} centre, {{4}} date, {{5}} time, {{6}} code
- slot cancelled: {{1}} centre, {{2}} date, {{3}} time, {{4}} reason
- reminder: {{1}} reference, {{2}} code, {{3}} centre, {{4}} address, {{5}} date,
  {{6}} time, {{7}} ID type
- on the list *(addition)*: {{1}} centre, {{2}} date, {{3}} time, {{4}} reference,
  {{5}} ID type
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kmcbot.booking.model import BookingView
from kmcbot.dialogue.booking_flow import booking_text, id_type_label
from kmcbot.dialogue.catalogue import show_date, text
from kmcbot.dialogue.core import truncate
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.questions import slot_title
from kmcbot.messages import Ask, Button, Reply, Say, Template

REBOOK = "menu:book"  # the menu's own option id: a tap starts a new booking from any state
MAX_PARAM = 200  # well under WhatsApp's 1024; a template's whole body is limited too
# Why a session was cancelled, as staff choose it; the citizen reads
# notice.reason_<code> in their language, never what staff typed.
REASON_CODES = ("supply_not_arrived", "centre_closed", "holiday", "other")


class Kind(StrEnum):
    BOOKED = "booked"
    MOVED = "moved"
    CANCELLED = "cancelled"
    SLOT_CANCELLED = "slot_cancelled"
    REMINDER = "reminder"
    ON_LIST = "on_list"  # the centre confirmed its list for the day (kmcbot/staff/)


@dataclass(frozen=True, slots=True)
class Templates:
    """The approved template names (settings.template_*)."""

    booking: str
    slot_cancelled: str
    reminder: str
    on_list: str = "kmcbot_on_list"
    waitlist_offer: str = "kmcbot_waitlist_offer"  # dialogue/waitlist.py


@dataclass(frozen=True, slots=True)
class Notice:
    kind: Kind
    booking: BookingView
    # slot_cancelled: a reason code (REASON_CODES), or an older row's typed text
    reason: str = ""


def lang_of(booking: BookingView) -> Lang:
    try:
        return Lang(booking.lang)
    except ValueError:
        return Lang.EN


def render(notice: Notice, *, in_window: bool, templates: Templates) -> Reply:
    """The reply that brings `notice` to the citizen."""
    if in_window:
        return free_form(notice)
    return template(notice, templates)


def free_form(notice: Notice) -> Reply:
    b, lang = notice.booking, lang_of(notice.booking)
    match notice.kind:
        case Kind.BOOKED | Kind.MOVED:
            return ticket(notice.kind, b)
        case Kind.CANCELLED:
            return Say(text(lang, "cancel.done", reference=b.reference))
        case Kind.SLOT_CANCELLED:
            body = text(
                lang,
                "notice.slot_cancelled",
                centre=truncate(b.centre.name, 100),
                date=show_date(lang, b.day),
                slot=slot_title(lang, b.start, b.end),
                reason=_reason(notice),
            )
            return Ask(body, (Button(REBOOK, text(lang, "notice.rebook")),))
        case Kind.REMINDER:
            return Say(booking_text(lang, "notice.reminder", b))
        case Kind.ON_LIST:
            return Say(text(lang, "notice.on_list", **_on_list_params(lang, b)))


def _on_list_params(lang: Lang, b: BookingView) -> dict[str, str]:
    return {
        "centre": truncate(b.centre.name, 100),
        "date": show_date(lang, b.day),
        "slot": slot_title(lang, b.start, b.end),
        "reference": b.reference,
        "id_type": id_type_label(lang, b.id_type),
    }


def ticket(kind: Kind, b: BookingView) -> Reply:
    """The confirmation ticket exactly as the chat renders it."""
    key = "booked.text" if kind is Kind.BOOKED else "moved.text"
    return Say(booking_text(lang_of(b), key, b))


def template(notice: Notice, templates: Templates) -> Template:
    b, lang = notice.booking, lang_of(notice.booking)
    when = (show_date(lang, b.day), slot_title(lang, b.start, b.end))
    params: tuple[str, ...]
    match notice.kind:
        case Kind.BOOKED | Kind.MOVED | Kind.CANCELLED:
            what = text(lang, f"notice.status_{notice.kind.value}")
            name, params = templates.booking, (b.reference, what, b.centre.name, *when, b.code)
        case Kind.SLOT_CANCELLED:
            name, params = templates.slot_cancelled, (b.centre.name, *when, _reason(notice))
        case Kind.REMINDER:
            id_type = id_type_label(lang, b.id_type)
            name = templates.reminder
            params = (b.reference, b.code, b.centre.name, b.centre.address, *when, id_type)
        case Kind.ON_LIST:
            name = templates.on_list
            params = (b.centre.name, *when, b.reference, id_type_label(lang, b.id_type))
    # The approved slot-cancelled template has one quick-reply button: "Book again".
    buttons = (REBOOK,) if notice.kind is Kind.SLOT_CANCELLED else ()
    return Template(name, lang.value, tuple(_param(p) for p in params), buttons)


def _reason(notice: Notice) -> str:
    if notice.reason in REASON_CODES:
        return text(lang_of(notice.booking), f"notice.reason_{notice.reason}")
    # A row cancelled before the codes: its typed text, as it was sent then.
    # The text goes on with ". Sorry.": the operator's own full stop would double it.
    reason = truncate(notice.reason, MAX_PARAM).rstrip(" .।!")
    return reason or text(lang_of(notice.booking), "notice.no_reason")


def _param(value: str) -> str:
    # Template parameters may hold no newline or tab, nor runs of spaces, and not be empty.
    return truncate(value, MAX_PARAM) or "-"
