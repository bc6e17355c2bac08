"""Delivery as WhatsApp reports it, through the signed webhook of a running app
(real PostgreSQL, Redis, sender and relay; the Graph stand-in).

- one correlation id follows a citizen's message: the `message` line, the
  booking event, `reply_sent`, the body's `biz_opaque_callback_data`, and the
  `reply_delivered` line of the status webhook that comes back for it;
- a reminder WhatsApp accepted and then reported failed (131047) is marked on
  its booking, counted, and in the admin roster; a later one delivered clears it;
- a status in the documented shape, with the message id alone (no
  `biz_opaque_callback_data`), is matched by the wamid the Graph API answered
  for a message with booking news: a failed reminder is marked, counted and
  logged with its cid, a delivered one clears the mark;
- statuses are counted by status and code, with no line each; one for a message
  kmcbot did not send (or kept nothing of) is only counted;
- a POST answered 503 (a message in it failed, or the statuses could not be
  recorded) and delivered again counts and marks its statuses once.
"""

from __future__ import annotations

import orjson
import structlog
from prometheus_client import REGISTRY

from kmcbot.booking import admin_repo
from kmcbot.web import roster
from kmcbot.web.keys import PIPELINE
from tests.support.e2e import PHONE_ID, Citizen, reach_confirm, start
from tests.support.factories import eventually
from tests.support.ids import aadhaar
from tests.support.payloads import (
    change,
    contact,
    messages_value,
    status_payload,
    status_update,
    text_message,
    webhook,
)

OUT_WAMID = "wamid.HBgMOTE5ODAwMDAwMTExFQIAERgSQjZGOTUwRDRFNzg2MUEzN0VEAA=="
DOCUMENTED_FAILED = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since"
        " the customer last replied to this number."
    },
}


async def post_statuses(citizen: Citizen, *items: dict) -> int:
    return await citizen.post_raw(
        orjson.dumps(status_payload(list(items), phone_number_id=PHONE_ID))
    )


def status_of(body: dict, status: str, **more: object) -> dict:
    """A status webhook item as WhatsApp sends it for a message we sent with `body`."""
    item = status_update(body["to"], OUT_WAMID, status)
    item["conversation"] = {"id": "f5fdae3920125a39a1e6a23e5f877c16", "origin": {"type": "utility"}}
    item["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "utility"}
    item["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
    item.update(more)
    return item


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_one_correlation_id_follows_a_message_to_delivered(citizens, pg) -> None:
    citizen = citizens("919800000111")
    await start(citizen)
    slot_id = await reach_confirm(citizen, aadhaar(1))
    with structlog.testing.capture_logs() as logs:
        [ticket] = await citizen.tap(f"confirm:yes:{slot_id}")
    [message] = [e for e in logs if e["event"] == "message"]
    cid = message["cid"]
    reference = await pg.fetchval("SELECT reference FROM bookings WHERE slot_id = $1", slot_id)
    [made] = [e for e in logs if e["event"] == "booking_made"]
    assert (made["cid"], made["reference"], made["slot"], made["lang"]) == (
        cid, reference, slot_id, "en",
    )  # fmt: skip
    assert made["centre"] and made["via"] == "chat" and made["user"] == message["user"]
    [sent] = [e for e in logs if e["event"] == "reply_sent"]
    assert sent["cid"] == cid
    assert ticket["biz_opaque_callback_data"] == f"{cid}|{reference}:booked"

    before = counted("kmcbot_deliveries_total", status="delivered", code="")
    with structlog.testing.capture_logs() as logs:
        assert await post_statuses(citizen, status_of(ticket, "sent"),
                                   status_of(ticket, "delivered")) == 200  # fmt: skip
    assert [(e["event"], e.get("cid")) for e in logs] == [("reply_delivered", cid)]
    assert counted("kmcbot_deliveries_total", status="delivered", code="") == before + 1


async def test_a_failed_reminder_is_marked_on_the_booking_and_a_delivered_one_clears_it(
    citizens, pg
) -> None:
    citizen = citizens("919800000112")
    await start(citizen)
    slot_id = await reach_confirm(citizen, aadhaar(2))
    await citizen.tap(f"confirm:yes:{slot_id}")
    booking = await pg.fetchrow(
        "SELECT b.id, b.reference, s.day, s.centre_id FROM bookings b"
        " JOIN slots s ON s.id = b.slot_id WHERE b.slot_id = $1",
        slot_id,
    )
    notification = await pg.fetchval(
        "INSERT INTO notifications (booking_id, kind, remind_day) VALUES ($1, 'reminder', $2)"
        " RETURNING id",
        booking["id"],
        booking["day"],
    )
    with structlog.testing.capture_logs() as logs:
        # The app's relay sends it within a second or so.
        await citizen.standin.wait_for(citizen.wa_id, citizen.seen + 1, timeout=10)
        [reminder] = await citizen.replies()
    cid = f"n{notification}"
    assert reminder["biz_opaque_callback_data"] == f"{cid}|{booking['reference']}:reminder"
    assert {(e["event"], e.get("cid"), e.get("reference")) for e in logs} >= {
        ("notice_queued", cid, booking["reference"]),
        ("notice_sent", cid, booking["reference"]),
    }

    accepted = "SELECT accepted_at FROM notifications WHERE id = $1"
    assert await eventually(lambda: pg.fetchval(accepted, notification))  # WhatsApp took it
    before = counted("kmcbot_notices_failed_total", kind="reminder", code="131047")
    with structlog.testing.capture_logs() as logs:
        failed = status_of(reminder, "failed", errors=[DOCUMENTED_FAILED])
        assert await post_statuses(citizen, failed) == 200
    [line] = logs
    assert (line["event"], line["cid"], line["code"], line["log_level"]) == (
        "notice_failed", cid, "131047", "warning",
    )  # fmt: skip
    assert counted("kmcbot_notices_failed_total", kind="reminder", code="131047") == before + 1
    assert counted("kmcbot_deliveries_total", status="failed", code="131047") >= 1
    row = await pg.fetchrow(
        "SELECT notice_failed_kind, notice_failed_code, notice_failed_at FROM bookings"
        " WHERE id = $1",
        booking["id"],
    )
    assert (row["notice_failed_kind"], row["notice_failed_code"]) == ("reminder", 131047)
    centre, rows = await admin_repo.roster(pg, booking["centre_id"], booking["day"])
    [listed] = roster.render_json(centre, booking["day"], rows)["bookings"]
    assert listed["reference"] == booking["reference"]
    assert listed["notice_failed"]["kind"] == "reminder"
    assert listed["notice_failed"]["code"] == 131047
    assert "reminder 131047" in roster.render_csv(rows)
    # 131047: it went as free text after the window closed; the relay sends it again
    # (as the template) when it next looks at unaccepted rows.
    assert await pg.fetchval(accepted, notification) is None

    # Sent again (as the template) and delivered: the mark goes.
    assert await post_statuses(citizen, status_of(reminder, "delivered")) == 200
    assert (
        await pg.fetchval("SELECT notice_failed_kind FROM bookings WHERE id = $1", booking["id"])
        is None
    )


async def test_a_status_without_callback_data_is_matched_by_its_message_id(citizens, pg) -> None:
    citizen = citizens("919800000114")
    await start(citizen)
    slot_id = await reach_confirm(citizen, aadhaar(4))
    [ticket] = await citizen.tap(f"confirm:yes:{slot_id}")
    booking = await pg.fetchrow(
        "SELECT b.id, b.reference, s.day FROM bookings b JOIN slots s ON s.id = b.slot_id"
        " WHERE b.slot_id = $1",
        slot_id,
    )
    notification = await pg.fetchval(
        "INSERT INTO notifications (booking_id, kind, remind_day) VALUES ($1, 'reminder', $2)"
        " RETURNING id",
        booking["id"],
        booking["day"],
    )
    await citizen.standin.wait_for(citizen.wa_id, citizen.seen + 1, timeout=10)
    [reminder] = await citizen.replies()
    cid = f"n{notification}"
    wamid = citizen.standin.wamid_of(reminder)
    assert reminder["biz_opaque_callback_data"] == f"{cid}|{booking['reference']}:reminder"
    accepted = "SELECT accepted_at FROM notifications WHERE id = $1"
    assert await eventually(lambda: pg.fetchval(accepted, notification))  # WhatsApp took it

    # The documented shape: id, status, recipient_id, errors; no callback data.
    failed = status_update(citizen.wa_id, wamid, "failed")
    failed["errors"] = [{"code": 131047, "title": "Re-engagement message"}]
    before = counted("kmcbot_notices_failed_total", kind="reminder", code="131047")
    with structlog.testing.capture_logs() as logs:
        # Kept by the sender with its acknowledgements, a moment after the send.
        async def marked() -> bool:
            assert await post_statuses(citizen, failed) == 200
            return bool(logs)

        assert await eventually(marked)
    [line] = logs
    assert (line["event"], line["cid"], line["reference"], line["kind"], line["code"]) == (
        "notice_failed", cid, booking["reference"], "reminder", "131047",
    )  # fmt: skip
    assert counted("kmcbot_notices_failed_total", kind="reminder", code="131047") == before + 1
    row = await pg.fetchrow(
        "SELECT notice_failed_kind, notice_failed_code FROM bookings WHERE id = $1", booking["id"]
    )
    assert (row["notice_failed_kind"], row["notice_failed_code"]) == ("reminder", 131047)
    assert await pg.fetchval(accepted, notification) is None  # the relay sends it again

    with structlog.testing.capture_logs() as logs:
        delivered = status_update(citizen.wa_id, wamid, "delivered")
        assert await post_statuses(citizen, delivered) == 200
    assert [(e["event"], e["cid"]) for e in logs] == [("notice_delivered", cid)]
    assert (
        await pg.fetchval("SELECT notice_failed_kind FROM bookings WHERE id = $1", booking["id"])
        is None
    )

    # The ticket carried news too ("booked"): kept, so its failure is marked.
    booked = citizen.standin.wamid_of(ticket)
    ticket_failed = status_update(citizen.wa_id, booked, "failed", error_codes=[131026])
    with structlog.testing.capture_logs() as logs:
        assert await post_statuses(citizen, ticket_failed) == 200
    assert [(e["event"], e["news"]) for e in logs] == [("reply_failed", 1)]
    assert (
        await pg.fetchval("SELECT notice_failed_kind FROM bookings WHERE id = $1", booking["id"])
        == "booked"
    )

    # Not kept: the ticket's QR image (the news is its text), and a reply without
    # news; their statuses are only counted.
    [qr] = citizen.images
    [hello, *_] = await citizen.say("hi")
    plain = [status_update(citizen.wa_id, citizen.standin.wamid_of(body), "failed",
                           error_codes=[131026]) for body in (qr, hello)]  # fmt: skip
    before = counted("kmcbot_deliveries_total", status="failed", code="131026")
    with structlog.testing.capture_logs() as logs:
        assert await post_statuses(citizen, *plain) == 200
    assert logs == []
    assert counted("kmcbot_deliveries_total", status="failed", code="131026") == before + 2


async def test_statuses_kmcbot_did_not_send_are_counted_without_a_line(citizens) -> None:
    citizen = citizens("919800000113")
    await start(citizen)
    before = counted("kmcbot_deliveries_total", status="read", code="")
    unknown = status_update(citizen.wa_id, "wamid.unknown", "read")
    with structlog.testing.capture_logs() as logs:
        assert await post_statuses(citizen, *[unknown] * 50) == 200
    assert logs == []
    assert counted("kmcbot_deliveries_total", status="read", code="") == before + 50


async def test_statuses_beside_a_failing_message_count_once_after_redelivery(
    citizens, demo_client, monkeypatch
) -> None:
    """A POST whose message fails answers 503 and WhatsApp delivers all of it again:
    its statuses are counted (and a failed notice marked) by the delivery that
    succeeds, not by both."""
    citizen = citizens("919800000115")
    await start(citizen)
    pipeline = demo_client.app[PIPELINE]
    handle = pipeline.handle
    calls = 0

    async def fails_once(*args, **kw):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("PostgreSQL went away")
        return await handle(*args, **kw)

    monkeypatch.setattr(pipeline, "handle", fails_once)
    read = status_update(citizen.wa_id, "wamid.read-beside-a-message", "read")
    value = messages_value(
        PHONE_ID,
        contacts=[contact(citizen.wa_id)],
        messages=[text_message(citizen.wa_id, "my bookings")],
        statuses=[read],
    )
    raw = orjson.dumps(webhook(change(value)))
    before = counted("kmcbot_deliveries_total", status="read", code="")
    assert await citizen.post_raw(raw) == 503
    assert await citizen.post_raw(raw) == 200
    assert counted("kmcbot_deliveries_total", status="read", code="") == before + 1


async def test_statuses_whose_recording_fails_are_counted_once_when_delivered_again(
    citizens, pg
) -> None:
    """The status handling itself fails (PostgreSQL refuses a write): 503, nothing
    counted or marked half, and the redelivery records it all once."""
    citizen = citizens("919800000116")
    await start(citizen)
    slot_id = await reach_confirm(citizen, aadhaar(6))
    [ticket] = await citizen.tap(f"confirm:yes:{slot_id}")
    booking = await pg.fetchrow(
        "SELECT b.id, b.reference, s.day FROM bookings b JOIN slots s ON s.id = b.slot_id"
        " WHERE b.slot_id = $1",
        slot_id,
    )
    notification = await pg.fetchval(
        "INSERT INTO notifications (booking_id, kind, remind_day) VALUES ($1, 'reminder', $2)"
        " RETURNING id",
        booking["id"],
        booking["day"],
    )
    await citizen.standin.wait_for(citizen.wa_id, citizen.seen + 1, timeout=10)
    [reminder] = await citizen.replies()
    accepted = "SELECT accepted_at FROM notifications WHERE id = $1"
    assert await eventually(lambda: pg.fetchval(accepted, notification))
    # The second write of the POST (the 131047 resend) fails; the first (the mark) ran.
    await pg.execute(
        """CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
           CREATE TRIGGER refuse BEFORE UPDATE ON notifications FOR EACH ROW
           EXECUTE FUNCTION refuse()"""
    )
    failed = status_of(reminder, "failed", errors=[DOCUMENTED_FAILED])
    raw = orjson.dumps(status_payload([failed], phone_number_id=PHONE_ID))
    before = counted("kmcbot_notices_failed_total", kind="reminder", code="131047")
    with structlog.testing.capture_logs() as logs:
        assert await citizen.post_raw(raw) == 503
    events = [e["event"] for e in logs]
    assert "statuses_not_recorded" in events and "notice_failed" not in events
    assert counted("kmcbot_notices_failed_total", kind="reminder", code="131047") == before
    marked = "SELECT notice_failed_kind FROM bookings WHERE id = $1"
    assert await pg.fetchval(marked, booking["id"]) is None  # all or nothing
    await pg.execute("DROP TRIGGER refuse ON notifications; DROP FUNCTION refuse()")
    with structlog.testing.capture_logs() as logs:
        assert await citizen.post_raw(raw) == 200
    assert [e["event"] for e in logs if e["event"].startswith("notice_")] == ["notice_failed"]
    assert counted("kmcbot_notices_failed_total", kind="reminder", code="131047") == before + 1
    assert await pg.fetchval(marked, booking["id"]) == "reminder"
    assert await pg.fetchval(accepted, notification) is None  # the relay sends it again
