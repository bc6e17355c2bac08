"""Messages WhatsApp could not deliver whole (issue 19, item 2), through the signed webhook.

An `interactive` that arrives with an `errors` array (code 131000, "Something
went wrong", details "Unsupported webhook payload") and no interactive body,
and an `unsupported` message, get a short "please try again" in the citizen's
language and the current question again: not silence.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kmcbot.messages import Choice, Text
from kmcbot.whatsapp import simulate

PHONE_ID = "12345"  # the e2e bot's KMCBOT_WA_PHONE_NUMBER_ID

ERRORS = [
    {
        "code": 131000,
        "title": "Something went wrong",
        "message": "Something went wrong",
        "error_data": {"details": "Unsupported webhook payload"},
    }
]

TRY_AGAIN = {
    "en": "Please try again",
    "bn": "আবার চেষ্টা করুন",
    "hi": "फिर से कोशिश करें",
}


def undelivered(wa_id: str, kind: str) -> bytes:
    msg: dict[str, Any] = simulate.message(wa_id, Text("x"))
    del msg["text"]
    msg["type"] = kind
    msg["errors"] = ERRORS
    return orjson.dumps(simulate.payload([msg], phone_number_id=PHONE_ID))


def body_text(body: dict) -> str:
    if body["type"] == "text":
        return body["text"]["body"]
    return body["interactive"]["body"]["text"]


@pytest.mark.parametrize(("kind", "lang"), [("interactive", "en"), ("unsupported", "bn"),
                                            ("interactive", "hi")])  # fmt: skip
async def test_an_undelivered_message_asks_to_try_again_and_repeats_the_question(
    citizens, kind: str, lang: str
) -> None:
    citizen = citizens(f"91980000{len(kind)}{len(lang)}{'ebh'.index(lang[0])}")
    await citizen.say("Hi")
    await citizen.say(Choice(f"lang:{lang}", lang))
    [vaccines] = await citizen.say(Choice("menu:book", "Book"))
    assert vaccines["type"] == "interactive"

    assert await citizen.post_raw(undelivered(citizen.wa_id, kind)) == 200
    [again] = await citizen.replies()
    assert TRY_AGAIN[lang] in body_text(again)
    assert body_text(vaccines) in body_text(again)  # the same question, asked again
    assert again["interactive"]["action"] == vaccines["interactive"]["action"]


async def test_an_undelivered_first_message_gets_the_menu_with_the_note(citizens) -> None:
    citizen = citizens("919800000777")
    await citizen.say("Hi")
    [menu] = await citizen.say(Choice("lang:en", "English"))
    await citizen.say("menu")  # the menu again; then the session is left to expire
    await citizen.redis.delete(*[k async for k in citizen.redis.scan_iter(match="*:s")])

    assert await citizen.post_raw(undelivered(citizen.wa_id, "unsupported")) == 200
    [reply] = await citizen.replies()
    assert TRY_AGAIN["en"] in body_text(reply)
    assert reply["interactive"]["action"] == menu["interactive"]["action"]
