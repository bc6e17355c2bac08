"""Business events: one log line per thing that happened to a booking, a session
or a notice, named here and nowhere else (README, "Events").

Every field identifies a thing, never a person: a booking reference, a centre
code, a slot id, a language, a notification id, a correlation id (`cid`, see
correlation_id) and `user`, the citizen's keyed hash (storage/keys.user_tag).
No phone number, user id, name, ID number or check-in code goes in.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

import structlog

log = structlog.get_logger()


class Event(StrEnum):
    BOOKING_MADE = "booking_made"
    BOOKING_MOVED = "booking_moved"
    BOOKING_CANCELLED = "booking_cancelled"
    BOOKING_REFUSED = "booking_refused"
    BOOKING_MISSED = "booking_missed"
    BOOKING_CHECKED_IN = "booking_checked_in"
    SESSION_CANCELLED = "session_cancelled"
    LIST_CONFIRMED = "list_confirmed"
    NOTICE_QUEUED = "notice_queued"
    NOTICE_SENT = "notice_sent"
    NOTICE_DELIVERED = "notice_delivered"
    NOTICE_READ = "notice_read"
    NOTICE_FAILED = "notice_failed"
    REPLY_SENT = "reply_sent"
    REPLY_DELIVERED = "reply_delivered"
    REPLY_FAILED = "reply_failed"


# Emitted by the waitlist (issue 22), listed here so the schema covers them.
WAITLIST_EVENTS = (
    "waitlist_joined",
    "waitlist_left",
    "offer_made",
    "offer_taken",
    "offer_declined",
    "offer_expired",
    "offer_withdrawn",
    "offer_refused",
)


def correlation_id(pepper: bytes, message_id: str) -> str:
    """The id that follows one inbound message to its replies' delivery.

    Not the WhatsApp message id itself: a `wamid.` id is base64 that holds the
    sender's phone number. A keyed hash of it is the same for a redelivery of
    the message, and says nothing about who sent it.
    """
    return hmac.new(pepper, b"cid:" + message_id.encode(), hashlib.sha256).hexdigest()[:12]


def notice_cid(notification_id: int) -> str:
    """A relayed notice's correlation id: its `notifications` row."""
    return f"n{notification_id}"


def booking_made(
    *, reference: str, centre: str, slot: int, lang: str, user: str, via: str, cid: str = ""
) -> None:
    log.info(
        Event.BOOKING_MADE,
        reference=reference,
        centre=centre,
        slot=slot,
        lang=lang,
        user=user,
        via=via,
        cid=cid,
    )


def booking_moved(
    *, reference: str, centre: str, slot: int, lang: str, user: str, cid: str = ""
) -> None:
    log.info(
        Event.BOOKING_MOVED,
        reference=reference,
        centre=centre,
        slot=slot,
        lang=lang,
        user=user,
        cid=cid,
    )


def booking_cancelled(*, reference: str, lang: str, user: str, cid: str = "") -> None:
    log.info(Event.BOOKING_CANCELLED, reference=reference, lang=lang, user=user, cid=cid)


def booking_refused(*, reason: str, lang: str, user: str, via: str, cid: str = "") -> None:
    log.info(Event.BOOKING_REFUSED, reason=reason, lang=lang, user=user, via=via, cid=cid)


def booking_missed(*, reference: str, centre: str, slot: int) -> None:
    log.info(Event.BOOKING_MISSED, reference=reference, centre=centre, slot=slot)


def booking_checked_in(*, reference: str, centre: str, slot: int, via: str) -> None:
    log.info(Event.BOOKING_CHECKED_IN, reference=reference, centre=centre, slot=slot, via=via)


def session_cancelled(*, centre: str, slot: int, reason: str, bookings: int, via: str) -> None:
    log.info(
        Event.SESSION_CANCELLED,
        centre=centre,
        slot=slot,
        reason=reason,
        bookings=bookings,
        via=via,
    )


def list_confirmed(*, centre: str, day: str, told: int) -> None:
    log.info(Event.LIST_CONFIRMED, centre=centre, day=day, told=told)


def notice_queued(*, reference: str, kind: str, cid: str, tries: int) -> None:
    log.info(Event.NOTICE_QUEUED, reference=reference, kind=kind, cid=cid, tries=tries)


def sent(*, cid: str, user: str, news: tuple[tuple[str, str], ...], bodies: int) -> None:
    """WhatsApp accepted every body of an outbox entry: a notice's, or a turn's replies."""
    if cid.startswith("n"):
        for reference, kind in news:
            log.info(Event.NOTICE_SENT, reference=reference, kind=kind, cid=cid, user=user)
    else:
        log.info(Event.REPLY_SENT, cid=cid, user=user, bodies=bodies)
