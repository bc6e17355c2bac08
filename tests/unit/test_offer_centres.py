"""Which centres have places: the listing's shortcut (look at each centre's last slot)
against the walk over every slot it replaced, on any snapshot and at any time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kmcbot.booking.availability import Availability
from kmcbot.booking.model import IST, Centre, Slot, Vaccine
from kmcbot.dialogue import offer

TODAY = date(2026, 12, 7)
CENTRES = {
    i: Centre(
        id=i,
        code=f"C{i}",
        name=f"Centre {i}",
        address="Kolkata",
        ward=i,
        latitude=22.5,
        longitude=88.35,
    )
    for i in range(1, 6)
}
STARTS = [time(h) for h in (9, 10, 11, 12, 13, 15)]

slot_rows = st.lists(
    st.tuples(
        st.sampled_from(sorted(CENTRES)),
        st.sampled_from(list(Vaccine)),
        st.integers(-1, 4),  # days from today
        st.sampled_from(STARTS),
        st.integers(0, 3),  # places left (0: full, left out of the index)
    ),
    max_size=40,
)


def snapshot(rows: list[tuple[int, Vaccine, int, time, int]]) -> Availability:
    slots = [
        Slot(n, centre, vaccine, TODAY + timedelta(days=d), start, time(start.hour + 1), free)
        for n, (centre, vaccine, d, start, free) in enumerate(rows)
    ]
    slots.sort(key=lambda s: (s.day, s.start, s.centre_id))  # as the snapshot's query orders
    return Availability(CENTRES, tuple(slots))


@settings(max_examples=300, deadline=None)
@given(
    rows=slot_rows,
    vaccine=st.sampled_from(list(Vaccine)),
    since_days=st.integers(-2, 5),
    minutes=st.integers(8 * 60, 16 * 60),  # the clock in Kolkata today
)
def test_the_listed_centres_are_those_with_an_open_slot(
    rows: list, vaccine: Vaccine, since_days: int, minutes: int
) -> None:
    av = snapshot(rows)
    since = TODAY + timedelta(days=since_days)
    now = datetime.combine(TODAY, time(minutes // 60, minutes % 60), IST).astimezone(UTC)
    listed = [c.id for c, _ in offer.centres(av, vaccine, since, now, None)]
    walked = [i for i in CENTRES if offer.days(av, vaccine, since, now, i)]
    assert sorted(listed) == sorted(walked)
    # A pick of the list is checked with has_open, one centre at a time: the same answer.
    assert [i for i in CENTRES if offer.has_open(av, vaccine, since, now, i)] == sorted(listed)
    assert not offer.has_open(av, vaccine, since, now, max(CENTRES) + 1)  # no such centre


def test_a_centre_whose_last_session_today_has_started_is_not_listed() -> None:
    av = snapshot([(1, Vaccine.COVISHIELD, 0, time(9), 5), (1, Vaccine.COVISHIELD, 0, time(11), 5)])
    at = datetime.combine(TODAY, time(10, 30), IST)
    assert [c.id for c, _ in offer.centres(av, Vaccine.COVISHIELD, TODAY, at, None)] == [1]
    later = datetime.combine(TODAY, time(11, 0), IST)
    assert offer.centres(av, Vaccine.COVISHIELD, TODAY, later, None) == []
