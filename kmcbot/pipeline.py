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
from kmcbot.booking import commands as fx
from kmcbot.booking import repository
from kmcbot.booking.availability import Availability
from kmcbot.booking.model import Refusal
from kmcbot.dialogue.catalogue import text
from kmcbot.dialogue.model import Lang
from kmcbot.dialogue.returning import last_booking
from kmcbot.dialogue.step import Context, Outcome, step
from kmcbot.messages import CheckinQr, IdentityChange, Inbound, Reply, Say
from kmcbot.observe import delivery, events, funnel
from kmcbot.outbox.entry import News, OutboxEntry, callback_data
from kmcbot.storage.identities import Identities
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import (
    MAX_WAITING,
    SESSION_TTL_S,
    UNFINISHED_TTL_S,
    Begin,
    Conflict,
    Loaded,
    Profile,
    SessionStore,
)
from kmcbot.waitlist import store as waitlist
from kmcbot.whatsapp.outbound import body as cloud_body

if TYPE_CHECKING:
    from kmcbot.outbox.receipts import Receipts

log = structlog.get_logger()

MAX_EFFECT_ROUNDS = 4  # a step that keeps asking for effects is a bug: EffectLoop
LOCK_WAIT_S = 5.0
STALE_SLOT_REFUSALS = {Refusal.SLOT_FULL, Refusal.SLOT_STARTED, Refusal.SLOT_GONE}
# The waitlist's own refusals (no offer live, already waiting, ...): not bookings refused.
WAITLIST_REFUSALS = frozenset(
    {Refusal.NO_OFFER, Refusal.OFFER_GONE, Refusal.ALREADY_WAITING, Refusal.WAITLIST_LIMIT}
)


class EffectLoop(RuntimeError):
    """The step asked for effects more than MAX_EFFECT_ROUNDS times in one turn: a bug."""


class RetryLater(Exception):
    """The message cannot be handled now (busy elsewhere); WhatsApp should deliver again."""


class AvailabilityCache:
    """The centres-and-slots snapshot, reloaded every `max_age_s` per process.

    Off the hot path (issue 18, finding 9: with 44,000 sessions each reload
    held every message up): while messages keep coming, a snapshot older than
    `max_age_s` is reloaded by a background task and the messages meanwhile
    use the one they have, at most a reload's time older. Only after a pause
    (`idle_s` without a reload: a test that has just added slots, a quiet
    night) or when asked for a `fresh` one does a message wait for the reload.
    """

    def __init__(
        self,
        load: Callable[[datetime], Awaitable[Availability]],
        max_age_s: float = 1.0,
        idle_s: float = 3.0,
    ) -> None:
        self._load = load
        self.max_age_s = max_age_s
        self.idle_s = idle_s
        self._value: Availability | None = None
        self._stamp = 0.0
        self._reload: asyncio.Task[Availability] | None = None
        self._generation = 0  # of invalidate() calls
        self._reload_generation = 0  # when the reload under way began

    async def get(self, now: datetime, *, fresh: bool = False) -> Availability:
        age = time.monotonic() - self._stamp
        if self._value is not None and not fresh and age < self.max_age_s:
            return self._value
        reload = self._start_reload(now)
        if self._value is not None and not fresh and age < self.idle_s:
            return self._value  # the reload goes on in the background
        for _ in range(2):  # a reload begun before the last invalidate() does not do
            started = self._reload_generation
            # shield: a message that gives up (its timeout) must not cancel everyone's reload.
            value = await asyncio.shield(reload)
            if started == self._generation:
                break
            reload = self._start_reload(now)
        return value

    def invalidate(self) -> None:
        """The next `get` waits for a reload (an operator changed centres or sessions)."""
        self._stamp = float("-inf")
        self._generation += 1  # a reload already under way started before the change

    def _start_reload(self, now: datetime) -> asyncio.Task[Availability]:
        """One reload at a time, however many messages ask."""
        if self._reload is None:
            self._reload_generation = self._generation
            self._reload = asyncio.create_task(self._reloaded(now), name="availability")
            # A background reload that failed (PostgreSQL away) is retried by the
            # next message; its error is read here so asyncio does not log it.
            self._reload.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._reload

    async def _reloaded(self, now: datetime) -> Availability:
        generation = self._generation
        try:
            value = await self._load(now)
            self._value = value
            if generation == self._generation:  # else the next get waits for another
                self._stamp = time.monotonic()
            return value
        finally:
            self._reload = None


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
        *,
        qr_images: bool = True,
    ) -> None:
        self.store = store
        self.qr_images = qr_images  # KMCBOT_QR_IMAGES: tickets with their QR image
        self.pool = pool
        self.identities = Identities(pool)
        self.availability = availability
        self.pepper = pepper
        self.clock = clock
        # Called when a place may have come free (a cancellation, an offer declined):
        # the app wakes the waitlist's offer job (kmcbot/waitlist/job.py).
        self.place_freed: Callable[[], None] = lambda: None
        # Messages of each citizen in hand in this process: past MAX_WAITING + 1
        # (one holding the lock), a message is refused before it costs a Redis
        # call, as the queue in Redis would refuse it (issue 18, finding 2).
        self._in_hand: dict[str, int] = {}
        # Read receipts and typing (outbox/receipts.py); set by the app when it sends
        # to WhatsApp, None otherwise (dev mode without a token, tests).
        self.receipts: Receipts | None = None
        # What messages with booking news carried, for statuses without it.
        self.sent_news = delivery.SentNews(store.redis, store.names, pepper)

    async def handle(self, message: Inbound, tag: str | None = None, cid: str = "") -> Handled:
        """`tag`: the sender's keyed hash, when the caller has it already; `cid`: the
        message's correlation id (observe/events.py), carried to its replies."""
        # Read only: the pair the message teaches is written after the duplicate check.
        citizen = await self.identities.citizen(message.wa_id, message.user_id)
        if citizen != message.wa_id:  # a hidden number we know: the same citizen
            message, tag = replace(message, wa_id=citizen), None
        tag = tag or user_tag(self.pepper, message.wa_id)
        if self._in_hand.get(tag, 0) > MAX_WAITING:
            raise RetryLater(Begin.FULL)
        self._in_hand[tag] = self._in_hand.get(tag, 0) + 1
        try:
            return await self._handle(message, tag, cid)
        finally:
            left = self._in_hand[tag] - 1
            if left:
                self._in_hand[tag] = left
            else:
                del self._in_hand[tag]

    async def _handle(self, message: Inbound, tag: str, cid: str) -> Handled:
        if isinstance(message.content, IdentityChange):
            return await self._identity_changed(tag, message, message.content)
        for _ in range(3):
            loaded = await self._begin(tag, message.message_id)
            if loaded.status is Begin.DUPLICATE:
                return Handled("duplicate")
            try:
                await self.identities.learn(message.wa_id, message.user_id)
                # Done well within the lease, or given up: past it, a redelivery
                # could be handled beside us.
                async with asyncio.timeout(self.store.lease_ms * 0.7 / 1000):
                    return await self._step_and_commit(tag, message, loaded, cid)
            except Conflict:
                log.warning("session_conflict", user=tag)
                # Someone saved a newer session: give the message and the lock back
                # (our own "processing" mark would answer the retry "busy"), then load
                # the newer session and step again.
                await self._abort_quietly(tag, message.message_id, loaded)
                continue
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
            await self.identities.learn(message.wa_id, message.user_id)  # before it moves
            new = await self.identities.changed(
                message.wa_id, message.user_id, change.new_wa_id, change.new_user_id
            )
            moved = new != message.wa_id
            if moved:
                await self.store.adopt(user_tag(self.pepper, new), loaded)
            await self.store.commit(
                tag,
                message.message_id,
                loaded,
                session=None,
                profile=None,
                entry=None,
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
            if loaded.status in (Begin.BUSY, Begin.FULL) or time.monotonic() > deadline:
                raise RetryLater(loaded.status)
            # Another message of this citizen is in progress (or ahead in the queue);
            # poll well within the queue's 2 s: a silent waiter loses its place.
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    async def _step_and_commit(
        self, tag: str, message: Inbound, loaded: Loaded, cid: str
    ) -> Handled:
        now = self.clock()
        profile = loaded.profile
        if loaded.over_limit:
            return await self._over_limit(tag, message, loaded, now, cid)
        ctx = Context(
            now=now,
            availability=await self.availability.get(now),
            pepper=self.pepper,
            profile_lang=profile.lang,
            expired=not loaded.stored and profile.open,
            last_booking=last_booking(profile.last),
            qr_images=self.qr_images,
        )
        outcome = step(loaded.session, message, ctx)
        refusals = [outcome.refused] if outcome.refused else []  # the dialogue's own
        replies = list(outcome.replies)
        pending = list(outcome.effects)
        news: list[News] = []  # (reference, kind) this turn's replies announce
        erased = False
        results: list[tuple[fx.Result, str]] = []  # for the event lines, once committed
        last = profile.last
        for _ in range(MAX_EFFECT_ROUNDS):
            if not pending:
                break
            result = await self._run(pending.pop(0), message.wa_id, tag, message.message_id)
            results.append((result, str(outcome.session.lang or profile.lang or "")))
            if isinstance(result, fx.Booked):
                last = result.booking.reference  # "Same as before?" at the next booking
            news += _news(result)
            if isinstance(result, fx.Forgotten):
                erased = True
                self.identities.forget(message.wa_id)
            metrics.record_result(result)
            if isinstance(result, fx.Refused) and result.reason in STALE_SLOT_REFUSALS:
                ctx = replace(ctx, availability=await self.availability.get(now, fresh=True))
            outcome = step(outcome.session, result, ctx)
            refusals += [outcome.refused] if outcome.refused else []
            replies += outcome.replies
            pending += outcome.effects
        if pending:
            # Committing would drop these effects (a booking asked for, never made)
            # without a word; nothing is committed and the message is given back.
            log.error("effect_loop", user=tag, effects=[type(e).__name__ for e in pending])
            raise EffectLoop(f"effects left after {MAX_EFFECT_ROUNDS} rounds")
        if erased:
            # Before the commit, under the citizen's lock: no reply of theirs is
            # being added meanwhile, and the commit queues the erasure's own.
            dropped = await self.store.drop_waiting(tag)
            log.info("erased_waiting_replies", user=tag, dropped=dropped)
        session = outcome.session
        await self.store.commit(
            tag,
            message.message_id,
            loaded,
            session=outcome.session,
            # Written every turn now, for "seen": one more small SET inside the script
            # that already writes the session, and the profile's TTL slides with use.
            profile=Profile(
                lang=session.lang or profile.lang,
                open=session.in_flow,
                seen=_seen(profile, message, now),
                last=last,  # a reference: the profile holds no name
                at=str(session.state) if session.in_flow else None,  # where it may expire
            ),
            entry=_entry(message.wa_id, tag, replies, news, cid),
            now_s=now.timestamp(),
            erase=erased,
            session_ttl_s=UNFINISHED_TTL_S if outcome.session.in_flow else SESSION_TTL_S,
        )
        # Only now: a turn given back (a Conflict, a failure) is stepped again and
        # would count twice.
        for result, lang in results:
            _event(result, tag, lang, cid)
        for reason in refusals:
            lang = str(session.lang or profile.lang or "")
            events.booking_refused(reason=str(reason), lang=lang, user=tag, via="chat", cid=cid)
        funnel.count_turn(
            before=str(loaded.session.state) if loaded.session is not None else None,
            after=str(session.state),
            lang=str(session.lang or ""),
            content=message.content,
            booked=any(isinstance(r, fx.Booked) for r, _ in results),
            expired_at=(profile.at or "") if ctx.expired else None,
        )
        if erased:
            await self.store.mark_erased(now.timestamp())
        return Handled("ok", str(session.state), len(replies))

    async def _over_limit(
        self, tag: str, message: Inbound, loaded: Loaded, now: datetime, cid: str
    ) -> Handled:
        """Too many messages this minute: one polite notice, then silence; the session stays."""
        metrics.RATE_LIMITED.inc()
        replies: list[Reply] = []
        if loaded.over_limit == 1:
            replies.append(Say(text(loaded.profile.lang or Lang.EN, "common.rate_limited")))
        await self.store.commit(
            tag,
            message.message_id,
            loaded,
            session=None,
            profile=None,
            entry=_entry(message.wa_id, tag, replies, [], cid),
            now_s=now.timestamp(),
        )
        return Handled("rate_limited", replies=len(replies))

    async def _run(self, effect: fx.Effect, wa_id: str, tag: str, message_id: str) -> fx.Result:
        """One effect; the waitlist's are keyed on `message_id`, as a booking is, so a
        retried turn is told what its first attempt did."""
        match effect:
            case fx.Book():
                return await repository.book(self.pool, wa_id, effect)
            case fx.ListBookings(also=also):
                return await repository.list_bookings(self.pool, wa_id, also)
            case fx.CancelBooking(reference=ref):
                cancelled = await repository.cancel(self.pool, wa_id, ref)
                self.place_freed()  # the waitlist's offer job runs now
                return cancelled
            case fx.MoveBooking(reference=ref, slot_id=slot_id, message_id=mid):
                return await repository.move(self.pool, wa_id, ref, slot_id, mid)
            case fx.ForgetMe():
                forgotten = await repository.forget(self.pool, wa_id)
                await waitlist.forget(self.pool, wa_id)
                return forgotten
            case fx.JoinWaitlist():
                return await waitlist.join(
                    self.pool, wa_id, effect, user=tag, message_id=message_id
                )
            case fx.LeaveWaitlist(entry_id=entry_id):
                return await waitlist.leave(
                    self.pool, wa_id, entry_id, user=tag, message_id=message_id
                )
            case fx.TakeOffer(offer_id=offer_id, message_id=mid):
                return await waitlist.take(self.pool, wa_id, offer_id, mid, user=tag)
            case fx.DeclineOffer(offer_id=offer_id):
                declined = await waitlist.decline(
                    self.pool, wa_id, offer_id, user=tag, message_id=message_id
                )
                self.place_freed()  # the place goes to the next citizen now
                return declined
        raise TypeError(f"unknown effect {type(effect).__name__}")

    async def _abort_quietly(self, tag: str, message_id: str, loaded: Loaded) -> None:
        try:
            await self.store.abort(tag, message_id, loaded)
        except Exception:  # noqa: BLE001 - the lease runs out on its own anyway
            log.warning("abort_failed", user=tag)


def _news(result: fx.Result) -> list[News]:
    match result:
        case fx.Booked(view):
            return [(view.reference, "booked")]
        case fx.Moved(view):
            return [(view.reference, "moved")]
        case fx.Cancelled(reference):
            return [(reference, "cancelled")]
    return []


def _event(result: fx.Result, user: str, lang: str, cid: str) -> None:
    match result:
        case fx.Booked(view):
            events.booking_made(
                reference=view.reference, centre=view.centre.code, slot=view.slot_id,
                lang=lang, user=user, via="chat", cid=cid,
            )  # fmt: skip
        case fx.Moved(view):
            events.booking_moved(
                reference=view.reference, centre=view.centre.code, slot=view.slot_id,
                lang=lang, user=user, cid=cid,
            )  # fmt: skip
        case fx.Cancelled(reference):
            events.booking_cancelled(reference=reference, lang=lang, user=user, cid=cid)
        case fx.Refused(reason=reason) if reason not in WAITLIST_REFUSALS:
            events.booking_refused(reason=str(reason), lang=lang, user=user, via="chat", cid=cid)


def _entry(
    wa_id: str, tag: str, replies: list[Reply], news: list[News], cid: str
) -> OutboxEntry | None:
    """The turn's replies as one outbox entry, each body serialised here, once. Each
    body carries the correlation id back to us in WhatsApp's status webhooks
    (`biz_opaque_callback_data`, see observe/delivery.py)."""
    if not replies:
        return None
    callback = callback_data(cid, news)
    # The QR image is not the ticket: its status must not mark or clear the news.
    plain = callback_data(cid, [])
    bodies = tuple(
        orjson.dumps(cloud_body(wa_id, reply, plain if isinstance(reply, CheckinQr) else callback))
        for reply in replies
    )
    return OutboxEntry(wa_id, tag, bodies, tuple(news), cid)


def _seen(profile: Profile, message: Inbound, now: datetime) -> int:
    """When the citizen last wrote, for the relay's 24-hour window: the message's own
    time (a redelivered old one does not reopen the window), never moving back."""
    sent = int(min(message.sent_at, now).timestamp())
    return sent if profile.seen is None else max(sent, profile.seen)


__all__ = ["AvailabilityCache", "EffectLoop", "Handled", "Outcome", "Pipeline", "RetryLater"]
