"""The relay against real PostgreSQL and Redis: news of a booking reaches the
outbox once, in the citizen's language, as a template outside the 24-hour window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest

from kmcbot.booking import repository
from kmcbot.booking.model import BookingStatus, BookingView, Centre, Vaccine
from kmcbot.booking.repository import load_availability
from kmcbot.dialogue.notices import Kind, Notice, render
from kmcbot.messages import Choice, Inbound, Text
from kmcbot.outbox.rate import SharedRateLimiter
from kmcbot.outbox.relay import MAX_TRIES, Relay, mark_accepted
from kmcbot.outbox.sender import Sender
from kmcbot.pipeline import AvailabilityCache, Pipeline
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from kmcbot.whatsapp.graph import SendResult, Sent
from kmcbot.whatsapp.outbound import limits_violations
from tests.support.factories import eventually, make_centre, make_slot
from tests.support.relay import OUTBOX, PEPPER, TEMPLATES, book, outbox, relay, seen, unqueued

REASON = "Vaccine stock did not arrive"


async def cancel_slot(pg: asyncpg.Pool, slot: int) -> None:
    """What the admin API does when the vaccine does not arrive."""
    async with pg.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE slots SET status = 'cancelled', cancel_reason = $2 WHERE id = $1", slot, REASON
        )
        ids = await conn.fetch(
            "UPDATE bookings SET status = 'cancelled' WHERE slot_id = $1 AND status = 'booked' "
            "RETURNING id",
            slot,
        )
        await conn.executemany(
            "INSERT INTO notifications (booking_id, kind) VALUES ($1, 'slot_cancelled')",
            [(r["id"],) for r in ids],
        )


async def unaccepted(pg: asyncpg.Pool, kind: str) -> int:
    """Rows of `kind` the relay queued and WhatsApp has not accepted yet."""
    return await pg.fetchval(
        "SELECT count(*) FROM notifications"
        " WHERE kind = $1 AND queued_entry IS NOT NULL AND accepted_at IS NULL",
        kind,
    )


@pytest.fixture
async def slot(pg: asyncpg.Pool) -> int:
    return await make_slot(pg, await make_centre(pg, "Roxy Cinema"), capacity=50)


async def test_a_cancelled_session_reaches_its_citizen_once_in_their_language(
    pg, redis, slot
) -> None:
    b = await book(pg, slot, 1, lang="bn")
    await seen(redis, "919800000001", ago_s=3600, lang="bn")
    await cancel_slot(pg, slot)

    assert await relay(pg, redis).relay_once() == 1  # the fresh 'booked' row waits out its grace
    assert await relay(pg, redis).relay_once() == 0
    [sent] = await outbox(redis)
    assert sent["to"] == "919800000001" and sent["tag"] == user_tag(PEPPER, "919800000001")
    inter = sent["interactive"]
    assert inter["type"] == "button"
    assert "Roxy Cinema" in inter["body"]["text"] and REASON in inter["body"]["text"]
    assert "বাতিল" in inter["body"]["text"]  # Bengali
    [button] = inter["action"]["buttons"]
    assert button["reply"] == {"id": "menu:book", "title": "আবার বুক করুন"}
    assert await unqueued(pg, "slot_cancelled") == 0
    assert await unqueued(pg, "booked") == 1
    assert b.reference  # the booking the news was about


async def test_two_relays_at_once_send_each_notice_exactly_once(pg, redis, slot) -> None:
    for n in range(1, 41):
        await book(pg, slot, n)
    await cancel_slot(pg, slot)
    relays = [relay(pg, redis, batch=3) for _ in range(3)]

    async def drain(r: Relay) -> int:
        total = 0
        while handled := await r.relay_once():
            total += handled
        return total

    totals = await asyncio.gather(*(drain(r) for r in relays))
    assert sum(totals) == 40
    sent = await outbox(redis)
    assert len(sent) == 40
    assert len({s["to"] for s in sent}) == 40
    assert await unqueued(pg, "slot_cancelled") == 0


async def test_news_of_a_crashed_chat_turn_goes_out_after_the_grace_period(pg, redis, slot) -> None:
    crashed = await book(pg, slot, 1)  # PostgreSQL committed, the chat turn died
    answered = await book(pg, slot, 2)
    await mark_accepted(pg, [(answered.reference, "booked")])  # as the pipeline does
    await seen(redis, "919800000001", ago_s=60)

    assert await relay(pg, redis).relay_once() == 0  # within the grace period: the chat's turn
    assert await relay(pg, redis, grace_s=0).relay_once() == 1
    [sent] = await outbox(redis)
    assert sent["to"] == "919800000001"
    ticket = sent["text"]["body"]
    assert f"Reference: {crashed.reference}" in ticket and f"Code: {crashed.code}" in ticket
    assert "Carry a hard copy of your Aadhaar" in ticket
    assert await unqueued(pg, "booked") == 0


async def test_a_ticket_superseded_by_later_news_is_not_sent(pg, redis, slot) -> None:
    b = await book(pg, slot, 1)
    await repository.cancel(pg, "919800000001", b.reference)  # both chat turns crashed
    await seen(redis, "919800000001", ago_s=60)
    assert await relay(pg, redis, grace_s=0).relay_once() == 2
    [sent] = await outbox(redis)
    assert sent["text"]["body"] == f"Booking {b.reference} is cancelled."


async def test_outside_the_24_hour_window_only_a_template_is_sent(pg, redis, slot) -> None:
    await book(pg, slot, 1, lang="hi")  # silent for 25 hours
    await book(pg, slot, 2, lang="hi")  # wrote an hour ago
    await book(pg, slot, 3, lang="en")  # never seen (or Redis lost it)
    await seen(redis, "919800000001", ago_s=25 * 3600, lang="hi")
    await seen(redis, "919800000002", ago_s=3600, lang="hi")
    await cancel_slot(pg, slot)
    await relay(pg, redis).relay_once()
    sent = {s["to"]: s for s in await outbox(redis)}

    silent = sent["919800000001"]
    assert silent["type"] == "template"
    template = silent["template"]
    assert template["name"] == "kmcbot_slot_cancelled" and template["language"] == {"code": "hi"}
    params = [p["text"] for p in template["components"][0]["parameters"]]
    assert params[0] == "Roxy Cinema" and params[3] == REASON.rstrip(".")
    # "Book again" works from the template too: its tap comes back as menu:book.
    assert template["components"][1]["parameters"] == [{"type": "payload", "payload": "menu:book"}]
    assert sent["919800000002"]["type"] == "interactive"
    assert sent["919800000003"]["type"] == "template"
    assert sent["919800000003"]["template"]["language"] == {"code": "en"}


async def test_erased_bookings_are_marked_relayed_without_a_message(pg, redis, slot) -> None:
    await book(pg, slot, 1)
    # Erasing cancels the future booking; its unsent 'booked' news has no one to go to.
    await repository.forget(pg, "919800000001")
    assert await relay(pg, redis, grace_s=0).relay_once() == 1
    assert await outbox(redis) == []
    assert await pg.fetchval("SELECT count(*) FROM notifications WHERE relayed_at IS NULL") == 0


async def test_the_pipeline_records_when_a_citizen_wrote_and_marks_its_own_news(
    pg, redis, slot
) -> None:
    b = await book(pg, slot, 1)
    await mark_accepted(pg, [(b.reference, "booked")])
    store = SessionStore(redis)
    pipeline = Pipeline(
        store, pg, AvailabilityCache(lambda now: load_availability(pg, now)), PEPPER
    )
    wa_id = "919800000001"
    sent_at = datetime.now(UTC) - timedelta(seconds=5)
    for n, content in enumerate(
        [Choice("lang:en"), Choice("menu:bookings"), Choice(f"cancel:{b.reference}")]
        + [Choice(f"cancel:yes:{b.reference}")]
    ):
        await pipeline.handle(Inbound(wa_id, f"wamid.{n}", sent_at, content))
    profile = orjson.loads(await redis.get(store.keys(user_tag(PEPPER, wa_id))["profile"]))
    assert profile["seen"] == int(sent_at.timestamp()) and profile["lang"] == "en"
    chat = await outbox(redis)
    assert f"Booking {b.reference} is cancelled." in chat[-1]["interactive"]["body"]["text"]

    # The chat's reply carries the news; it counts as relayed once WhatsApp accepted it.
    entries = await redis.xrange(store.outbox_keys[0])
    assert entries[-1][1][b"news"] == f"{b.reference}:cancelled".encode()
    assert await unqueued(pg, "cancelled") == 1  # not sent yet: the relay would still send it
    sender = Sender(
        redis,
        store.outbox_keys,
        AcceptAll(),
        SharedRateLimiter(redis, "kmcbot:send-rate", 1000),
        on_news=lambda news: mark_accepted(pg, news),
    )
    task = asyncio.create_task(sender.run())
    await eventually(lambda: sender.sent == len(chat))
    sender.stop()
    await asyncio.wait_for(task, 5)
    assert await unqueued(pg, "cancelled") == 0
    # So the relay, past the grace period, sends nothing more.
    assert await relay(pg, redis, grace_s=0).relay_once() == 0
    assert await outbox(redis) == []  # the sender took the chat's replies; nothing new came

    # An older message redelivered late does not move "seen" back.
    await pipeline.handle(Inbound(wa_id, "wamid.old", sent_at - timedelta(minutes=30), Text("hi")))
    profile = orjson.loads(await redis.get(store.keys(user_tag(PEPPER, wa_id))["profile"]))
    assert profile["seen"] == int(sent_at.timestamp())


class AcceptAll:
    """A Graph API that takes every message."""

    async def send(self, to: str, body: bytes) -> SendResult:
        return SendResult(Sent.OK)


def _view(
    lang: str, centre: str = "Roxy Cinema", address: str = "5 Chowringhee Place"
) -> BookingView:
    return BookingView(
        reference="KMC-4K7P2Q",
        code="4821",
        status=BookingStatus.BOOKED,
        centre=Centre(1, "C1", centre, address, 46, 22.562, 88.351),
        slot_id=1,
        day=datetime(2021, 6, 12).date(),
        start=datetime(2021, 6, 12, 10).time(),
        end=datetime(2021, 6, 12, 12).time(),
        vaccine=Vaccine.COVISHIELD,
        first_dose=datetime(2021, 3, 1).date(),
        id_type="aadhaar",
        id_last4="1234",
        name="Citizen",
        lang=lang,
    )


@pytest.mark.parametrize("lang", ["en", "bn", "hi"])
@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("in_window", [True, False])
def test_every_notice_keeps_within_whatsapp_limits(lang: str, kind: Kind, in_window: bool) -> None:
    long = "Netaji Subhas Chandra Bose Indoor Stadium,\tgate   no.     4 " * 20
    for view, reason in [(_view(lang), REASON), (_view(lang, long, long), long), (_view(lang), "")]:
        reply = render(Notice(kind, view, reason), in_window=in_window, templates=TEMPLATES)
        assert limits_violations(reply) == [], (kind, lang, reply)


async def test_a_notice_is_sent_again_only_when_it_left_the_outbox_unaccepted(
    pg, redis, slot
) -> None:
    await book(pg, slot, 1, lang="hi")
    await seen(redis, "919800000001", ago_s=60, lang="hi")
    await cancel_slot(pg, slot)
    assert await relay(pg, redis).relay_once() == 1
    [first] = await outbox(redis)
    assert first["type"] == "interactive"  # in the window: free-form
    assert await unqueued(pg, "slot_cancelled") == 0  # an older relay would not send it
    assert await unaccepted(pg, "slot_cancelled") == 1  # on its way, not yet accepted
    assert await relay(pg, redis).relay_once() == 0  # and not queued twice meanwhile
    # Long unaccepted but still in the outbox (a backlog, WhatsApp retrying): left alone.
    assert await relay(pg, redis, resend_s=0).relay_once() == 0
    assert len(await outbox(redis)) == 1

    # Redis lost the entry (or the sender dropped it: WhatsApp refused it, e.g.
    # because the window closed meanwhile).
    await redis.delete(OUTBOX)
    assert await relay(pg, redis, resend_s=0).relay_once() == 1
    [again] = await outbox(redis)
    # Sent again as the template, which WhatsApp accepts in the window and out of it.
    assert again["type"] == "template" and again["template"]["language"] == {"code": "hi"}
    assert await unaccepted(pg, "slot_cancelled") == 1

    sender = Sender(
        redis,
        [OUTBOX],
        AcceptAll(),
        SharedRateLimiter(redis, "kmcbot:send-rate", 1000),
        on_news=lambda news: mark_accepted(pg, news),
    )
    task = asyncio.create_task(sender.run())
    await eventually(lambda: sender.sent == 1)
    sender.stop()
    await asyncio.wait_for(task, 5)
    assert await unaccepted(pg, "slot_cancelled") == 0
    assert await relay(pg, redis, resend_s=0).relay_once() == 0  # accepted: never again
    assert await outbox(redis) == []


async def test_a_notice_whatsapp_never_accepts_is_given_up_after_a_few_tries(
    pg, redis, slot
) -> None:
    await book(pg, slot, 1)
    await cancel_slot(pg, slot)
    for _ in range(MAX_TRIES):
        assert await relay(pg, redis, resend_s=0).relay_once() == 1
        assert len(await outbox(redis)) == 1
        await redis.delete(OUTBOX)  # refused: the sender drops it without marking
    assert await relay(pg, redis, resend_s=0).relay_once() == 1  # given up: marked, not sent
    assert await outbox(redis) == []
    assert await unaccepted(pg, "slot_cancelled") == 0
    assert await relay(pg, redis, resend_s=0).relay_once() == 0
