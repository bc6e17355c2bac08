"""Read the centres CSV and derive demo sessions from it. Pure apart from reading the file.

The CSV (`centres.csv` next to this module, or an operator's own file for
`kmcbot seed --file`) has exactly these columns:

    code,name,kind,borough,ward,address,latitude,longitude,vaccines

`kind` is `mega` or `health_centre`; `vaccines` is a `;`-separated subset of
`covishield;covaxin;sputnik_v`. A bad row raises ValueError naming its line.

Demo sessions (`demo_slots`), one vaccine per session:

* mega centres: 09:00-11:00, 11:00-13:00, 13:00-15:00, 15:00-17:00, 200
  places each, every day;
* health centres: 10:00-12:00 and 12:00-14:00, 50 places each, closed on
  Sundays.

A centre that gives several vaccines splits its day between them: session
number i (0 = the first of the day) on `day` gives
`vaccines[(i + day.toordinal()) % len(vaccines)]`, vaccines in the CSV's
order. With two vaccines the sessions alternate, and which vaccine gets the
morning alternates from one day to the next; every vaccine a centre lists is
given there every day it is open when it has at least as many sessions as
vaccines. The rule depends on the date only, never on the day seeding ran,
so seeding again tomorrow yields the same vaccine for the same session.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path

from kmcbot.booking.model import Vaccine

CENTRES_CSV = Path(__file__).with_name("centres.csv")
COLUMNS = (
    "code",
    "name",
    "kind",
    "borough",
    "ward",
    "address",
    "latitude",
    "longitude",
    "vaccines",
)
MEGA = "mega"
HEALTH_CENTRE = "health_centre"
KINDS = (MEGA, HEALTH_CENTRE)
BOROUGHS = range(1, 17)  # KMC's 16 boroughs
WARDS = range(1, 145)  # and its 144 wards

# A generous box around Kolkata: a centre outside it is a typo, most often
# latitude and longitude swapped (88.36, 22.54).
LATITUDES = (22.30, 22.80)
LONGITUDES = (88.15, 88.60)

MAX_NAME = 120
MAX_ADDRESS = 300
_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")

MEGA_SESSIONS = (
    (time(9), time(11)),
    (time(11), time(13)),
    (time(13), time(15)),
    (time(15), time(17)),
)
MEGA_CAPACITY = 200
HEALTH_CENTRE_SESSIONS = ((time(10), time(12)), (time(12), time(14)))
HEALTH_CENTRE_CAPACITY = 50
SUNDAY = 6  # date.weekday()


@dataclass(frozen=True, slots=True)
class CentreRow:
    code: str
    name: str
    kind: str  # MEGA or HEALTH_CENTRE
    borough: int
    ward: int
    address: str
    latitude: float
    longitude: float
    vaccines: tuple[Vaccine, ...]  # in the CSV's order, no repeats, at least one


@dataclass(frozen=True, slots=True)
class SlotRow:
    centre_code: str
    vaccine: Vaccine
    day: date
    start: time
    end: time
    capacity: int


def read_centres(path: Path | str = CENTRES_CSV) -> list[CentreRow]:
    """Parse and validate a centres CSV file; ValueError names the file, line and problem."""
    # utf-8-sig: a spreadsheet's byte order mark is not part of the first column name.
    with Path(path).open(newline="", encoding="utf-8-sig") as fh:
        try:
            return parse_centres(fh, str(path))
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not UTF-8 text; save it as CSV UTF-8") from None


def parse_centres(lines: Iterable[str], source: str = "CSV") -> list[CentreRow]:
    """Parse and validate centres CSV text; ValueError names `source`, the line and problem."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ValueError(f"{source}, line 1: {exc}") from None
    if header is None or tuple(h.strip().lstrip("\ufeff") for h in header) != COLUMNS:
        raise ValueError(f"{source}, line 1: the header must be exactly {','.join(COLUMNS)}")
    centres: list[CentreRow] = []
    first_line: dict[str, int] = {}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ValueError(f"{source}, line {reader.line_num}: {exc}") from None
        line = reader.line_num
        if not any(f.strip() for f in fields):
            continue  # a blank line
        try:
            centre = parse_row(fields)
        except ValueError as exc:
            raise ValueError(f"{source}, line {line}: {exc}") from None
        if centre.code in first_line:
            raise ValueError(
                f"{source}, line {line}: code {centre.code} is already used on line "
                f"{first_line[centre.code]}"
            )
        first_line[centre.code] = line
        centres.append(centre)
    if not centres:
        raise ValueError(f"{source}: no centres")
    return centres


def parse_row(fields: Sequence[str]) -> CentreRow:
    if len(fields) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} fields, found {len(fields)}")
    raw = dict(zip(COLUMNS, (f.strip() for f in fields), strict=True))
    code = raw["code"]
    if not _CODE.fullmatch(code):
        raise ValueError(f"code {code!r} must be 1-32 capital letters, digits or hyphens")
    for column, longest in (("name", MAX_NAME), ("address", MAX_ADDRESS)):
        if not raw[column]:
            raise ValueError(f"{column} is empty")
        # A NUL would reach PostgreSQL (which refuses it); no control character
        # belongs in a centre's name or address shown to citizens.
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw[column]):
            raise ValueError(f"{column} holds a control character")
        if len(raw[column]) > longest:
            raise ValueError(f"{column} is over {longest} characters")
    if raw["kind"] not in KINDS:
        raise ValueError(f"kind {raw['kind']!r} must be one of {', '.join(KINDS)}")
    return CentreRow(
        code=code,
        name=raw["name"],
        kind=raw["kind"],
        borough=_integer(raw, "borough", BOROUGHS),
        ward=_integer(raw, "ward", WARDS),
        address=raw["address"],
        latitude=_degrees(raw, "latitude", LATITUDES),
        longitude=_degrees(raw, "longitude", LONGITUDES),
        vaccines=_vaccines(raw["vaccines"]),
    )


def _integer(raw: dict[str, str], column: str, allowed: range) -> int:
    try:
        value = int(raw[column])
    except ValueError:
        raise ValueError(f"{column} {raw[column]!r} is not a whole number") from None
    if value not in allowed:
        raise ValueError(f"{column} {value} is not between {allowed.start} and {allowed.stop - 1}")
    return value


def _degrees(raw: dict[str, str], column: str, bounds: tuple[float, float]) -> float:
    try:
        value = float(raw[column])
    except ValueError:
        raise ValueError(f"{column} {raw[column]!r} is not a number") from None
    low, high = bounds
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(
            f"{column} {raw[column]} is outside Kolkata ({low}-{high}); "
            "are latitude and longitude swapped?"
        )
    return value


def _vaccines(text: str) -> tuple[Vaccine, ...]:
    if not text:
        raise ValueError("vaccines is empty")
    names = [name.strip() for name in text.split(";")]
    known = ", ".join(v.value for v in Vaccine)
    vaccines: list[Vaccine] = []
    for name in names:
        try:
            vaccine = Vaccine(name)
        except ValueError:
            raise ValueError(f"vaccine {name!r} must be one of {known}") from None
        if vaccine in vaccines:
            raise ValueError(f"vaccine {name} is listed twice")
        vaccines.append(vaccine)
    return tuple(vaccines)


def demo_slots(centres: Iterable[CentreRow], today: date, days: int = 14) -> list[SlotRow]:
    """Sessions for `days` days from `today` (inclusive), by day, then centre, then time."""
    if days < 0:
        raise ValueError("days must not be negative")
    centres = list(centres)
    slots: list[SlotRow] = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        for centre in centres:
            slots.extend(_sessions(centre, day))
    return slots


def _sessions(centre: CentreRow, day: date) -> list[SlotRow]:
    sessions: tuple[tuple[time, time], ...]
    if centre.kind == MEGA:
        sessions, capacity = MEGA_SESSIONS, MEGA_CAPACITY
    elif day.weekday() == SUNDAY:
        return []
    else:
        sessions, capacity = HEALTH_CENTRE_SESSIONS, HEALTH_CENTRE_CAPACITY
    vaccines = centre.vaccines
    return [
        SlotRow(
            centre_code=centre.code,
            vaccine=vaccines[(number + day.toordinal()) % len(vaccines)],
            day=day,
            start=start,
            end=end,
            capacity=capacity,
        )
        for number, (start, end) in enumerate(sessions)
    ]
