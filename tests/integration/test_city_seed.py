"""`kmcbot seed --city` against real PostgreSQL: all of Kolkata, and safe to run twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date

import asyncpg

from kmcbot.devtools.data.city import (
    BOROUGH_WARDS,
    CITY_CAPACITY,
    city_centres,
    city_slots,
    is_generated,
    ward_borough,
)
from kmcbot.devtools.data.demo import LATITUDES, LONGITUDES, read_centres
from kmcbot.devtools.seed import seed_city

MONDAY = date(2026, 12, 7)


def test_16_boroughs_hold_the_144_wards_each_once() -> None:
    wards = [w for ws in BOROUGH_WARDS.values() for w in ws]
    assert sorted(BOROUGH_WARDS) == list(range(1, 17))
    assert sorted(wards) == list(range(1, 145))


def test_the_city_keeps_the_demo_centres_and_covers_every_ward_twice() -> None:
    demo = read_centres()
    centres = city_centres(demo)
    assert centres[: len(demo)] == demo
    assert 280 <= len(centres) <= 320
    assert len({c.code for c in centres}) == len(centres)
    health = Counter(c.ward for c in centres if c.kind == "health_centre")
    assert set(health.values()) == {2} and len(health) == 144
    boroughs = ward_borough()
    assert all(boroughs[c.ward] == c.borough for c in centres)


def test_generated_centres_lie_in_kolkata_near_their_ward() -> None:
    centres = city_centres()
    by_ward: dict[int, list] = {}
    for c in centres:
        assert LATITUDES[0] <= c.latitude <= LATITUDES[1]
        assert LONGITUDES[0] <= c.longitude <= LONGITUDES[1]
        by_ward.setdefault(c.ward, []).append(c)
    for ward, found in by_ward.items():
        hcs = [c for c in found if c.kind == "health_centre"]
        lat = [c.latitude for c in hcs]
        lon = [c.longitude for c in hcs]
        # Two centres of one ward within ~1 km of each other (a ward is ~1.2 km across).
        assert max(lat) - min(lat) < 0.01 and max(lon) - min(lon) < 0.01, ward


def test_the_city_is_the_same_every_time() -> None:
    assert city_centres() == city_centres()
    assert city_slots(city_centres(), MONDAY) == city_slots(city_centres(), MONDAY)


def test_about_100000_places_a_day_for_14_days() -> None:
    slots = city_slots(city_centres(), MONDAY, 14)
    places = Counter()
    for s in slots:
        places[s.day] += s.capacity
    assert len(places) == 14
    assert all(95_000 <= n <= 105_000 for n in places.values()), places
    generated = [s for s in slots if s.centre_code.startswith("UHC-W")]
    assert {s.capacity for s in generated} == {CITY_CAPACITY}
    assert any(is_generated(c) for c in city_centres())


async def counts(url: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM centres) AS c, count(*) AS s, sum(capacity) AS p "
            "FROM slots"
        )
    finally:
        await conn.close()
    return int(row["c"]), int(row["s"]), int(row["p"])


async def test_seed_city_loads_the_city_and_changes_nothing_the_second_time(
    pg_url: str,
) -> None:
    centres, added = await seed_city(pg_url, MONDAY, 14)
    expected = city_slots(city_centres(), MONDAY, 14)
    assert centres == len(city_centres())
    assert added == len(expected)
    first = await counts(pg_url)
    assert first == (centres, len(expected), sum(s.capacity for s in expected))
    assert first[2] >= 14 * 95_000

    assert await seed_city(pg_url, MONDAY, 14) == (centres, 0)
    assert await counts(pg_url) == first


def test_the_command_seeds_the_city_twice(pg_url: str) -> None:
    env = os.environ | {"KMCBOT_DATABASE_URL": pg_url, "KMCBOT_REDIS_URL": "redis://127.0.0.1:1"}
    env.pop("KMCBOT_DEV", None)
    argv = [sys.executable, "-m", "kmcbot", "seed", "--city", "--days", "2"]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"{len(city_centres())} centres, ")
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{len(city_centres())} centres, 0 new slots"
