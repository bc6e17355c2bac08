"""A tiny day end to end (bench/day.py: city data, `kmcbot serve --workers 2`, the load
generator and its stand-in as real processes), and the HTML reports opened in Debian's
Chromium. The figures are bench/'s business; here the tools must work and the checks hold."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kmcbot.app import create_app
from kmcbot.booking.model import IST
from kmcbot.devtools.loadgen.citizen import NAMES
from kmcbot.devtools.seed import seed_city
from kmcbot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DAY_FIELDS = {
    "citizens",
    "messages",
    "seconds",
    "lost",
    "doubled",
    "overbooked",
    "p99_first_tenth_ms",
    "p99_last_tenth_ms",
    "rss_mb",
    "redis_mb",
    "notices",
}
CHARTS = ("Inbound messages", "Webhook latency", "Replies", "Errors", "Memory")


def charts_drawn(page_file: Path) -> dict[str, Any]:
    """Open the page in Chromium; per chart, its drawn size and the points of its lines."""
    if not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None:
        pytest.skip("needs /usr/bin/chromium and the playwright package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(page_file.as_uri())
            return page.evaluate(
                """() => [...document.querySelectorAll('svg.chart')].map(svg => ({
                    title: svg.getAttribute('aria-label'),
                    width: svg.getBoundingClientRect().width,
                    height: svg.getBoundingClientRect().height,
                    lines: [...svg.querySelectorAll('polyline')].map(l => ({
                        points: l.points.numberOfItems,
                        width: l.getBBox().width,
                    })),
                }))"""
            )
        finally:
            browser.close()


def assert_charts(found: list[dict[str, Any]], memory: set[str]) -> None:
    titles = [c["title"] for c in found]
    for want in CHARTS:
        assert any(t.startswith(want) for t in titles), (want, titles)
    for c in found:
        assert c["width"] > 400 and c["height"] > 150, c
        assert c["lines"] and all(line["points"] >= 2 for line in c["lines"]), c
        assert any(line["width"] > 100 for line in c["lines"]), c  # spread over the run
    assert len(next(c for c in found if c["title"] == "Memory")["lines"]) == len(memory)


HASHES = {"user": re.compile(r"[0-9a-f]{16}"), "cid": re.compile(r"[0-9a-f]{12}|n[0-9]+")}
PERSONAL = {
    "a phone number, an ID or a user id's digits": re.compile(r"(?<![0-9])[0-9]{10,}(?![0-9])"),
    "an ID number as typed": re.compile(r"[0-9]{4} [0-9]{4} [0-9]{4}"),
    "a business-scoped user id": re.compile(r"\b[A-Z]{2}\.[0-9]{6,}"),
    "a name the citizens typed": re.compile(
        "|".join(re.escape(part) for name in NAMES for part in (name, *name.split(" ")[-1:]))
    ),
}


def personal_data_in(log: Path) -> list[str]:
    """What looks like a person in the server's log lines: the hashes (`user`, `cid`)
    must be hashes, and nothing else may hold a number of 10 digits or more (phone
    numbers, Aadhaar numbers, user ids), an ID as typed, or a name the load
    generator's citizens typed. Each finding as "line N: what"."""
    found = []
    for n, raw in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            line = {"text": raw}
        for field, shape in HASHES.items():
            value = str(line.get(field) or "")
            if shape.fullmatch(value):
                del line[field]  # hex may hold 10 digits in a row by chance
            elif value:
                found.append(f"line {n}: {field} is not a hash")
        line.pop("timestamp", None)
        rest = json.dumps(line, ensure_ascii=False)
        found += [f"line {n}: {what}" for what, shape in PERSONAL.items() if shape.search(rest)]
    return found


def test_personal_data_in_finds_what_it_must() -> None:
    """The scan itself: a number, a name, an ID as typed and a bad hash are found."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "kmcbot.log"
        log.write_text(
            '{"event":"message","user":"ab12cd34ef56ab78","cid":"0123456789ab","ms":1.5}\n'
            '{"event":"x","to":"919812345678"}\n'
            f'{{"event":"x","name":"{NAMES[0]}"}}\n'
            '{"event":"x","id":"2345 6789 0123"}\n'
            '{"event":"x","user":"919812345678"}\n',
            encoding="utf-8",
        )
        assert [f.split(":")[0] for f in personal_data_in(log)] == [
            "line 2", "line 3", "line 4", "line 5", "line 5",
        ]  # fmt: skip


def test_a_tiny_day_loses_nothing_and_reports_its_fields(
    pg_server_url: str, redis_server_url: str, tmp_path: Path
) -> None:
    """And its server's log, every line of it, holds nothing personal, while it has
    a booking_made line for each booking."""
    if urlsplit(redis_server_url).scheme != "redis":
        pytest.skip("bench/day.py claims a Redis db number on a TCP server")
    page = tmp_path / "day.html"
    argv = [sys.executable, str(ROOT / "bench" / "day.py"), "--citizens", "30", "--json"]
    argv += ["--pg-url", pg_server_url, "--redis-url", redis_server_url, "--report", str(page)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(last) >= DAY_FIELDS
    assert last["citizens"] == 30 and last["messages"] >= 30
    assert (last["lost"], last["doubled"], last["overbooked"]) == (0, 0, 0)
    assert last["bookings"] >= 25 and last["roster"]["held"] >= 20
    assert {k: v for k, v in last["roster"].items() if k != "held"} == dict.fromkeys(
        (
            "missing",
            "wrong_centre_or_slot",
            "not_on_roster",
            "cancelled_still_booked",
            "booked_unknown_to_citizens",
        ),
        0,
    )
    assert last["rss_mb"] > 20 and last["redis_mb"] > 0
    assert "== per 10 s of the run" in done.stdout
    logs = Path(re.search(r"logs in (\S+)", done.stderr).group(1))  # type: ignore[union-attr]
    server_log = logs / "kmcbot.log"
    assert personal_data_in(server_log) == []
    made = server_log.read_text(encoding="utf-8").count('"event":"booking_made"')
    assert made >= last["bookings"]
    assert_charts(charts_drawn(page), {"kmcbot", "Redis", "PostgreSQL"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_loadtest_writes_its_report_page(
    pg_url: str, redis_url: str, aiohttp_server: Any, tmp_path: Path
) -> None:
    """`kmcbot loadtest --arrivals --report` against a bot over city data."""
    await seed_city(pg_url, datetime.now(IST).date(), days=3)
    standin = free_port()
    settings = Settings(
        database_url=pg_url,
        redis_url=redis_url,
        app_secret=b"report-secret",
        wa_token="report-token",
        wa_phone_number_id="report",
        graph_url=f"http://127.0.0.1:{standin}",
        send_rate=5000,
        id_pepper=b"report-pepper",
    )
    server = await aiohttp_server(create_app(settings))
    page = tmp_path / "report.html"
    argv = ["-m", "kmcbot", "loadtest", "--url", str(server.make_url("")).rstrip("/")]
    argv += ["--standin-port", str(standin), "--standin-token", "report-token"]
    argv += ["--app-secret", "report-secret", "--database-url", pg_url, "--json"]
    argv += ["--arrivals", "20", "--curve", "day", "--arrive-over", "3", "--citizens", "10"]
    argv += ["--report", str(page), "--phone-number-id", "report"]
    env = os.environ | {"KMCBOT_DATABASE_URL": pg_url, "KMCBOT_REDIS_URL": redis_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)
    assert report["arrivals"] == 20 and report["conversations_started"]["book"] == 20
    assert report["errors"] == {} and report["overbooking_violations"] == 0
    assert "timeline" not in report and "stats" not in report
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html
    # The bot runs inside this test process: its memory is this process's.
    found = await asyncio.to_thread(charts_drawn, page)
    assert_charts(found, {"load generator", "bot"})
