"""Types every flow module shares: the step's context and outcome, and the
citizen's answer once a typed "2" or a typed button title is resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kmcbot.booking.availability import Availability
from kmcbot.booking.commands import Effect
from kmcbot.booking.model import Refusal
from kmcbot.dialogue.model import Lang, Session
from kmcbot.dialogue.understand import Word
from kmcbot.messages import Reply


@dataclass(frozen=True)
class Context:
    now: datetime  # aware, UTC
    availability: Availability
    pepper: bytes  # key of the ID number hash
    profile_lang: Lang | None  # language remembered for this number beyond the session
    expired: bool = False  # the shell saw a session that had expired
    last_booking: str | None = None  # the reference of this number's last booking (profile)
    qr_images: bool = True  # the ticket comes with its check-in QR image (KMCBOT_QR_IMAGES)


@dataclass(frozen=True)
class Outcome:
    session: Session
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()
    # A booking the dialogue itself refused before asking PostgreSQL (this number's
    # limit, an ID it already booked): the shell logs it as PostgreSQL's refusals.
    refused: Refusal | None = None


# ---------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Picked:
    """An option the bot offered: tapped, typed by number or by title."""

    id: str


@dataclass(frozen=True, slots=True)
class Typed:
    text: str


@dataclass(frozen=True, slots=True)
class Shared:
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class Stale:
    """A tap on an option of an older message, no longer on offer."""

    id: str


@dataclass(frozen=True, slots=True)
class Said:
    """A meaning that works at any question, typed ("help", "bangla", "thanks")."""

    word: Word
    text: str


Answer = Picked | Typed | Shared | Stale


def lang_of(session: Session | None, ctx: Context) -> Lang:
    if session is not None and session.lang is not None:
        return session.lang
    return ctx.profile_lang or Lang.EN


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut (never mid-space)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip(" ,.-·") + "…"


def join(*parts: str | None) -> str:
    return "\n\n".join(p for p in parts if p)
