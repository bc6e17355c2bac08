"""No lost message: kill -9 a server in the middle of a load of full
conversations, start it again, redeliver every webhook that got no 200 (as
WhatsApp does), and account for everything afterwards.

The Graph API is reached through a fault proxy adding 150 ms each way, so
that the killed process certainly dies with outbox entries read and not yet
acknowledged: those must be claimed again by a live sender. The claim waits
for entries idle longer than KMCBOT_CLAIM_IDLE_MS (60 s by default, which
would make this test last minutes; 5 s here: much shorter makes live senders
steal each other's slow entries and send them twice), and the sender only
looks for them every 15 s (kmcbot/outbox/sender.py, Sender.run). The figures
printed say how long the outbox took to drain and how many replies went
twice (entries in flight when the process died: at-least-once).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from kmcbot.storage.keys import message_key
from kmcbot.storage.sessions import SessionStore
from kmcbot.whatsapp import simulate
from tests.support.factories import assert_counts_consistent, eventually, make_centre, make_slot
from tests.support.faultproxy import FaultProxy
from tests.support.reliability import (
    PHONE_ID,
    PREFIX,
    Plan,
    outbox_drained,
    outbox_entries,
    plans,
)


@pytest.mark.slow
async def test_kill_9_during_a_load_loses_no_message_reply_or_booking(
    pg, redis, bots, bot_env, hook, standin
) -> None:
    n = 80
    centre = await make_centre(pg)
    slot_id = await make_slot(pg, centre, capacity=1000)
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot_id)
    citizens = plans(n, centre, day, slot_id)
    host, port = standin.url.removeprefix("http://").split(":")

    def replies_to(wa_id: str) -> list:
        """The replies a number got, not counting the tickets' QR images."""
        return [m for m in standin.by_user[wa_id] if m.get("type") != "image"]

    async with FaultProxy(host, int(port)) as graph:
        graph.delay(150)
        bots.env = {
            **bot_env,
            "KMCBOT_GRAPH_URL": f"http://{graph.address}",
            "KMCBOT_CLAIM_IDLE_MS": "5000",
        }
        procs = await bots.spawn(2)
        victim = procs[0]
        sent_ids: list[tuple[str, str]] = []
        statuses: list[list[int]] = []

        async def converse(i: int, plan: Plan) -> None:
            steps = plan.up_to_confirm() + [
                (plan.confirm()["entry"][0]["changes"][0]["value"]["messages"][0], None)
            ]
            for content, via_list in steps:
                if via_list is None:  # the confirm, already a message dict
                    message = content
                else:
                    message = simulate.message(plan.wa_id, content, via_list=via_list)
                sent_ids.append((plan.tag, message["id"]))
                payload = simulate.payload([message], phone_number_id=PHONE_ID)
                # A load balancer: the citizen's process first, the other on redelivery.
                statuses.append(
                    await hook.deliver(
                        lambda attempt, i=i: procs[(i + attempt) % 2].url,
                        payload,
                        tries=80,
                        pause=0.05,
                        max_pause=0.5,
                    )
                )

        started = time.perf_counter()
        load = asyncio.gather(*(converse(i, p) for i, p in enumerate(citizens)))
        # Kill once a third of the messages are in (whatever this machine's speed):
        # every citizen is then mid-conversation, half of them on the victim.
        total = n * 12
        await eventually(lambda: len(statuses) >= total // 3, timeout=60, every=0.005)
        in_outbox = await outbox_entries(redis)
        await victim.kill9()
        killed_at = time.perf_counter() - started
        await asyncio.sleep(1.0)
        await victim.start()
        await load
        load_s = time.perf_counter() - started

        # Every message was handled (it is in its citizen's "done" set) ...
        store = SessionStore(redis, PREFIX)
        for tag, message_id in sent_ids:
            assert await redis.zscore(store.keys(tag)["seen"], message_key(message_id)) is not None
        # ... every booking is there once, and the counts agree.
        rows = await pg.fetch("SELECT wa_id, reference, source_message_id FROM bookings")
        assert sorted(r["wa_id"] for r in rows) == sorted(p.wa_id for p in citizens)
        assert len({r["source_message_id"] for r in rows}) == n
        await assert_counts_consistent(pg)
        # Every queued reply was sent: the outbox drains (claims included) ...
        drain_started = time.perf_counter()
        await eventually(lambda: outbox_drained(redis), timeout=90, every=0.2)
        drained_s = time.perf_counter() - drain_started
        # ... and every booking's confirmation reached the Graph API.
        references = {r["wa_id"]: r["reference"] for r in rows}
        await eventually(
            lambda: all(
                any(ref in str(m) for m in standin.by_user[w]) for w, ref in references.items()
            ),
            timeout=60,
        )
        short = {
            p.wa_id: len(replies_to(p.wa_id)) for p in citizens if len(replies_to(p.wa_id)) < 12
        }
        assert short == {}, f"replies per number, of 12 (drained after {drained_s:.1f} s)"

    non_200 = [s for per in statuses for s in per if s != 200]
    extra = sum(len(replies_to(p.wa_id)) - 12 for p in citizens)
    assert non_200, "the kill hit no request in flight: the test proved nothing"
    print(
        f"\n[crash] {n} conversations, {len(sent_ids)} messages, load {load_s:.1f} s, "
        f"kill -9 at {killed_at:.1f} s with {in_outbox} entries in the outbox; "
        f"answers other than 200: {len(non_200)} "
        f"(0 = no answer: {non_200.count(0)}, 503: {non_200.count(503)}); "
        f"outbox drained {drained_s:.1f} s after the load; "
        f"replies beyond one per message (at-least-once resends): {extra}"
    )
