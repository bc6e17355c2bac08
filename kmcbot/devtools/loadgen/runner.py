"""Drive a running bot with simulated citizens through its signed webhook.

Each concurrent slot runs one citizen (one WhatsApp number) at a time: it
books, perhaps comes back to look at or cancel its booking, and then a new
number takes over. A citizen answers only once the bot's reply reached our
Graph API stand-in, as a person would. With a rate, every POST also waits for
its turn on a fixed schedule (open loop); the citizens bound the messages in
flight, so an offered rate the bot cannot follow shows as a lower achieved one.

Given several bots (machines behind one load balancer, or processes on one
machine), each citizen sticks to one of them, the next citizen to the next
(round robin), as a balancer with sticky routing would spread them. The
stand-in notes when each reply arrived, so the report shows the bot's send
rate too: the mean and the busiest second.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiohttp
import orjson
from aiohttp import web

import kmcbot.devtools.loadgen.arrivals as arrivals
import kmcbot.devtools.loadgen.timeline as timeline
from kmcbot.devtools.loadgen.citizen import (
    CONFIRM,
    MIXES,
    Citizen,
    Done,
    Kind,
    Numbers,
    Send,
    Unexpected,
)
from kmcbot.devtools.loadgen.report import (
    Report,
    Stats,
    busiest,
    check_database,
    overbooking,
    percentiles,
)
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.messages import Choice
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign

WEBHOOK_TIMEOUT_S = 30.0
MAX_CATCH_UP_S = 1.0  # a pacer that fell behind skips sends rather than burst
MAX_CONNECTIONS = 1000  # to the bots, however many citizens are under way


@dataclass(frozen=True)
class Options:
    url: str = "http://127.0.0.1:8080"  # the bot; a comma list for several
    urls: tuple[str, ...] = ()  # several bots, citizens spread round robin; overrides url
    citizens: int = 50
    ramp_up: float = 0.0  # seconds over which the citizens start, evenly spread
    rate: float = 0.0  # inbound messages/s; 0: as fast as replies allow
    duration: float | None = None  # seconds; with neither limit, 10 s
    conversations: int | None = None
    mix: str = "full"
    app_secret: bytes | None = None
    standin_port: int | None = None
    standin_token: str = "loadtest-token"
    # The bot's KMCBOT_WA_PHONE_NUMBER_ID: it ignores payloads for another number.
    phone_number_id: str = "dev"
    database_url: str | None = None
    reply_timeout: float = 10.0
    seed: int | None = None
    progress: bool = False
    linger: float = 0.0  # seconds the stand-in stays up after the run, to catch late replies
    # Open arrivals instead of `citizens` numbers in a loop: this many citizens, each
    # arriving once on the curve spread over `arrive_over` seconds; `citizens` then
    # caps how many are under way at once (the rest wait for room: a backlog).
    arrivals: int = 0
    curve: str = "day"
    arrive_over: float = 60.0
    # Memory to chart over time: name -> MB, called every `sample_every` seconds.
    sampler: Callable[[], dict[str, float]] | None = None
    sample_every: float = 1.0

    def targets(self) -> list[str]:
        """The bots' base URLs, in order, each once."""
        found = (
            u.strip().rstrip("/") for part in self.urls or (self.url,) for u in part.split(",")
        )
        return list(dict.fromkeys(u for u in found if u))


class Pacer:
    """Hands out send times on a fixed schedule, `rate` a second."""

    def __init__(self, rate: float) -> None:
        self.interval = 1 / rate if rate > 0 else 0.0
        self.next = time.monotonic()

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        self.next = max(self.next, now - MAX_CATCH_UP_S)
        due, self.next = self.next, self.next + self.interval
        if due > now:
            await asyncio.sleep(due - now)


class Run:
    def __init__(self, opts: Options, http: aiohttp.ClientSession) -> None:
        self.opts = opts
        self.http = http
        self.targets = opts.targets()
        if not self.targets:
            raise ValueError("no URL to load")
        self.webhooks = [url + "/webhook" for url in self.targets]
        self.next_target = 0  # round robin over the bots, a citizen at a time
        self.stats = Stats()
        self.pacer = Pacer(opts.rate)
        self.rng = random.Random(opts.seed)
        self.numbers = Numbers(self.rng)
        self.inboxes: dict[str, asyncio.Queue[tuple[float, dict[str, Any]]]] = {}
        self.today = date.today()
        self.began = self.last_answer = time.perf_counter()
        self.cpu = time.process_time()
        self.deadline: float | None = None  # set when the run starts
        self.claimed = 0

    # ---------------------------------------------------------------- replies

    def on_reply(self, body: dict[str, Any]) -> None:
        to = body.get("to", "")
        self.stats.arrivals.append(time.perf_counter())  # a send: within KMCBOT_SEND_RATE
        if body.get("type") == "image":
            # A ticket's check-in QR, after the ticket: part of that reply, not a
            # reply of its own (the citizen does not answer it).
            self.stats.images += 1
            return
        self.stats.replied[to] += 1
        inbox = self.inboxes.get(to)
        if inbox is None:
            self.stats.unrouted += 1
        else:
            inbox.put_nowait((time.perf_counter(), body))

    # ---------------------------------------------------------------- citizens

    def over(self) -> bool:
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def claim(self, kind: Kind) -> bool:
        """May another conversation start? (--conversations counts them all.)"""
        if self.over() or (
            self.opts.conversations is not None and self.claimed >= self.opts.conversations
        ):
            return False
        self.claimed += 1
        self.stats.started[kind] += 1
        return True

    async def slot(self, index: int) -> None:
        first = Kind.HI if self.opts.mix == "hi" else Kind.BOOK
        # Started together, citizens stay in step: 300 would confirm their
        # bookings in the same half second, 3 s in. People arrive spread out.
        await asyncio.sleep(self.opts.ramp_up * index / self.opts.citizens)
        while await self.one_citizen(first):
            pass

    async def one_citizen(self, first: Kind) -> bool:
        """A new number's conversations; False when no more may start."""
        seed = self.rng.randrange(2**32)
        citizen = Citizen(self.numbers.wa_id(), random.Random(seed), self.numbers)
        if not self.claim(first):
            return False
        webhook = self.webhooks[self.next_target % len(self.webhooks)]
        self.next_target += 1
        self.inboxes[citizen.wa_id] = asyncio.Queue()
        try:
            kind: Kind | None = first
            while kind is not None:
                if not await self.converse(citizen, kind, webhook):
                    break  # after an error the number is retired: late replies go nowhere
                if kind is Kind.BOOK:
                    self.stats.booked[citizen.references[-1]] = citizen.picked
                kind = citizen.next_kind(time.monotonic())
                if kind is not None and not self.claim(kind):
                    break
        finally:
            del self.inboxes[citizen.wa_id]
            self.stats.lost_slots += citizen.lost_slots
        return True

    async def arrive(self) -> None:
        """Open arrivals: each citizen at its time on the curve, at most `citizens` at once."""
        first = Kind.HI if self.opts.mix == "hi" else Kind.BOOK
        room = asyncio.Semaphore(self.opts.citizens)
        under_way: set[asyncio.Task[bool]] = set()

        async def visit(due: float) -> bool:
            try:
                self.stats.arrival_delays.append(max(0.0, time.perf_counter() - due))
                return await self.one_citizen(first)
            finally:
                room.release()

        for at in arrivals.offsets(self.opts.curve, self.opts.arrivals, self.opts.arrive_over):
            due = self.began + at
            if (wait := due - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            # The backlog waits here, as a loop behind its schedule, not as a task per
            # citizen waiting for room: 40,000 such tasks in a 100,000-citizen day made
            # this process's garbage collector pause ~260 ms every 4 s, which the
            # webhook latencies measured here counted as kmcbot's.
            await room.acquire()
            if self.over():
                room.release()
                break
            task = asyncio.create_task(visit(due))
            under_way.add(task)
            task.add_done_callback(under_way.discard)
        while under_way:
            await asyncio.gather(*list(under_way))

    async def sample(self) -> None:
        assert self.opts.sampler is not None
        while True:
            self.stats.memory.append((time.perf_counter(), self.opts.sampler()))
            await asyncio.sleep(self.opts.sample_every)

    async def converse(self, citizen: Citizen, kind: Kind, webhook: str) -> bool:
        action: Send | Done | Unexpected = citizen.start(kind, self.today)
        while isinstance(action, Send):
            await self.room_for(citizen)
            if self.over():
                self.stats.abandoned += 1
                return False
            citizen.sending(time.monotonic())
            reply = await self.exchange(citizen.wa_id, action, webhook)
            if reply is None:
                return False
            action = citizen.answer(reply, self.today)
        if isinstance(action, Unexpected):
            self.stats.error(
                "unexpected_reply", f"{kind} expected {action.expected}: got {action.got}"
            )
            return False
        if action.refused:
            self.stats.cancels_refused += 1
            return False
        if action.no_places:
            self.stats.no_places += 1
            return False
        self.stats.completed[action.kind] += 1
        if action.kind is Kind.BOOK:
            self.stats.bookings += 1
        elif action.kind is Kind.CANCEL:
            self.stats.cancellations += 1
            self.stats.cancelled.append(action.reference)
        return True

    async def room_for(self, citizen: Citizen) -> None:
        """Until the number's minute has room for one more message, or the run is
        over (it ends on time all the same). A sleep can end a little early (uvloop
        counts whole milliseconds), so look again after each."""
        if citizen.wait_for_room(time.monotonic()):
            self.stats.waits_for_room += 1
        while (wait := citizen.wait_for_room(time.monotonic())) and not self.over():
            if self.deadline is not None:
                wait = min(wait, self.deadline - time.perf_counter())
            await asyncio.sleep(max(wait, 0.001))

    async def exchange(self, wa_id: str, send: Send, webhook: str) -> dict[str, Any] | None:
        """POST one message; its reply at the stand-in ({} without one), or None on error."""
        inbox = self.inboxes[wa_id]
        while not inbox.empty():  # the bot answers each message once: more is a bug
            inbox.get_nowait()
            self.stats.error("extra_reply")
        message = simulate.message(wa_id, send.content, via_list=send.via_list)
        raw = orjson.dumps(simulate.payload([message], phone_number_id=self.opts.phone_number_id))
        headers = {"Content-Type": "application/json"}
        if self.opts.app_secret:
            headers["X-Hub-Signature-256"] = sign(self.opts.app_secret, raw)
        await self.pacer.wait()
        sent = time.perf_counter()
        try:
            async with self.http.post(webhook, data=raw, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except TimeoutError:
            self.stats.error("webhook_timeout")
            return None
        except aiohttp.ClientError as exc:
            self.stats.error(f"connection: {type(exc).__name__}")
            return None
        self.last_answer = time.perf_counter()
        self.stats.webhook.append(self.last_answer - sent)
        self.stats.sent_at.append(sent)
        if isinstance(send.content, Choice) and send.content.id.startswith(CONFIRM):
            self.stats.booking.append(self.last_answer - sent)  # the message that books
        self.stats.answered += 1
        self.stats.by_url[webhook] += 1
        if status != 200:
            self.stats.error(f"http {status}")
            return None
        self.stats.accepted += 1
        self.stats.posted[wa_id] += 1
        if self.opts.standin_port is None:
            return {}
        try:
            async with asyncio.timeout(self.opts.reply_timeout):
                arrived, body = await inbox.get()
        except TimeoutError:
            self.stats.error("reply_timeout")
            return None
        self.stats.reply.append(arrived - sent)
        return body

    # ---------------------------------------------------------------- the run

    async def progress(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            s, t = self.stats, time.perf_counter() - self.began
            sys.stderr.write(
                f"\r{t:6.1f}s  sent {s.answered}  {s.answered / max(t, 1e-9):.0f} msg/s  "
                f"done {sum(s.completed.values())}  booked {s.bookings}  "
                f"errors {sum(s.errors.values())}\x1b[K"
            )
            sys.stderr.flush()

    async def drive(self) -> None:
        self.began = self.last_answer = time.perf_counter()
        self.cpu = time.process_time()
        limit = self.opts.duration
        if limit is None and self.opts.conversations is None and not self.opts.arrivals:
            limit = 10.0
        self.deadline = None if limit is None else self.began + limit
        ticker = asyncio.create_task(self.progress()) if self.opts.progress else None
        sampler = asyncio.create_task(self.sample()) if self.opts.sampler else None
        try:
            if self.opts.arrivals:
                await self.arrive()
            else:
                await asyncio.gather(*(self.slot(i) for i in range(self.opts.citizens)))
        finally:
            if sampler is not None and self.opts.sampler is not None:
                sampler.cancel()
                self.stats.memory.append((time.perf_counter(), self.opts.sampler()))
            if ticker is not None:
                ticker.cancel()
                sys.stderr.write("\n")

    def report(self) -> Report:
        s = self.stats
        seconds = max(self.last_answer - self.began, 1e-9)
        with_standin = self.opts.standin_port is not None
        replied = sum(s.replied.values())
        spread = s.arrivals[-1] - s.arrivals[0] if len(s.arrivals) > 1 else 0.0
        first_tenth, last_tenth = timeline.tenths_p99(s.sent_at, s.webhook)
        delays = sorted(s.arrival_delays)
        return Report(
            url=", ".join(self.targets),
            mix=self.opts.mix,
            citizens=self.opts.citizens,
            ramp_up_s=self.opts.ramp_up,
            offered_rate=self.opts.rate,
            seconds=round(seconds, 2),
            messages=s.answered,
            accepted=s.accepted,
            messages_per_s=round(s.answered / seconds, 1),
            webhook_ms=percentiles(s.webhook, 50, 90, 99),
            reply_ms=percentiles(s.reply, 50, 99),
            conversations_started={str(k): v for k, v in s.started.items()},
            conversations_completed={str(k): v for k, v in s.completed.items()},
            conversations_abandoned_at_end=s.abandoned,
            bookings_made=s.bookings,
            cancellations=s.cancellations,
            places_taken_by_others=s.lost_slots,
            waits_for_room=s.waits_for_room,
            ended_with_no_places=s.no_places,
            cancels_refused=s.cancels_refused,
            errors=dict(s.errors),
            unexpected_samples=s.samples,
            replies_unrouted=s.unrouted,
            generator_cpu_percent=round(100 * (time.process_time() - self.cpu) / seconds, 1),
            messages_by_url={
                url: s.by_url[hook] for url, hook in zip(self.targets, self.webhooks, strict=True)
            },
            replies_received=replied,
            qr_images=s.images,
            replies_per_s=round((len(s.arrivals) - 1) / spread, 1) if spread else 0.0,
            replies_max_in_1s=busiest(s.arrivals, 1.0),
            replies_missing=sum(
                max(0, n - s.replied[to]) for to, n in s.posted.items() if with_standin
            ),
            replies_doubled=sum(
                max(0, n - s.posted[to]) for to, n in s.replied.items() if with_standin
            ),
            booking_ms=percentiles(s.booking, 50, 99),
            p99_first_tenth_ms=first_tenth,
            p99_last_tenth_ms=last_tenth,
            arrivals=self.opts.arrivals,
            arrival_curve=self.opts.curve if self.opts.arrivals else "",
            arrive_over_s=self.opts.arrive_over if self.opts.arrivals else 0.0,
            arrival_delay_p99_s=round(timeline.nearest_rank(delays, 99), 3),
            timeline=timeline.buckets(
                self.began, seconds, s.sent_at, s.webhook, s.arrivals, s.errors_at, s.memory
            ),
            began_at=self.began,
            stats=s,
        )


@contextlib.asynccontextmanager
async def standin(port: int, token: str, run: Run) -> AsyncIterator[GraphStandIn]:
    fake = GraphStandIn(token=token)

    def route(body: dict[str, Any]) -> None:
        # Every body goes to its citizen; the stand-in need not keep them all.
        fake.received.clear()
        fake.by_user.clear()
        run.on_reply(body)

    @web.middleware
    async def refused(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if response.status == 401:  # the bot's KMCBOT_WA_TOKEN is not --standin-token
            run.stats.error("stand-in refused the bot's token")
        return response

    fake.on_message = route
    app = fake.app()
    app.middlewares.append(refused)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield fake
    finally:
        await runner.cleanup()


async def run(opts: Options) -> Report:
    if opts.mix not in MIXES:
        raise ValueError(f"mix must be one of {', '.join(MIXES)}")
    if opts.mix == "full" and opts.standin_port is None:
        raise ValueError("the full mix needs --standin-port: citizens answer the bot's replies")
    if opts.database_url:
        await check_database(opts.database_url)
    if opts.arrivals and opts.curve not in arrivals.CURVES:
        raise ValueError(f"arrival curve must be one of {', '.join(arrivals.CURVES)}")
    connector = aiohttp.TCPConnector(limit=min(opts.citizens, MAX_CONNECTIONS))
    timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
    with _fewer_gc_pauses():
        return await _run(opts, connector, timeout)


@contextlib.contextmanager
def _fewer_gc_pauses() -> Iterator[None]:
    """kmcbot's own policy (cli.py) while the load runs: what exists now is kept out
    of the collector's passes, and the passes are rarer. Each full pass stops this
    process's event loop, and a citizen's latency measured across one counts the
    pause as kmcbot's (a 30,000-citizen day: 100-130 ms every 4 s). Restored after:
    the caller may be a long-lived process (a test run)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _run(
    opts: Options, connector: aiohttp.TCPConnector, timeout: aiohttp.ClientTimeout
) -> Report:
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        the_run = Run(opts, http)
        async with contextlib.AsyncExitStack() as stack:
            if opts.standin_port is not None:
                await stack.enter_async_context(
                    standin(opts.standin_port, opts.standin_token, the_run)
                )
            await the_run.drive()
            if opts.standin_port is not None and opts.linger > 0:
                await asyncio.sleep(opts.linger)  # replies still on their way count too
    report = the_run.report()
    if opts.database_url:
        report.overbooking_violations, report.slots_checked = await overbooking(opts.database_url)
    return report
