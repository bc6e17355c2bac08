from typing import Any

import pytest

from kmcbot.messages import Ask, AskLocation, Button, Pick, Reply, Row, Say, Template
from kmcbot.whatsapp.outbound import body, limits_violations

TO = "919812345678"
HEAD = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO}


def _buttons(*titles: str) -> tuple[Button, ...]:
    return tuple(Button(id=f"b{n}", title=t) for n, t in enumerate(titles))


def _rows(count: int) -> tuple[Row, ...]:
    return tuple(Row(id=f"r{n}", title=f"Row {n}") for n in range(count))


# ----------------------------------------------------------------- body


def test_say_becomes_a_text_message_without_link_preview() -> None:
    assert body(TO, Say("Hello")) == {
        **HEAD,
        "type": "text",
        "text": {"preview_url": False, "body": "Hello"},
    }


def test_ask_becomes_interactive_reply_buttons() -> None:
    reply = Ask("Language?", (Button("en", "English"), Button("bn", "বাংলা")))
    assert body(TO, reply) == {
        **HEAD,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Language?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "en", "title": "English"}},
                    {"type": "reply", "reply": {"id": "bn", "title": "বাংলা"}},
                ]
            },
        },
    }


def test_pick_becomes_an_interactive_list_with_one_titled_section() -> None:
    reply = Pick(
        "Choose a centre",
        "Centres",
        (Row("c1", "SSKM", "2 km"), Row("c2", "NRS")),
        section="Near you",
    )
    assert body(TO, reply) == {
        **HEAD,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Choose a centre"},
            "action": {
                "button": "Centres",
                "sections": [
                    {
                        "title": "Near you",
                        "rows": [
                            {"id": "c1", "title": "SSKM", "description": "2 km"},
                            {"id": "c2", "title": "NRS"},
                        ],
                    }
                ],
            },
        },
    }


def test_pick_without_section_title_omits_the_title_key() -> None:
    built = body(TO, Pick("Choose", "Open", (Row("r", "Row"),)))
    assert built["interactive"]["action"]["sections"] == [{"rows": [{"id": "r", "title": "Row"}]}]


def test_ask_location_becomes_a_location_request_message() -> None:
    assert body(TO, AskLocation("Share your location")) == {
        **HEAD,
        "type": "interactive",
        "interactive": {
            "type": "location_request_message",
            "body": {"text": "Share your location"},
            "action": {"name": "send_location"},
        },
    }


def test_template_with_params_has_one_body_component_of_text_parameters() -> None:
    reply = Template("booking_cancelled", "bn", ("KMC-4K7P2Q", "12 June"))
    assert body(TO, reply) == {
        **HEAD,
        "type": "template",
        "template": {
            "name": "booking_cancelled",
            "language": {"code": "bn"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "KMC-4K7P2Q"},
                        {"type": "text", "text": "12 June"},
                    ],
                }
            ],
        },
    }


def test_template_without_params_has_no_components() -> None:
    built = body(TO, Template("hello", "en"))
    assert built["template"] == {"name": "hello", "language": {"code": "en"}}


# --------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "reply",
    [
        Say("x" * 4096),
        Ask("x" * 1024, _buttons("a" * 20, "b", "c")),
        Pick("x" * 1024, "b" * 20, tuple(Row(f"r{n}", "t" * 24, "d" * 72) for n in range(10))),
        Pick("body", "Open", _rows(1), section="s" * 24),
        AskLocation("x" * 1024),
        Template("reminder", "hi", ("Ravi", "10:00-12:00")),
        Template("hello", "en"),
        Ask("body", (Button("i" * 200, "ok"),)),
    ],
)
def test_replies_at_the_limits_have_no_violations(reply: Reply) -> None:
    assert limits_violations(reply) == []


def _violations(reply: Reply) -> str:
    found = limits_violations(reply)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("reply", "mentions"),
    [
        (Say("x" * 4097), "text body has 4097"),
        (Say(""), "text body has 0"),
        (Ask("x" * 1025, _buttons("a")), "body has 1025"),
        (Ask("body", ()), "0 buttons"),
        (Ask("body", _buttons("a", "b", "c", "d")), "4 buttons"),
        (Ask("body", _buttons("a" * 21)), "button 1 title has 21"),
        (Ask("body", _buttons("")), "button 1 title has 0"),
        (Ask("body", (Button("same", "A"), Button("same", "B"))), "button ids repeat: 'same'"),
        (Ask("body", (Button("a", "Same"), Button("b", "Same"))), "button titles repeat"),
        (Ask("body", (Button("i" * 201, "ok"),)), "button 1 id has 201"),
        (Ask("body", (Button("", "ok"),)), "button 1 id has 0"),
        (Pick("x" * 1025, "Open", _rows(1)), "body has 1025"),
        (Pick("body", "Open", ()), "0 rows"),
        (Pick("body", "Open", _rows(11)), "11 rows"),
        (Pick("body", "b" * 21, _rows(1)), "list button has 21"),
        (Pick("body", "", _rows(1)), "list button has 0"),
        (Pick("body", "Open", _rows(1), section="s" * 25), "section title has 25"),
        (Pick("body", "Open", (Row("r", "t" * 25),)), "row 1 title has 25"),
        (Pick("body", "Open", (Row("r", "t", "d" * 73),)), "row 1 description has 73"),
        (Pick("body", "Open", (Row("i" * 201, "t"),)), "row 1 id has 201"),
        (Pick("body", "Open", (Row("r", "A"), Row("r", "B"))), "row ids repeat: 'r'"),
        (AskLocation("x" * 1025), "body has 1025"),
        (AskLocation(""), "body has 0"),
        (Template("", "en"), "template name has 0"),
        (Template("t", ""), "template language is empty"),
        (Template("t", "en", ("",)), "parameter 1 has 0"),
        (Template("t", "en", ("two\nlines",)), "parameter 1 has a newline"),
        (Template("t", "en", ("a\tb",)), "parameter 1 has a newline"),
        (Template("t", "en", ("a     b",)), "more than 4 spaces"),
    ],
)
def test_each_broken_limit_is_reported_once(reply: Reply, mentions: str) -> None:
    assert mentions in _violations(reply)


def test_length_is_counted_in_python_characters_not_bytes() -> None:
    # 20 Bengali characters are 60 UTF-8 bytes and still fit a button title.
    assert limits_violations(Ask("ভাষা?", _buttons("ব" * 20))) == []


def test_every_violation_of_a_reply_is_listed() -> None:
    reply = Pick("", "", (Row("r", ""), Row("r", "t", "d" * 80)), section="s" * 30)
    assert len(limits_violations(reply)) == 6


def test_body_builds_even_replies_that_break_limits() -> None:
    # The checker is separate so the sender can log the reason, not crash.
    built: dict[str, Any] = body(TO, Say("x" * 5000))
    assert built["text"]["body"] == "x" * 5000


def test_template_quick_reply_buttons_carry_their_payloads() -> None:
    from kmcbot.messages import Template
    from kmcbot.whatsapp.outbound import body

    sent = body("919800000001", Template("kmcbot_slot_cancelled", "bn", ("Roxy",), ("menu:book",)))
    body_part, button = sent["template"]["components"]
    assert body_part == {"type": "body", "parameters": [{"type": "text", "text": "Roxy"}]}
    assert button == {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "0",
        "parameters": [{"type": "payload", "payload": "menu:book"}],
    }
