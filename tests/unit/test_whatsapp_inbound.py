import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmcbot.messages import (
    Choice,
    Error,
    Inbound,
    Location,
    Media,
    MediaKind,
    Status,
    Text,
    Update,
)
from kmcbot.whatsapp.inbound import MAX_UPDATES, Parsed, parse
from tests.support.payloads import (
    button_reply,
    change,
    error_payload,
    list_reply,
    location_message,
    media_message,
    message,
    message_payload,
    messages_value,
    status_payload,
    status_update,
    template_button,
    text_message,
    value_error,
    webhook,
)

WA_ID = "919812345678"
TS = 1_622_880_000  # 2021-06-05T08:00:00Z
SENT_AT = datetime(2021, 6, 5, 8, 0, tzinfo=UTC)
MALFORMED = Error(code=0, title="malformed message")


def _one(payload: object) -> Update:
    updates = parse(payload).updates
    assert len(updates) == 1, updates
    return updates[0]


def _content(msg: dict[str, Any]) -> object:
    update = _one(message_payload([msg]))
    assert isinstance(update, Inbound), update
    return update.content


# ------------------------------------------------------------ each kind


def test_text_message_becomes_inbound_text_with_sender_id_and_utc_time() -> None:
    update = _one(message_payload([text_message(WA_ID, "Hi", "wamid.1", TS)]))
    assert update == Inbound(wa_id=WA_ID, message_id="wamid.1", sent_at=SENT_AT, content=Text("Hi"))
    assert isinstance(update, Inbound) and update.sent_at.tzinfo is UTC


def test_text_longer_than_4096_characters_is_truncated_not_rejected() -> None:
    assert _content(text_message(WA_ID, "অ" * 5000)) == Text("অ" * 4096)


def test_reply_button_tap_becomes_choice() -> None:
    assert _content(button_reply(WA_ID, "lang:bn", "বাংলা")) == Choice("lang:bn", "বাংলা")


def test_list_row_choice_becomes_choice() -> None:
    msg = list_reply(WA_ID, "centre:17", "SSKM Hospital", "2 km away")
    assert _content(msg) == Choice("centre:17", "SSKM Hospital")


def test_template_quick_reply_becomes_choice_of_its_payload() -> None:
    assert _content(template_button(WA_ID, "cancel:KMC-4K7P2Q", "Cancel")) == Choice(
        "cancel:KMC-4K7P2Q", "Cancel"
    )


def test_choice_without_title_gets_an_empty_title() -> None:
    msg = button_reply(WA_ID, "menu")
    del msg["interactive"]["button_reply"]["title"]
    assert _content(msg) == Choice("menu", "")


def test_location_becomes_location_with_float_coordinates() -> None:
    content = _content(location_message(WA_ID, 22.5726, 88.3639, name="Esplanade"))
    assert content == Location(22.5726, 88.3639)


def test_location_with_integer_coordinates_is_accepted() -> None:
    assert _content(location_message(WA_ID, 22, 88)) == Location(22.0, 88.0)


@pytest.mark.parametrize(
    "kind", ["image", "video", "audio", "document", "sticker", "contacts", "reaction"]
)
def test_media_contacts_and_reactions_become_media_of_their_kind(kind: str) -> None:
    assert _content(media_message(kind, WA_ID)) == Media(MediaKind(kind))


@pytest.mark.parametrize("kind", ["unsupported", "system", "order", "ephemeral", "brand_new"])
def test_unsupported_and_unknown_types_become_unsupported_media(kind: str) -> None:
    assert _content(media_message(kind, WA_ID)) == Media(MediaKind.UNSUPPORTED)


def test_flow_reply_nfm_is_unsupported_media() -> None:
    part = {"type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": "{}"}}
    assert _content(message(WA_ID, "interactive", part)) == Media(MediaKind.UNSUPPORTED)


def test_status_becomes_status_with_its_error_codes() -> None:
    item = status_update(WA_ID, "wamid.out", "failed", error_codes=[131026, 131047])
    update = _one(status_payload([item]))
    assert update == Status(WA_ID, "wamid.out", "failed", (131026, 131047))


def test_status_without_errors_has_no_error_codes() -> None:
    update = _one(status_payload([status_update(WA_ID, "wamid.out", "read")]))
    assert update == Status(WA_ID, "wamid.out", "read", ())


def test_status_keeps_valid_error_codes_and_skips_broken_ones() -> None:
    item = status_update(WA_ID, "wamid.out", "failed")
    item["errors"] = [{"code": "131026"}, None, {"code": True}, {"code": 131047}]
    assert _one(status_payload([item])) == Status(WA_ID, "wamid.out", "failed", (131047,))


def test_value_level_error_becomes_error() -> None:
    update = _one(error_payload([value_error(131000, "Something went wrong")]))
    assert update == Error(131000, "Something went wrong")


def test_value_with_messages_statuses_and_errors_yields_all_in_that_order() -> None:
    value = messages_value(
        messages=[text_message(WA_ID, "Hi", "wamid.in", TS)],
        statuses=[status_update(WA_ID, "wamid.out", "sent")],
        errors=[value_error(1, "E")],
    )
    updates = parse(webhook(change(value))).updates
    assert [type(u) for u in updates] == [Inbound, Status, Error]


def test_several_entries_and_changes_are_all_parsed_in_order() -> None:
    first = message_payload([text_message(WA_ID, "one", "wamid.1", TS)])
    second = message_payload([text_message(WA_ID, "two", "wamid.2", TS)])
    first["entry"].append(second["entry"][0])
    first["entry"][0]["changes"].append(copy.deepcopy(first["entry"][0]["changes"][0]))
    ids = [u.message_id for u in parse(first).updates if isinstance(u, Inbound)]
    assert ids == ["wamid.1", "wamid.1", "wamid.2"]


def test_other_fields_are_skipped_but_reported() -> None:
    payload = webhook(
        change({"event": "APPROVED"}, field="message_template_status_update"),
        change(messages_value(messages=[text_message(WA_ID, "Hi")])),
        change({}, field="account_update"),
    )
    parsed = parse(payload)
    assert [type(u) for u in parsed.updates] == [Inbound]
    assert parsed.ignored_fields == ["message_template_status_update", "account_update"]


def test_parse_returns_a_frozen_parsed() -> None:
    parsed = parse(message_payload([]))
    assert parsed == Parsed(updates=[], ignored_fields=[])
    with pytest.raises(AttributeError):
        parsed.updates = []  # type: ignore[misc]


def test_value_with_only_metadata_has_no_updates() -> None:
    assert parse(webhook(change(messages_value()))).updates == []


def test_null_lists_count_as_absent() -> None:
    value = messages_value(messages=None, statuses=None, errors=None)
    assert parse(webhook(change(value))).updates == []


# ------------------------------------------------------------ malformed


def _with(msg: dict[str, Any], **fields: object) -> dict[str, Any]:
    return {**msg, **fields}


def _without(msg: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in msg.items() if k != key}


BAD_MESSAGES = {
    "no from": _without(text_message(WA_ID, "x"), "from"),
    "empty from": _with(text_message(WA_ID, "x"), **{"from": ""}),
    "numeric from": _with(text_message(WA_ID, "x"), **{"from": 919812345678}),
    "no id": _without(text_message(WA_ID, "x"), "id"),
    "null id": _with(text_message(WA_ID, "x"), id=None),
    "huge id": _with(text_message(WA_ID, "x"), id="w" * 10_000),
    "no timestamp": _without(text_message(WA_ID, "x"), "timestamp"),
    "text timestamp": _with(text_message(WA_ID, "x"), timestamp="yesterday"),
    "negative timestamp": _with(text_message(WA_ID, "x"), timestamp="-5"),
    "float timestamp": _with(text_message(WA_ID, "x"), timestamp="1622880000.5"),
    "bengali digits": _with(text_message(WA_ID, "x"), timestamp="১৬২২৮৮০০০০"),
    "far future": _with(text_message(WA_ID, "x"), timestamp="9" * 12),
    "huge number": _with(text_message(WA_ID, "x"), timestamp=10**400),
    "bool timestamp": _with(text_message(WA_ID, "x"), timestamp=True),
    "no type": _without(text_message(WA_ID, "x"), "type"),
    "list type": _with(text_message(WA_ID, "x"), type=["text"]),
}


@pytest.mark.parametrize("bad", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_message_with_bad_sender_id_time_or_type_becomes_malformed_message(
    bad: dict[str, Any],
) -> None:
    assert _one(message_payload([bad], contacts=[])) == MALFORMED


def test_integer_timestamp_is_accepted() -> None:
    msg = _with(text_message(WA_ID, "x"), timestamp=TS)
    update = _one(message_payload([msg]))
    assert isinstance(update, Inbound) and update.sent_at == SENT_AT


BAD_CONTENT = {
    "text without body": (message(WA_ID, "text", {}), "text"),
    "text body not str": (message(WA_ID, "text", {"body": 5}), "text"),
    "text part null": (message(WA_ID, "text", None), "text"),
    "interactive not dict": (message(WA_ID, "interactive", "x"), "interactive"),
    "interactive no type": (message(WA_ID, "interactive", {}), "interactive"),
    "button_reply missing": (
        message(WA_ID, "interactive", {"type": "button_reply"}),
        "interactive",
    ),
    "list_reply no id": (
        message(WA_ID, "interactive", {"type": "list_reply", "list_reply": {"title": "t"}}),
        "interactive",
    ),
    "button no payload": (message(WA_ID, "button", {"text": "Cancel"}), "button"),
    "button part list": (message(WA_ID, "button", []), "button"),
    "location part missing": (message(WA_ID, "location", None), "location"),
    "latitude string": (location_message(WA_ID, "22.5", 88.3), "location"),  # type: ignore[arg-type]
    "latitude bool": (location_message(WA_ID, True, 88.3), "location"),
    "latitude 91": (location_message(WA_ID, 91, 88.3), "location"),
    "longitude -181": (location_message(WA_ID, 22.5, -181), "location"),
    "latitude nan": (location_message(WA_ID, float("nan"), 88.3), "location"),
    "longitude inf": (location_message(WA_ID, 22.5, float("inf")), "location"),
    "huge int": (location_message(WA_ID, 10**400, 88.3), "location"),
    "no longitude": (message(WA_ID, "location", {"latitude": 22.5}), "location"),
}


@pytest.mark.parametrize(("bad", "what"), BAD_CONTENT.values(), ids=BAD_CONTENT.keys())
def test_message_with_broken_content_becomes_malformed_of_its_type(
    bad: dict[str, Any], what: str
) -> None:
    assert _one(message_payload([bad])) == Error(0, f"malformed {what}")


BAD_STATUSES = {
    "not a dict": "delivered",
    "no recipient": _without(status_update(WA_ID, "wamid.o"), "recipient_id"),
    "no id": _without(status_update(WA_ID, "wamid.o"), "id"),
    "status null": _with(status_update(WA_ID, "wamid.o"), status=None),
    "status empty": _with(status_update(WA_ID, "wamid.o"), status=""),
}


@pytest.mark.parametrize("bad", BAD_STATUSES.values(), ids=BAD_STATUSES.keys())
def test_broken_status_becomes_malformed_status(bad: object) -> None:
    assert _one(status_payload([bad])) == Error(0, "malformed status")  # type: ignore[list-item]


@pytest.mark.parametrize("bad", [None, "x", {}, {"code": "131000"}, {"code": 1.5}, {"code": False}])
def test_value_error_without_integer_code_becomes_malformed_error(bad: object) -> None:
    assert _one(error_payload([bad])) == Error(0, "malformed error")  # type: ignore[list-item]


def test_value_error_without_title_gets_an_empty_title() -> None:
    assert _one(error_payload([{"code": 131000}])) == Error(131000, "")


def test_malformed_items_mixed_with_good_ones_do_not_stop_the_good_ones() -> None:
    messages = [
        text_message(WA_ID, "first", "wamid.1", TS),
        "not a message",
        _without(text_message(WA_ID, "x"), "from"),
        location_message(WA_ID, 200, 0),
        button_reply(WA_ID, "ok", "OK", "wamid.2", TS),
        None,
    ]
    value = messages_value(
        messages=messages,
        statuses=[42, status_update(WA_ID, "wamid.out", "sent")],
        errors=[{"title": "no code"}, value_error(7, "E")],
    )
    updates = parse(webhook(change(value))).updates
    assert updates == [
        Inbound(WA_ID, "wamid.1", SENT_AT, Text("first")),
        MALFORMED,
        MALFORMED,
        Error(0, "malformed location"),
        Inbound(WA_ID, "wamid.2", SENT_AT, Choice("ok", "OK")),
        MALFORMED,
        Error(0, "malformed status"),
        Status(WA_ID, "wamid.out", "sent"),
        Error(0, "malformed error"),
        Error(7, "E"),
    ]


def test_malformed_envelope_parts_are_reported_and_the_rest_parsed() -> None:
    good = change(messages_value(messages=[text_message(WA_ID, "Hi", "wamid.1", TS)]))
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            None,
            {"id": "1"},  # no changes
            {"id": "2", "changes": [5, {"value": {}}, {"field": "messages"}, good]},
            {"id": "3", "changes": [change(messages_value(messages={"a": 1}))]},
        ],
    }
    updates = parse(payload).updates
    assert updates == [
        Error(0, "malformed entry"),
        Error(0, "malformed entry"),
        Error(0, "malformed change"),
        Error(0, "malformed change"),
        Error(0, "malformed change"),
        Inbound(WA_ID, "wamid.1", SENT_AT, Text("Hi")),
        Error(0, "malformed messages"),
    ]


@pytest.mark.parametrize(
    "payload",
    [None, 0, 1.5, True, "text", b"bytes", [], [{"entry": []}], {}, {"entry": None}, {"entry": {}}],
)
def test_payload_that_is_not_an_object_with_an_entry_list_is_one_malformed_payload(
    payload: object,
) -> None:
    assert parse(payload) == Parsed([Error(0, "malformed payload")], [])


def test_empty_entry_list_has_no_updates() -> None:
    assert parse({"object": "whatsapp_business_account", "entry": []}).updates == []


def test_deeply_nested_junk_does_not_raise() -> None:
    junk: object = "leaf"
    for _ in range(100_000):
        junk = {"entry": [junk]}
    assert parse(junk).updates[0] == Error(0, "malformed entry")


def test_field_names_are_cut_short_for_logs() -> None:
    assert parse(webhook(change({}, field="f" * 10_000))).ignored_fields == ["f" * 256]


# ------------------------------------------------------------------ cap


def test_exactly_1000_updates_are_all_returned() -> None:
    msgs = [text_message(WA_ID, str(n), f"wamid.{n}", TS) for n in range(MAX_UPDATES)]
    updates = parse(message_payload(msgs)).updates
    assert len(updates) == MAX_UPDATES == 1000
    assert all(isinstance(u, Inbound) for u in updates)


def test_more_than_1000_updates_keep_the_first_1000_and_append_one_error() -> None:
    msgs = [text_message(WA_ID, str(n), f"wamid.{n}", TS) for n in range(1500)]
    statuses = [status_update(WA_ID, f"wamid.out.{n}") for n in range(10)]
    value = messages_value(messages=msgs, statuses=statuses)
    updates = parse(webhook(change(value))).updates
    assert len(updates) == MAX_UPDATES + 1
    assert updates[-1] == Error(0, "too many updates")
    assert [u.message_id for u in updates[:-1]] == [f"wamid.{n}" for n in range(1000)]  # type: ignore[union-attr]


def test_malformed_items_count_towards_the_cap() -> None:
    updates = parse(message_payload([None] * 1001, contacts=[])).updates  # type: ignore[list-item]
    assert updates[-1] == Error(0, "too many updates") and len(updates) == 1001


# ------------------------------------------------------------- fuzzing

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.sampled_from(["messages", "text", "interactive", "button_reply", "location", "1"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "entry",
                    "changes",
                    "field",
                    "value",
                    "messages",
                    "statuses",
                    "errors",
                    "from",
                    "id",
                    "timestamp",
                    "type",
                    "text",
                    "body",
                    "interactive",
                    "button_reply",
                    "list_reply",
                    "button",
                    "payload",
                    "location",
                    "latitude",
                    "longitude",
                    "recipient_id",
                    "status",
                    "code",
                    "title",
                ]
            ),  # fmt: skip
            inner,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_parse_never_raises_on_arbitrary_json(payload: object) -> None:
    parsed = parse(payload)
    assert len(parsed.updates) <= MAX_UPDATES + 1


def _good_payload() -> dict[str, Any]:
    value = messages_value(
        messages=[
            text_message(WA_ID, "Hi", "wamid.1", TS),
            button_reply(WA_ID, "b", "B", "wamid.2", TS),
            list_reply(WA_ID, "r", "R", "d", "wamid.3", TS),
            location_message(WA_ID, 22.5, 88.3, "wamid.4", TS),
            media_message("image", WA_ID, "wamid.5", TS),
        ],
        statuses=[status_update(WA_ID, "wamid.o", "failed", TS, error_codes=[1])],
        errors=[value_error(2, "E")],
    )
    return webhook(change(value))


def _paths(node: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*path, index))
    return found


_GOOD = _good_payload()
_BASELINE = parse(_GOOD).updates
_ITEMS = ("entry", 0, "changes", 0, "value")
# Where each list's items start in the parsed updates of _GOOD.
_OFFSET = {"messages": 0, "statuses": 5, "errors": 6}


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_paths(_GOOD)[1:]), _json)
def test_replacing_any_part_of_a_real_payload_never_raises_or_harms_other_items(
    path: tuple[object, ...], replacement: object
) -> None:
    payload = copy.deepcopy(_GOOD)
    node: Any = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = replacement
    updates = parse(payload).updates
    if len(path) >= 7 and path[:5] == _ITEMS and path[5] in _OFFSET:
        # The part was inside one message, status or error: only that one may change.
        hit = _OFFSET[str(path[5])] + int(path[6])  # type: ignore[call-overload]
        assert len(updates) == len(_BASELINE)
        assert [u for i, u in enumerate(updates) if i != hit] == [
            u for i, u in enumerate(_BASELINE) if i != hit
        ]
