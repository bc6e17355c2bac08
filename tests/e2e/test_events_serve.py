"""The business events and the correlation id in a real `kmcbot serve` process's
output (its JSON log lines), with the Graph stand-in in front of it: a booking in
the chat, a missed booking swept at start, a check-in and a session cancelled
through /admin, the cancellation notice queued, sent and reported failed by a
status webhook; and one `cid` from the inbound message to "delivered". Then a
refusal, a move whose reply WhatsApp reports failed, a cancellation in the chat,
and a centre's notice delivered and read."""

from __future__ import annotations

import asyncio
import re
from datetime import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.support.e2e import (
    PHONE_ID,
    SECRET,
    Citizen,
    option_ids,
    reach_confirm,
    serve_standin,
    start,
)
from tests.support.factories import eventually, make_centre, make_slot
from tests.support.ids import aadhaar
from tests.support.net import free_port
from tests.support.payloads import status_payload, status_update
from tests.support.serve import KMCBOT, bot_env, run, stop, wait_until_healthy
from tests.support.staff import book, move_to

ADMIN = "e2e-admin-token-for-events"


class Remote:
    """What Citizen needs of a test client, over a real socket."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url, http

    async def post(self, path: str, **kw: object) -> aiohttp.ClientResponse:
        async with self.http.post(self.url + path, **kw) as resp:  # type: ignore[arg-type]
            await resp.read()
            return resp


def lines(log: Path) -> list[dict]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")]


def events(log: Path, name: str) -> list[dict]:
    return [e for e in lines(log) if e.get("event") == name]


@pytest.fixture
async def served(pg_url, redis_url, pg, redis, aiohttp_server, tmp_path):
    assert "centres" in await run("seed", "--demo", env=bot_env(pg_url, redis_url), timeout=60)
    # Yesterday's booking nobody came for: swept at start (booking_missed).
    centre = await make_centre(pg, "Events Centre")
    past = await make_slot(pg, centre, capacity=5)
    missed = await book(pg, past, 61)
    await move_to(pg, past, -1, time(9))
    # Today's, begun: checked in through /admin.
    today = await make_slot(pg, centre, capacity=5, start=time(1))
    attending = await book(pg, today, 62)
    await move_to(pg, today, 0, time(1))
    standin = await serve_standin(aiohttp_server)
    env = bot_env(pg_url, redis_url) | {
        "KMCBOT_APP_SECRET": SECRET.decode(),
        "KMCBOT_WA_TOKEN": standin.token,
        "KMCBOT_GRAPH_URL": standin.url,
        "KMCBOT_WA_PHONE_NUMBER_ID": PHONE_ID,
        "KMCBOT_ID_PEPPER": "events-pepper",
        "KMCBOT_ADMIN_TOKEN": ADMIN,
        "KMCBOT_NO_READ_RECEIPTS": "1",
    }
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = await asyncio.create_subprocess_exec(
            KMCBOT, "serve", "--port", str(port), env=env,
            stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_until_healthy(url, server, log)
        async with aiohttp.ClientSession() as http:
            yield url, http, standin, log, {"missed": missed, "attending": attending}
    finally:
        await stop(server)


async def test_business_events_and_one_cid_in_the_servers_output(served, pg, redis) -> None:
    url, http, standin, log, refs = served
    citizen = Citizen(Remote(url, http), standin, "919800000311", redis=redis)  # type: ignore[arg-type]

    async def post(payload: dict) -> int:
        return await citizen.post_raw(orjson.dumps(payload))

    # The sweep at start.
    await eventually(lambda: events(log, "booking_missed"), timeout=10)
    [missed] = events(log, "booking_missed")
    assert missed["reference"] == refs["missed"] and missed["centre"] and missed["slot"]

    # A booking in the chat: one cid from the webhook to the reply.
    await start(citizen)
    slot_id = await reach_confirm(citizen, aadhaar(31))
    [ticket] = await citizen.tap(f"confirm:yes:{slot_id}")
    reference = await pg.fetchval("SELECT reference FROM bookings WHERE slot_id = $1", slot_id)
    [made] = [e for e in events(log, "booking_made") if e["reference"] == reference]
    cid = made["cid"]
    assert re.fullmatch(r"[0-9a-f]{12}", cid) and made["slot"] == slot_id
    assert ticket["biz_opaque_callback_data"] == f"{cid}|{reference}:booked"
    delivered = status_update(citizen.wa_id, "wamid.out-1", "delivered")
    delivered["biz_opaque_callback_data"] = ticket["biz_opaque_callback_data"]
    assert await post(status_payload([delivered], phone_number_id=PHONE_ID)) == 200
    await eventually(lambda: events(log, "reply_delivered"), timeout=5)
    followed = [e["event"] for e in lines(log) if e.get("cid") == cid]
    assert followed[0] in ("message", "booking_made")
    assert set(followed) == {"message", "booking_made", "reply_sent", "reply_delivered"}

    # /admin: a check-in, and the chat booking's session cancelled.
    headers = {"Authorization": f"Bearer {ADMIN}"}
    code = await pg.fetchval("SELECT code FROM bookings WHERE reference = $1", refs["attending"])
    body = {"reference": refs["attending"], "code": code}
    async with http.post(f"{url}/admin/checkin", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
    [checked] = events(log, "booking_checked_in")
    assert (checked["reference"], checked["via"]) == (refs["attending"], "admin")
    async with http.post(
        f"{url}/admin/slots/{slot_id}/cancel", json={"reason": "holiday"}, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    [cancelled] = events(log, "session_cancelled")
    assert (cancelled["slot"], cancelled["reason"], cancelled["bookings"]) == (
        slot_id, "holiday", 1,
    )  # fmt: skip

    # Its notice: queued, sent, and reported failed by WhatsApp.
    await standin.wait_for(citizen.wa_id, citizen.seen + 1, timeout=10)
    [notice] = await citizen.replies()
    ncid, _, news = notice["biz_opaque_callback_data"].partition("|")
    assert news == f"{reference}:slot_cancelled"
    failed = status_update(citizen.wa_id, "wamid.out-2", "failed", error_codes=[131026])
    failed["biz_opaque_callback_data"] = notice["biz_opaque_callback_data"]
    assert await post(status_payload([failed], phone_number_id=PHONE_ID)) == 200
    await eventually(lambda: events(log, "notice_failed"), timeout=5)
    trail = [(e["event"], e.get("code")) for e in lines(log) if e.get("cid") == ncid]
    assert trail == [("notice_queued", None), ("notice_sent", None), ("notice_failed", "131026")]
    assert (
        await pg.fetchval("SELECT notice_failed_code FROM bookings WHERE reference = $1", reference)
        == 131026
    )


async def test_moves_cancels_refusals_and_delivery_in_the_servers_output(served, pg, redis) -> None:
    url, http, standin, log, _ = served
    asha = Citizen(Remote(url, http), standin, "919800000312", redis=redis)  # type: ignore[arg-type]
    other = Citizen(Remote(url, http), standin, "919800000313", redis=redis)  # type: ignore[arg-type]

    async def post(payload: dict) -> int:
        return await asha.post_raw(orjson.dumps(payload))

    await start(asha)
    slot_id = await reach_confirm(asha, aadhaar(41))
    await asha.tap(f"confirm:yes:{slot_id}")
    reference = await pg.fetchval("SELECT reference FROM bookings WHERE slot_id = $1", slot_id)

    # The same ID from another number: PostgreSQL refuses it.
    await start(other)
    other_slot = await reach_confirm(other, aadhaar(41))
    await other.tap(f"confirm:yes:{other_slot}")
    [refused] = events(log, "booking_refused")
    assert (refused["reason"], refused["via"]) == ("id_already_booked", "chat")
    assert refused["lang"] == "en"

    # Moved to the next day's first session, in the chat; that reply reported failed.
    await asha.tap_earlier("menu:bookings")
    await asha.tap(f"move:{reference}")
    await asha.tap("Roxy Cinema")
    await asha.pick(1)
    new_slot = int(option_ids(asha.last)[0].removeprefix("slot:"))
    await asha.tap(f"slot:{new_slot}")
    [moved_reply] = await asha.tap("confirm:yes")
    [moved] = events(log, "booking_moved")
    assert (moved["reference"], moved["slot"]) == (reference, new_slot) and moved["centre"]
    failed = status_update(asha.wa_id, "wamid.t-1", "failed", error_codes=[131026])
    failed["biz_opaque_callback_data"] = moved_reply["biz_opaque_callback_data"]
    assert await post(status_payload([failed], phone_number_id=PHONE_ID)) == 200
    await eventually(lambda: events(log, "reply_failed"), timeout=5)
    [reply_failed] = events(log, "reply_failed")
    assert (reply_failed["cid"], reply_failed["code"], reply_failed["news"]) == (
        moved["cid"], "131026", 1,
    )  # fmt: skip
    # A third citizen books, then cancels in the chat (a citizen's messages per
    # minute are limited: the first two have sent enough).
    third = Citizen(Remote(url, http), standin, "919800000314", redis=redis)  # type: ignore[arg-type]
    await start(third)
    slot_b = await reach_confirm(third, aadhaar(42))
    await third.tap(f"confirm:yes:{slot_b}")
    ref_b = await pg.fetchval("SELECT reference FROM bookings WHERE wa_id = $1", third.wa_id)
    await third.tap_earlier("menu:bookings")
    await third.tap(f"cancel:{ref_b}")
    await third.tap(f"cancel:yes:{ref_b}")
    [cancelled] = events(log, "booking_cancelled")
    assert cancelled["reference"] == ref_b and cancelled["cid"]

    # A fourth books; the centre cancels that session: its notice delivered, then read.
    fourth = Citizen(Remote(url, http), standin, "919800000315", redis=redis)  # type: ignore[arg-type]
    await start(fourth)
    slot_c = await reach_confirm(fourth, aadhaar(43))
    await fourth.tap(f"confirm:yes:{slot_c}")
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with http.post(
        f"{url}/admin/slots/{slot_c}/cancel", json={"reason": "holiday"}, headers=headers
    ) as resp:
        assert resp.status == 200, await resp.text()
    await standin.wait_for(fourth.wa_id, fourth.seen + 1, timeout=10)
    [notice] = await fourth.replies()
    for n, status in enumerate(("delivered", "read")):
        update = status_update(fourth.wa_id, f"wamid.n-{n}", status)
        update["biz_opaque_callback_data"] = notice["biz_opaque_callback_data"]
        assert await post(status_payload([update], phone_number_id=PHONE_ID)) == 200
    await eventually(lambda: events(log, "notice_read"), timeout=5)
    [delivered], [read] = events(log, "notice_delivered"), events(log, "notice_read")
    assert delivered["kind"] == read["kind"] == "slot_cancelled"
    ref_c = await pg.fetchval("SELECT reference FROM bookings WHERE wa_id = $1", fourth.wa_id)
    assert delivered["reference"] == read["reference"] == ref_c
    # Nothing personal in any of it.
    text = log.read_text()
    for citizen in (asha, other, third, fourth):
        assert citizen.wa_id[2:] not in text
    assert "Soumya" not in text
