"""The aiohttp application: routes and one cleanup context per resource."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import cast

import aiohttp
import redis
import redis.asyncio as aioredis
import structlog
from aiohttp import web
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from kmcbot.booking.repository import HORIZON_DAYS
from kmcbot.booking.snapshot import Snapshots
from kmcbot.dialogue.notices import Templates
from kmcbot.jobs.aof import AofRewrite
from kmcbot.jobs.missed import MissedSweeper
from kmcbot.jobs.reminders import ReminderScheduler
from kmcbot.outbox.dev import DevTransport
from kmcbot.outbox.images import QrImages
from kmcbot.outbox.rate import SharedRateLimiter
from kmcbot.outbox.receipts import Receipts
from kmcbot.outbox.relay import Relay, mark_accepted
from kmcbot.outbox.sender import Sender
from kmcbot.pipeline import AvailabilityCache, Pipeline
from kmcbot.settings import Settings, SettingsError, unreachable
from kmcbot.staff.app import create_staff_app
from kmcbot.storage import postgres as db
from kmcbot.storage import redis_pipe
from kmcbot.storage.keys import outbox_keys, sent_key
from kmcbot.storage.sessions import Commands, SessionStore
from kmcbot.waitlist.job import OfferJob
from kmcbot.web import admin, chat_page, dev, errors, health, protocol, webhook
from kmcbot.web.keys import (
    BODY_BUDGET,
    COMMANDS,
    DEV_OUTBOX,
    OFFER_JOB,
    PG,
    PIPELINE,
    REDIS,
    SENDER_TASK,
    SETTINGS,
)
from kmcbot.web.uploads import BodyBudget
from kmcbot.whatsapp.graph import GraphTransport, Transport

log = structlog.get_logger()

# Connections per cluster node, per process (see _redis).
MAX_CLUSTER_CONNECTIONS = 256


def create_app(settings: Settings) -> web.Application:
    """Needs `settings.database_url` and `settings.redis_url` resolved (see cli.serve)."""
    # No decompression of request bodies: WhatsApp never compresses, and a body
    # labelled gzip would otherwise be inflated before its signature is checked.
    app = web.Application(
        client_max_size=webhook.MAX_BODY,
        handler_args={"auto_decompress": False},
        middlewares=[errors.json_errors],
    )
    protocol.install()  # JSON answers to requests aiohttp cannot parse
    app.on_response_prepare.append(protocol.server_header)
    app[SETTINGS] = settings
    app[BODY_BUDGET] = BodyBudget(settings.body_budget_mb * 1024 * 1024)
    app.cleanup_ctx.extend([_postgres, _redis, _commands, _pipeline, _receipts, _sender, _notices])
    app.router.add_get("/webhook", webhook.verify)
    app.router.add_post("/webhook", webhook.receive)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics)
    if settings.dev:
        app.router.add_get("/dev/messages", dev.messages)
        app.router.add_post("/dev/send", dev.send)
        app.router.add_get("/dev/chat", dev.chat)
        app.router.add_get("/dev/fonts/{name}", chat_page.font)
        app.router.add_get("/dev/media/{media_id}", dev.media)
    app.add_subapp("/staff", create_staff_app(settings))  # the centre's desk (kmcbot/staff/)
    # Staff accounts' own API tokens work with or without KMCBOT_ADMIN_TOKEN.
    app.add_subapp("/admin", admin.create_admin_app(settings.admin_token))
    return app


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].database_url
    assert url, "database_url must be resolved before the app starts"
    app[PG] = await db.create_pool(url, pgbouncer=app[SETTINGS].pgbouncer)
    yield
    await app[PG].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis_url
    assert url, "redis_url must be resolved before the app starts"
    pool: aioredis.BlockingConnectionPool | None = None
    if app[SETTINGS].redis_cluster:
        _check_cluster_client()
        # `url` names one node; the client learns the others and the slots from it,
        # and sends each command (script, pipeline) to the node owning its keys' slot.
        # Its pools cannot block, so they are sized for bursts: a command past
        # MAX_CLUSTER_CONNECTIONS in flight to one node fails (the webhook answers 503).
        cluster = RedisCluster.from_url(
            url,
            max_connections=MAX_CLUSTER_CONNECTIONS,
            socket_timeout=5,
            socket_connect_timeout=5,
        )
        # The same commands, routed by key; redis-py types the two clients apart.
        app[REDIS] = cast(aioredis.Redis, cluster)
        if app[SETTINGS].redis_shards == 1:
            log.warning(
                "redis_cluster_one_shard",
                hint="with KMCBOT_REDIS_SHARDS=1 every citizen is on one node; use 16 or more",
            )
    else:
        # A blocking pool: past 64 commands in flight, callers wait for a connection
        # (up to 5 s) instead of failing with MaxConnectionsError.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=5, socket_timeout=5, socket_connect_timeout=5
        )
        app[REDIS] = aioredis.Redis(connection_pool=pool)
    try:
        await app[REDIS].ping()
    except (RedisError, RedisClusterException, OSError) as exc:
        raise unreachable("Redis", url, exc) from None
    await _check_shards(app[REDIS], app[SETTINGS])
    app[DEV_OUTBOX] = DevTransport(app[REDIS], app[SETTINGS].redis_prefix)
    yield
    await app[REDIS].aclose()
    if pool is not None:
        await pool.disconnect()  # a pool passed in is not closed by aclose()


async def _commands(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    url = settings.redis_url or ""
    if redis_pipe.supports(url) and not settings.redis_cluster:
        pipe = redis_pipe.PipelinedRedis(url, timeout=5)
        app[COMMANDS] = pipe
        yield
        await pipe.aclose()
    else:
        app[COMMANDS] = app[REDIS]
        yield


def _commands_of(app: web.Application) -> Commands:
    return cast(Commands, app[COMMANDS])


def _check_cluster_client() -> None:
    """The relay and the dev outbox run MULTI on one slot's keys: redis-py's asyncio
    RedisCluster can since 6.2."""
    installed = tuple(int(part) for part in redis.__version__.split(".")[:2] if part.isdigit())
    if installed < (6, 2):
        raise SettingsError(
            f"KMCBOT_REDIS_CLUSTER=1 needs redis-py 6.2 or later (installed: {redis.__version__})"
        )


async def _check_shards(redis: aioredis.Redis, settings: Settings) -> None:
    """Every process sharing this Redis must spread citizens the same way: with two
    shard counts, one citizen would have two locks and two sessions."""
    key = f"{settings.redis_prefix}:shards"
    await redis.set(key, settings.redis_shards, nx=True)
    stored = int(await redis.get(key) or settings.redis_shards)
    if stored != settings.redis_shards:
        raise SettingsError(
            f"KMCBOT_REDIS_SHARDS is {settings.redis_shards}, but this Redis holds data "
            f"for {stored} shards (key {key}); change it only with every process stopped "
            "and that key deleted (sessions then start again)"
        )


async def _pipeline(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = app[PG]
    app[PIPELINE] = Pipeline(
        SessionStore(
            _commands_of(app), settings.redis_prefix, settings.lock_lease_ms, settings.redis_shards
        ),
        pool,
        AvailabilityCache(Snapshots(pool, HORIZON_DAYS)),
        settings.id_pepper,
        qr_images=settings.qr_images,
    )
    yield


async def _receipts(app: web.Application) -> AsyncIterator[None]:
    """Read receipts and typing (outbox/receipts.py): only when replies go to WhatsApp
    (or a stand-in), each taking a token of the shared send rate."""
    settings = app[SETTINGS]
    if not (settings.wa_token and settings.read_receipts):
        yield
        return
    streams = outbox_keys(settings.redis_prefix, settings.redis_shards)
    rate = settings.send_rate

    async def backlog_s() -> float:
        waiting = 0
        for stream in streams:
            waiting += await app[REDIS].xlen(stream)
        return waiting / rate

    async with aiohttp.ClientSession() as http:
        receipts = Receipts(
            GraphTransport(
                http, settings.graph_url, settings.wa_phone_number_id, settings.wa_token
            ),
            SharedRateLimiter(
                _commands_of(app), f"{settings.redis_prefix}:send-rate", settings.send_rate
            ),
            backlog_s,
        )
        app[PIPELINE].receipts = receipts
        yield
        app[PIPELINE].receipts = None
        await receipts.stop()


async def _sender(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.run_sender:
        yield
        return
    async with aiohttp.ClientSession() as http:
        transport: Transport
        if settings.wa_token:
            transport = GraphTransport(
                http, settings.graph_url, settings.wa_phone_number_id, settings.wa_token
            )
        else:
            transport = app[DEV_OUTBOX]
        limiter = SharedRateLimiter(
            _commands_of(app), f"{settings.redis_prefix}:send-rate", settings.send_rate
        )
        images = QrImages(
            transport,
            app[REDIS],
            limiter,
            pepper=settings.id_pepper,
            prefix=settings.redis_prefix,
        )
        sender = Sender(
            app[REDIS],
            outbox_keys(settings.redis_prefix, settings.redis_shards),
            transport,
            limiter,
            images=images,
            commands=_commands_of(app),
            claim_idle_ms=settings.claim_idle_ms,
            on_news=lambda news: mark_accepted(app[PG], news),
            senders_key=f"{settings.redis_prefix}:senders",
            sent_key=lambda wamid: sent_key(
                settings.redis_prefix, settings.redis_shards, settings.id_pepper, wamid
            ),
        )
        task = asyncio.create_task(sender.run(), name="outbox-sender")
        task.add_done_callback(_sender_ended)
        app[SENDER_TASK] = task
        yield
        if task.done():
            return  # it crashed, and said so at the time (_sender_ended)
        sender.stop()
        try:  # within workers.STOP_S, with aiohttp's wait and the notices' stop
            await asyncio.wait_for(task, timeout=8)
        except TimeoutError:
            log.warning("sender_stop_timeout")


def _sender_ended(task: asyncio.Task[None]) -> None:
    """A sender that ends with an error sends nothing more: say so now, not at
    shutdown (/readyz says so too)."""
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("sender_crashed", error=type(error).__name__, exc_info=error)


async def _notices(app: web.Application) -> AsyncIterator[None]:
    """The relay of booking news, the reminder scheduler, the sweep of missed
    bookings and the AOF rewrite after erasures: in every process (each is safe
    to run many times over; see relay.py, reminders.py, missed.py and aof.py)."""
    settings = app[SETTINGS]
    templates = Templates(
        settings.template_booking,
        settings.template_slot_cancelled,
        settings.template_reminder,
        settings.template_on_list,
        settings.template_waitlist_offer,
    )
    relay = Relay(
        app[PG],
        app[REDIS],
        pepper=settings.id_pepper,
        templates=templates,
        prefix=settings.redis_prefix,
        shards=settings.redis_shards,
    )
    offers = OfferJob(
        app[PG],
        app[REDIS],
        pepper=settings.id_pepper,
        hold=timedelta(seconds=settings.offer_hold_s),
        template=settings.template_waitlist_offer,
        prefix=settings.redis_prefix,
        shards=settings.redis_shards,
    )
    app[OFFER_JOB] = offers
    app[PIPELINE].place_freed = offers.wake
    periodic = [
        relay,
        offers,
        ReminderScheduler(app[PG], settings.reminder_hour),
        MissedSweeper(app[PG]),
        AofRewrite(app[REDIS], settings.redis_prefix),
    ]
    tasks = [asyncio.create_task(job.run(), name=type(job).__name__) for job in periodic]
    yield
    for job in periodic:
        job.stop()
    _, late = await asyncio.wait(tasks, timeout=5)  # within workers.STOP_S (see _sender)
    for task in late:  # a pass stuck on a dead server: its transaction rolls back
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
