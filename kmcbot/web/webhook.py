"""The WhatsApp webhook: the verification handshake and inbound updates."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections import defaultdict

import asyncpg
import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from redis.exceptions import RedisError

from kmcbot import metrics
from kmcbot.messages import Error, IdentityChange, Inbound, Status
from kmcbot.observe import delivery
from kmcbot.observe.events import correlation_id
from kmcbot.pipeline import Pipeline, RetryLater
from kmcbot.storage.keys import user_tag
from kmcbot.web import unreadable, uploads
from kmcbot.web.errors import json_error
from kmcbot.web.keys import BODY_BUDGET, PIPELINE, SETTINGS
from kmcbot.whatsapp import inbound, signature

log = structlog.get_logger()

MAX_BODY = 3 * 1024 * 1024
USER_CONCURRENCY = 64  # citizens handled at once within one POST


async def verify(request: web.Request) -> web.Response:
    """GET /webhook: Meta's subscription handshake; the challenge goes back verbatim."""
    token = request.app[SETTINGS].verify_token
    q = request.query
    if (
        q.get("hub.mode") == "subscribe"
        and token is not None
        and hmac.compare_digest(q.get("hub.verify_token", "").encode(), token.encode())
    ):
        return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")
    return json_error(403, "verification failed")


async def receive(request: web.Request) -> web.Response:
    """POST /webhook: 200 only once every message's session and replies are stored."""
    status = 500  # an exception: aiohttp answers 500
    try:
        with metrics.WEBHOOK_SECONDS.time():
            response = await _receive(request)
        status = response.status
        return response
    finally:
        metrics.WEBHOOK_RESPONSES.labels(str(status)).inc()


async def _receive(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if request.content_length is not None and request.content_length > MAX_BODY:
        return uploads.closing(json_error(413, "body over 3 MiB"))
    if request.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        # WhatsApp never compresses (and the app does not decompress: see app.py).
        return uploads.closing(json_error(415, "Content-Encoding is not supported"))
    header = request.headers.get("X-Hub-Signature-256")
    if not settings.dev and not signature.well_formed(header):
        # Refused before the body is read: an unsigned upload holds no memory.
        metrics.UPLOADS_REFUSED.labels("unsigned").inc()
        return uploads.closing(json_error(401, "missing or wrong X-Hub-Signature-256"))
    announced = request.content_length
    with request.app[BODY_BUDGET].take(MAX_BODY if announced is None else announced) as fits:
        if not fits:
            metrics.UPLOADS_REFUSED.labels("busy").inc()
            response = uploads.closing(json_error(503, "too many uploads at once; deliver again"))
            response.headers["Retry-After"] = "1"
            return response
        try:
            raw = await uploads.read_within(request, settings.body_timeout_s)
        except uploads.Refused as refused:
            return refused.response
        except web.HTTPRequestEntityTooLarge:
            return uploads.closing(json_error(413, "body over 3 MiB"))
        except RequestPayloadError:  # a broken chunked body, say
            return uploads.closing(json_error(400, "body could not be read"))
        return await _handle_body(request, raw, header)


async def _handle_body(request: web.Request, raw: bytes, header: str | None) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.app_secret is not None:
        if not signature.verify(settings.app_secret, raw, header):
            return json_error(401, "missing or wrong X-Hub-Signature-256")
    elif not settings.dev:
        return json_error(401, "unsigned webhooks are accepted only in dev mode")
    try:
        payload = unreadable.load_json(raw)
    except unreadable.NotJson:
        return json_error(400, "body is not JSON")
    # "dev": no number configured (dev mode), so any number's payload is taken.
    ours = None if settings.wa_phone_number_id == "dev" else settings.wa_phone_number_id
    parsed = inbound.parse(payload, phone_number_id=ours)
    if parsed.ignored_fields:
        # One line per payload, however many changes it ignored (issue 18: a
        # payload of 220,000 of them was 220,000 lines).
        log.info(
            "webhook_fields_ignored",
            count=len(parsed.ignored_fields),
            fields=sorted({unreadable.printable(f[:64]) for f in parsed.ignored_fields[:100]})[:5],
        )
    if parsed.foreign:
        metrics.WEBHOOK_IGNORED.labels("foreign").inc(parsed.foreign)
        log.warning("webhook_not_ours", changes=parsed.foreign)
    if parsed.dropped:
        metrics.WEBHOOK_IGNORED.labels("over_cap").inc(parsed.dropped)
    by_user: dict[str, list[Inbound]] = defaultdict(list)
    statuses: list[Status] = []
    errors: dict[str, int] = defaultdict(int)
    for update in parsed.updates:
        if reason := unreadable.why_unreadable(update):
            metrics.UNREADABLE_ITEMS.labels(reason).inc()
            errors[f"dropped: {reason}"] += 1
            continue
        match update:
            case Inbound():
                by_user[update.wa_id].append(update)
            case Status():
                statuses.append(update)  # no line each: see observe/delivery.py
            case Error():
                if update.code == 0 and update.title.startswith("malformed"):
                    metrics.WEBHOOK_IGNORED.labels("malformed").inc()
                errors[f"{update.code} {update.title[:100]}"] += 1
    if errors:
        # Malformed and dropped items and WhatsApp's errors: one line per payload too.
        log.warning(
            "webhook_error_items", count=sum(errors.values()), kinds=dict(list(errors.items())[:10])
        )
    failures = await handle_all(request.app[PIPELINE], list(by_user.values()))
    if failures:
        # The statuses wait for the redelivery of the whole POST: recorded now,
        # they would be counted (and a 131047 notice resent) again by it.
        return json_error(503, f"{failures} message(s) not handled; deliver again")
    if statuses:
        try:
            pipeline = request.app[PIPELINE]
            await delivery.record(pipeline.pool, statuses, pipeline.sent_news)
        except (asyncpg.PostgresError, RedisError, OSError, TimeoutError) as exc:
            # Nothing of them was counted or written (delivery.record: all or
            # nothing); delivered again by WhatsApp, the POST's messages are
            # duplicates by then and the statuses are recorded once.
            log.warning("statuses_not_recorded", count=len(statuses), error=type(exc).__name__)
            return json_error(503, "statuses not recorded; deliver again")
    return web.json_response({"ok": True})


async def handle_all(pipeline: Pipeline, per_user: list[list[Inbound]]) -> int:
    """Each citizen's messages in order; citizens side by side; returns how many failed."""
    if len(per_user) == 1:  # nearly every POST: one citizen, no tasks needed
        return await _handle_in_order(pipeline, per_user[0])
    gate = asyncio.Semaphore(USER_CONCURRENCY)

    async def one_user(messages: list[Inbound]) -> int:
        async with gate:
            return await _handle_in_order(pipeline, messages)

    return sum(await asyncio.gather(*(one_user(m) for m in per_user)))


async def _handle_in_order(pipeline: Pipeline, messages: list[Inbound]) -> int:
    """One citizen's messages, one after another; returns how many failed."""
    return sum([not await _handle_one(pipeline, m) for m in messages])


async def _handle_one(pipeline: Pipeline, message: Inbound) -> bool:
    started = time.perf_counter()
    fields = {
        "user": user_tag(pipeline.pepper, message.wa_id),
        "cid": correlation_id(pipeline.pepper, message.message_id),
        "type": type(message.content).__name__.lower(),
    }
    metrics.INBOUND.labels(fields["type"]).inc()
    # Read receipt and typing indicator: a task of their own, started here. Not for
    # WhatsApp's system messages (a changed number): no one typed them.
    watch = (
        pipeline.receipts.watch(message.message_id, message.wa_id)
        if pipeline.receipts and not isinstance(message.content, IdentityChange)
        else None
    )
    try:
        handled = await pipeline.handle(message, fields["user"], fields["cid"])
    except RetryLater as exc:
        if watch is not None:
            watch.done(None)
        metrics.HANDLED.labels("retry_later").inc()
        # Not a fault: the same message is in hand elsewhere (WhatsApp delivered it
        # twice at once), or the citizen's queue would not let it in; the 503 asks
        # WhatsApp to deliver it again, and the next delivery is answered.
        log.warning(
            "message",
            **fields,
            outcome="retry_later",
            reason=str(exc),
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return False
    except Exception as exc:  # noqa: BLE001 - one message's failure must not fail the others
        if watch is not None:
            watch.done(None)
        metrics.HANDLED.labels("error").inc()
        log.error(
            "message",
            **fields,
            outcome="error",
            error=type(exc).__name__,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return False
    if watch is not None:
        watch.done(handled.replies > 0 if handled.outcome != "duplicate" else None)
    metrics.HANDLED.labels(handled.outcome).inc()
    # A duplicate (WhatsApp delivered a handled message again) is only counted: in a
    # redelivery storm a line each would bury the rest (debug shows them).
    (log.debug if handled.outcome == "duplicate" else log.info)(
        "message",
        **fields,
        outcome=handled.outcome,
        state=handled.state,
        replies=handled.replies,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return True
