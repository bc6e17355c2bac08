"""Properties: from any state, in any language, any event never crashes the
step, always leaves a session that round-trips through its JSON form, and
every reply stays within WhatsApp's limits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmcbot.booking.commands import (
    Booked,
    BookingsListed,
    Cancelled,
    Forgotten,
    Moved,
    Refused,
)
from kmcbot.booking.ids import IdType
from kmcbot.booking.model import BookingStatus, BookingView, Refusal, Vaccine
from kmcbot.dialogue.model import (
    Draft,
    Lang,
    Listed,
    Session,
    State,
    session_from_dict,
    session_to_dict,
)
from kmcbot.dialogue.step import Context, step
from kmcbot.messages import Choice, Inbound, Location, Media, MediaKind, Text
from kmcbot.whatsapp.outbound import limits_violations
from tests.support.fakes import make_availability

NOW = datetime(2021, 7, 1, 4, 30, tzinfo=UTC)
AV = make_availability(date(2021, 7, 1))
CENTRE = AV.centres[1]

_ids = [
    "menu:book",
    "menu:bookings",
    "menu:help",
    "menu:main",
    "lang:en",
    "lang:bn",
    "lang:hi",
    "vaccine:covishield",
    "vaccine:covaxin",
    "vaccine:sputnik_v",
    "vaccine:pfizer",
    "id:aadhaar",
    "id:pan",
    "id:nope",
    "centre:1",
    "centre:999",
    "centre:more",
    "centre:near",
    "centre:none",
    "area:city",
    "area:near",
    "centre:x",
    "day:2021-07-02",
    "day:2021-02-31",
    "day:x",
    "slot:1",
    "slot:99999",
    "slot:",
    "confirm:yes",
    "confirm:change",
    "confirm:no",
    "cancel:yes",
    "cancel:yes:KMC-4K7P2Q",
    "confirm:yes:1",
    "cancel:no",
    "cancel:KMC-4K7P2Q",
    "move:KMC-4K7P2Q",
    "forget:yes",
    "forget:no",
    "",
    "lang:fr",
]

texts = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "hi",
            "মেনু",
            "मदद",
            "back",
            "cancel",
            "2",
            "১",
            "10",
            "05-04-2021",
            "৫ এপ্রিল ২০২১",
            "31-02-2021",
            "Soumya Das",
            "\u200f\u202eRoxy",
            "\x00\x07",
            "😀" * 30,
            "a" * 10_000,
            "delete my data",
            "language",
            "my bookings",
            "Roxy",
            "234123412346",
        ]
    ),
)
coordinates = st.tuples(st.floats(-90, 90, allow_nan=False), st.floats(-180, 180, allow_nan=False))
contents = st.one_of(
    texts.map(Text),
    st.sampled_from(_ids).map(Choice),
    st.text(max_size=20).map(Choice),
    coordinates.map(lambda c: Location(*c)),
    st.sampled_from(list(MediaKind)).map(Media),
)


def _view(status: BookingStatus = BookingStatus.BOOKED) -> BookingView:
    return BookingView(
        "KMC-4K7P2Q",
        "0042",
        status,
        CENTRE,
        1,
        date(2021, 7, 2),
        time(10),
        time(12),
        Vaccine.COVISHIELD,
        date(2021, 4, 5),
        "aadhaar",
        "2346",
        "ম" * 60,
        "bn",
    )


results = st.one_of(
    st.builds(lambda: Booked(_view())),
    st.builds(lambda: Moved(_view())),
    st.just(Cancelled("KMC-4K7P2Q")),
    st.integers(0, 6).map(lambda n: BookingsListed(tuple(_view() for _ in range(n)))),
    st.just(Forgotten()),
    st.sampled_from(list(Refusal)).map(Refused),
)

drafts = st.builds(
    Draft,
    vaccine=st.sampled_from([None, *Vaccine]),
    first_dose=st.sampled_from([None, date(2021, 4, 5), date(2021, 1, 20), date(2021, 6, 20)]),
    id_type=st.sampled_from([None, "aadhaar", "pan"]),
    id_hash=st.sampled_from([None, "ab" * 32]),
    id_last4=st.sampled_from([None, "2346"]),
    name=st.sampled_from([None, "Soumya Das"]),
    centre_id=st.sampled_from([None, 1, 12, 13, 999]),
    day=st.sampled_from([None, date(2021, 7, 2), date(2021, 8, 30)]),
    slot_id=st.sampled_from([None, 1, 5, 99999]),
    moving_reference=st.sampled_from([None, "KMC-4K7P2Q"]),
    cancel_reference=st.sampled_from([None, "KMC-4K7P2Q"]),
    page=st.integers(0, 5),
    near=st.sampled_from([None, (22.57, 88.36)]),
    listed=st.sampled_from(
        [
            (),
            (
                Listed(
                    "KMC-4K7P2Q",
                    Vaccine.COVISHIELD,
                    date(2021, 4, 5),
                    "aadhaar",
                    "2346",
                    "0f3a9c2e1b7d4a56",
                ),
            ),
        ]
    ),
)
sessions = st.one_of(
    st.none(),
    st.builds(
        Session,
        state=st.sampled_from(list(State)),
        lang=st.sampled_from([None, *Lang]),
        updated_at=st.sampled_from([NOW, NOW - timedelta(minutes=10), NOW - timedelta(hours=2)]),
        draft=drafts,
        strikes=st.integers(0, 2),
        offered=st.lists(st.sampled_from(_ids), max_size=10).map(tuple),
    ),
)
# The availability is a constant (a drawn one would fill every failure report).
contexts = st.tuples(st.sampled_from([None, *Lang]), st.booleans())
events = st.one_of(
    st.builds(
        Inbound,
        wa_id=st.just("919830000001"),
        message_id=st.just("wamid.1"),
        sent_at=st.sampled_from([NOW, NOW - timedelta(minutes=5), NOW - timedelta(hours=3)]),
        content=contents,
    ),
    results,
)


def _normalise_draft(s: Session | None) -> Session | None:
    """The strategy draws ID types as plain strings: make them the enum the
    stored form gives back, so that round-trip equality is meaningful."""
    if s is None or s.draft.id_type is None:
        return s
    return replace(s, draft=replace(s.draft, id_type=IdType(s.draft.id_type)))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(session=sessions, event_list=st.lists(events, min_size=1, max_size=6), context=contexts)
def test_any_events_from_any_state_never_crash_and_stay_within_limits(
    session: Session | None, event_list: list, context: tuple[Lang | None, bool]
) -> None:
    ctx = Context(NOW, AV, b"pepper", *context)
    current = _normalise_draft(session)
    for event in event_list:
        outcome = step(current, event, ctx)
        for reply in outcome.replies:
            assert limits_violations(reply) == [], reply
        stored = json.loads(json.dumps(session_to_dict(outcome.session)))
        assert session_from_dict(stored) == outcome.session
        assert len(json.dumps(stored, ensure_ascii=False).encode()) < 2048
        current = outcome.session


def test_every_option_id_in_every_state_with_any_draft_never_crashes() -> None:
    """Exhaustive over states x option ids x a few drafts (empty ones included):
    an option offered with a half-empty draft must not trip the step."""
    ctx = Context(NOW, AV, b"pepper", Lang.EN, False)
    partial = [
        Draft(),
        Draft(vaccine=Vaccine.COVISHIELD),
        Draft(vaccine=Vaccine.COVISHIELD, first_dose=date(2021, 4, 5), centre_id=1),
        Draft(vaccine=Vaccine.COVAXIN, first_dose=date(2021, 6, 1), centre_id=1, day=NOW.date()),
    ]
    for state in State:
        for draft in partial:
            for lang in Lang:
                session = Session(state, lang, NOW, draft, offered=tuple(_ids[:20]))
                for option in _ids:
                    for content in (Choice(option), Text(option)):
                        msg = Inbound("919830000001", "wamid.1", NOW, content)
                        out = step(session, msg, ctx)
                        for reply in out.replies:
                            assert limits_violations(reply) == [], reply
                        session_from_dict(session_to_dict(out.session))
