"""Business events (kmcbot/observe/events.py): one line each, with the fields the
README's Events table names, and nothing that identifies a person. The correlation
id and the callback data a body carries back in WhatsApp's status webhooks."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from kmcbot.messages import Say, Status
from kmcbot.observe import delivery, events
from kmcbot.observe.events import WAITLIST_EVENTS, Event, correlation_id
from kmcbot.outbox.entry import OutboxEntry, callback_data, read_callback
from kmcbot.storage.keys import sent_key
from kmcbot.whatsapp import inbound
from kmcbot.whatsapp.outbound import body as cloud_body

README = Path(__file__).resolve().parents[2] / "README.md"
PEPPER = b"unit-pepper"
WAMID = "wamid.HBgMOTE5ODAwMDAwMDAxFQIAEhgUM0VCMDRBNjU5OUFFRTAzODEwMTQ0RgA="  # holds 919800000001

CASES = [
    (events.booking_made, dict(reference="KMC-4K7P2Q", centre="ROXY", slot=7, lang="bn",
                               user="ab12cd34ef56ab78", via="chat", cid="0123456789ab")),
    (events.booking_moved, dict(reference="KMC-4K7P2Q", centre="ROXY", slot=8, lang="en",
                                user="ab12cd34ef56ab78", cid="0123456789ab")),
    (events.booking_cancelled, dict(reference="KMC-4K7P2Q", lang="hi", user="ab12cd34ef56ab78",
                                    cid="0123456789ab")),
    (events.booking_refused, dict(reason="slot_full", lang="en", user="ab12cd34ef56ab78",
                                  via="desk", cid="")),
    (events.booking_missed, dict(reference="KMC-4K7P2Q", centre="ROXY", slot=7)),
    (events.booking_checked_in, dict(reference="KMC-4K7P2Q", centre="ROXY", slot=7, via="qr")),
    (events.session_cancelled, dict(centre="ROXY", slot=7, reason="holiday", bookings=3,
                                    via="desk")),
    (events.list_confirmed, dict(centre="ROXY", day="2026-12-07", told=12)),
    (events.notice_queued, dict(reference="KMC-4K7P2Q", kind="reminder", cid="n41", tries=1)),
]  # fmt: skip


@pytest.mark.parametrize(("emit", "fields"), CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_each_event_is_one_line_with_its_fields(emit, fields) -> None:
    with structlog.testing.capture_logs() as logs:
        emit(**fields)
    [line] = logs
    assert line.pop("event") == emit.__name__
    assert line.pop("log_level") == "info"
    assert line == fields


def test_an_entry_sent_is_a_reply_line_or_a_line_per_notice() -> None:
    with structlog.testing.capture_logs() as logs:
        events.sent(cid="0123456789ab", user="ab12cd34ef56ab78", news=(), bodies=2)
        events.sent(cid="n41", user="ab12cd34ef56ab78", news=(("KMC-4K7P2Q", "reminder"),),
                    bodies=1)  # fmt: skip
    assert [(e["event"], e["cid"]) for e in logs] == [
        ("reply_sent", "0123456789ab"),
        ("notice_sent", "n41"),
    ]
    assert logs[1]["reference"] == "KMC-4K7P2Q" and logs[1]["kind"] == "reminder"


def test_the_readme_table_lists_every_event_and_the_waitlists() -> None:
    text = README.read_text(encoding="utf-8").split("## Events", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    listed = {name for cell in first_cells for name in re.findall(r"`([a-z_]+)`", cell)}
    assert listed == {e.value for e in Event} | set(WAITLIST_EVENTS)


def test_the_correlation_id_is_a_keyed_hash_that_holds_no_number() -> None:
    cid = correlation_id(PEPPER, WAMID)
    assert re.fullmatch(r"[0-9a-f]{12}", cid)
    assert cid == correlation_id(PEPPER, WAMID)  # a redelivery: the same id
    assert cid != correlation_id(b"other-pepper", WAMID)
    assert cid != correlation_id(PEPPER, WAMID + "x")


def test_callback_data_round_trips_the_cid_and_the_news() -> None:
    news = (("KMC-4K7P2Q", "booked"), ("KMC-8X2Y3Z", "cancelled"))
    data = callback_data("0123456789ab", news)
    assert read_callback(data) == ("0123456789ab", news)
    assert read_callback(callback_data("n41", ())) == ("n41", ())
    assert len(data) <= 512


def test_the_body_carries_the_callback_and_the_entry_the_cid() -> None:
    body = cloud_body("919800000001", Say("hello"), "0123456789ab")
    assert body["biz_opaque_callback_data"] == "0123456789ab"
    assert "biz_opaque_callback_data" not in cloud_body("919800000001", Say("hello"))
    entry = OutboxEntry("919800000001", "tag", (b"{}",), (), "0123456789ab")
    fields = {k.encode(): v if isinstance(v, bytes) else v.encode()
              for k, v in entry.fields().items()}  # fmt: skip
    assert OutboxEntry.decode(fields).cid == "0123456789ab"
    del fields[b"cid"]  # written by the version before: no cid
    assert OutboxEntry.decode(fields).cid == ""


def test_a_failed_status_in_the_documented_shape_keeps_its_code_and_callback() -> None:
    """Meta's statuses webhook: a failed status has an `errors` array, and gives back
    the `biz_opaque_callback_data` the message was sent with."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881",
                         "phone_number_id": "106540352242922"},
            "statuses": [{
                "id": WAMID,
                "status": "failed",
                "timestamp": "1750263773",
                "recipient_id": "919800000001",
                "biz_opaque_callback_data": "n41|KMC-4K7P2Q:reminder",
                "errors": [{
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "Message failed to send because more than 24"
                                   " hours have passed since the customer last replied"
                                   " to this number."},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }],
            }],
        }}]}],
    }  # fmt: skip
    [status] = inbound.parse(payload).updates
    assert status == Status(
        wa_id="919800000001",
        message_id=WAMID,
        status="failed",
        error_codes=(131047,),
        callback="n41|KMC-4K7P2Q:reminder",
    )


class _Pool:
    """Writes as the pool gets them; several of one POST go in one transaction."""

    def __init__(self) -> None:
        self.executed: list[tuple[str, tuple[object, ...]]] = []
        self.transactions = 0

    async def execute(self, query: str, *args: object) -> None:
        self.executed.append((query, args))

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[_Pool]:
        yield self

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.transactions += 1
        yield


class _Kept:
    """What the sender kept by wamid (the real one: test_outbox_sender.py)."""

    def __init__(self, kept: dict[str, str]) -> None:
        self.kept = kept
        self.asked: list[list[str]] = []

    async def recall(self, message_ids: list[str]) -> dict[str, str]:
        self.asked.append(list(message_ids))
        return {m: self.kept[m] for m in message_ids if m in self.kept}


async def test_statuses_with_callback_data_are_matched_without_a_lookup() -> None:
    kept = _Kept({})
    pool = _Pool()
    with_data = Status("919800000001", WAMID, "failed", (131047,), "n7|KMC-4K7P2Q:reminder")
    with structlog.testing.capture_logs() as logs:
        await delivery.record(pool, [with_data, with_data], kept)  # type: ignore[arg-type]
    assert kept.asked == []  # no Redis read on this path
    assert [(e["event"], e["cid"]) for e in logs] == [("notice_failed", "n7")] * 2
    assert len(pool.executed) == 2  # marked; and the relay sends it again (131047)
    assert pool.transactions == 1  # both or neither


async def test_statuses_without_callback_data_are_looked_up_once_by_message_id() -> None:
    kept = _Kept({WAMID: "n7|KMC-4K7P2Q:reminder"})
    pool = _Pool()
    failed = Status("919800000001", WAMID, "failed", (131047,))
    unknown = Status("919800000001", "wamid.unknown", "failed", (131026,))
    with structlog.testing.capture_logs() as logs:
        await delivery.record(pool, [failed, unknown, failed], kept)  # type: ignore[arg-type]
    assert kept.asked == [sorted({WAMID, "wamid.unknown"})]
    assert [(e["event"], e["cid"], e["code"]) for e in logs] == [
        ("notice_failed", "n7", "131047")
    ] * 2
    [(_, marked), (_, again)] = pool.executed
    assert marked == (["KMC-4K7P2Q"] * 2, ["reminder"] * 2, [131047] * 2) and again == ([7, 7],)


def test_a_sent_messages_key_names_neither_the_wamid_nor_the_number() -> None:
    key = sent_key("kmcbot", 8, PEPPER, WAMID)
    assert re.fullmatch(r"kmcbot:\{[0-7]\}:w:[0-9a-f]{20}", key)
    assert key == sent_key("kmcbot", 8, PEPPER, WAMID) != sent_key("kmcbot", 8, b"other", WAMID)
    assert "HBgM" not in key and "919800000001" not in key
