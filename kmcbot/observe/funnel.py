"""The conversation funnel: where citizens get to, and where their conversations end.

The dialogue stays pure: the shell (pipeline.py) hands over what a turn did
(the state before and after, how the citizen answered, whether it booked, and
whether the session had expired) and this counts it. Only the booking flow's
steps are counted as endings; "My bookings", the menu and the language choice
are not a conversation one gives up.

- reached: a turn ended at a step other than the one it began at (asked the
  same question again does not count), by language and by how the citizen
  answered the turn that got there (tap, typed, location, media);
- ended "booked": the turn booked (at the step it began at, e.g. confirm);
- ended "gave_up": the turn left the booking flow without booking (the menu,
  "My bookings", another language), at the step it began at;
- ended "expired": the citizen came back after their unfinished conversation's
  session expired (24 hours); the step is the one stored in their profile when
  they left. Counted when they come back, so a citizen who never does is not
  counted: cheap (no timer, no scan), and the count lags by a day at most.
"""

from __future__ import annotations

from kmcbot import metrics
from kmcbot.dialogue import globals as globals_
from kmcbot.dialogue.model import State
from kmcbot.messages import Choice, Content, Location, Text

# The booking flow's steps (dialogue/globals.py), and "Continue where you left off?".
BOOKING_STEPS = globals_.BOOKING_STEPS | {State.RESUME}
_STEP_NAMES = frozenset(s.value for s in BOOKING_STEPS)


def answer_kind(content: Content) -> str:
    match content:
        case Choice():
            return "tap"
        case Text():
            return "typed"
        case Location():
            return "location"
    return "media"


def count_turn(
    *,
    before: str | None,
    after: str,
    lang: str,
    content: Content,
    booked: bool,
    expired_at: str | None,
) -> None:
    """One turn's share of the funnel (`before`: None when no session was stored)."""
    if expired_at is not None:
        step = expired_at if expired_at in _STEP_NAMES else "unknown"
        metrics.FUNNEL_ENDED.labels(step, lang, "expired").inc()
    if after != before:
        metrics.FUNNEL_REACHED.labels(after, lang, answer_kind(content)).inc()
    if before in _STEP_NAMES:
        if booked:
            metrics.FUNNEL_ENDED.labels(before, lang, "booked").inc()
        elif after not in _STEP_NAMES:
            metrics.FUNNEL_ENDED.labels(before, lang, "gave_up").inc()
