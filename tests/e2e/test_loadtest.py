"""`kmcbot loadtest` against a real bot: it must complete conversations, book,
see no errors and find no overbooking. A proof that the tool works; how fast
the bot is, is bench/'s business."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from kmcbot import loadgen
from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.loadgen import citizen
from kmcbot.seed import DEMO_CSV, seed
from kmcbot.settings import Settings

SECRET = b"loadtest-secret"
TOKEN = "loadtest-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


async def test_a_storm_of_first_messages_gets_one_welcome_each(run: Run) -> None:
    report = await run(citizens=20, conversations=100, mix="hi")

    assert report.errors == {}
    assert report.conversations_completed == {"hi": 100}
    assert report.messages == 100 and report.replies_unrouted == 0
