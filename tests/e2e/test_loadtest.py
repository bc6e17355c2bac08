"""`kmcbot loadtest` against a real bot: it must complete conversations, book,
see no errors and find no overbooking. A proof that the tool works; how fast
the bot is, is bench/'s business."""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.devtools import loadgen
from kmcbot.devtools.loadgen import citizen, runner
from kmcbot.devtools.loadgen.command import add_arguments
from kmcbot.devtools.loadgen.report import busiest
from kmcbot.devtools.seed import DEMO_CSV, seed
from kmcbot.settings import Settings
from tests.support.net import free_port

SECRET = b"loadtest-secret"
TOKEN = "loadtest-token"


@pytest.fixture
async def bot(pg_url: str, redis_url: str, aiohttp_server: Any) -> tuple[str, int]:
    """The demo city's bot on a real port; its replies go to the load generator's stand-in."""
    await seed(pg_url, DEMO_CSV, datetime.now(IST).date(), days=14)
    standin_port = free_port()
    settings = Settings(
        database_url=pg_url,
        redis_url=redis_url,
        app_secret=SECRET,
        wa_token=TOKEN,
        wa_phone_number_id="loadtest",
        graph_url=f"http://127.0.0.1:{standin_port}",
        send_rate=5000,
        id_pepper=b"loadtest-pepper",
    )
    server = await aiohttp_server(create_app(settings))
    return str(server.make_url("")).rstrip("/"), standin_port


Run = Callable[..., Awaitable[loadgen.runner.Report]]


@pytest.fixture
def run(bot: tuple[str, int], pg_url: str) -> Run:
    url, standin_port = bot
    base = loadgen.Options(
        url=url,
        app_secret=SECRET,
        standin_port=standin_port,
        standin_token=TOKEN,
        phone_number_id="loadtest",
        database_url=pg_url,
        seed=7,
    )

    async def go(**kw: Any) -> loadgen.runner.Report:
        return await loadgen.run(replace(base, **kw))

    return go


async def test_full_conversations_book_without_errors_or_overbooking(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More follow-ups than the realistic mix, so that a short run cancels too.
    monkeypatch.setattr(citizen, "MY_BOOKINGS_SHARE", 0.3)
    monkeypatch.setattr(citizen, "CANCEL_SHARE", 0.5)
    report = await run(citizens=6, conversations=40, duration=60)

    assert report.errors == {}, report.unexpected_samples
    assert report.conversations_abandoned_at_end == report.ended_with_no_places == 0
    assert sum(report.conversations_completed.values()) == 40
    assert report.bookings_made == report.conversations_completed["book"] > 0
    assert report.cancellations > 0
    assert report.overbooking_violations == 0
    assert report.webhook_ms["n"] == report.reply_ms["n"] == report.messages > 0
    assert report.replies_received == report.messages
    assert report.replies_missing == report.replies_doubled == 0
    assert 0 < report.replies_max_in_1s <= report.replies_received + report.qr_images
    # Each ticket is followed by its QR image, which is no reply of its own (the last
    # ones may still be on their way when the run ends).
    assert 0 < report.qr_images <= report.bookings_made


async def test_a_storm_of_first_messages_gets_one_welcome_each(run: Run) -> None:
    report = await run(citizens=20, conversations=100, mix="hi")

    assert report.errors == {}
    assert report.conversations_completed == {"hi": 100}
    assert report.messages == 100 and report.replies_unrouted == 0


def test_several_urls_each_once_in_order_from_repeats_and_comma_lists() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--url", "http://a:1/", "--url", "http://b:2,http://a:1, http://c:3"])
    opts = loadgen.Options(urls=tuple(args.url))
    assert opts.targets() == ["http://a:1", "http://b:2", "http://c:3"]
    assert parser.parse_args([]).url is None  # the command falls back to the default URL
    assert loadgen.Options().targets() == ["http://127.0.0.1:8080"]
    assert loadgen.Options(url="http://a:1,http://b:2").targets() == ["http://a:1", "http://b:2"]


def test_the_busiest_second_counts_a_sliding_window() -> None:
    assert busiest([], 1.0) == 0
    assert busiest([0.0, 0.5, 0.99, 1.2, 1.3, 1.4, 3.0], 1.0) == 5  # 0.5 .. 1.4
    assert busiest([0.0, 2.0, 4.0], 1.0) == 1


def test_a_citizen_keeps_under_the_bots_sliding_minute() -> None:
    """The bot counts the messages of the last 60 s, not of a minute from the
    first: one at 0 s and 14 at 45-58 s leave no room for a booking at 62 s."""
    rng = random.Random(1)
    c = citizen.Citizen("919800000001", rng, citizen.Numbers(rng))
    for t in [0, *range(45, 59)]:
        c.sending(float(t))
    assert not c.fits(citizen.Kind.BOOK, 62.0)  # a minute from the first ended at 61 s
    assert c.fits(citizen.Kind.MY_BOOKINGS, 62.0)
    assert c.fits(citizen.Kind.BOOK, 120.0)  # the 14 are more than 61 s old by then


def test_a_citizen_over_its_minute_waits_for_the_oldest_message_to_leave_it() -> None:
    """Re-picks can take a conversation past its plan: the next send then waits."""
    rng = random.Random(1)
    c = citizen.Citizen("919800000001", rng, citizen.Numbers(rng))
    for t in range(10, 10 + citizen.MESSAGES_PER_MINUTE):
        assert c.wait_for_room(float(t)) == 0.0
        c.sending(float(t))
    assert c.wait_for_room(40.0) == 10 + citizen.RATE_WINDOW_S - 40  # the one sent at 10 s
    assert c.wait_for_room(10 + citizen.RATE_WINDOW_S) == 0.0


async def test_a_citizen_out_of_room_when_the_run_ends_sends_nothing(monkeypatch) -> None:
    """Its wait for room is cut at the end of the run; a sleep that ends a hair
    early (uvloop's timers count whole milliseconds) must not let the message
    out: the bot would answer "too fast"."""
    real_sleep = asyncio.sleep

    async def early(delay: float, *args: Any) -> None:
        await real_sleep(max(0.0, delay - 0.002), *args)

    monkeypatch.setattr(asyncio, "sleep", early)
    run = runner.Run(runner.Options(), http=None)  # type: ignore[arg-type]  # no POST is made
    rng = random.Random(1)
    c = citizen.Citizen("919800000001", rng, citizen.Numbers(rng))
    now = time.monotonic()
    for _ in range(citizen.MESSAGES_PER_MINUTE):
        c.sending(now)
    sent = []

    async def exchange(*args: object) -> dict[str, object]:
        sent.append(args)
        return {}

    run.exchange = exchange  # type: ignore[method-assign]
    run.deadline = time.perf_counter() + 0.05
    assert await run.converse(c, citizen.Kind.BOOK, "http://127.0.0.1:1/webhook") is False
    assert sent == []
    assert run.stats.abandoned == 1 and run.stats.waits_for_room == 1


async def test_a_database_url_it_cannot_use_is_refused_before_the_run(
    pg_url: str, monkeypatch
) -> None:
    """Not after it: the overbooking check is the run's last step, and a typo in
    --database-url would throw the whole report away."""
    driven = []

    async def drive(self: runner.Run) -> None:
        driven.append(self)

    monkeypatch.setattr(runner.Run, "drive", drive)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    for bad in (
        f"postgresql://kmcbot:s3cret@127.0.0.1:{dead}/kmcbot",
        pg_url.rsplit("/", 1)[0] + "/no_such_database",
    ):
        opts = runner.Options(urls=("http://127.0.0.1:1",), mix="hi", database_url=bad)
        with pytest.raises(ValueError, match="--database-url") as refused:
            await runner.run(opts)
        assert "s3cret" not in str(refused.value)
    assert driven == []
