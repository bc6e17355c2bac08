"""kmcbot on a real 3-master Redis Cluster (KMCBOT_REDIS_CLUSTER=1), through the real app:
signed webhooks in, replies at the Graph API stand-in, bookings in PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import pytest
import structlog
from aiohttp.test_utils import TestClient
from redis.asyncio.cluster import RedisCluster

from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.devtools.seed import DEMO_CSV, seed
from kmcbot.messages import Text
from kmcbot.settings import Settings
from kmcbot.storage.keys import Keys, outbox_keys, user_tag
from kmcbot.storage.sessions import SessionStore
from tests.support.e2e import (
    REFERENCE,
    Citizen,
    HoldableStandIn,
    bot_settings,
    option_ids,
    reach_confirm,
    start,
    text_of,
)
from tests.support.factories import assert_counts_consistent, eventually
from tests.support.ids import aadhaar

SHARDS = 8
PEPPER = b"cluster-pepper"
ADMIN = "cluster-admin-token"


@pytest.fixture
def settings(pg_url: str, redis_cluster_url: str, standin: HoldableStandIn) -> Settings:
    return bot_settings(
        pg_url,
        redis_cluster_url,
        standin,
        redis_cluster=True,
        redis_shards=SHARDS,
        id_pepper=PEPPER,
        admin_token=ADMIN,
    )


@pytest.fixture
async def app_client(settings: Settings, cluster: RedisCluster, pg, aiohttp_client) -> TestClient:
    # The demo city; aiohttp_client last: the app stops before the databases go.
    await seed(settings.database_url or "", DEMO_CSV, datetime.now(IST).date(), days=14)
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def citizens(
    app_client: TestClient, standin: HoldableStandIn, cluster: RedisCluster
) -> Callable[[str], Citizen]:
    keys = Keys("kmcbot", shards=SHARDS)

    def make(wa_id: str) -> Citizen:
        outbox = keys.outbox_of(user_tag(PEPPER, wa_id))
        return Citizen(app_client, standin, wa_id, redis=cluster, outbox=outbox)  # type: ignore[arg-type]

    return make


def node_of(cluster: RedisCluster, key: str) -> str:
    return cluster.get_node_from_key(key).name


def standin_messages(person: Citizen) -> list[dict]:
    return person.standin.by_user[person.wa_id]


# ---------------------------------------------------------------- the tests


async def test_citizens_book_in_parallel_and_a_slot_is_never_overbooked(
    citizens, cluster, pg, standin
) -> None:
    people = [citizens(f"9198000002{n:02d}") for n in range(4)]
    # Their keys are spread over the cluster: not all on one node.
    stores = {node_of(cluster, p.outbox) for p in people}
    assert len(stores) > 1, stores

    for person in people:
        await start(person)
    slots = await asyncio.gather(
        *(reach_confirm(p, aadhaar(200 + n)) for n, p in enumerate(people))
    )
    assert len(set(slots)) == 1  # all four at the Confirm of the same session
    [slot_id] = set(slots)
    # Two places left: four citizens confirm at once.
    await pg.execute("UPDATE slots SET capacity = booked + 2 WHERE id = $1", slot_id)
    answers = await asyncio.gather(*(p.tap("confirm:yes") for p in people))

    tickets = [r for replies in answers for r in replies if REFERENCE.search(text_of(r))]
    assert len(tickets) == 2
    rows = await pg.fetch("SELECT reference, wa_id FROM bookings WHERE slot_id = $1", slot_id)
    assert len(rows) == 2
    assert {REFERENCE.search(text_of(t))[0] for t in tickets} == {r["reference"] for r in rows}
    await assert_counts_consistent(pg)
    # Every reply of every turn arrived, in order: each citizen's conversation went
    # from "Hi" to the answer to Confirm, one reply (or more) per message.
    for person in people:
        sent = standin.by_user[person.wa_id]
        assert sent and sent[0]["to"] == person.wa_id
        assert option_ids(sent[0]) == ["lang:en", "lang:bn", "lang:hi"]
        assert len(sent) == person.seen
    # Each citizen's session lives in the slot of its own outbox stream.
    store = SessionStore(cluster, shards=SHARDS)
    for person in people:
        session = store.keys(user_tag(PEPPER, person.wa_id))["session"]
        assert await cluster.exists(session)
        assert cluster.keyslot(session) == cluster.keyslot(person.outbox)


async def test_the_shards_spread_over_the_three_nodes_and_each_is_drained(
    citizens, cluster
) -> None:
    streams = outbox_keys("kmcbot", SHARDS)
    nodes = {node_of(cluster, s) for s in streams}
    assert len(nodes) == 3, nodes  # {0}..{7} hash to slots owned by each of the 3 masters
    people = [citizens(f"9198000003{n:02d}") for n in range(12)]
    await asyncio.gather(*(p.say("Hi") for p in people))
    # The sender reads every stream (its consumer group is on each), wherever it lives.
    for stream in streams:
        groups = await cluster.xinfo_groups(stream)
        assert [g["name"] for g in groups] == [b"senders"], stream
    # The citizens' keys really are on more than one node: counted node by node.
    holding = set()
    for node in cluster.get_primaries():
        keys = [k async for k in cluster.scan_iter(match="kmcbot:{*}:*:s", target_nodes=node)]
        if keys:
            holding.add(node.name)
    assert len(holding) > 1, holding
    for person in people:
        assert len(standin_messages(person)) == 1


async def test_a_message_delivered_again_is_answered_once(citizens) -> None:
    person = citizens("919800000401")
    raw = person.payload(Text("Hi"))
    statuses = await asyncio.gather(*(person.post_raw(raw) for _ in range(3)))
    assert all(s in (200, 503) for s in statuses) and 200 in statuses
    await person.settle()
    assert await person.post_raw(raw) == 200  # WhatsApp's redelivery, later
    await person.settle()
    await asyncio.sleep(0.2)
    assert len(standin_messages(person)) == 1


async def test_the_relay_tells_the_citizen_of_a_cancelled_session(citizens, app_client, pg) -> None:
    person = citizens("919800000501")
    await start(person)
    slot_id = await reach_confirm(person, aadhaar(501))
    [ticket] = await person.tap("confirm:yes")
    assert REFERENCE.search(text_of(ticket))

    resp = await app_client.post(
        f"/admin/slots/{slot_id}/cancel",
        json={"reason": "supply_not_arrived"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert resp.status == 200, await resp.text()
    # Relayed from PostgreSQL's notifications onto the citizen's outbox stream, then sent.
    news = await eventually(
        lambda: [
            b for b in standin_messages(person)[person.seen :]
            if "the vaccine supply did not arrive" in str(b)  # the code's text (en)
        ],
        timeout=10,
    )  # fmt: skip
    assert len(news) == 1
    await eventually(
        lambda: pg.fetchval("SELECT count(*) = 0 FROM notifications WHERE relayed_at IS NULL")
    )


async def test_metrics_read_every_stream_and_ready_checks_the_cluster(
    citizens, app_client, standin
) -> None:
    people = [citizens(f"9198000006{n:02d}") for n in range(6)]
    async with standin.holding():  # the replies wait in their streams meanwhile
        for person in people:
            assert await person.post(Text("Hi")) == 200
        resp = await app_client.get("/metrics")
        assert resp.status == 200
        text = await resp.text()
    assert "kmcbot_outbox_depth 6" in text, text[-400:]
    assert "kmcbot_active_sessions 6" in text
    for person in people:
        await person.settle()
    resp = await app_client.get("/readyz")
    assert resp.status == 200
    assert await resp.json() == {"ready": True, "postgres": "ok", "redis": "ok", "sender": "ok"}


async def test_one_shard_on_a_cluster_works_and_is_warned_about(
    settings, cluster, pg, standin, aiohttp_client
) -> None:
    from dataclasses import replace

    with structlog.testing.capture_logs() as logs:
        client = await aiohttp_client(create_app(replace(settings, redis_shards=1)))
    assert any(e["event"] == "redis_cluster_one_shard" for e in logs)
    person = Citizen(client, standin, "919800000701", redis=cluster, outbox="kmcbot:{0}:outbox")  # type: ignore[arg-type]
    [welcome] = await person.say("Hi")
    assert option_ids(welcome) == ["lang:en", "lang:bn", "lang:hi"]


async def test_a_dev_outbox_on_the_cluster(settings, cluster, pg, aiohttp_client) -> None:
    """Without a WhatsApp token replies go to the dev outbox (and the chat page reads it)."""
    from dataclasses import replace

    dev = replace(settings, wa_token=None, dev=True)
    client = await aiohttp_client(create_app(dev))
    resp = await client.post("/dev/send", json={"wa_id": "919800000801", "text": "Hi"})
    assert resp.status == 200

    async def replied() -> list:
        got = await client.get("/dev/messages", params={"wa_id": "919800000801"})
        return await got.json()

    [welcome] = await eventually(replied)
    assert welcome["to"] == "919800000801"


async def test_without_cluster_mode_one_node_is_used_as_before(
    pg_url, redis_url, pg, standin, aiohttp_client
) -> None:
    """The default (KMCBOT_REDIS_CLUSTER unset, one shard): the plain client with its
    blocking pool, one outbox stream, every key in hash tag {0}."""
    import redis.asyncio as aioredis

    from kmcbot.web.keys import REDIS

    settings = bot_settings(pg_url, redis_url, standin, id_pepper=PEPPER)
    assert (settings.redis_cluster, settings.redis_shards) == (False, 1)
    client = await aiohttp_client(create_app(settings))
    redis = client.app[REDIS]
    assert type(redis) is aioredis.Redis
    assert isinstance(redis.connection_pool, aioredis.BlockingConnectionPool)
    assert outbox_keys("kmcbot", 1) == ["kmcbot:{0}:outbox"]
    tag = user_tag(PEPPER, "919800000901")
    assert SessionStore(redis).keys(tag)["session"] == f"kmcbot:{{0}}:{tag}:s"
    person = Citizen(client, standin, "919800000901", redis=redis)
    [welcome] = await person.say("Hi")
    assert option_ids(welcome) == ["lang:en", "lang:bn", "lang:hi"]
