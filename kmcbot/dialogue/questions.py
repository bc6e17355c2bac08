"""The question each state asks, as one reply, with an optional note on top.

An invalid answer, a help request or a sticker all get "note + the same
question" as ONE message (WhatsApp throttles a second one). A question that
has nothing left to offer (the last slot just went) falls back to the step
before it, so `render` may return a session in another state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, time

from kmcbot.booking.ids import IdType, mask_id
from kmcbot.booking.model import Vaccine
from kmcbot.dialogue import offer
from kmcbot.dialogue.catalogue import (
    id_type_name,
    num,
    show_date,
    text,
    vaccine_name,
    weekday,
    words,
)
from kmcbot.dialogue.core import Context, join, lang_of, truncate
from kmcbot.dialogue.model import PENDING, Draft, Lang, Session, State
from kmcbot.messages import Ask, AskLocation, Button, Pick, Reply, Row, Say

BODY = 1024  # interactive body limit
# Centres per list page: 8 + a navigation row + "None of these" = WhatsApp's 10 rows.
PAGE = 8
# An operator may load a centre with any name and address; in an interactive
# body they are shortened so the date, time, ID and name after them still fit.
CENTRE_NAME = 100
CENTRE_ADDRESS = 300
# The "yes" buttons name what they are about (confirm:yes:<slot id>,
# cancel:yes:<reference>), so that one under an older question is not among
# the options offered now, and step.resolve finds it Stale.
CONFIRM_YES = "confirm:yes"
CANCEL_YES = "cancel:yes"


def is_button(option: str, base: str) -> bool:
    """`option` is the `base` button, about whatever subject (resolve has checked
    it is the one offered now); a bare `base` is how versions before 2026-12-06
    named it, offered by a session one of them saved (a deploy mid-chat)."""
    return option == base or option.startswith(f"{base}:")


Rendered = tuple[Reply, Session]
Renderer = Callable[[Session, Context, str | None], Rendered]


def render(s: Session, ctx: Context, note: str | None = None) -> Rendered:
    """The reply asking `s.state`'s question, and `s` with `offered` set."""
    return QUESTIONS[s.state](s, ctx, note)


def body(note: str | None, question: str) -> str:
    """Note above question, cut so the whole fits WhatsApp's interactive body."""
    room = BODY - len(question) - 2
    if note and len(note) > room:
        note = truncate(note, max(room, 1))
    return join(note, question)[:BODY]


def _ask(s: Session, note: str | None, question: str, buttons: list[Button]) -> Rendered:
    reply = Ask(body(note, question), tuple(buttons))
    return reply, replace(s, offered=tuple(b.id for b in buttons))


def _pick(
    s: Session, note: str | None, question: str, button_key: str, rows: list[Row]
) -> Rendered:
    lang = s.lang or Lang.EN  # always set past the LANGUAGE state
    reply = Pick(body(note, question), text(lang, button_key), tuple(_unique(rows)))
    return reply, replace(s, offered=tuple(r.id for r in rows))


def _unique(rows: list[Row]) -> list[Row]:
    """WhatsApp rejects a list with two equal row titles (two centres whose
    names share the first 24 characters): number the repeats."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        n = seen.get(row.title, 0) + 1
        seen[row.title] = n
        title = row.title if n == 1 else truncate(row.title, 24 - 4)[:20] + f" ({n})"
        out.append(replace(row, title=title))
    return out


# ---------------------------------------------------------------- language, menu


def language(s: Session, ctx: Context, note: str | None) -> Rendered:
    if s.lang is None:
        # Nobody knows the citizen's language yet: greet in all three.
        question = join(*(text(lang, "welcome.line") for lang in (Lang.BN, Lang.EN, Lang.HI)))
    else:
        question = text(s.lang, "language.ask")
    buttons = [Button(f"lang:{lang.value}", text(lang, "language.name")) for lang in _LANG_ORDER]
    return _ask(s, note, question, buttons)


_LANG_ORDER = (Lang.EN, Lang.BN, Lang.HI)


def menu(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    buttons = [
        Button("menu:book", text(lang, "menu.book")),
        Button("menu:bookings", text(lang, "menu.bookings")),
        Button("menu:help", text(lang, "menu.help")),
    ]
    return _ask(replace(s, state=State.MENU), note, text(lang, "menu.ask"), buttons)


# ---------------------------------------------------------------- booking questions


def vaccine(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    buttons = [Button(f"vaccine:{v.value}", vaccine_name(lang, v)) for v in Vaccine]
    return _ask(s, note, text(lang, "vaccine.ask"), buttons)


def dose_date(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    return _text_question(s, note, text(lang, "dose_date.ask"))


def _text_question(s: Session, note: str | None, question: str) -> Rendered:
    # Free text: no options, so a typed "2" is an answer, not a pick.
    return Say(join(note, question)), replace(s, offered=())


def id_type(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    rows = [Row(f"id:{t.value}", id_type_name(lang, t)) for t in IdType]
    return _pick(s, note, text(lang, "id_type.ask"), "id_type.button", rows)


def id_number(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    kind = id_type_name(lang, s.draft.id_type or IdType.AADHAAR)
    return _text_question(s, note, text(lang, "id_number.ask", id_type=kind))


def name(s: Session, ctx: Context, note: str | None) -> Rendered:
    return _text_question(s, note, text(lang_of(s, ctx), "name.ask"))


def since(s: Session, ctx: Context) -> date:
    d = s.draft
    assert d.vaccine is not None and d.first_dose is not None
    return max(offer.eligible_from(ctx.availability, d.vaccine, d.first_dose), offer.today(ctx.now))


def _flow_ready(d: Draft) -> bool:
    return d.vaccine is not None and d.first_dose is not None


def centre(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    d = s.draft
    if not _flow_ready(d):
        return menu(s, ctx, join(note, text(lang, "common.error")))
    assert d.vaccine is not None
    found = offer.centres(ctx.availability, d.vaccine, since(s, ctx), ctx.now, d.near)
    if not found:
        none = text(lang, "centre.none", vaccine=vaccine_name(lang, d.vaccine))
        return menu(replace(s, draft=Draft()), ctx, join(note, none))
    pages = (len(found) + PAGE - 1) // PAGE
    page = d.page if 0 <= d.page < pages else 0
    rows = []
    for c, km in found[page * PAGE : (page + 1) * PAGE]:
        where = (
            text(lang, "centre.km", km=num(lang, f"{km:.1f}"))
            if km is not None
            else (text(lang, "centre.ward", ward=num(lang, c.ward)) if c.ward else "")
        )
        description = truncate(" · ".join(p for p in (where, c.address) if p), 72)
        rows.append(Row(f"centre:{c.id}", truncate(c.name, 24), description))
    if page + 1 < pages:
        more = text(lang, "centre.more_desc", page=num(lang, page + 2), pages=num(lang, pages))
        rows.append(Row("centre:more", text(lang, "centre.more"), more))
    else:
        rows.append(Row("centre:near", text(lang, "centre.near"), text(lang, "centre.near_desc")))
    if not d.moving_reference:  # her booking would be moved, not waited for: no such row
        none = text(lang, "centre.none_desc")
        rows.append(Row("centre:none", text(lang, "centre.none_row"), none))
    s = replace(s, state=State.CENTRE, draft=replace(d, page=page))
    return _pick(s, note, text(lang, "centre.ask"), "centre.button", rows)


def location(s: Session, ctx: Context, note: str | None) -> Rendered:
    reply = AskLocation(body(note, text(lang_of(s, ctx), "centre.location_ask")))
    # The centre list stays on offer: a tap on it, or its number, still counts.
    return reply, s


def day(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    d = s.draft
    c = ctx.availability.centres.get(d.centre_id or -1)
    if not _flow_ready(d) or c is None:
        return centre(replace(s, state=State.CENTRE), ctx, note)
    assert d.vaccine is not None
    found = offer.days(ctx.availability, d.vaccine, since(s, ctx), ctx.now, c.id)
    if not found:
        return centre(replace(s, state=State.CENTRE), ctx, join(note, text(lang, "day.none")))
    rows = [
        Row(
            f"day:{day.isoformat()}",
            show_date(lang, day),
            text(lang, "day.places", weekday=weekday(lang, day), n=num(lang, free)),
        )
        for day, free in found
    ]
    s = replace(s, state=State.DAY)
    question = text(lang, "day.ask", centre=truncate(c.name, CENTRE_NAME))
    return _pick(s, note, question, "day.button", rows)


def slot(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    d = s.draft
    c = ctx.availability.centres.get(d.centre_id or -1)
    if not _flow_ready(d) or c is None or d.day is None:
        return day(replace(s, state=State.DAY), ctx, note)
    assert d.vaccine is not None
    found = offer.slots(ctx.availability, d.vaccine, since(s, ctx), ctx.now, c.id, d.day)
    if not found:
        return day(replace(s, state=State.DAY), ctx, join(note, text(lang, "slot.none")))
    rows = [
        Row(
            f"slot:{sl.id}",
            slot_title(lang, sl.start, sl.end),
            text(lang, "slot.left", n=num(lang, sl.free)),
        )
        for sl in found
    ]
    where = truncate(c.name, CENTRE_NAME)
    question = text(lang, "slot.ask", centre=where, date=show_date(lang, d.day))
    return _pick(replace(s, state=State.SLOT), note, question, "slot.button", rows)


def map_link(latitude: float, longitude: float) -> str:
    return f"https://maps.google.com/?q={latitude:.6f},{longitude:.6f}"


def slot_title(lang: Lang, start: time, end: time) -> str:
    """A slot's times as people say them: "10:00-12:00", "সকাল ১০টা–দুপুর ১২টা",
    "सुबह 10–दोपहर 12 बजे" (the hour names are the catalogue's meta.hours)."""
    return text(lang, "slot.title", start=clock(lang, start), end=clock(lang, end))


def clock(lang: Lang, t: time) -> str:
    hour = words(lang, "meta.hours")[t.hour]
    if t.minute:
        return text(lang, "slot.at_minutes", hour=hour, minutes=num(lang, f"{t.minute:02d}"))
    return text(lang, "slot.at_hour", hour=hour)


def masked_last4(last4: str) -> str:
    """The masked ID shown after the number is gone: only its last 4 are kept."""
    return mask_id("X" * 8 + last4)


def confirm(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    d = s.draft
    sl = ctx.availability.by_id.get(d.slot_id) if d.slot_id is not None else None
    c = ctx.availability.centres.get(d.centre_id or -1)
    if not _flow_ready(d) or sl is None or c is None:
        return slot(replace(s, state=State.SLOT), ctx, note)
    assert d.vaccine is not None
    fields = dict(
        vaccine=vaccine_name(lang, d.vaccine),
        centre=truncate(c.name, CENTRE_NAME),
        address=truncate(c.address, CENTRE_ADDRESS),
        date=show_date(lang, sl.day),
        slot=slot_title(lang, sl.start, sl.end),
        id_type=id_type_name(lang, d.id_type or IdType.AADHAAR),
        masked=masked_last4(d.id_last4 or ""),
        name=d.name or "",
        reference=d.moving_reference or "",
    )
    key = "confirm.move_summary" if d.moving_reference else "confirm.summary"
    until = d.first_dose and offer.due_until(ctx.availability, d.vaccine, d.first_dose)
    if until and sl.day > until:  # a date picked past the usual interval: say it still counts
        note = join(note, text(lang, "confirm.late", until=show_date(lang, until)))
    buttons = [
        Button(f"{CONFIRM_YES}:{sl.id}", text(lang, "confirm.yes")),
        Button("confirm:change", text(lang, "confirm.change")),
        Button("confirm:no", text(lang, "confirm.no")),
    ]
    return _ask(s, note, text(lang, key, **fields), buttons)


# ---------------------------------------------------------------- my bookings, yes/no


def my_bookings(s: Session, ctx: Context, note: str | None) -> Rendered:
    """Cancel / Reschedule rows for the bookings last listed, and a Leave row for
    each waitlist entry (the details themselves come as the note, from a fresh
    BookingsListed)."""
    lang = lang_of(s, ctx)
    if not s.draft.listed and not s.draft.waiting:
        return menu(s, ctx, join(note, text(lang, "bookings.none")))
    rows = []
    for b in s.draft.listed[:4]:
        rows.append(
            Row(f"cancel:{b.reference}", text(lang, "bookings.cancel_row", reference=b.reference))
        )
        rows.append(
            Row(f"move:{b.reference}", text(lang, "bookings.move_row", reference=b.reference))
        )
    for n, entry_id in enumerate(s.draft.waiting[: 9 - len(rows)], start=1):
        title = text(lang, "waitlist.leave_row")
        rows.append(Row(f"leave:{entry_id}", title if n == 1 else f"{title[:19]} ({n})"))
    rows.append(Row("menu:main", text(lang, "bookings.menu_row")))
    return _pick(s, note, text(lang, "bookings.ask"), "bookings.button", rows)


def waitlist(s: Session, ctx: Context, note: str | None) -> Rendered:
    """No place suits her: "Tell me when a place opens?" (dialogue/waitlist.py)."""
    lang = lang_of(s, ctx)
    buttons = [
        Button("waitlist:join", text(lang, "waitlist.join")),
        Button("menu:main", text(lang, "waitlist.menu")),
    ]
    return _ask(s, note, text(lang, "waitlist.ask"), buttons)


def area(s: Session, ctx: Context, note: str | None) -> Rendered:
    """Joining the waitlist: where? A ward or borough typed, her location, or anywhere."""
    lang = lang_of(s, ctx)
    buttons = [
        Button("area:city", text(lang, "area.city_button")),
        Button("area:near", text(lang, "area.near_button")),
    ]
    return _ask(s, note, text(lang, "area.ask"), buttons)


def cancel_confirm(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    ref = s.draft.cancel_reference or ""
    buttons = [
        Button(f"{CANCEL_YES}:{ref}", text(lang, "cancel.yes")),
        Button("cancel:no", text(lang, "cancel.no")),
    ]
    return _ask(s, note, text(lang, "cancel.ask", reference=ref), buttons)


def forget_confirm(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    buttons = [
        Button("forget:yes", text(lang, "forget.yes")),
        Button("forget:no", text(lang, "forget.no")),
    ]
    return _ask(s, note, text(lang, "forget.ask"), buttons)


def same(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    d = s.draft
    if d.vaccine is None or d.first_dose is None or not d.name:
        return vaccine(replace(s, state=State.VACCINE), ctx, note)
    question = text(
        lang,
        "same.ask",
        name=truncate(d.name, 60),
        vaccine=vaccine_name(lang, d.vaccine),
        date=show_date(lang, d.first_dose),
    )
    buttons = [Button("same:yes", text(lang, "same.yes")), Button("same:no", text(lang, "same.no"))]
    return _ask(s, note, question, buttons)


def resume(s: Session, ctx: Context, note: str | None) -> Rendered:
    lang = lang_of(s, ctx)
    buttons = [
        Button("resume:yes", text(lang, "resume.yes")),
        Button("resume:no", text(lang, "resume.no")),
    ]
    return _ask(s, note, text(lang, "resume.ask"), buttons)


QUESTIONS: dict[State, Renderer] = {
    State.LANGUAGE: language,
    State.MENU: menu,
    State.VACCINE: vaccine,
    State.DOSE_DATE: dose_date,
    State.ID_TYPE: id_type,
    State.ID_NUMBER: id_number,
    State.NAME: name,
    State.CENTRE: centre,
    State.LOCATION: location,
    State.DAY: day,
    State.SLOT: slot,
    State.CONFIRM: confirm,
    State.MY_BOOKINGS: my_bookings,
    State.CANCEL_CONFIRM: cancel_confirm,
    State.FORGET_CONFIRM: forget_confirm,
    State.SAME: same,
    State.RESUME: resume,
    State.WAITLIST: waitlist,
    State.AREA: area,
    # Waiting for a result: nothing to ask; the menu is always a safe answer.
    **dict.fromkeys(PENDING, menu),
}
