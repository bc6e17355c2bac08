"""One inbound message through the whole shell, in one order:

dedupe + lock + load (Redis) -> pure step -> effects (PostgreSQL) ->
session + replies + "done" (Redis, one script) -> the caller answers 200.

Anything that fails before the commit gives the message up (the lease and the
lock are released) and raises, so the webhook answers 5xx and WhatsApp
delivers again; bookings are idempotent on the message id, so the retry
cannot book twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import orjson
import structlog

from kmcbot import metrics
from kmcbot.booking import repository
from kmcbot.booking.availability import Availability
from kmcbot.booking.model import Refusal
from kmcbot.dialogue import effects as fx
from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.model import Lang, Session, session_from_dict, session_to_dict
from kmcbot.dialogue.step import Context, Outcome, step
from kmcbot.messages import IdentityChange, Inbound, Say
from kmcbot.outbox.relay import encode_news
from kmcbot.storage.identities import Identities
from kmcbot.storage.sessions import Begin, Conflict, Loaded, SessionStore, user_tag
from kmcbot.whatsapp.outbound import body as cloud_body

if TYPE_CHECKING:
    from kmcbot.outbox.receipts import Receipts

log = structlog.get_logger()

MAX_EFFECT_ROUNDS = 4  # a step that keeps asking for effects is a bug; stop it
LOCK_WAIT_S = 5.0
STALE_SLOT_REFUSALS = {Refusal.SLOT_FULL, Refusal.SLOT_STARTED, Refusal.SLOT_GONE}


class RetryLater(Exception):
    """The message cannot be handled now (busy elsewhere); WhatsApp should deliver again."""


class AvailabilityCache:
    """The centres-and-slots snapshot, reloaded at most every `max_age_s` per process."""

    def __init__(
        self, load: Callable[[datetime], Awaitable[Availability]], max_age_s: float = 1.0
    ) -> None:
        self._load = load
        self.max_age_s = max_age_s
        self._value: Availability | None = None
        self._stamp = 0.0
        self._lock = asyncio.Lock()

    async def get(self, now: datetime, *, fresh: bool = False) -> Availability:
        if (
            not fresh
            and self._value is not None
            and time.monotonic() - self._stamp < self.max_age_s
        ):
            return self._value
        async with self._lock:  # one reload at a time, however many messages wait
            if fresh or self._value is None or time.monotonic() - self._stamp >= self.max_age_s:
                self._value = await self._load(now)
                self._stamp = time.monotonic()
            return self._value


@dataclass(frozen=True, slots=True)
class Handled:
    outcome: str  # "ok", "duplicate"
    state: str = ""
    replies: int = 0


class Pipeline:
    def __init__(
        self,
        store: SessionStore,
        pool: asyncpg.Pool,
        availability: AvailabilityCache,
        pepper: bytes,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.pool = pool
        self.identities = Identities(pool)
        self.availability = availability
        self.pepper = pepper
        self.clock = clock
        # Read receipts and typing (outbox/receipts.py); set by the app when it sends
        # to WhatsApp, None otherwise (dev mode without a token, tests).
        self.receipts: Receipts | None = None

    async def handle(self, message: Inbound, tag: str | None = None) -> Handled:
        """`tag`: the sender's keyed hash, when the caller has it already."""
        citizen = await self.identities.citizen(message.wa_id, message.user_id)
        if citizen != message.wa_id:  # a hidden number we know: the same citizen
            message, tag = replace(message, wa_id=citizen), None
        tag = tag or user_tag(self.pepper, message.wa_id)
        if isinstance(message.content, IdentityChange):
            return await self._identity_changed(tag, message, message.content)
        for _ in range(3):
            loaded = await self._begin(tag, message.message_id)
            if loaded.status is Begin.DUPLICATE:
                return Handled("duplicate")
            try:
                # Done well within the lease, or given up: past it, a redelivery
                # could be handled beside us.
                async with asyncio.timeout(self.store.lease_ms * 0.7 / 1000):
                    return await self._step_and_commit(tag, message, loaded)
            except Conflict:
                log.warning("session_conflict", user=tag)
                continue  # someone saved a newer session: load it and step again
            except BaseException:
                await self._abort_quietly(tag, message.message_id, loaded)
                raise
        raise RetryLater("session kept changing")

    async def _identity_changed(
        self, tag: str, message: Inbound, change: IdentityChange
    ) -> Handled:
        """WhatsApp's system message: the citizen's bookings, pairs, session and
        profile move to their new number or user id. No reply: it is no message
        the citizen typed."""
        loaded = await self._begin(tag, message.message_id)
        if loaded.status is Begin.DUPLICATE:
            return Handled("duplicate")
        try:
            new = await self.identities.changed(
                message.wa_id, message.user_id, change.new_wa_id, change.new_user_id
            )
            moved = new != message.wa_id
            if moved:
                await self.store.adopt(user_tag(self.pepper, new), loaded.session, loaded.profile)
            await self.store.commit(
                tag,
                message.message_id,
                loaded,
                session=loaded.session,
                profile=None,
                to=message.wa_id,
                bodies=[],
                now_s=self.clock().timestamp(),
                erase=moved,  # nothing stays under the old id
            )
        except BaseException:
            await self._abort_quietly(tag, message.message_id, loaded)
            raise
        return Handled("moved" if moved else "ok", replies=0)

    async def _begin(self, tag: str, message_id: str) -> Loaded:
        deadline = time.monotonic() + LOCK_WAIT_S
        pause = 0.005
        while True:
            loaded = await self.store.begin(tag, message_id)
            if loaded.status in (Begin.OK, Begin.DUPLICATE):
                return loaded
            if loaded.status is Begin.BUSY or time.monotonic() > deadline:
                raise RetryLater(loaded.status)
            # Another message of this citizen is in progress (or ahead in the queue);
            # poll well within the queue's 2 s: a silent waiter loses its place.
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _step_and_commit(self, tag: str, message: Inbound, loaded: Loaded) -> Handled:
        now = self.clock()
        profile = _decode_profile(loaded.profile)
        if loaded.over_limit:
            return await self._over_limit(tag, message, loaded, profile, now)
        session = _decode_session(loaded.session, tag)
        ctx = Context(
            now=now,
            availability=await self.availability.get(now),
            pepper=self.pepper,
            profile_lang=_lang(profile.get("lang")),
            expired=not loaded.session and bool(profile.get("open")),
        )
        outcome = step(session, message, ctx)
        replies = list(outcome.replies)
        pending = list(outcome.effects)
        news: list[tuple[str, str]] = []  # (reference, kind) this turn's replies announce
        erased = False
        for _ in range(MAX_EFFECT_ROUNDS):
            if not pending:
                break
            result = await self._run(pending.pop(0), message.wa_id)
            news += _news(result)
            if isinstance(result, fx.Forgotten):
                erased = True
                self.identities.forget(message.wa_id)
            metrics.record_result(result)
            if isinstance(result, fx.Refused) and result.reason in STALE_SLOT_REFUSALS:
                ctx = replace(ctx, availability=await self.availability.get(now, fresh=True))
            outcome = step(outcome.session, result, ctx)
            replies += outcome.replies
            pending += outcome.effects
        new_profile = {
            "lang": outcome.session.lang or profile.get("lang"),
            "open": int(outcome.session.in_flow),
            "seen": _seen(profile, message, now),
        }
        await self.store.commit(
            tag,
            message.message_id,
            loaded,
            session=orjson.dumps(session_to_dict(outcome.session)).decode(),
            # Written every turn now, for "seen": one more small SET inside the script
            # that already writes the session, and the profile's TTL slides with use.
            profile=orjson.dumps(new_profile).decode(),
            to=message.wa_id,
            bodies=[orjson.dumps(cloud_body(message.wa_id, r)).decode() for r in replies],
            now_s=now.timestamp(),
            news=encode_news(news),
            erase=erased,
        )
        return Handled("ok", str(outcome.session.state), len(replies))

    async def _over_limit(
        self, tag: str, message: Inbound, loaded: Loaded, profile: dict[str, object], now: datetime
    ) -> Handled:
        """Too many messages this minute: one polite notice, then silence; the session stays."""
        metrics.RATE_LIMITED.inc()
        bodies = []
        if loaded.over_limit == 1:
            notice = Say(text(_lang(profile.get("lang")) or Lang.EN, "common.rate_limited"))
            bodies.append(orjson.dumps(cloud_body(message.wa_id, notice)).decode())
        await self.store.commit(
            tag,
            message.message_id,
            loaded,
            session=loaded.session,
            profile=None,
            to=message.wa_id,
            bodies=bodies,
            now_s=now.timestamp(),
        )
        return Handled("rate_limited", replies=len(bodies))

    async def _run(self, effect: fx.Effect, wa_id: str) -> fx.Result:
        match effect:
            case fx.Book():
                return await repository.book(self.pool, wa_id, effect)
            case fx.ListBookings():
                return await repository.list_bookings(self.pool, wa_id)
            case fx.CancelBooking(reference=ref):
                return await repository.cancel(self.pool, wa_id, ref)
            case fx.MoveBooking(reference=ref, slot_id=slot_id, message_id=mid):
                return await repository.move(self.pool, wa_id, ref, slot_id, mid)
            case fx.ForgetMe():
                return await repository.forget(self.pool, wa_id)
        raise TypeError(f"unknown effect {type(effect).__name__}")

    async def _abort_quietly(self, tag: str, message_id: str, loaded: Loaded) -> None:
        try:
            await self.store.abort(tag, message_id, loaded)
        except Exception:  # noqa: BLE001 - the lease runs out on its own anyway
            log.warning("abort_failed", user=tag)


def _news(result: fx.Result) -> list[tuple[str, str]]:
    match result:
        case fx.Booked(view):
            return [(view.reference, "booked")]
        case fx.Moved(view):
            return [(view.reference, "moved")]
        case fx.Cancelled(reference):
            return [(reference, "cancelled")]
    return []


def _seen(profile: dict[str, object], message: Inbound, now: datetime) -> int:
    """When the citizen last wrote, for the relay's 24-hour window: the message's own
    time (a redelivered old one does not reopen the window), never moving back."""
    before = profile.get("seen")
    sent = int(min(message.sent_at, now).timestamp())
    return max(sent, before) if isinstance(before, int) else sent


def _decode_session(stored: str, tag: str) -> Session | None:
    if not stored:
        return None
    try:
        return session_from_dict(orjson.loads(stored))
    except (ValueError, TypeError, KeyError) as exc:
        # A corrupt or outdated session starts over; it must never break the webhook.
        log.warning("session_reset", user=tag, reason=type(exc).__name__)
        return None


def _decode_profile(stored: str) -> dict[str, object]:
    try:
        value = orjson.loads(stored) if stored else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _lang(value: object) -> Lang | None:
    try:
        return Lang(value) if value else None
    except ValueError:
        return None


__all__ = ["AvailabilityCache", "Handled", "Outcome", "Pipeline", "RetryLater"]
