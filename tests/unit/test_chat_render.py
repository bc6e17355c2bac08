"""`kmcbot chat`: how a Cloud API body is shown in the terminal, and what a typed line sends."""

from __future__ import annotations

import pytest

from kmcbot.devtools.chat import Option, interpret, render
from kmcbot.messages import Ask, AskLocation, Button, Choice, Location, Pick, Row, Say, Text
from kmcbot.whatsapp.outbound import body

TO = "919800000001"
LANGUAGES = Ask(
    "Please choose your language.",
    (Button("lang:en", "English"), Button("lang:bn", "বাংলা"), Button("lang:hi", "हिन्दी")),
)
CENTRES = Pick(
    "Choose a vaccination centre.",
    "Choose centre",
    (
        Row("centre:1", "Roxy Cinema", "Ward 46 · 6 Chowringhee Place"),
        Row("centre:more", "More centres"),
    ),
)


def shown(reply) -> tuple[str, list[Option]]:
    return render(body(TO, reply))


def test_a_text_is_shown_as_it_is_and_offers_nothing() -> None:
    assert shown(Say("Reference: KMC-4K7P2Q\nCode: 4821")) == (
        "Reference: KMC-4K7P2Q\nCode: 4821",
        [],
    )


def test_buttons_are_numbered_under_the_body() -> None:
    text, options = shown(LANGUAGES)
    assert text == "Please choose your language.\n  1. English\n  2. বাংলা\n  3. हिन्दी"
    assert options == [
        Option("lang:en", "English", False),
        Option("lang:bn", "বাংলা", False),
        Option("lang:hi", "हिन्दी", False),
    ]


def test_list_rows_are_numbered_with_their_descriptions() -> None:
    text, options = shown(CENTRES)
    assert text == (
        "Choose a vaccination centre.\n"
        "  1. Roxy Cinema (Ward 46 · 6 Chowringhee Place)\n"
        "  2. More centres"
    )
    assert [(o.id, o.via_list) for o in options] == [("centre:1", True), ("centre:more", True)]


def test_a_location_request_says_how_to_share_one() -> None:
    text, options = shown(AskLocation("Tap the button below to send your location."))
    assert text.startswith("Tap the button below to send your location.\n")
    assert "/loc 22.5726 88.3639" in text and options == []


def test_a_typed_number_taps_that_button() -> None:
    _, options = shown(LANGUAGES)
    assert interpret("2", options) == (Choice("lang:bn", "বাংলা"), False)
    assert interpret(" 3 \n", options) == (Choice("lang:hi", "हिन्दी"), False)


def test_a_typed_number_picks_that_list_row_by_its_title_alone() -> None:
    _, options = shown(CENTRES)
    assert interpret("1", options) == (Choice("centre:1", "Roxy Cinema"), True)


def test_a_bengali_digit_picks_too() -> None:
    _, options = shown(LANGUAGES)
    assert interpret("২", options) == (Choice("lang:bn", "বাংলা"), False)


def test_a_number_with_no_such_option_is_sent_as_text() -> None:
    _, options = shown(LANGUAGES)
    assert interpret("4", options) == (Text("4"), False)
    assert interpret("0", options) == (Text("0"), False)
    assert interpret("5", []) == (Text("5"), False)  # e.g. "5 June" at the date question


def test_loc_shares_a_location() -> None:
    assert interpret("/loc 22.5726 88.3639", []) == (Location(22.5726, 88.3639), False)
    assert interpret("/loc -1 2.5", []) == (Location(-1.0, 2.5), False)


@pytest.mark.parametrize("line", ["/loc", "/loc 22.5", "/loc here there"])
def test_a_loc_without_two_numbers_sends_nothing(line: str) -> None:
    assert interpret(line, []) is None


def test_words_are_sent_as_text_and_blank_lines_not_at_all() -> None:
    assert interpret("  hi there \n", []) == (Text("hi there"), False)
    assert interpret("   \n", []) is None


def test_a_superscript_digit_does_not_crash_the_chat() -> None:
    _, options = shown(LANGUAGES)
    assert interpret("²", options) == (Text("²"), False)
