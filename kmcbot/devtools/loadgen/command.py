"""The `kmcbot loadtest` command: options from argparse, the report to stdout."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from kmcbot.devtools.loadgen.citizen import MIXES

DEFAULT_TOKEN = "loadtest-token"
DEFAULT_URL = "http://127.0.0.1:8080"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url",
        action="append",
        help="the bot's base URL; repeat it (or give a comma list) to spread the citizens "
        f"over several bots, each sticking to one, round robin [{DEFAULT_URL}]",
    )
    p.add_argument("--citizens", type=int, default=50, help="concurrent simulated citizens")
    p.add_argument(
        "--ramp-up",
        type=float,
        default=0.0,
        help="seconds over which the citizens start, spread evenly [0: all at once]",
    )
    p.add_argument(
        "--rate", type=float, default=0.0, help="inbound messages/s, open loop; 0: flat out"
    )
    p.add_argument("--duration", type=float, help="seconds to run [10 unless --conversations]")
    p.add_argument("--conversations", type=int, help="stop after starting this many")
    p.add_argument("--mix", choices=MIXES, default="full", help="full conversations, or Hi storm")
    p.add_argument(
        "--app-secret",
        default=os.environ.get("KMCBOT_APP_SECRET", ""),
        help="sign with X-Hub-Signature-256 [env KMCBOT_APP_SECRET; unset: unsigned]",
    )
    p.add_argument("--standin-port", type=int, help="run a Graph API stand-in on this port")
    p.add_argument(
        "--standin-token",
        default=os.environ.get("KMCBOT_WA_TOKEN") or DEFAULT_TOKEN,
        help=f"the stand-in's bearer token [env KMCBOT_WA_TOKEN, else {DEFAULT_TOKEN}]",
    )
    p.add_argument(
        "--phone-number-id",
        default=os.environ.get("KMCBOT_WA_PHONE_NUMBER_ID") or "dev",
        help="the bot's number id, put in each payload's metadata (the bot ignores"
        " payloads for another) [env KMCBOT_WA_PHONE_NUMBER_ID, else dev]",
    )
    p.add_argument("--database-url", help="check for overbooking in this database at the end")
    p.add_argument("--reply-timeout", type=float, default=10.0, help="seconds to wait for a reply")
    p.add_argument("--seed", type=int, help="random seed for the citizens' choices")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--arrivals",
        type=int,
        default=0,
        help="open arrivals: this many citizens, each arriving once on --curve over "
        "--arrive-over seconds; --citizens then caps how many are under way at once",
    )
    p.add_argument(
        "--curve",
        choices=("day", "even"),
        default="day",
        help="arrival curve: a day's morning and evening peaks, or even [day]",
    )
    p.add_argument(
        "--arrive-over", type=float, default=60.0, help="seconds the arrivals spread over [60]"
    )
    p.add_argument(
        "--report",
        type=Path,
        help="also write a self-contained HTML page with charts over time to this file",
    )


def _embedded_database() -> str | None:
    """The embedded PostgreSQL of a `make run` in this directory, if one runs
    (KMCBOT_DATA_DIR, else ./.kmcbot): the overbooking check then needs no flag."""
    from kmcbot.devtools.embedded.postgres import running_postgres_url

    found = running_postgres_url(Path(os.environ.get("KMCBOT_DATA_DIR") or ".kmcbot"))
    if found:
        sys.stderr.write("kmcbot loadtest: checking overbooking in the embedded database\n")
    return found


def loadtest(args: argparse.Namespace) -> int:
    """Run, print the report; exit status 1 if any slot is overbooked."""
    from kmcbot.devtools.loadgen.runner import Options, run  # aiohttp etc. only when load testing

    opts = Options(
        urls=tuple(args.url or (DEFAULT_URL,)),
        citizens=max(1, args.citizens),
        ramp_up=max(0.0, args.ramp_up),
        rate=max(0.0, args.rate),
        duration=args.duration,
        conversations=args.conversations,
        mix=args.mix,
        app_secret=args.app_secret.encode() or None,
        standin_port=args.standin_port,
        standin_token=args.standin_token,
        phone_number_id=args.phone_number_id,
        database_url=args.database_url or _embedded_database(),
        reply_timeout=args.reply_timeout,
        seed=args.seed,
        progress=sys.stderr.isatty(),
        arrivals=max(0, args.arrivals),
        curve=args.curve,
        arrive_over=max(0.0, args.arrive_over),
        sampler=memory_sampler(args.url or [DEFAULT_URL]) if args.report else None,
    )
    with contextlib.suppress(ImportError):
        import uvloop  # the generator must not be the bottleneck

        uvloop.install()
    try:
        report = asyncio.run(run(opts))
    except (ValueError, OSError) as exc:  # bad options; the stand-in's port taken
        sys.stderr.write(f"kmcbot loadtest: {exc}\n")
        return 2
    if args.report:
        from kmcbot.devtools.loadgen.charts import report_page

        try:
            args.report.write_text(report_page(report, "kmcbot loadtest"), encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"kmcbot loadtest: --report: {exc}\n")
            return 2
    if args.json:
        sys.stdout.write(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(report.text())
    return 1 if report.overbooking_violations else 0


def memory_sampler(urls: list[str]) -> Callable[[], dict[str, float]]:
    """The load generator's memory, and the bots' that listen on this machine."""
    from kmcbot.devtools.loadgen.timeline import local_memory

    ports = [
        urlsplit(u.strip()).port or 80
        for part in urls
        for u in part.split(",")
        if urlsplit(u.strip()).hostname in ("127.0.0.1", "localhost", "::1")
    ]
    return lambda: local_memory(ports)
