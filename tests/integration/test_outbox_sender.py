"""The outbox sender against real Redis and a Graph API stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time

import aiohttp
import orjson
import pytest
import redis as sync_redis

from kmcbot.devtools.standin import GraphStandIn
from kmcbot.observe.delivery import SentNews
from kmcbot.outbox import sender as outbox
from kmcbot.outbox.entry import News, OutboxEntry, UnreadableEntry
from kmcbot.outbox.rate import SharedRateLimiter
from kmcbot.outbox.sender import GROUP, Sender
from kmcbot.storage.keys import Keys, sent_key
from kmcbot.whatsapp.graph import GraphTransport, Sent, classify
from tests.support.factories import eventually

STREAM = "kmcbot:{0}:outbox"
RATE_KEY = "kmcbot:send-rate"


@pytest.fixture
async def standin(aiohttp_server):
    fake = GraphStandIn()
    server = await aiohttp_server(fake.app())
    fake.url = str(server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return fake


@contextlib.asynccontextmanager
async def running_sender(
    redis,
    standin,
    rate: float = 1000.0,
    claim_idle_ms: int = 60_000,
    wrap=None,
    batch=200,
    on_news=None,
):
    """A sender of STREAM to the stand-in; `wrap` puts a transport around the Graph one."""
    async with aiohttp.ClientSession() as http:
        transport = GraphTransport(http, standin.url, "12345", standin.token)
        sender = Sender(
            redis,
            [STREAM],
            wrap(transport) if wrap else transport,
            SharedRateLimiter(redis, RATE_KEY, rate),
            consumer="test",
            claim_idle_ms=claim_idle_ms,
            batch=batch,
            on_news=on_news,
        )
        task = asyncio.create_task(sender.run())
        try:
            yield sender
        finally:
            sender.stop()
            await asyncio.wait_for(task, timeout=5)


class SenderGroup:
    """Senders of `streams` sharing one transport, as processes would; every one
    still running is stopped at the end of the `async with`."""

    def __init__(self, redis, transport, streams: list[str], senders_key: str | None = None):
        self.redis, self.transport, self.streams = redis, transport, streams
        self.senders_key = senders_key
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.senders: list[Sender] = []

    def start(self, name: str) -> Sender:
        limiter = SharedRateLimiter(self.redis, RATE_KEY, 1000)
        sender = Sender(self.redis, self.streams, self.transport, limiter, consumer=name,
                        senders_key=self.senders_key)  # fmt: skip
        self.senders.append(sender)
        self.tasks[name] = asyncio.create_task(sender.run())
        return sender

    async def stop(self, sender: Sender, timeout: float = 5) -> None:
        sender.stop()
        await asyncio.wait_for(self.tasks[sender.consumer], timeout)

    async def __aenter__(self) -> SenderGroup:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for sender in self.senders:
            sender.stop()
        await asyncio.wait_for(asyncio.gather(*self.tasks.values()), 15)


def text_body(to: str, text: str) -> dict[str, object]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": text}}


def entry(to: str, *texts: str, news: tuple[News, ...] = ()) -> dict[str, str | bytes]:
    """One outbox entry's fields, as the pipeline writes a turn's replies."""
    return OutboxEntry(to, "t", tuple(orjson.dumps(text_body(to, t)) for t in texts), news).fields()


async def queue(redis, to: str, *texts: str, news: tuple[News, ...] = ()) -> None:
    await redis.xadd(STREAM, entry(to, *texts, news=news))


async def drained(redis) -> bool:
    return await redis.xlen(STREAM) == 0


def texts(messages) -> list[str]:
    return [m["text"]["body"] for m in messages]


async def test_replies_reach_the_graph_api_in_order_and_are_acknowledged(redis, standin) -> None:
    for i in range(5):
        await queue(redis, "919800000001", f"m{i}")
    async with running_sender(redis, standin) as sender:
        got = await standin.wait_for("919800000001", 5)
        await eventually(lambda: sender.sent == 5)
    assert texts(got) == [f"m{i}" for i in range(5)]
    assert await redis.xlen(STREAM) == 0
    assert (await redis.xpending(STREAM, GROUP))["pending"] == 0


async def test_rate_limits_and_server_errors_are_retried(redis, standin) -> None:
    standin.failures = [(429, 130429), (500, None), (503, 131000)]
    await queue(redis, "919800000001", "hello")
    async with running_sender(redis, standin) as sender:
        got = await standin.wait_for("919800000001", 1, timeout=10)
        await eventually(lambda: sender.sent == 1)
    assert texts(got) == ["hello"] and sender.sent == 1


async def test_a_stop_is_not_held_up_by_retries_and_leaves_the_entry_pending(
    redis, standin
) -> None:
    standin.failures = [(503, None)] * 10  # half a minute of backoff, were it all waited
    await queue(redis, "919800000001", "later")
    async with running_sender(redis, standin) as sender:
        await eventually(lambda: len(standin.failures) == 9)  # the first try failed
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2  # running_sender's exit stopped it
    assert sender.sent == 0
    assert (await redis.xpending(STREAM, GROUP))["pending"] == 1  # for the next sender


async def test_permanent_errors_are_dropped_and_counted_not_retried(redis, standin) -> None:
    standin.failures = [(400, 131026)]
    await queue(redis, "919800000001", "undeliverable")
    await queue(redis, "919800000001", "next")
    async with running_sender(redis, standin) as sender:
        got = await standin.wait_for("919800000001", 1)
        await eventually(lambda: sender.sent == 1)
    assert texts(got) == ["next"]
    assert sender.failed == {131026: 1}
    assert await redis.xlen(STREAM) == 0


async def test_entries_of_a_crashed_sender_are_claimed_again(redis, standin) -> None:
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    await queue(redis, "919800000001", "orphan")
    # A sender read the entry and died before sending it.
    await redis.xreadgroup(GROUP, "dead-sender", {STREAM: ">"}, count=10)
    await asyncio.sleep(0.1)
    async with running_sender(redis, standin, claim_idle_ms=50):
        got = await standin.wait_for("919800000001", 1)
    assert texts(got) == ["orphan"]


def test_graph_errors_are_classified() -> None:
    assert classify(429, None) is Sent.RETRY
    assert classify(400, 130429) is Sent.RETRY
    assert classify(502, None) is Sent.RETRY
    assert classify(400, 131026) is Sent.PERMANENT
    assert classify(400, 131047) is Sent.PERMANENT


async def test_a_turns_replies_go_in_order_and_a_retried_citizen_holds_up_no_one(
    redis, standin
) -> None:
    standin.failures = [(503, None)]  # the first send fails: its citizen backs off 0.5 s
    await queue(redis, "919800000001", "a1", "a2")
    for n in range(2, 12):
        await queue(redis, f"9198000000{n:02d}", "hello")
    async with running_sender(redis, standin) as sender:
        started = time.monotonic()
        for n in range(2, 12):
            await standin.wait_for(f"9198000000{n:02d}", 1)
        others_done = time.monotonic() - started
        got = await standin.wait_for("919800000001", 2, timeout=10)
        await eventually(lambda: sender.sent == 12)
    assert texts(got) == ["a1", "a2"]
    assert others_done < 0.4  # not behind the backoff of the citizen being retried
    await eventually_async(lambda: redis.xlen(STREAM), 0)


async def eventually_async(read, expected, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while (value := await read()) != expected:
        assert time.monotonic() < deadline, f"{value} != {expected}"
        await asyncio.sleep(0.02)


async def sends_in(limiters: list[SharedRateLimiter], seconds: float) -> tuple[int, list[float]]:
    """How many tokens the limiters hand out together in `seconds`, and when."""
    stamps: list[float] = []
    deadline = time.monotonic() + seconds

    async def take(limiter: SharedRateLimiter) -> None:
        while True:
            await limiter.acquire()
            if time.monotonic() >= deadline:
                return
            stamps.append(time.monotonic())

    await asyncio.gather(*(take(x) for x in limiters for _ in range(5)))
    return len(stamps), stamps


async def test_the_send_rate_is_kept_in_total_by_every_process_sharing_redis(redis) -> None:
    # Three senders (as three processes would), each with its own limiter object.
    limiters = [SharedRateLimiter(redis, RATE_KEY, 200) for _ in range(3)]
    count, stamps = await sends_in(limiters, 2.0)
    assert 300 <= count <= 2 * 200 * 1.1  # close to the rate, never above it
    for start in stamps:  # any one second: at most the rate (plus one window's share)
        assert sum(start <= t < start + 1 for t in stamps) <= 200 + 20


async def test_news_is_reported_only_once_whatsapp_accepted_the_entry(redis, standin) -> None:
    standin.failures = [(500, None)]
    reported: list[tuple[News, ...]] = []

    async def on_news(news: tuple[News, ...]) -> None:
        reported.append(news)

    await queue(redis, "919800000001", "ok", "ticket", news=(("KMC-4K7P2Q", "booked"),))
    async with aiohttp.ClientSession() as http:
        sender = Sender(
            redis,
            [STREAM],
            GraphTransport(http, standin.url, "1", standin.token),
            SharedRateLimiter(redis, RATE_KEY, 1000),
            consumer="test",
            on_news=on_news,
        )
        task = asyncio.create_task(sender.run())
        await standin.wait_for("919800000001", 2, timeout=10)
        await eventually(lambda: reported)
        sender.stop()
        await asyncio.wait_for(task, timeout=5)
    assert reported == [(("KMC-4K7P2Q", "booked"),)]  # once, after the 500 was retried


async def test_one_sender_at_a_time_reads_a_stream_and_another_takes_over(redis, standin) -> None:
    """Two processes' senders on one stream: one holds the lease and sends a
    citizen's entries in order; when it stops, the other carries on at once."""
    async with aiohttp.ClientSession() as http:
        transport = GraphTransport(http, standin.url, "12345", standin.token)
        async with SenderGroup(redis, transport, [STREAM]) as group:
            senders = [group.start("first"), group.start("second")]
            for i in range(30):
                await queue(redis, "919800000001", f"m{i}")
            got = await standin.wait_for("919800000001", 30)
            assert texts(got) == [f"m{i}" for i in range(30)]
            reading = [s for s in senders if STREAM in s.reading]
            assert len(reading) == 1
            await eventually(lambda: reading[0].sent == 30)
            holder, other = reading[0], next(s for s in senders if s is not reading[0])

            await group.stop(holder)
            await queue(redis, "919800000001", "after")
            got = await standin.wait_for("919800000001", 31, timeout=5)
            assert texts(got)[-1] == "after"
            await eventually(lambda: other.sent == 1)


async def test_senders_share_the_streams_fairly_and_take_over_a_stopped_ones(
    redis, standin
) -> None:
    """Four streams, two senders: two streams each; one stops, the other reads all four."""
    streams = [f"kmcbot:{{{n}}}:outbox" for n in range(4)]
    async with aiohttp.ClientSession() as http:
        transport = GraphTransport(http, standin.url, "12345", standin.token)
        async with SenderGroup(redis, transport, streams, "kmcbot:senders") as group:
            senders = [group.start("first"), group.start("second")]
            await eventually(lambda: [len(s.reading) for s in senders] == [2, 2], timeout=15)
            await group.stop(senders[0])
            await eventually(lambda: len(senders[1].reading) == 4, timeout=8)
            for n, stream in enumerate(streams):
                to = f"91980000000{n}"
                await redis.xadd(stream, entry(to, "hi"))
            for n in range(4):
                await standin.wait_for(f"91980000000{n}", 1)


async def test_a_new_holder_sends_what_the_last_one_left_before_anything_newer(
    redis, standin
) -> None:
    """The last holder of the stream read two replies and froze past its lease.
    The next holder claims them at once (not a minute later, as for a crash)
    and sends them before the reply that came after."""
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    await queue(redis, "919800000001", "first")
    await queue(redis, "919800000001", "second")
    await redis.xreadgroup(GROUP, "frozen-sender", {STREAM: ">"}, count=10)
    await queue(redis, "919800000001", "third")
    async with running_sender(redis, standin):  # claim_idle_ms: a minute
        got = await standin.wait_for("919800000001", 3)
    assert texts(got) == ["first", "second", "third"]


class FreezesOnFirstSend:
    """Sends through `inner`; the first send freezes the whole event loop past the
    lease (as SIGSTOP or a paused VM would), during which another sender takes
    the stream's lease."""

    def __init__(
        self, inner: GraphTransport, redis_url: str, freeze_s: float, taken: bool = True
    ) -> None:
        self.inner, self.redis_url, self.freeze_s = inner, redis_url, freeze_s
        self.taken = taken  # whether another sender takes the lease meanwhile
        self.frozen = False

    async def send(self, to: str, body: bytes):
        if not self.frozen:
            self.frozen = True
            time.sleep(self.freeze_s)  # noqa: ASYNC251 - blocking on purpose: nothing else runs
            if self.taken:
                other = sync_redis.Redis.from_url(self.redis_url)
                other.set(f"{STREAM}:sender", "other-sender", px=60_000)
                other.close()
        return await self.inner.send(to, body)


async def test_a_sender_frozen_past_its_lease_sends_no_more_when_it_wakes(
    redis, redis_url, standin, monkeypatch
) -> None:
    monkeypatch.setattr(outbox, "LEASE_MS", 1000)  # frozen for twice that
    for text in ("first", "second", "third"):
        await queue(redis, "919800000001", text)
    freezing = functools.partial(FreezesOnFirstSend, redis_url=redis_url, freeze_s=2.0)
    async with running_sender(redis, standin, wrap=freezing) as sender:
        await eventually(lambda: sender.transport.frozen)
        await asyncio.sleep(1.0)  # time enough to send the rest, were it allowed
    # The send in progress at the freeze went out (at least once); the later ones
    # are the new holder's to send, in order, and this sender sent none of them.
    assert texts(standin.by_user["919800000001"]) == ["first"]
    assert (await redis.xpending(STREAM, GROUP))["pending"] == 2


async def test_a_new_holder_claims_every_page_of_what_was_left(redis, standin) -> None:
    await redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    for n in range(5):
        await queue(redis, "919800000001", f"m{n}")
    await redis.xreadgroup(GROUP, "frozen-sender", {STREAM: ">"}, count=10)
    async with running_sender(redis, standin, batch=2):
        got = await standin.wait_for("919800000001", 5)
    assert texts(got) == [f"m{n}" for n in range(5)]


async def test_a_sender_whose_lease_lapsed_unclaimed_sends_on_in_order(
    redis, redis_url, standin, monkeypatch
) -> None:
    """Frozen past its lease, and no one took the stream meanwhile: whether its
    reader renews the lease before the chain notices the lapse (the usual order)
    or after (the chain gives its entries up, and the reader takes them back
    before reading on), the replies go out in order."""
    monkeypatch.setattr(outbox, "LEASE_MS", 1000)
    for text in ("first", "second", "third"):
        await queue(redis, "919800000001", text)
    freezing = functools.partial(FreezesOnFirstSend, redis_url=redis_url, freeze_s=2.0, taken=False)
    async with running_sender(redis, standin, wrap=freezing) as sender:
        await eventually(lambda: sender.transport.frozen)
        await queue(redis, "919800000001", "fourth")
        got = await standin.wait_for("919800000001", 4)
    assert texts(got) == ["first", "second", "third", "fourth"]


class SlowGraph:
    """The Graph API answering each send after `delay_s`: entries stay in hand a while."""

    def __init__(self, inner: GraphTransport, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    async def send(self, to: str, body: bytes):
        await asyncio.sleep(self.delay_s)
        return await self.inner.send(to, body)


async def test_a_stream_handed_over_to_a_new_sender_sends_nothing_twice(redis, standin) -> None:
    """A second sender starts while the first holds both streams with sends in
    progress: the first hands one stream over only once its entries of it are out,
    so the second does not claim and send them again."""
    streams = [f"kmcbot:{{{n}}}:outbox" for n in range(2)]
    async with aiohttp.ClientSession() as http:
        graph = SlowGraph(GraphTransport(http, standin.url, "12345", standin.token), 1.5)
        queued: list[tuple[str, str]] = []

        async def feed(seconds: float) -> None:
            for n in range(int(seconds / 0.05)):
                for s, stream in enumerate(streams):
                    to, text = f"9198000{s}{n % 40:04d}", f"m{n}"
                    await redis.xadd(stream, entry(to, text))
                    queued.append((to, text))
                await asyncio.sleep(0.05)

        async with SenderGroup(redis, graph, streams, "kmcbot:senders") as group:
            first = group.start("first")
            await eventually(lambda: len(first.reading) == 2, timeout=5)
            feeding = asyncio.create_task(feed(8))
            await asyncio.sleep(1)
            second = group.start("second")
            await eventually(
                lambda: [len(first.reading), len(second.reading)] == [1, 1], timeout=15
            )
            await feeding
            await eventually(lambda: len(standin.received) >= len(queued), timeout=15)
    sent = [(m["to"], m["text"]["body"]) for m in standin.received]
    assert sorted(sent) == sorted(queued)  # each once: none lost, none twice


@pytest.mark.parametrize("rate", [5, 15])
async def test_a_rate_that_is_not_a_multiple_of_ten_a_second_is_kept(redis, rate: int) -> None:
    """5 a second is not 1 per 100 ms (10 a second), nor 15 a second 2 per 100 ms."""
    count, stamps = await sends_in([SharedRateLimiter(redis, RATE_KEY, rate)], 2.0)
    assert 2 * rate * 0.75 <= count <= 2 * rate + 3
    for start in stamps:
        assert sum(start <= t < start + 1 for t in stamps) <= rate + 3


async def test_an_unreadable_entry_is_dead_lettered_and_its_news_not_marked(redis, standin) -> None:
    marked = []

    async def on_news(news) -> None:
        marked.append(news)

    await redis.xadd(
        STREAM,
        {"to": "919800000001", "tag": "t", "bodies": b"{not json", "news": "KMC-AAAAAA:booked"},
    )
    await queue(redis, "919800000001", "after it")
    async with running_sender(redis, standin, on_news=on_news):
        got = await standin.wait_for("919800000001", 1)
        await eventually(lambda: drained(redis))
    assert texts(got) == ["after it"]  # the stream goes on past it
    assert marked == []  # nothing was sent: its news is still the relay's to send
    [(_, kept)] = await redis.xrange(f"{STREAM}:dead")
    assert kept[b"news"] == b"KMC-AAAAAA:booked" and kept[b"bodies"] == b"{not json"


def test_an_entry_reads_back_and_a_sender_of_the_version_before_reads_it_too() -> None:
    bodies = (orjson.dumps(text_body("1", "one")), b'{"to":"1","text":{"body":"[,]"}}')
    entry = OutboxEntry("919800000001", "t", bodies, (("KMC-AAAAAA", "booked"),))
    fields = {
        k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in entry.fields().items()
    }
    assert OutboxEntry.decode(fields) == entry
    # The version before parsed "bodies" as a JSON array of the bodies.
    assert orjson.loads(fields[b"bodies"]) == [orjson.loads(b) for b in bodies]
    for cuts in (b"3", b"x", b"8,99", b""):
        with pytest.raises(UnreadableEntry):
            OutboxEntry.decode(fields | {b"cuts": cuts})


async def test_an_entry_of_the_earlier_format_is_still_sent(redis, standin) -> None:
    """One JSON array of bodies in "bodies", as the version before wrote it (a
    rolling deploy leaves such entries in the outbox)."""
    to = "919800000001"
    bodies = orjson.dumps([text_body(to, "one"), text_body(to, "two")])
    await redis.xadd(STREAM, {"to": to, "tag": "t", "bodies": bodies})
    async with running_sender(redis, standin):
        got = await standin.wait_for(to, 2)
    assert texts(got) == ["one", "two"]


async def test_what_a_message_with_news_carried_is_kept_by_its_wamid_for_its_statuses(
    redis, standin
) -> None:
    pepper = b"pepper"
    key_of = functools.partial(sent_key, "kmcbot", 4, pepper)
    news = (("KMC-4K7P2Q", "booked"),)
    await redis.xadd(STREAM, OutboxEntry("919800000001", "t", (orjson.dumps(
        text_body("919800000001", "ticket")),), news, "0123456789ab").fields())  # fmt: skip
    await queue(redis, "919800000002", "no news")
    async with aiohttp.ClientSession() as http:
        sender = Sender(
            redis,
            [STREAM],
            GraphTransport(http, standin.url, "1", standin.token),
            SharedRateLimiter(redis, RATE_KEY, 1000),
            consumer="test",
            sent_key=key_of,
        )
        task = asyncio.create_task(sender.run())
        await eventually(functools.partial(drained, redis))
        sender.stop()
        await asyncio.wait_for(task, timeout=5)
    [ticket] = standin.by_user["919800000001"]
    [plain] = standin.by_user["919800000002"]
    kept = key_of(standin.wamid_of(ticket))
    assert await redis.get(kept) == b"0123456789ab|KMC-4K7P2Q:booked"
    assert 7 * 86_400 < await redis.ttl(kept) <= 8 * 86_400
    assert not await redis.exists(key_of(standin.wamid_of(plain)))  # replies without news: not
    # Named by a keyed hash: no wamid (it holds the number), no number.
    assert "wamid" not in kept and "919800000001" not in kept
    assert [k async for k in redis.scan_iter("kmcbot:*:w:*")] == [kept.encode()]

    # Read back as delivery.py does, for statuses without callback data.
    found = await SentNews(redis, Keys("kmcbot", 4), pepper).recall(
        [standin.wamid_of(ticket), standin.wamid_of(plain), "wamid.unknown"]
    )
    assert found == {standin.wamid_of(ticket): "0123456789ab|KMC-4K7P2Q:booked"}
