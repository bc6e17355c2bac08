"""The stored session: compact JSON that round-trips, and corrupt data refused."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from kmcbot.booking.ids import IdType
from kmcbot.booking.model import Vaccine
from kmcbot.dialogue.model import (
    PENDING,
    Draft,
    Lang,
    Listed,
    Session,
    State,
    session_from_dict,
    session_to_dict,
)
from kmcbot.dialogue.questions import QUESTIONS
from kmcbot.dialogue.step import HANDLERS, RESULTS

NOW = datetime(2021, 7, 1, 4, 30, tzinfo=UTC)

FULL = Session(
    state=State.CONFIRM,
    lang=Lang.BN,
    updated_at=NOW,
    draft=Draft(
        vaccine=Vaccine.COVISHIELD,
        first_dose=date(2021, 4, 5),
        id_type=IdType.AADHAAR,
        id_hash="f" * 64,
        id_last4="2346",
        name="সৌ" * 30,  # 60 characters of Bengali: the longest name
        centre_id=123456,
        day=date(2021, 7, 2),
        slot_id=9876543,
        moving_reference="KMC-4K7P2Q",
        cancel_reference="KMC-4K7P2R",
        page=3,
        near=(22.5726, 88.3639),
        listed=tuple(
            Listed(
                f"KMC-4K7P2{n}",
                Vaccine.SPUTNIK_V,
                date(2021, 6, 1),
                "passport",
                "4567",
                "0f3a9c2e1b7d4a56",
            )
            for n in range(4)
        ),
    ),
    strikes=2,
    offered=tuple(f"centre:{100000 + n}" for n in range(10)),
)


@pytest.mark.parametrize("session", [FULL, Session(State.LANGUAGE, None, NOW)])
def test_session_round_trips_through_json(session: Session) -> None:
    stored = json.loads(json.dumps(session_to_dict(session)))
    assert session_from_dict(stored) == session


def test_session_stays_under_2_kb_as_json() -> None:
    encoded = json.dumps(session_to_dict(FULL), ensure_ascii=False).encode()
    assert len(encoded) < 2048, len(encoded)


def test_the_stored_session_never_holds_an_id_number() -> None:
    assert set(session_to_dict(FULL)["d"]) >= {"ih", "l4"}  # hash and last 4 only


@pytest.mark.parametrize(
    "corrupt",
    [
        None,
        [],
        "menu",
        {},
        {"v": 1, "s": "no_such_state", "u": NOW.isoformat()},
        {"v": 2, "s": "menu", "u": NOW.isoformat()},
        {"v": 1, "s": "menu", "u": "yesterday"},
        {"v": 1, "s": "menu", "u": "2021-07-01T10:00:00"},  # naive time
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "l": "fr"},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "k": "2"},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "o": "centre:1"},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "x": 1},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": {"va": "pfizer"}},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": {"it": "ration_card"}},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": {"fd": "2021-02-31"}},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": {"nr": [1]}},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": {"nr": ["a", "b"]}},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": {"ls": [["KMC-1"]]}},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": {"c": True}},
        {"v": 1, "s": "menu", "u": NOW.isoformat(), "d": []},
    ],
)
def test_corrupt_or_unknown_session_raises_value_error(corrupt: object) -> None:
    with pytest.raises(ValueError):
        session_from_dict(corrupt)


def test_in_flow_is_false_only_at_language_and_menu() -> None:
    for state in State:
        expected = state not in (State.LANGUAGE, State.MENU)
        assert Session(state, Lang.EN, NOW).in_flow is expected


def test_dispatch_tables_cover_every_state() -> None:
    assert set(HANDLERS) == set(State)
    assert set(QUESTIONS) == set(State)
    assert set(RESULTS) == set(PENDING)
