"""The vocabulary shared by the WhatsApp edge and the pure dialogue.

Inbound: what a citizen sent, already parsed out of a Cloud API payload.
Outbound: what the bot wants to say, before it becomes a Cloud API body.
Nothing here knows about HTTP, Redis or PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# ---------------------------------------------------------------- inbound


@dataclass(frozen=True, slots=True)
class Text:
    body: str


@dataclass(frozen=True, slots=True)
class Choice:
    """A tap on a reply button, a list row or a template quick-reply button."""

    id: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    CONTACTS = "contacts"
    REACTION = "reaction"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Media:
    """Anything the bot cannot read as an answer: media, stickers, reactions, ..."""

    kind: MediaKind


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """WhatsApp's system message: the citizen's number or user id changed.
    Either new id may be None (only the other changed, or a system message
    that changes neither)."""

    new_wa_id: str | None
    new_user_id: str | None


Content = Text | Choice | Location | Media | IdentityChange


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from one citizen.

    `wa_id` is who the citizen is to the bot: their phone number (digits with
    the country code) when WhatsApp shares it, else their business-scoped user
    id (BSUID, e.g. "IN.1502576394655843"). `user_id`: the BSUID, when given
    (with or without the number), so the pair can be remembered.
    """

    wa_id: str
    message_id: str
    sent_at: datetime
    content: Content
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """A delivery status of a message the bot sent (sent, delivered, read, failed)."""

    wa_id: str
    message_id: str
    status: str
    error_codes: tuple[int, ...] = ()
    # What kmcbot gave the message to carry (biz_opaque_callback_data): see outbox/entry.py.
    callback: str = ""


@dataclass(frozen=True, slots=True)
class Error:
    """A value-level error WhatsApp reports, or an item that could not be parsed."""

    code: int
    title: str


Update = Inbound | Status | Error


# ---------------------------------------------------------------- outbound


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    title: str  # at most 20 characters


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    title: str  # at most 24 characters
    description: str = ""  # at most 72 characters


@dataclass(frozen=True, slots=True)
class Say:
    """Plain text, at most 4096 characters."""

    body: str


@dataclass(frozen=True, slots=True)
class Ask:
    """Text with up to 3 reply buttons; body at most 1024 characters."""

    body: str
    buttons: tuple[Button, ...]


@dataclass(frozen=True, slots=True)
class Pick:
    """A list message: up to 10 rows behind one button."""

    body: str
    button: str  # at most 20 characters
    rows: tuple[Row, ...]
    section: str = ""  # at most 24 characters


@dataclass(frozen=True, slots=True)
class AskLocation:
    """WhatsApp's location request message (a "Send location" button)."""

    body: str


@dataclass(frozen=True, slots=True)
class Template:
    """An approved template message, for citizens outside the 24-hour window."""

    name: str
    lang: str
    params: tuple[str, ...] = field(default=())
    # Payloads of the template's quick-reply buttons, in order: a tap comes back
    # as a Choice with this id (e.g. "menu:book" to book again).
    buttons: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class CheckinQr:
    """The booking's check-in QR code, as an image with a caption. It holds the
    reference and a token signed over the reference and its code, nothing
    personal; the image is made and uploaded when it is sent (outbox/images.py)."""

    reference: str
    code: str
    caption: str  # at most 1024 characters


Reply = Say | Ask | Pick | AskLocation | Template | CheckinQr
