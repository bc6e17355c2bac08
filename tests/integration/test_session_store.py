"""The Redis session store: dedupe, lock, compare-and-set, outbox, against real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from kmcbot.dialogue.model import Lang, Session, State
from kmcbot.outbox.entry import OutboxEntry
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import (
    SEEN_TTL_S,
    SESSION_TTL_S,
    Begin,
    Conflict,
    Profile,
    SessionStore,
)

PEPPER = b"test-pepper"
TAG = user_tag(PEPPER, "919800000001")


@pytest.fixture
def store(redis) -> SessionStore:
    return SessionStore(redis, "kmcbot")


AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def session(state: State = State.MENU) -> Session:
    return Session(state, Lang.EN, AT)


async def commit(
    store: SessionStore,
    message_id: str,
    loaded,
    saved: Session | None = None,
    bodies: tuple[bytes, ...] = (b'{"n":1}',),
) -> None:
    await store.commit(
        TAG,
        message_id,
        loaded,
        session=saved or session(),
        profile=Profile(Lang.EN, open=False, seen=1_700_000_000),
        entry=OutboxEntry("919800000001", TAG, bodies, (("KMC-AAAAAA", "booked"),)),
        now_s=1_700_000_000,
    )


def test_user_tag_is_keyed_and_hides_the_number() -> None:
    tag = user_tag(PEPPER, "919800000001")
    assert "9198" not in tag and len(tag) == 16
    assert tag != user_tag(b"other", "919800000001")


async def test_a_new_citizen_has_no_session(store) -> None:
    loaded = await store.begin(TAG, "m1")
    assert loaded.status is Begin.OK and loaded.version == 0 and loaded.session is None
    assert loaded.profile == Profile()


async def test_commit_saves_session_profile_and_replies_together(store, redis) -> None:
    loaded = await store.begin(TAG, "m1")
    await commit(store, "m1", loaded, session(State.NAME), bodies=(b'{"a":1}', b'{"b":2}'))
    again = await store.begin(TAG, "m2")
    assert (again.version, again.session) == (1, session(State.NAME))
    assert again.profile == Profile(Lang.EN, open=False, seen=1_700_000_000)
    # The turn's replies are one entry, bodies as they were given: one sender sends
    # them, in order.
    [(_, fields)] = await redis.xrange(store.outbox_of(TAG))
    assert OutboxEntry.decode(fields) == OutboxEntry(
        "919800000001", TAG, (b'{"a":1}', b'{"b":2}'), (("KMC-AAAAAA", "booked"),)
    )
    keys = store.keys(TAG)
    assert 0 < await redis.ttl(keys["session"]) <= SESSION_TTL_S
    assert SESSION_TTL_S < await redis.ttl(keys["seen"]) <= SEEN_TTL_S


async def test_a_message_done_before_is_a_duplicate(store) -> None:
    loaded = await store.begin(TAG, "m1")
    await commit(store, "m1", loaded)
    assert (await store.begin(TAG, "m1")).status is Begin.DUPLICATE


async def test_a_message_in_progress_elsewhere_is_busy_until_its_lease_ends(store) -> None:
    await store.begin(TAG, "m1", lease_ms=150)
    assert (await store.begin(TAG, "m1")).status is Begin.BUSY
    await asyncio.sleep(0.2)  # the first worker died: its lease runs out
    assert (await store.begin(TAG, "m1")).status is Begin.OK


async def test_a_second_message_of_the_same_citizen_waits_for_the_lock(store) -> None:
    first = await store.begin(TAG, "m1")
    assert (await store.begin(TAG, "m2")).status is Begin.LOCKED
    await commit(store, "m1", first)
    assert (await store.begin(TAG, "m2")).status is Begin.OK


async def test_abort_gives_the_message_and_the_lock_back(store) -> None:
    loaded = await store.begin(TAG, "m1")
    await store.abort(TAG, "m1", loaded)
    assert (await store.begin(TAG, "m1")).status is Begin.OK


async def test_a_holder_whose_lock_expired_cannot_overwrite_a_newer_session(store, redis) -> None:
    slow = await store.begin(TAG, "m1", lease_ms=100)
    await asyncio.sleep(0.15)  # the slow holder's lease runs out mid-step
    fast = await store.begin(TAG, "m2")
    await commit(store, "m2", fast, session(State.NAME))
    with pytest.raises(Conflict):
        await commit(store, "m1", slow, session(State.ID_NUMBER))
    check = await store.begin(TAG, "m3")
    assert check.session == session(State.NAME) and check.version == 1
    assert len(await redis.xrange(store.outbox_keys[0])) == 1  # the loser queued nothing


async def test_keys_share_one_hash_tag_and_hold_no_phone_number(store) -> None:
    keys = store.keys(TAG, "m1")
    assert all(k.startswith("kmcbot:{0}:") and "9198" not in k for k in keys.values())
    assert store.outbox_of(TAG) == "kmcbot:{0}:outbox"


async def test_shards_spread_citizens_and_each_citizen_keeps_to_its_outbox(redis) -> None:
    store = SessionStore(redis, "kmcbot", shards=4)
    tags = [user_tag(PEPPER, f"9198000{n:05d}") for n in range(40)]
    used = set()
    for tag in tags:
        shard = store.outbox_of(tag).split("{")[1].split("}")[0]
        assert all(f":{{{shard}}}:{tag}:" in k for k in store.keys(tag, "m").values())
        used.add(shard)
    assert used == {"0", "1", "2", "3"}


async def test_waiting_messages_take_the_lock_in_arrival_order(store) -> None:
    first = await store.begin(TAG, "m1")
    assert (await store.begin(TAG, "m2")).status is Begin.LOCKED  # m2 arrives first
    assert (await store.begin(TAG, "m3")).status is Begin.LOCKED
    await commit(store, "m1", first)
    assert (await store.begin(TAG, "m3")).status is Begin.LOCKED  # free, but m2 is ahead
    assert (await store.begin(TAG, "m2")).status is Begin.OK


async def test_a_waiter_that_stopped_asking_loses_its_place(store) -> None:
    first = await store.begin(TAG, "m1")
    await store.begin(TAG, "m2")  # waits, then its request gives up
    await commit(store, "m1", first)
    await asyncio.sleep(2.1)
    assert (await store.begin(TAG, "m3")).status is Begin.OK


async def test_commit_without_a_session_keeps_the_stored_one_and_without_replies_queues_none(
    store, redis
) -> None:
    await commit(store, "m1", await store.begin(TAG, "m1"), session(State.NAME))
    loaded = await store.begin(TAG, "m2")
    await store.commit(
        TAG, "m2", loaded, session=None, profile=None, entry=None, now_s=1_700_000_001
    )
    again = await store.begin(TAG, "m3")
    assert (again.version, again.session) == (2, session(State.NAME))
    assert again.profile == Profile(Lang.EN, open=False, seen=1_700_000_000)
    assert len(await redis.xrange(store.outbox_of(TAG))) == 1


async def test_an_unreadable_session_or_profile_starts_over(store, redis) -> None:
    keys = store.keys(TAG)
    await redis.set(keys["session"], '3:{"v":1,"state":"no-such-state"}')
    await redis.set(keys["profile"], "[1, 2")
    loaded = await store.begin(TAG, "m1")
    assert (loaded.status, loaded.version, loaded.session) == (Begin.OK, 3, None)
    assert loaded.profile == Profile()


def test_a_profile_reads_back_what_it_wrote_and_ignores_what_it_does_not_know() -> None:
    profile = Profile(Lang.BN, open=True, seen=1_700_000_000)
    assert Profile.decode(profile.encode()) == profile
    assert Profile.decode(b'{"lang":"xx","open":1,"seen":true}') == Profile(open=True)
    assert Profile.decode(None) == Profile.decode("") == Profile.decode("7") == Profile()
