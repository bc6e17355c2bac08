"""City-scale data for `kmcbot seed --city`: all of Kolkata, about 100,000 places a day.

Pure and deterministic: the same centres, coordinates and sessions every run
(a fixed random seed), so seeding twice changes nothing and a benchmark on
one machine meets the same city as on another.

* KMC's 16 boroughs and 144 wards (`BOROUGH_WARDS`). The grouping follows the
  shipped demo centres' boroughs and wards; it is plausible, not the gazette.
* Every ward has two health centres: the demo's (`centres.csv`) where it has
  one, and generated urban health centres (code `UHC-W<ward>-<n>`) for the
  rest. With the demo's five mega centres that is 293 centres.
* A ward's centre point: a demo centre's own coordinates where the ward has
  one, else a point on a small spiral (about 1 km apart, a ward's size: KMC's
  206 km² over 144 wards) around its borough's centre. Generated centres lie
  within about 300 m of their ward's point.
* Sessions: the demo centres keep the demo's (`demo.demo_slots`); a generated
  centre opens every day (a city-wide drive) with four 2-hour sessions of
  `CITY_CAPACITY` places. About 100,000 places a day in all.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import date, time, timedelta

from kmcbot.booking.model import Vaccine
from kmcbot.devtools.data.demo import (
    HEALTH_CENTRE,
    MEGA_SESSIONS,
    CentreRow,
    SlotRow,
    demo_slots,
    read_centres,
)

SEED = 2021  # the drive's year; any fixed number keeps the city the same
CENTRES_PER_WARD = 2  # health centres, the demo's counting
CITY_SESSIONS: tuple[tuple[time, time], ...] = MEGA_SESSIONS  # 09-11, 11-13, 13-15, 15-17
CITY_CAPACITY = 90  # places per session at a generated centre: 360 a day
GENERATED_PREFIX = "UHC-W"
WARD_SPACING_DEG = 0.009  # about 1 km
CENTRE_JITTER_DEG = 0.003  # about 300 m

BOROUGH_WARDS: dict[int, tuple[int, ...]] = {
    1: (*range(1, 10),),
    2: (10, 11, *range(15, 21)),
    3: (12, 13, 14, *range(29, 36)),
    4: (*range(21, 29), 38, 39),
    5: (36, 37, *range(40, 46), 48, 49, 50),
    6: (46, 47, *range(51, 56), 60, 61, 62),
    7: (*range(56, 60), *range(63, 68)),
    8: (*range(68, 74), *range(84, 89)),
    9: (*range(74, 81), 82, 83),
    10: (81, *range(89, 99)),
    11: (99, 100, *range(110, 115)),
    12: (*range(101, 110),),
    13: (*range(115, 123),),
    14: (*range(126, 133),),
    15: (*range(133, 142),),
    16: (123, 124, 125, 142, 143, 144),
}

# Each borough's rough middle (latitude, longitude), north to south.
BOROUGH_CENTRES: dict[int, tuple[float, float]] = {
    1: (22.628, 88.377),  # Cossipore, Sinthee, Bagbazar
    2: (22.601, 88.368),  # Shyambazar, Kumartuli
    3: (22.580, 88.392),  # Ultadanga, Maniktala, Beleghata
    4: (22.585, 88.360),  # Jorasanko, Hedua
    5: (22.570, 88.356),  # Rajabazar, Bowbazar, Burrabazar
    6: (22.556, 88.355),  # Esplanade, Taltala
    7: (22.543, 88.378),  # Park Street, Tangra, Topsia
    8: (22.520, 88.350),  # Kalighat, Lake Market
    9: (22.528, 88.325),  # Alipore, Watgunge, Chetla
    10: (22.495, 88.360),  # Tollygunge, Jadavpur
    11: (22.470, 88.382),  # Naktala, Garia
    12: (22.503, 88.400),  # Kasba, Mukundapur
    13: (22.492, 88.315),  # Behala, Sirity
    14: (22.500, 88.298),  # Parnasree
    15: (22.543, 88.283),  # Garden Reach, Metiabruz
    16: (22.465, 88.302),  # Barisha, Joka
}

LOCALITY = "Kolkata"


def ward_borough() -> dict[int, int]:
    return {w: b for b, wards in BOROUGH_WARDS.items() for w in wards}


def ward_points(demo: Iterable[CentreRow]) -> dict[int, tuple[float, float]]:
    """Each ward's centre point: a demo health centre's, else a spiral step from its borough's."""
    known = {c.ward: (c.latitude, c.longitude) for c in demo if c.kind == HEALTH_CENTRE}
    points: dict[int, tuple[float, float]] = {}
    for borough, wards in BOROUGH_WARDS.items():
        lat0, lon0 = BOROUGH_CENTRES[borough]
        for i, ward in enumerate(wards):
            # Vogel's spiral: evenly spread points, about one spacing apart.
            r, angle = WARD_SPACING_DEG * math.sqrt(i), i * math.pi * (3 - math.sqrt(5))
            points[ward] = known.get(ward, (lat0 + r * math.sin(angle), lon0 + r * math.cos(angle)))
    return points


def city_centres(demo: list[CentreRow] | None = None) -> list[CentreRow]:
    """The demo centres, then generated ones: every ward with `CENTRES_PER_WARD` health centres."""
    demo = read_centres() if demo is None else demo
    rng = random.Random(SEED)
    points = ward_points(demo)
    have = {ward: 0 for ward in points}
    for c in demo:
        if c.kind == HEALTH_CENTRE:
            have[c.ward] += 1
    made: list[CentreRow] = []
    for ward, borough in sorted(ward_borough().items()):
        lat, lon = points[ward]
        for n in range(have[ward] + 1, CENTRES_PER_WARD + 1):
            both = rng.random() < 0.3  # some centres give Covaxin too; all give Covishield
            made.append(
                CentreRow(
                    code=f"{GENERATED_PREFIX}{ward:03d}-{n}",
                    name=f"UHC Ward {ward} No. {n}",
                    kind=HEALTH_CENTRE,
                    borough=borough,
                    ward=ward,
                    address=f"Urban Health Centre {n}, Ward {ward}, Borough {borough}, {LOCALITY}",
                    latitude=round(lat + rng.uniform(-CENTRE_JITTER_DEG, CENTRE_JITTER_DEG), 5),
                    longitude=round(lon + rng.uniform(-CENTRE_JITTER_DEG, CENTRE_JITTER_DEG), 5),
                    vaccines=(Vaccine.COVISHIELD, Vaccine.COVAXIN)
                    if both
                    else (Vaccine.COVISHIELD,),
                )
            )
    return [*demo, *made]


def is_generated(centre: CentreRow) -> bool:
    return centre.code.startswith(GENERATED_PREFIX)


def city_slots(centres: Iterable[CentreRow], today: date, days: int = 14) -> list[SlotRow]:
    """The demo's sessions for the demo's centres; four big ones a day at the generated ones."""
    centres = list(centres)
    slots = demo_slots([c for c in centres if not is_generated(c)], today, days)
    for offset in range(days):
        day = today + timedelta(days=offset)
        for c in filter(is_generated, centres):
            for number, (start, end) in enumerate(CITY_SESSIONS):
                vaccine = c.vaccines[(number + day.toordinal()) % len(c.vaccines)]
                slots.append(SlotRow(c.code, vaccine, day, start, end, CITY_CAPACITY))
    return slots
