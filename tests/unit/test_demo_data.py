"""The shipped centres CSV and the demo sessions derived from it."""

from __future__ import annotations

from collections import Counter
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from kmcbot.booking.model import Vaccine
from kmcbot.devtools.data.demo import (
    CENTRES_CSV,
    HEALTH_CENTRE,
    MEGA,
    CentreRow,
    SlotRow,
    demo_slots,
    read_centres,
)

MEGA_CENTRES = {"ROXY", "BSU", "SCS", "SXC", "QUEST"}
HEADER = "code,name,kind,borough,ward,address,latitude,longitude,vaccines\n"
GOOD_ROW = (
    'UPHC-B07-W58,UPHC Ward 58 Tangra,health_centre,7,58,"Tangra, Kolkata",22.55,88.39,covishield\n'
)
MONDAY = date(2021, 6, 7)


@pytest.fixture(scope="module")
def centres() -> list[CentreRow]:
    return read_centres(CENTRES_CSV)


def write_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "centres.csv"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the shipped CSV


def test_the_shipped_csv_parses_into_at_least_27_centres(centres: list[CentreRow]) -> None:
    assert len(centres) >= 27
    assert all(isinstance(c, CentreRow) for c in centres)


def test_the_five_second_dose_mega_centres_are_there(centres: list[CentreRow]) -> None:
    mega = {c.code for c in centres if c.kind == MEGA}
    assert mega == MEGA_CENTRES


def test_at_least_22_health_centres_cover_all_16_boroughs(centres: list[CentreRow]) -> None:
    health = [c for c in centres if c.kind == HEALTH_CENTRE]
    assert len(health) >= 22
    assert {c.borough for c in health} == set(range(1, 17))


def test_every_centre_lies_within_kolkata(centres: list[CentreRow]) -> None:
    for c in centres:
        assert 22.45 <= c.latitude <= 22.65, c.code
        assert 88.28 <= c.longitude <= 88.45, c.code


def test_codes_are_unique(centres: list[CentreRow]) -> None:
    assert len({c.code for c in centres}) == len(centres)


def test_health_centre_codes_name_their_borough_and_ward(centres: list[CentreRow]) -> None:
    for c in centres:
        if c.kind == HEALTH_CENTRE:
            assert c.code == f"UPHC-B{c.borough:02d}-W{c.ward:02d}"


def test_every_vaccine_is_given_somewhere_and_covishield_mostly(
    centres: list[CentreRow],
) -> None:
    given = Counter(v for c in centres for v in c.vaccines)
    assert set(given) == set(Vaccine)
    assert given[Vaccine.COVISHIELD] > given[Vaccine.COVAXIN] > given[Vaccine.SPUTNIK_V]
    assert 2 <= given[Vaccine.SPUTNIK_V] <= 3


def test_names_fit_a_whatsapp_list_row_title(centres: list[CentreRow]) -> None:
    assert all(len(c.name) <= 24 for c in centres)


def test_addresses_are_in_kolkata_with_a_pin_code(centres: list[CentreRow]) -> None:
    for c in centres:
        assert "Kolkata 700" in c.address, c.code


# ---------------------------------------------------------------- validation


def test_a_file_with_a_good_row_parses(tmp_path: Path) -> None:
    (centre,) = read_centres(write_csv(tmp_path, HEADER + GOOD_ROW))
    assert centre == CentreRow(
        code="UPHC-B07-W58",
        name="UPHC Ward 58 Tangra",
        kind=HEALTH_CENTRE,
        borough=7,
        ward=58,
        address="Tangra, Kolkata",
        latitude=22.55,
        longitude=88.39,
        vaccines=(Vaccine.COVISHIELD,),
    )


def test_a_spreadsheet_byte_order_mark_and_blank_lines_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "centres.csv"
    path.write_bytes(("\ufeff" + HEADER + "\n" + GOOD_ROW + "\n").encode())
    assert [c.code for c in read_centres(path)] == ["UPHC-B07-W58"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('X1,Name,mega,1,1,"Addr",22.5,88.3,covishield,extra\n', "expected 9 fields"),
        ('x-1,Name,mega,1,1,"Addr",22.5,88.3,covishield\n', "code"),
        ('X1,,mega,1,1,"Addr",22.5,88.3,covishield\n', "name is empty"),
        ('X1,Name,hospital,1,1,"Addr",22.5,88.3,covishield\n', "kind"),
        ('X1,Name,mega,17,1,"Addr",22.5,88.3,covishield\n', "borough 17"),
        ('X1,Name,mega,1,two,"Addr",22.5,88.3,covishield\n', "ward"),
        ('X1,Name,mega,1,1,"",22.5,88.3,covishield\n', "address is empty"),
        ('X1,Name,mega,1,1,"Addr",88.3,22.5,covishield\n', "swapped"),
        ('X1,Name,mega,1,1,"Addr",nan,88.3,covishield\n', "latitude"),
        ('X1,Name,mega,1,1,"Addr",22.5,88.3,pfizer\n', "vaccine 'pfizer'"),
        ('X1,Name,mega,1,1,"Addr",22.5,88.3,covaxin;covaxin\n', "listed twice"),
        ('X1,Name,mega,1,1,"Addr",22.5,88.3,\n', "vaccines is empty"),
    ],
)
def test_a_bad_row_raises_naming_its_line(tmp_path: Path, row: str, reason: str) -> None:
    path = write_csv(tmp_path, HEADER + GOOD_ROW + row)
    with pytest.raises(ValueError, match="line 3") as error:
        read_centres(path)
    assert reason in str(error.value)
    assert str(path) in str(error.value)


def test_a_duplicate_code_names_both_lines(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line 3: code UPHC-B07-W58 is already used on line 2"):
        read_centres(write_csv(tmp_path, HEADER + GOOD_ROW + GOOD_ROW))


def test_a_wrong_header_is_refused_on_line_1(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line 1: the header must be exactly"):
        read_centres(write_csv(tmp_path, HEADER.replace("ward", "wards") + GOOD_ROW))


def test_a_file_without_centres_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no centres"):
        read_centres(write_csv(tmp_path, HEADER))


# ---------------------------------------------------------------- demo slots


def test_fourteen_days_of_slots_cover_every_centre(centres: list[CentreRow]) -> None:
    slots = demo_slots(centres, MONDAY)
    assert all(isinstance(s, SlotRow) for s in slots)
    assert {s.day for s in slots} == {MONDAY + timedelta(days=n) for n in range(14)}
    assert {s.centre_code for s in slots} == {c.code for c in centres}
    mega = sum(c.kind == MEGA for c in centres)
    health = len(centres) - mega
    # 14 days hold 2 Sundays, when health centres are closed.
    assert len(slots) == 14 * mega * 4 + 12 * health * 2


def test_mega_centres_run_four_sessions_of_200_every_day(centres: list[CentreRow]) -> None:
    slots = [s for s in demo_slots(centres, MONDAY) if s.centre_code == "ROXY"]
    assert len(slots) == 14 * 4
    for day in {s.day for s in slots}:
        sessions = [(s.start, s.end, s.capacity) for s in slots if s.day == day]
        assert sessions == [
            (time(9), time(11), 200),
            (time(11), time(13), 200),
            (time(13), time(15), 200),
            (time(15), time(17), 200),
        ]


def test_health_centres_run_two_sessions_of_50_and_close_on_sundays(
    centres: list[CentreRow],
) -> None:
    slots = [s for s in demo_slots(centres, MONDAY) if s.centre_code == "UPHC-B07-W58"]
    assert all(s.day.weekday() != 6 for s in slots)
    assert len({s.day for s in slots}) == 12
    for day in {s.day for s in slots}:
        sessions = [(s.start, s.end, s.capacity) for s in slots if s.day == day]
        assert sessions == [(time(10), time(12), 50), (time(12), time(14), 50)]


def test_every_slot_gives_one_of_its_centres_vaccines(centres: list[CentreRow]) -> None:
    by_code = {c.code: c for c in centres}
    slots = demo_slots(centres, MONDAY)
    for s in slots:
        assert s.vaccine in by_code[s.centre_code].vaccines
    assert {s.vaccine for s in slots} == set(Vaccine)


def test_a_centre_with_two_vaccines_gives_both_every_day_and_swaps_the_morning(
    centres: list[CentreRow],
) -> None:
    bsu = next(c for c in centres if c.code == "BSU")
    assert len(bsu.vaccines) == 2
    slots = demo_slots([bsu], MONDAY, days=2)
    first = [s.vaccine for s in slots if s.day == MONDAY]
    second = [s.vaccine for s in slots if s.day == MONDAY + timedelta(days=1)]
    assert Counter(first) == Counter(bsu.vaccines * 2)
    assert first[0] != first[1]
    assert second == [first[1], first[0], first[1], first[0]]


def test_the_vaccine_of_a_session_does_not_depend_on_the_seeding_day(
    centres: list[CentreRow],
) -> None:
    from_monday = demo_slots(centres, MONDAY, days=7)
    from_tuesday = demo_slots(centres, MONDAY + timedelta(days=1), days=6)
    assert [s for s in from_monday if s.day > MONDAY] == from_tuesday


def test_zero_days_give_no_slots_and_negative_days_are_refused(
    centres: list[CentreRow],
) -> None:
    assert demo_slots(centres, MONDAY, days=0) == []
    with pytest.raises(ValueError):
        demo_slots(centres, MONDAY, days=-1)
