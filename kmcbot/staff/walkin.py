"""Walk-in: book on behalf of a person at the desk, under the chat's own rules.

The same checks as the chat (name, ID number and its checksum, the first dose's
date) with the chat's own error texts, then the same booking function
(repository.book: the slot open, not started and not full, the interval since
the first dose, one active booking per ID, at most 4 per WhatsApp number).
A WhatsApp number is optional: with one, the confirmation ticket goes to it in
the chosen language (the relay sends a walk-in's 'booked' news at once: no
chat turn will). The form carries a one-time key: sent twice, it books once.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, timedelta

import structlog
from aiohttp import web

from kmcbot.booking import ids, repository
from kmcbot.booking.commands import Book, Booked
from kmcbot.booking.model import Vaccine, kolkata_today
from kmcbot.dialogue.catalogue import id_type_name, show_date
from kmcbot.dialogue.catalogue import text as citizen_text
from kmcbot.dialogue.dates import PROGRAMME_START
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.names import NameError_, clean_name
from kmcbot.observe import events
from kmcbot.staff import audit, i18n
from kmcbot.staff.pages import _centre
from kmcbot.staff.web import SESSION, address, lang_of, render, signed_in, t
from kmcbot.storage.keys import user_tag
from kmcbot.web.keys import PG, SETTINGS
from kmcbot.whatsapp.text import to_ascii_digits

log = structlog.get_logger()
WALKIN_PREFIX = "walkin:"  # source_message_id of a walk-in booking (outbox/relay.py)
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def add_routes(r: web.UrlDispatcher) -> None:
    r.add_get("/c/{code}/walkin", walkin_page, name="walkin")
    r.add_post("/c/{code}/walkin", walkin_post, name="walkin_post")


async def _open_sessions(request: web.Request, centre_id: int) -> list:
    today = kolkata_today()
    return await request.config_dict[PG].fetch(
        """SELECT id, vaccine, day, start_time, end_time, capacity - booked - held AS free
           FROM slots WHERE centre_id = $1 AND status = 'open' AND starts_at > now()
             AND day BETWEEN $2 AND $3
           ORDER BY day, start_time, vaccine""",
        centre_id,
        today,
        today + timedelta(days=1),
    )


async def walkin_page(
    request: web.Request, *, status: int = 200, message: str = "", form: dict | None = None
) -> web.Response:
    centre = await _centre(request)
    return render(
        request,
        "walkin.html",
        status=status,
        centre=centre,
        sessions=await _open_sessions(request, centre["id"]),
        id_types=[(i.value, id_type_name(Lang(lang_of(request)), i)) for i in ids.IdType],
        form=form or {"key": secrets.token_urlsafe(18), "lang": lang_of(request)},
        message=message,
        error=status >= 400,
        today=kolkata_today().isoformat(),
    )


def _wa_id(raw: str) -> str | None | bool:
    """Digits with the country code; a 10-digit Indian mobile gets 91. False: malformed."""
    digits = to_ascii_digits(re.sub(r"[\s+()-]", "", raw))
    if not digits:
        return None
    if not digits.isdigit():
        return False
    if len(digits) == 10 and digits[0] in "6789":
        digits = "91" + digits
    return digits if 11 <= len(digits) <= 15 else False


async def walkin_post(request: web.Request) -> web.Response:
    centre = await _centre(request)
    raw = await request.post()
    form = {
        k: str(raw.get(k, "")).strip()[:200]
        for k in ("slot", "name", "id_type", "id_number", "first_dose", "wa_id", "lang", "key")
    }
    pool = request.config_dict[PG]
    staff_lang = Lang(lang_of(request))  # the page's: its refusals read as the chat's

    async def again(message: str, status: int = 400) -> web.Response:
        return await walkin_page(request, status=status, message=message, form=form)

    if not _KEY.fullmatch(form["key"]):
        return await again(t(request, "error.csrf"))
    sessions = {str(s["id"]): s for s in await _open_sessions(request, centre["id"])}
    slot = sessions.get(form["slot"])
    if slot is None:
        return await again(t(request, "walkin.no_session"))
    name = clean_name(form["name"])
    if isinstance(name, NameError_):
        return await again(citizen_text(staff_lang, f"name_error.{name.value}"))
    try:
        id_type = ids.IdType(form["id_type"])
    except ValueError:
        return await again(t(request, "walkin.no_id_type"))
    number = ids.normalise_id(id_type, form["id_number"])
    if isinstance(number, ids.IdError):
        label = id_type_name(staff_lang, id_type)
        return await again(citizen_text(staff_lang, f"id_error.{number.value}", id_type=label))
    try:
        first = date.fromisoformat(form["first_dose"])
    except ValueError:
        return await again(citizen_text(staff_lang, "date_error.unreadable"))
    if first < PROGRAMME_START:
        start = show_date(staff_lang, PROGRAMME_START)  # as the chat says it
        return await again(citizen_text(staff_lang, "date_error.too_early", start=start))
    if first > kolkata_today():
        return await again(citizen_text(staff_lang, "date_error.future"))
    wa_id = _wa_id(form["wa_id"])
    if wa_id is False:
        return await again(t(request, "walkin.bad_number"))
    lang = form["lang"] if form["lang"] in {lang.value for lang in Lang} else "en"
    pepper = request.config_dict[SETTINGS].id_pepper
    effect = Book(
        slot_id=slot["id"],
        vaccine=Vaccine(slot["vaccine"]),
        first_dose=first,
        id_type=id_type.value,
        id_hash=ids.id_hash(pepper, id_type, number),
        id_last4=ids.last4(number),
        name=name,
        lang=lang,
        message_id=WALKIN_PREFIX + form["key"],
    )
    tag = user_tag(pepper, wa_id) if isinstance(wa_id, str) and wa_id else ""  # not the number
    # No number: NULL (the per-number limit and its lock then do not apply).
    result = await repository.book(pool, wa_id or None, effect)  # type: ignore[arg-type]
    if not isinstance(result, Booked):
        events.booking_refused(reason=str(result.reason), lang=lang, user=tag, via="desk")
        return await again(t(request, f"walkin.refusal_{result.reason.value}"), status=409)
    booking = result.booking
    await audit.record(
        pool,
        signed_in(request),
        "walkin_booked",
        address(request),
        centre_id=centre["id"],
        reference=booking.reference,
        whatsapp=bool(wa_id),
    )
    events.booking_made(
        reference=booking.reference, centre=centre["code"], slot=booking.slot_id, lang=lang,
        user=tag, via="desk",
    )  # fmt: skip
    shown = lang_of(request)  # the clerk's page, not the citizen's language
    when = f"{i18n.show(shown, booking.day)} {i18n.show(shown, booking.start)}"
    request[SESSION]["flash"] = t(
        request, "walkin.done", reference=booking.reference, code=booking.code, when=when
    )
    raise web.HTTPSeeOther(f"/staff/c/{centre['code']}/?day={booking.day.isoformat()}")
