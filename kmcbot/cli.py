"""The `kmcbot` command: serve, migrate, seed, chat, loadtest, purge, staff."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from kmcbot import logs
from kmcbot.booking.model import kolkata_today
from kmcbot.settings import Settings, SettingsError, from_env
from kmcbot.storage import postgres as db
from kmcbot.web.workers import SHUTDOWN_S, StopWatch, supervise

if TYPE_CHECKING:
    from kmcbot.devtools.data.demo import CentreRow
    from kmcbot.devtools.embedded import Embedded

log = structlog.get_logger()


@contextlib.contextmanager
def services(settings: Settings) -> Iterator[Settings]:
    """Settings with both URLs resolved: embedded servers stand in for unset ones."""
    from kmcbot.devtools.embedded.postgres import start_postgres
    from kmcbot.devtools.embedded.redis import start_redis

    with contextlib.ExitStack() as stack:
        if not settings.database_url:
            pg = _embedded("PostgreSQL", start_postgres, settings.data_dir)
            stack.callback(pg.stop)
            settings = replace(settings, database_url=pg.url)
            log.info("embedded_postgres", data_dir=str(settings.data_dir))
        if not settings.redis_url:
            rd = _embedded("Redis", start_redis, settings.data_dir)
            stack.callback(rd.stop)
            settings = replace(settings, redis_url=rd.url)
            log.info("embedded_redis", data_dir=str(settings.data_dir))
        yield settings


def _embedded(name: str, start: Callable[[Path], Embedded], data_dir: Path) -> Embedded:
    try:
        return start(data_dir)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise SettingsError(
            f"the embedded {name} cannot start in KMCBOT_DATA_DIR {data_dir}: {exc}"
        ) from None


def _serve_one(settings: Settings, sock: socket.socket) -> None:
    from aiohttp import web

    from kmcbot.app import create_app

    logs.setup(settings.log_format, settings.log_level_number)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    loop = asyncio.new_event_loop()
    app = create_app(settings)
    stop = StopWatch(loop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.on_signal)
    # The objects of start-up live as long as the process: kept out of the cyclic
    # garbage collector's passes, and those passes made rarer. Requests leave few
    # cycles behind, and each pass over the whole heap paused every request.
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    try:
        web.run_app(
            app,
            sock=sock,
            print=None,
            access_log=None,
            loop=loop,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_S,
        )
    except SettingsError as exc:  # PostgreSQL or Redis unreachable (a worker says it too)
        sys.stderr.write(f"kmcbot: {exc}\n")
        raise SystemExit(2) from None
    except RuntimeError as exc:
        # Told to stop while aiohttp was still cleaning up after a failed start (the
        # parent stops every worker once one has failed): the stop has nothing
        # left to do, and the failure was reported by the worker that had it.
        if not (stop.begun.is_set() and "Event loop stopped" in str(exc)):
            raise
        raise SystemExit(1) from None
    finally:
        stop.done.set()


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    settings.check_for_serving()
    with services(settings) as settings:
        asyncio.run(db.migrate(settings.database_url or "", settings.sql_dir))
        if settings.dev:
            log.warning(
                "DEV MODE: unsigned webhooks accepted, replies kept at /dev/messages, "
                "not sent to WhatsApp"
                if not settings.wa_token
                else "DEV MODE: unsigned webhooks accepted"
            )
        try:
            # One listening socket; with --workers, inherited by all of them (their
            # senders share the send rate through Redis). No SO_REUSEPORT: a second
            # service started on the same port by mistake must fail, not share it.
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        log.info("serving", host=host, port=port, workers=workers)
        if settings.dev:
            # What a newcomer can open next (README, Quick start).
            wildcard = host in ("0.0.0.0", "::")  # noqa: S104 - a comparison, not a bind
            base = f"http://{'127.0.0.1' if wildcard else host}:{port}"
            log.warning(
                "try_it",
                chat_page=f"{base}/dev/chat",
                terminal_chat=".venv/bin/kmcbot chat",
                metrics=f"{base}/metrics",
                admin_api="off: set KMCBOT_ADMIN_TOKEN=<a long random token> to turn on /admin"
                if not settings.admin_token
                else f"on: {base}/admin (Authorization: Bearer <KMCBOT_ADMIN_TOKEN>)",
            )
        if workers == 1:
            _serve_one(settings, sock)
            return
        # Counters of all workers add up in one directory (prometheus_client's multiprocess mode).
        metrics_dir = settings.data_dir.resolve() / f"metrics-{os.getpid()}"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        procs = [
            multiprocessing.Process(target=_serve_one, args=(settings, sock))
            for _ in range(workers)
        ]
        if not supervise(procs):
            raise SystemExit(1)


def migrate(settings: Settings) -> None:
    with services(settings) as settings:
        applied = asyncio.run(db.migrate(settings.database_url or "", settings.sql_dir))
        print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")


def seed(settings: Settings, centres: list[CentreRow], days: int, city: bool = False) -> None:
    from kmcbot.devtools import seed as seeding
    from kmcbot.devtools.data import city as city_data

    sessions = city_data.city_slots if city else seeding.demo_slots
    with services(settings) as settings:
        url = settings.database_url or ""
        asyncio.run(db.migrate(url, settings.sql_dir))
        count, slots = asyncio.run(
            seeding.seed_centres(url, centres, kolkata_today(), days, sessions)
        )
        print(f"{count} centres, {slots} new slots")


def purge(settings: Settings, days: int) -> None:
    """Prints how many bookings lost their personal data."""
    from kmcbot.jobs.purge import purge as erase_old

    with services(settings) as settings:
        url = settings.database_url or ""
        asyncio.run(db.migrate(url, settings.sql_dir))
        erased = asyncio.run(erase_old(url, days))
    print(
        f"{erased} booking(s) purged: personal data erased where the slot ended "
        f"more than {days} day(s) ago"
    )


def templates(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> int:
    """Print the templates as JSON; with --submit, submit them and print their status."""
    import orjson

    from kmcbot.dialogue.notices import Templates
    from kmcbot.whatsapp import templates as wa_templates

    names = Templates(
        settings.template_booking,
        settings.template_slot_cancelled,
        settings.template_reminder,
        settings.template_on_list,
    )
    found = wa_templates.definitions(names)
    if not args.submit:
        print(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return 0
    if not settings.wa_token or not args.waba_id:
        parser.exit(2, "kmcbot: --submit needs KMCBOT_WA_TOKEN and --waba-id (KMCBOT_WABA_ID)\n")
    try:
        report = asyncio.run(
            wa_templates.submit(
                found, graph_url=settings.graph_url, waba_id=args.waba_id, token=settings.wa_token
            )
        )
    except (OSError, TimeoutError) as exc:  # aiohttp's ClientError is an OSError too
        parser.exit(2, f"kmcbot: cannot reach the Graph API at {settings.graph_url}: {exc}\n")
    for name, lang, status in report:
        print(f"{name}\t{lang}\t{status}")
    return 1 if any(status.startswith("ERROR") for _, _, status in report) else 0


def whole_number(low: int, high: int, flag: str) -> Callable[[str], int]:
    """An argparse type: a whole number from low to high."""

    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number from {low} to {high}")
        return value

    return number


# The terminal chat's own citizen: the chat page's are 919800000001, 919800000002, ...
CHAT_NUMBER = "919811111111"


def _wa_id(text: str) -> str:
    """A WhatsApp number as the webhook carries it: digits with the country code
    ("+91 98000 00001" is taken as 919800000001)."""
    digits = "".join(ch for ch in text if ch not in "+ -")
    if not (digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15):
        raise argparse.ArgumentTypeError("--wa-id takes a number such as 919800000001")
    return digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kmcbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="migrate, then serve the webhook")
    p_serve.add_argument("--host", default="127.0.0.1", help="[127.0.0.1]")
    p_serve.add_argument(
        "--port", type=whole_number(1, 65535, "--port"), default=8080, help="[8080]"
    )
    p_serve.add_argument(
        "--workers",
        type=whole_number(1, 256, "--workers"),
        default=1,
        help="processes sharing the port",
    )
    sub.add_parser("migrate", help="apply the SQL migrations in sql/")
    p_seed = sub.add_parser("seed", help="load centres and 14 days of slots")
    group = p_seed.add_mutually_exclusive_group(required=True)
    group.add_argument("--demo", action="store_true", help="the shipped Kolkata demo centres")
    group.add_argument("--file", type=Path, help="a centres CSV (see README)")
    group.add_argument(
        "--city",
        action="store_true",
        help="all of Kolkata: 293 centres in 144 wards, ~100,000 places a day (generated)",
    )
    p_seed.add_argument(
        "--days", type=whole_number(0, 3650, "--days"), default=14, help="days of sessions [14]"
    )
    p_chat = sub.add_parser("chat", help="talk to a running bot as a citizen")
    p_chat.add_argument("--url", default="http://127.0.0.1:8080")
    p_chat.add_argument(
        "--wa-id",
        type=_wa_id,
        default=CHAT_NUMBER,
        help=f"the citizen's number [{CHAT_NUMBER}: not one of the chat page's]",
    )
    p_load = sub.add_parser("loadtest", help="simulated citizens against a running bot")
    from kmcbot.devtools.loadgen.command import add_arguments as loadtest_arguments

    loadtest_arguments(p_load)
    p_templates = sub.add_parser(
        "templates", help="the WhatsApp message templates as Meta's API takes them; submit them"
    )
    p_templates.add_argument(
        "--submit",
        action="store_true",
        help="submit them (needs a token and --waba-id) and print each one's review status",
    )
    p_templates.add_argument(
        "--waba-id",
        default=os.environ.get("KMCBOT_WABA_ID", ""),
        help="the WhatsApp Business Account id [env KMCBOT_WABA_ID]",
    )
    p_purge = sub.add_parser("purge", help="erase personal data of bookings ended N days ago")
    p_purge.add_argument(
        "--days",
        type=whole_number(0, 36_500, "--days"),
        required=True,
        help="erase bookings whose slot ended more than this many days ago",
    )
    p_staff = sub.add_parser("staff", help="staff console accounts: add, list, disable, token")
    from kmcbot.staff.command import add_arguments as staff_arguments

    staff_arguments(p_staff)
    args = parser.parse_args(argv)

    try:
        settings = from_env()
    except SettingsError as exc:
        parser.exit(2, f"kmcbot: {exc}\n")
    logs.setup(settings.log_format, settings.log_level_number)
    try:
        return _run(parser, args, settings)
    except SettingsError as exc:  # a setting refused, PostgreSQL or Redis unreachable
        parser.exit(2, f"kmcbot: {exc}\n")


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        serve(settings, args.host, args.port, args.workers)
    elif args.command == "migrate":
        migrate(settings)
    elif args.command == "seed":
        from kmcbot.devtools.data.demo import CENTRES_CSV, read_centres

        try:  # a bad file is named (line and problem) before anything starts or is written
            centres = read_centres(args.file or CENTRES_CSV)
        except (ValueError, OSError) as exc:
            parser.exit(2, f"kmcbot: {exc}\n")
        if args.city:
            from kmcbot.devtools.data.city import city_centres

            centres = city_centres(centres)
        seed(settings, centres, args.days, city=args.city)
    elif args.command == "chat":
        import aiohttp

        from kmcbot.devtools import chat

        secret = os.environ.get("KMCBOT_APP_SECRET", "").encode() or None
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(chat.run(args.url, args.wa_id, secret))
        except (aiohttp.ClientError, OSError) as exc:
            parser.exit(2, f"kmcbot: cannot reach the bot at {args.url}: {exc}\n")
    elif args.command == "loadtest":
        from kmcbot.devtools.loadgen.command import loadtest

        return loadtest(args)
    elif args.command == "templates":
        return templates(parser, args, settings)
    elif args.command == "purge":
        purge(settings, args.days)
    elif args.command == "staff":
        from kmcbot.staff.command import command as staff_command

        with services(settings) as resolved:
            return staff_command(resolved, args)
    return 0
