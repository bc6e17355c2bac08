"""No double processing and no lost update, with real `kmcbot serve` processes.

- the same webhook delivered 3 times at once (to three processes) and once
  more later acts once (one booking) and replies once;
- several messages of one citizen in separate concurrent POSTs are handled
  one at a time, each on the session the previous one left, in order;
- a process stopped (SIGSTOP) past its lock lease, mid-booking, cannot
  overwrite the newer session another process saved meanwhile (SIGCONT).
"""

from __future__ import annotations

import asyncio
import secrets
import time

import asyncpg

from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.model import Lang
from kmcbot.messages import Choice
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import SessionStore
from tests.support.factories import assert_counts_consistent, eventually, make_centre, make_slot
from tests.support.reliability import (
    PEPPER,
    PREFIX,
    drive_to_confirm,
    new_wa_id,
    one,
    outbox_drained,
    plans,
    stored_session,
)


async def slot_and_day(pg, capacity: int = 10) -> tuple[int, int, object]:
    centre = await make_centre(pg)
    slot_id = await make_slot(pg, centre, capacity=capacity)
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot_id)
    return centre, slot_id, day


async def test_one_webhook_delivered_four_times_acts_once_and_replies_once(
    pg, redis, bots, hook, standin
) -> None:
    procs = await bots.spawn(3)
    centre, slot_id, day = await slot_and_day(pg)
    (plan,) = plans(1, centre, day, slot_id)
    await drive_to_confirm(hook, procs[0].url, plan)
    before = len(await standin.wait_for(plan.wa_id, 11))

    confirm = plan.confirm(msg_id=f"wamid.DUP{secrets.token_hex(8)}")
    first = await asyncio.gather(*(hook.post(p.url, confirm) for p in procs))
    # Whatever was not a 200 (busy elsewhere: 503) is delivered again, as WhatsApp does.
    again = [await hook.deliver(procs[i].url, confirm) for i, s in enumerate(first) if s != 200]
    await asyncio.sleep(0.5)
    later = await hook.post(procs[1].url, confirm)
    assert later == 200

    assert set(first) <= {200, 503}
    rows = await pg.fetch("SELECT source_message_id FROM bookings WHERE wa_id = $1", plan.wa_id)
    assert [r["source_message_id"] for r in rows] == [
        confirm["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    ]
    await assert_counts_consistent(pg)
    await eventually(lambda: outbox_drained(redis), timeout=10)
    await asyncio.sleep(0.5)
    replies = standin.by_user[plan.wa_id][before:]
    # One reply (the ticket) and, after it, its check-in QR image: each once.
    assert [r["type"] for r in replies] == ["text", "image"], (first, again, replies)
    reference = await pg.fetchval("SELECT reference FROM bookings WHERE wa_id = $1", plan.wa_id)
    assert reference in replies[0]["text"]["body"]


LANG_PICKS = [Lang.BN, Lang.HI, Lang.EN, Lang.HI, Lang.BN, Lang.EN]


def language_of_reply(body: dict) -> Lang:
    shown = (
        body["interactive"]["body"]["text"]
        if body["type"] == "interactive"
        else (body["text"]["body"])
    )
    found = [lang for lang in Lang if text(lang, "language.set") in shown]
    assert len(found) == 1, shown
    return found[0]


async def at_menu(hook, url: str, standin) -> str:
    wa_id = new_wa_id()
    for content in (Choice("lang:en", "English"),):
        await hook.deliver(url, one(wa_id, content))
    await standin.wait_for(wa_id, 1)
    return wa_id


async def test_concurrent_messages_of_one_citizen_are_handled_one_after_another(
    redis, bots, hook, standin
) -> None:
    """Six language picks in six concurrent POSTs over two processes: each is
    handled once, on the session the one before left (the version goes up by
    exactly six), one reply each, and the language stored is the last reply's."""
    procs = await bots.spawn(2)
    for _ in range(3):
        wa_id = await at_menu(hook, procs[0].url, standin)
        version, _ = await stored_session(redis, wa_id)
        sent = await asyncio.gather(
            *(
                hook.deliver(procs[i % 2].url, one(wa_id, Choice(f"lang:{lang.value}", lang.value)))
                for i, lang in enumerate(LANG_PICKS)
            )
        )
        assert all(s[-1] == 200 for s in sent)
        replies = await standin.wait_for(wa_id, 1 + len(LANG_PICKS))
        await asyncio.sleep(0.2)
        assert len(standin.by_user[wa_id]) == 1 + len(LANG_PICKS)
        new_version, session = await stored_session(redis, wa_id)
        assert new_version == version + len(LANG_PICKS)
        handled = [language_of_reply(r) for r in replies[1:]]
        assert sorted(handled) == sorted(LANG_PICKS)
        assert session["l"] == handled[-1].value


async def test_messages_waiting_for_the_lock_are_handled_in_arrival_order(
    redis, bots, hook, standin
) -> None:
    """A citizen's message is in progress (its lock is held); their next messages
    arrive one by one, 40 ms apart, each in its own POST. When the lock is free
    they must be handled in the order they came, not in the order their polling
    happens to wake up."""
    procs = await bots.spawn(2)
    orders = []
    for _ in range(2):
        wa_id = await at_menu(hook, procs[0].url, standin)
        lock = SessionStore(redis, PREFIX).keys(user_tag(PEPPER, wa_id))["lock"]
        await redis.set(lock, "held-by-a-message-in-progress", px=4000)
        tasks = []
        for i, lang in enumerate(LANG_PICKS):
            payload = one(wa_id, Choice(f"lang:{lang.value}", lang.value))
            tasks.append(asyncio.create_task(hook.deliver(procs[i % 2].url, payload)))
            await asyncio.sleep(0.04)
        await asyncio.sleep(0.4)
        await redis.delete(lock)
        await asyncio.gather(*tasks)
        replies = await standin.wait_for(wa_id, 1 + len(LANG_PICKS))
        orders.append([language_of_reply(r) for r in replies[1:]])
    assert orders == [LANG_PICKS] * 2


async def test_a_holder_stopped_past_its_lease_cannot_overwrite_a_newer_session(
    pg, pg_url, redis, bots, hook, standin
) -> None:
    """Process A takes the citizen's lock for their Confirm and starts booking;
    we hold A inside the booking transaction (an advisory lock it waits for),
    then SIGSTOP it past its lock lease (KMCBOT_LOCK_LEASE_MS=1000). Process B
    handles the citizen's next message (switch to Hindi) and saves version v+1.
    SIGCONT: A finishes the booking, but its compare-and-set on version v
    fails, so it loads v+1 and steps again. The final session is B's lineage
    (Hindi), never A's stale one."""
    a, b = await bots.spawn(2, KMCBOT_LOCK_LEASE_MS="1000")
    centre, slot_id, day = await slot_and_day(pg)
    (plan,) = plans(1, centre, day, slot_id)
    await drive_to_confirm(hook, b.url, plan)
    version, session = await stored_session(redis, plan.wa_id)
    assert session["s"] == "confirm" and session["l"] == "en"

    blocker = await asyncpg.connect(pg_url)
    stopped_for = 0.0
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", plan.wa_id)
        confirm_message = plan.confirm(msg_id="wamid.CONFIRM-STOPPED")
        confirm = asyncio.create_task(hook.post(a.url, confirm_message, timeout=60))
        # A is inside the booking transaction, waiting for the citizen's lock.
        await eventually(
            lambda: pg.fetchval(
                """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
            ),
            timeout=5,
            every=0.005,
        )
        a.pause()
        paused_at = time.monotonic()
        await tx.commit()  # A's backend gets the lock; A itself is frozen
    finally:
        await blocker.close()
    try:
        await asyncio.sleep(1.3)  # A's lease (1 s) runs out while it is frozen
        lang_hi = one(plan.wa_id, Choice("lang:hi", "हिन्दी"))
        assert await hook.deliver(b.url, lang_hi) == [200]
        newer, session = await stored_session(redis, plan.wa_id)
        # The language changes; the summary stays (issue 20: nothing given is lost).
        assert newer == version + 1 and session["l"] == "hi" and session["s"] == "confirm"
    finally:
        stopped_for = time.monotonic() - paused_at
        a.resume()
    status = await confirm
    # A was frozen past its lease: it either lost the compare-and-set and stepped
    # again (200), or gave up past its time budget (503) and WhatsApp delivers again.
    assert status in (200, 503)
    if status == 503:
        assert await hook.deliver(b.url, confirm_message) == [200]
    final, session = await stored_session(redis, plan.wa_id)
    assert stopped_for > 1.0
    # A's stale step (English, menu after the ticket) did not overwrite B's:
    assert final == version + 2
    assert session["l"] == "hi"
    # A booking A committed is in PostgreSQL once; one A gave up on was rolled back
    # (and its redelivery, after B's newer turn, is a stale tap): counts agree either way.
    booked = await pg.fetchval("SELECT count(*) FROM bookings WHERE wa_id = $1", plan.wa_id)
    assert booked == 1 if status == 200 else booked in (0, 1)
    await assert_counts_consistent(pg)
    if status == 200:
        assert any(e.get("event") == "session_conflict" for e in a.logs())
