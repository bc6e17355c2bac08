"""Who sent a message, and where a reply goes: phone numbers and business-scoped user ids.

Payload shapes from Meta's "Business-scoped user IDs" guide (2026): the
contact carries `user_id` (and `wa_id` while the number is shared), the
message `from_user_id` (and `from` likewise); a reply to a BSUID takes
`recipient` instead of `to`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kmcbot.messages import Error, IdentityChange, Inbound, Media, MediaKind, Say, Status, Text
from kmcbot.whatsapp.identity import address, bsuid, citizen_id, is_bsuid, phone_number
from kmcbot.whatsapp.inbound import parse
from kmcbot.whatsapp.outbound import body

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()) - 5)
USER_ID = "IN.1502576394655843"


def payload(messages: list[dict], contacts: list[dict] | None = None, **value: object) -> dict:
    v: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "910000000000", "phone_number_id": "123"},
        "messages": messages,
        **value,
    }
    if contacts is not None:
        v["contacts"] = contacts
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": v}]}],
    }


def text(sender: dict, body_text: str = "Hi", mid: str = "wamid.1") -> dict:
    return {**sender, "id": mid, "timestamp": TS, "type": "text", "text": {"body": body_text}}


def one(p: dict, **kw: object):
    [update] = parse(p, now=NOW, **kw).updates  # type: ignore[arg-type]
    return update


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("919812345678", "919812345678"),
        ("+919812345678", "919812345678"),
        ("00919812345678", "919812345678"),
        ("14155550123", "14155550123"),
    ],
)
def test_phone_numbers_are_normalised(raw: str, digits: str) -> None:
    assert phone_number(raw) == digits


@pytest.mark.parametrize(
    "raw",
    ["abc", "../../etc/passwd", "9" * 256, "0919812345678", "91 98123 45678", "١٢٣٤٥٦٧٨", "12345",
     "+", "", None, 919812345678, "9198123456780000"],
)  # fmt: skip
def test_what_is_no_phone_number(raw: object) -> None:
    assert phone_number(raw) is None


@pytest.mark.parametrize(
    "raw", [USER_ID, "US.13491208655302741918", "US.ENT.11815799212886844830", "BR.a1B2c3"]
)
def test_business_scoped_user_ids(raw: str) -> None:
    assert bsuid(raw) == raw and is_bsuid(raw) and citizen_id(raw) == raw


@pytest.mark.parametrize(
    "raw", ["IN.", "in.123", "IND.123", "IN-123", "IN.12 3", "IN.1/2", "IN." + "1" * 129, 5]
)
def test_what_is_no_business_scoped_user_id(raw: object) -> None:
    assert bsuid(raw) is None


def test_replies_go_to_a_number_in_to_and_to_a_user_id_in_recipient() -> None:
    assert address("919812345678") == {"to": "919812345678"}
    assert address(USER_ID) == {"recipient": USER_ID}
    sent = body(USER_ID, Say("Hello"))
    assert sent["recipient"] == USER_ID and "to" not in sent
    assert body("919812345678", Say("Hello"))["to"] == "919812345678"


def test_a_username_user_without_a_number_is_their_user_id() -> None:
    contacts = [{"profile": {"name": "S", "username": "@s"}, "user_id": USER_ID}]
    update = one(payload([text({"from_user_id": USER_ID})], contacts))
    assert update == Inbound(USER_ID, "wamid.1", datetime.fromtimestamp(int(TS), UTC), Text("Hi"),
                             user_id=USER_ID)  # fmt: skip


def test_with_both_the_citizen_is_the_number_and_the_pair_comes_along() -> None:
    contacts = [{"profile": {"name": "S"}, "wa_id": "919812345678", "user_id": USER_ID}]
    update = one(payload([text({"from": "919812345678", "from_user_id": USER_ID})], contacts))
    assert isinstance(update, Inbound)
    assert (update.wa_id, update.user_id) == ("919812345678", USER_ID)


def test_the_number_only_in_the_contact_is_found_by_the_user_id() -> None:
    contacts = [{"profile": {"name": "S"}, "wa_id": "919812345678", "user_id": USER_ID}]
    update = one(payload([text({"from_user_id": USER_ID})], contacts))
    assert isinstance(update, Inbound) and update.wa_id == "919812345678"


def test_a_plus_in_from_is_the_same_citizen() -> None:
    update = one(payload([text({"from": "+919812345678"})]))
    assert isinstance(update, Inbound) and update.wa_id == "919812345678"


@pytest.mark.parametrize(
    "sender",
    [{"from": "abc"}, {"from": "../../etc/passwd"}, {"from": "9" * 256}, {},
     {"from_user_id": "not an id"}, {"from": "abc", "from_user_id": USER_ID}],
)  # fmt: skip
def test_a_sender_that_is_neither_is_dropped(sender: dict) -> None:
    assert one(payload([text(sender)])) == Error(0, "malformed message")


def test_a_future_timestamp_counts_as_now() -> None:
    msg = {**text({"from": "919812345678"}), "timestamp": "253402300799"}
    update = one(payload([msg]))
    assert isinstance(update, Inbound) and update.sent_at == NOW


def test_another_phone_number_id_or_object_is_not_ours() -> None:
    p = payload([text({"from": "919812345678"})])
    parsed = parse(p, phone_number_id="999", now=NOW)
    assert (parsed.updates, parsed.foreign) == ([], 1)
    assert len(parse(p, phone_number_id="123", now=NOW).updates) == 1
    assert len(parse(p, now=NOW).updates) == 1  # no number configured: any
    insta = {**p, "object": "instagram"}
    assert (parse(insta, now=NOW).updates, parse(insta, now=NOW).foreign) == ([], 1)


def test_updates_past_the_cap_are_counted() -> None:
    messages = [text({"from": "919812345678"}, mid=f"wamid.{n}") for n in range(1234)]
    parsed = parse(payload(messages), now=NOW)
    assert len(parsed.updates) == 1001 and parsed.dropped == 234


def test_a_status_of_a_reply_sent_to_a_user_id() -> None:
    status = {"id": "wamid.OUT", "status": "read", "timestamp": TS, "recipient_user_id": USER_ID}
    p = payload([], statuses=[status])
    assert one(p) == Status(USER_ID, "wamid.OUT", "read")


def test_the_system_message_for_a_changed_number() -> None:
    msg = {
        "from": "919812345678",
        "from_user_id": USER_ID,
        "id": "wamid.sys",
        "timestamp": TS,
        "type": "system",
        "system": {
            "body": "User A changed",
            "wa_id": "+919800000002",
            "type": "user_changed_number",
        },
    }
    update = one(payload([msg]))
    assert isinstance(update, Inbound)
    assert update.content == IdentityChange(new_wa_id="919800000002", new_user_id=None)


def test_the_system_message_for_a_changed_user_id() -> None:
    msg = {
        "from_user_id": USER_ID,
        "id": "wamid.sys",
        "timestamp": TS,
        "type": "system",
        "system": {"body": "changed", "user_id": "IN.99", "type": "user_changed_user_id"},
    }
    update = one(payload([msg]))
    assert isinstance(update, Inbound) and update.wa_id == USER_ID
    assert update.content == IdentityChange(new_wa_id=None, new_user_id="IN.99")


def test_an_interactive_whatsapp_could_not_deliver_whole_asks_to_try_again() -> None:
    msg = {
        "from": "919812345678",
        "id": "wamid.err",
        "timestamp": TS,
        "type": "interactive",
        "errors": [
            {
                "code": 131000,
                "title": "Something went wrong",
                "message": "Something went wrong",
                "error_data": {"details": "Unsupported webhook payload"},
            }
        ],
    }
    update = one(payload([msg]))
    assert isinstance(update, Inbound) and update.content == Media(MediaKind.UNSUPPORTED)
