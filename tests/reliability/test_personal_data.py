"""Personal data: where a full booking leaves it, what "delete my data" takes
away, and `kmcbot purge --days N`.

- after a full booking, neither PostgreSQL (pg_dump of the whole database,
  and every table's rows as text) nor Redis (every key and value of every
  db, the outbox stream and its groups included) holds the full ID number:
  only its last 4 characters and its keyed hash;
- no log line of full conversations holds the phone number, the name or the
  ID number (structlog events captured in-process, stdlib records too; the
  JSON stderr of real server processes is checked in test_overbooking);
- "delete my data" + forget:yes erases name, number, ID hash, last 4 and
  message id (a wamid encodes the number) of the citizen's bookings
  (cancelling those not yet due), and their Redis session and profile;
- `kmcbot purge --days N` erases the same fields of bookings whose slot
  ended more than N days ago (an attended booking keeps its ID's keyed hash,
  so the ID cannot book again), and leaves every count as it was.
"""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
from datetime import datetime, time, timedelta

import pytest
import structlog

from kmcbot.booking.commands import Refused
from kmcbot.booking.model import IST, Refusal
from kmcbot.jobs.purge import purge
from kmcbot.messages import Choice, Text
from kmcbot.storage.sessions import SessionStore
from kmcbot.whatsapp import simulate
from tests.support.factories import (
    assert_counts_consistent,
    book_effect,
    eventually,
    make_centre,
    make_slot,
)
from tests.support.reliability import (
    PEPPER,
    PHONE_ID,
    PREFIX,
    REPO,
    Plan,
    base_env,
    base_url,
    dump_postgres,
    dump_redis,
    find_any,
    outbox_drained,
    plans,
)


async def book_through_the_webhook(hook, url: str, plan: Plan, standin) -> str:
    """The whole conversation, with the citizen's name as their WhatsApp profile name."""
    for content, via_list in [*plan.up_to_confirm(), (plan.confirm_choice(), False)]:
        payload = simulate.payload(
            [simulate.message(plan.wa_id, content, via_list=via_list)],
            phone_number_id=PHONE_ID,
            profile_name=plan.name,
        )
        assert (await hook.deliver(url, payload))[-1] == 200
    # The questions, the ticket and its check-in QR image.
    replies = await standin.wait_for(plan.wa_id, 13)
    assert replies[-1]["type"] == "image"
    ticket = replies[-2]["text"]["body"]
    reference = re.search(r"KMC-[0-9A-Z]{6}", ticket)
    assert reference, ticket
    return reference.group(0)


def needles(plan: Plan) -> dict[str, str]:
    spaced = f"{plan.number[:4]} {plan.number[4:8]} {plan.number[8:]}"
    first, last = plan.name.split()
    return {
        "phone": plan.wa_id,
        "phone (national)": plan.wa_id[-10:],
        "name": plan.name,
        "first name": first,
        "surname": last,
        "ID number": plan.number,
        "ID number (as typed)": spaced,
    }


async def a_plan(pg) -> Plan:
    centre = await make_centre(pg)
    slot_id = await make_slot(pg, centre, capacity=5)
    day = await pg.fetchval("SELECT day FROM slots WHERE id = $1", slot_id)
    (plan,) = plans(1, centre, day, slot_id, start=4242)
    return plan


async def test_a_full_booking_leaves_no_full_id_number_and_logs_nothing_personal(
    pg, pg_url, redis, redis_url, app_factory, hook, standin, caplog
) -> None:
    plan = await a_plan(pg)
    client = await app_factory()
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        reference = await book_through_the_webhook(hook, base_url(client), plan, standin)
        # ... and a look at "My bookings", which shows the booking again.
        assert (
            await hook.post(
                base_url(client),
                simulate.payload(
                    [simulate.message(plan.wa_id, Choice("menu:bookings", "My bookings"))],
                    phone_number_id=PHONE_ID,
                ),
            )
            == 200
        )
        await standin.wait_for(plan.wa_id, 14)
        await eventually(lambda: outbox_drained(redis), timeout=10)
    secrets_ = needles(plan)

    database = await dump_postgres(pg_url, pg)
    assert reference in database and plan.name in database  # the dump is the real thing
    assert plan.number[-4:] in database
    assert find_any(database, [plan.number, secrets_["ID number (as typed)"]]) == []

    stored = await dump_redis(redis_url)
    assert "seen" in stored or ":s " in stored  # the dump is the real thing
    assert find_any(stored, [plan.number, secrets_["ID number (as typed)"]]) == []
    keys = [line.split()[1] for line in stored.splitlines()]
    assert [k for k in keys if plan.wa_id[-10:] in k] == []  # keys carry a keyed hash
    # Once the replies are sent (the outbox entries, which carry "to", are deleted),
    # Redis holds neither the number nor the name anywhere.
    assert find_any(stored, [plan.wa_id[-10:], plan.name]) == []

    # The bot never shows the whole number back either.
    assert (
        find_any(str(standin.by_user[plan.wa_id]), [plan.number, secrets_["ID number (as typed)"]])
        == []
    )

    assert len(logs) > 12
    log_text = "\n".join(map(str, logs)) + "\n".join(r.getMessage() for r in caplog.records)
    assert find_any(log_text, secrets_.values()) == []


async def test_delete_my_data_erases_the_citizens_bookings(
    pg, redis, app_factory, hook, standin
) -> None:
    plan = await a_plan(pg)
    client = await app_factory()
    url = base_url(client)
    reference = await book_through_the_webhook(hook, url, plan, standin)
    booked_before = await pg.fetchval("SELECT booked FROM slots WHERE id = $1", plan.slot_id)

    assert (
        await hook.post(
            url,
            simulate.payload(
                [simulate.message(plan.wa_id, Text("delete my data"))], phone_number_id=PHONE_ID
            ),
        )
        == 200
    )
    ask = (await standin.wait_for(plan.wa_id, 14))[-1]
    ids = [b["reply"]["id"] for b in ask["interactive"]["action"]["buttons"]]
    assert "forget:yes" in ids
    assert (
        await hook.post(
            url,
            simulate.payload(
                [simulate.message(plan.wa_id, Choice("forget:yes", "Yes"))],
                phone_number_id=PHONE_ID,
            ),
        )
        == 200
    )
    await standin.wait_for(plan.wa_id, 15)

    row = await pg.fetchrow("SELECT * FROM bookings WHERE reference = $1", reference)
    assert (row["name"], row["wa_id"], row["id_hash"], row["id_last4"]) == (None,) * 4
    assert row["source_message_id"] == f"erased:{row['id']}"  # the wamid held the number
    assert row["erased_at"] is not None
    assert await pg.fetchval("SELECT count(*) FROM bookings WHERE wa_id = $1", plan.wa_id) == 0
    # The row stays, anonymous; a booking not yet due is cancelled and its place
    # goes back (repository.forget): the centre's count still matches its rows.
    assert row["status"] == "cancelled"
    assert (
        await pg.fetchval("SELECT booked FROM slots WHERE id = $1", plan.slot_id)
        == booked_before - 1
    )
    await assert_counts_consistent(pg)


async def test_delete_my_data_erases_the_citizens_redis_session_and_profile(
    pg, redis, app_factory, hook, standin
) -> None:
    plan = await a_plan(pg)
    client = await app_factory()
    url = base_url(client)
    await book_through_the_webhook(hook, url, plan, standin)
    for content in (Text("delete my data"), Choice("forget:yes", "Yes")):
        assert (
            await hook.post(
                url,
                simulate.payload([simulate.message(plan.wa_id, content)], phone_number_id=PHONE_ID),
            )
            == 200
        )
    await standin.wait_for(plan.wa_id, 15)
    keys = SessionStore(redis, PREFIX).keys(plan.tag)
    left = {name: await redis.get(keys[name]) for name in ("session", "profile")}
    assert left == {"session": None, "profile": None}


# ------------------------------------------------------------------ purge


async def past_bookings(pg) -> dict[str, int]:
    """Bookings in slots that ended 40 days ago, 10 days ago, and one in the future."""
    centre = await make_centre(pg)
    today = datetime.now(IST).date()
    slots = {}
    for _label in ("old", "recent", "future"):
        # Made in the future (booking refuses started slots), then moved to their day.
        slot = await make_slot(
            pg, centre, capacity=5, start=time(9 + len(slots) * 2, 0), day=today + timedelta(days=4)
        )
        slots[_label] = slot
    for n, slot in enumerate(slots.values()):
        from kmcbot.booking import repository

        for k in range(2):
            result = await repository.book(
                pg, f"91981234{n}{k:03d}", book_effect(slot, 100 * n + k)
            )
            assert type(result).__name__ == "Booked"
    for label, days in (("old", -40), ("recent", -10)):
        day = today + timedelta(days=days)
        start = await pg.fetchval("SELECT start_time FROM slots WHERE id = $1", slots[label])
        await pg.execute(
            "UPDATE slots SET day = $2, starts_at = $3 WHERE id = $1",
            slots[label],
            day,
            datetime.combine(day, start, IST),
        )
    return slots


async def personal(pg, slot: int) -> list[tuple]:
    rows = await pg.fetch(
        # The message id is personal too (a wamid encodes the number): NULL here
        # once replaced by its placeholder.
        """SELECT name, wa_id, id_hash, id_last4,
                  nullif(source_message_id, 'erased:' || id) AS message_id
           FROM bookings WHERE slot_id = $1 ORDER BY id""",
        slot,
    )
    return [tuple(r) for r in rows]


async def test_purge_erases_old_bookings_and_keeps_the_counts(pg, pg_url) -> None:
    slots = await past_bookings(pg)
    before = await pg.fetch("SELECT id, booked, capacity FROM slots ORDER BY id")
    statuses = await pg.fetch("SELECT id, status, slot_id FROM bookings ORDER BY id")

    assert await purge(pg, 30) == 2
    assert await personal(pg, slots["old"]) == [(None,) * 5] * 2
    assert all(None not in row for row in await personal(pg, slots["recent"]))
    assert all(None not in row for row in await personal(pg, slots["future"]))
    assert await purge(pg, 30) == 0  # already erased: not again, not counted again

    assert await purge(pg_url, 5) == 2  # through its own connection, as the command does
    assert all(None not in row for row in await personal(pg, slots["future"]))
    assert await pg.fetch("SELECT id, booked, capacity FROM slots ORDER BY id") == before
    assert await pg.fetch("SELECT id, status, slot_id FROM bookings ORDER BY id") == statuses
    assert await pg.fetchval("SELECT count(*) FROM bookings WHERE erased_at IS NOT NULL") == 4
    await assert_counts_consistent(pg)
    with pytest.raises(ValueError):
        await purge(pg, -1)


async def test_purge_keeps_the_id_hash_of_a_second_dose_given_so_the_id_cannot_book_again(
    pg,
) -> None:
    from kmcbot.booking import repository

    slots = await past_bookings(pg)
    attended = await pg.fetchval(
        """UPDATE bookings SET status = 'attended', attended_at = now()
           WHERE id = (SELECT min(id) FROM bookings WHERE slot_id = $1) RETURNING id_hash""",
        slots["old"],
    )
    assert await purge(pg, 30) == 2
    rows = await pg.fetch(
        """SELECT status, name, wa_id, id_hash, id_last4 FROM bookings
           WHERE slot_id = $1 ORDER BY id""",
        slots["old"],
    )
    assert [tuple(r) for r in rows] == [
        ("attended", None, None, attended, None),
        ("booked", None, None, None, None),
    ]
    assert await purge(pg, 30) == 0  # the hash kept on purpose is no reason to purge again

    n = int(attended.removeprefix("hash-"))  # book_effect's IDs are "hash-<n>"
    again = await repository.book(pg, "919800000777", book_effect(slots["future"], n))
    assert again == Refused(Refusal.ID_ALREADY_BOOKED)


async def test_kmcbot_purge_command(pg, pg_url) -> None:
    slots = await past_bookings(pg)
    env = {
        **base_env(),
        "KMCBOT_DATABASE_URL": pg_url,
        "KMCBOT_REDIS_URL": "redis://127.0.0.1:1",
        "KMCBOT_LOG_FORMAT": "json",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kmcbot", "purge", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = await asyncio.to_thread(run, "--days", "30")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[0] == "2" and "purged" in first.stdout
    assert await personal(pg, slots["old"]) == [(None,) * 5] * 2
    again = await asyncio.to_thread(run, "--days", "30")
    assert again.returncode == 0 and again.stdout.split()[0] == "0"
    for bad in (["--days", "-3"], ["--days", "soon"], []):
        refused = await asyncio.to_thread(run, *bad)
        assert refused.returncode == 2 and "--days" in refused.stderr
    assert all(None not in row for row in await personal(pg, slots["recent"]))
    await assert_counts_consistent(pg)
    assert PEPPER.decode() not in first.stdout + first.stderr
