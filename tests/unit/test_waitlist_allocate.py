"""The waitlist's allocation (kmcbot/waitlist/allocate.py), a pure function:
no place offered beyond its free places, the documented order kept, holds that
ran out expired, and no citizen holding two offers."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kmcbot.waitlist.allocate import (
    MIN_HOLD,
    Area,
    Entry,
    Live,
    Place,
    Plan,
    allocate,
    hold_for,
    order_key,
    suits,
)

NOW = datetime(2021, 7, 1, 14, 30, tzinfo=UTC)
DAY0 = date(2021, 7, 2)
HOLD = timedelta(hours=1)
VACCINES = ("covishield", "covaxin")


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Entry], list[Place], list[Live], frozenset]:
    n_places = draw(st.integers(0, 8))
    places = [
        Place(
            slot_id=i + 1,
            vaccine=draw(st.sampled_from(VACCINES)),
            day=DAY0 + timedelta(days=draw(st.integers(0, 4))),
            starts_at=NOW
            + timedelta(hours=draw(st.integers(0, 120)), minutes=draw(st.integers(0, 59))),
            free=draw(st.integers(0, 4)),
            borough=draw(st.sampled_from([None, 1, 2])),
            latitude=22.5 + draw(st.integers(0, 10)) / 100,
            longitude=88.3 + draw(st.integers(0, 10)) / 100,
        )
        for i in range(n_places)
    ]
    # The day and the start agree as in slots: day from starts_at.
    places = [
        Place(
            p.slot_id,
            p.vaccine,
            p.starts_at.date(),
            p.starts_at,
            p.free,
            p.borough,
            p.latitude,
            p.longitude,
        )
        for p in places
    ]
    n_entries = draw(st.integers(0, 25))
    entries = []
    for i in range(n_entries):
        area = draw(
            st.sampled_from(
                [None, Area(borough=1), Area(borough=2), Area(near=(22.55, 88.35), radius_km=3.0)]
            )
        )
        entries.append(
            Entry(
                id=i + 1,
                citizen=f"c{draw(st.integers(0, 12))}",
                vaccine=draw(st.sampled_from(VACCINES)),
                earliest=DAY0 + timedelta(days=draw(st.integers(-3, 5))),
                joined_at=NOW - timedelta(minutes=draw(st.integers(0, 5))),
                area=area,
            )
        )
    live = []
    citizens_live: set[str] = set()
    for e in entries:
        if places and draw(st.integers(0, 4)) == 0 and e.citizen not in citizens_live:
            citizens_live.add(e.citizen)
            live.append(
                Live(
                    id=1000 + e.id,
                    entry_id=e.id,
                    citizen=e.citizen,
                    slot_id=draw(st.sampled_from(places)).slot_id,
                    expires_at=NOW + timedelta(minutes=draw(st.integers(-30, 30))),
                )
            )
    before = frozenset(
        (e.id, p.slot_id) for e in entries for p in places if draw(st.integers(0, 9)) == 0
    )
    return entries, places, live, before


def _run(world: tuple[list[Entry], list[Place], list[Live], frozenset]) -> Plan:
    entries, places, live, before = world
    return allocate(entries, places, live, NOW, HOLD, before)


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_no_place_is_offered_twice(world) -> None:
    entries, places, live, _ = world
    plan = _run(world)
    back = Counter(o.slot_id for o in live if o.expires_at <= NOW)
    made = Counter(o.slot_id for o in plan.make)
    for p in places:
        assert made[p.slot_id] <= p.free + back[p.slot_id]
    assert set(made) <= {p.slot_id for p in places}


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_a_citizen_never_holds_two_offers(world) -> None:
    _, _, live, _ = world
    plan = _run(world)
    still = [o.citizen for o in live if o.expires_at > NOW]
    holders = still + [o.citizen for o in plan.make]
    assert len(holders) == len(set(holders))


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_holds_that_ran_out_expire_and_new_ones_are_bounded(world) -> None:
    _, places, live, _ = world
    plan = _run(world)
    assert set(plan.expire) == {o.id for o in live if o.expires_at <= NOW}
    starts = {p.slot_id: p.starts_at for p in places}
    for o in plan.make:
        assert NOW < o.expires_at <= NOW + HOLD
        # Never more than a quarter of the time left before the session.
        assert o.expires_at - NOW <= (starts[o.slot_id] - NOW) / 4


@settings(max_examples=400, deadline=None)
@given(worlds())
def test_the_order_is_kept_earliest_due_then_first_joined(world) -> None:
    """Whoever got a place, everyone before her in the order who could have
    taken it got an offer too, of a place starting no later (or holds one)."""
    entries, places, live, before = world
    plan = _run(world)
    by_slot = {p.slot_id: p for p in places}
    offer_of = {o.entry_id: o for o in plan.make}
    holding = {o.citizen for o in live if o.expires_at > NOW} | {o.citizen for o in plan.make}
    busy = {o.entry_id for o in live if o.expires_at > NOW}
    ordered = sorted(entries, key=order_key)
    for rank, b in enumerate(ordered):
        got = offer_of.get(b.id)
        if got is None:
            continue
        place = by_slot[got.slot_id]
        for a in ordered[:rank]:
            if a.id in busy or not suits(a, place) or (a.id, place.slot_id) in before:
                continue
            if a.id in offer_of:
                mine = by_slot[offer_of[a.id].slot_id]
                assert (mine.starts_at, mine.slot_id) <= (place.starts_at, place.slot_id)
            else:
                assert a.citizen in holding, (a, b)


def test_an_entry_is_offered_the_earliest_place_that_suits() -> None:
    late = Place(1, "covishield", DAY0, NOW + timedelta(hours=20), 1)
    early = Place(2, "covishield", DAY0, NOW + timedelta(hours=18), 1)
    wrong = Place(3, "covaxin", DAY0, NOW + timedelta(hours=17), 5)
    e = Entry(1, "c1", "covishield", DAY0, NOW)
    plan = allocate([e], [late, early, wrong], [], NOW, HOLD)
    assert [(o.entry_id, o.slot_id) for o in plan.make] == [(1, 2)]


def test_the_earliest_due_date_goes_first_then_the_first_to_join() -> None:
    place = Place(1, "covishield", DAY0 + timedelta(days=3), NOW + timedelta(days=3), 2)
    first_joined = Entry(1, "a", "covishield", DAY0, NOW - timedelta(hours=5))
    due_earlier = Entry(2, "b", "covishield", DAY0 - timedelta(days=1), NOW)
    joined_later = Entry(3, "c", "covishield", DAY0, NOW - timedelta(hours=1))
    plan = allocate([joined_later, first_joined, due_earlier], [place], [], NOW, HOLD)
    assert [o.entry_id for o in plan.make] == [2, 1]


def test_a_place_before_the_due_date_is_not_offered() -> None:
    place = Place(1, "covishield", DAY0, NOW + timedelta(hours=20), 1)
    e = Entry(1, "c1", "covishield", DAY0 + timedelta(days=1), NOW)
    assert allocate([e], [place], [], NOW, HOLD).make == ()


def test_an_expired_hold_passes_the_place_to_the_next_citizen() -> None:
    place = Place(7, "covishield", DAY0, NOW + timedelta(hours=20), 0)
    first = Entry(1, "a", "covishield", DAY0, NOW - timedelta(hours=2))
    second = Entry(2, "b", "covishield", DAY0, NOW - timedelta(hours=1))
    live = [Live(50, 1, "a", 7, NOW - timedelta(seconds=1))]
    plan = allocate([first, second], [place], live, NOW, HOLD, frozenset({(1, 7)}))
    assert plan.expire == (50,)
    assert [(o.entry_id, o.slot_id) for o in plan.make] == [(2, 7)]


def test_the_hold_is_shorter_when_the_session_is_close() -> None:
    assert hold_for(NOW, NOW + timedelta(hours=12), HOLD) == HOLD
    assert hold_for(NOW, NOW + timedelta(hours=2), HOLD) == timedelta(minutes=30)
    assert hold_for(NOW, NOW + timedelta(minutes=40), HOLD) == MIN_HOLD
    assert hold_for(NOW, NOW + timedelta(minutes=39), HOLD) is None
    # A short hold (a test's) is its own minimum.
    assert hold_for(NOW, NOW + timedelta(hours=1), timedelta(seconds=3)) == timedelta(seconds=3)


def test_an_area_limits_the_places_offered() -> None:
    far = Place(
        1,
        "covishield",
        DAY0,
        NOW + timedelta(hours=20),
        1,
        borough=2,
        latitude=22.65,
        longitude=88.45,
    )
    e = Entry(1, "c1", "covishield", DAY0, NOW, Area(near=(22.55, 88.35), radius_km=3))
    assert allocate([e], [far], [], NOW, HOLD).make == ()
    e2 = Entry(2, "c2", "covishield", DAY0, NOW, Area(borough=2))
    assert [o.entry_id for o in allocate([e, e2], [far], [], NOW, HOLD).make] == [2]
