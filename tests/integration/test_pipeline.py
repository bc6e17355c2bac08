"""The pipeline's own promises, against real PostgreSQL and Redis: a message it
cannot finish is given back (lease and lock), and a bug in the step is loud."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from structlog.testing import capture_logs

from kmcbot import pipeline as pipeline_module
from kmcbot.booking.commands import DeclineOffer, LeaveWaitlist, ListBookings
from kmcbot.booking.model import Refusal
from kmcbot.booking.repository import load_availability
from kmcbot.dialogue.core import Outcome
from kmcbot.dialogue.model import Lang, Session, State, session_to_dict
from kmcbot.messages import Inbound, Say, Text
from kmcbot.pipeline import AvailabilityCache, EffectLoop, Pipeline
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import Begin, SessionStore
from kmcbot.waitlist import store
from tests.support.factories import make_centre, make_slot
from tests.support.relay import outbox
from tests.support.waitlist import join_effect

PEPPER = b"pipeline-test-pepper"
WA_ID = "919800000001"
TAG = user_tag(PEPPER, WA_ID)


def pipeline_of(pg, store: SessionStore) -> Pipeline:
    return Pipeline(store, pg, AvailabilityCache(lambda now: load_availability(pg, now)), PEPPER)


def hi(n: int = 1) -> Inbound:
    return Inbound(WA_ID, f"wamid.pipeline.{n}", datetime.now(UTC), Text("Hi"))


class SavedMeanwhile(SessionStore):
    """A store whose first commit meets a session saved meanwhile by another holder
    (its lock had expired mid-step): the commit's compare-and-set fails."""

    conflicts = 1

    async def commit(self, tag, message_id, loaded, **kw) -> None:
        if self.conflicts:
            self.conflicts -= 1
            newer = Session(State.MENU, Lang.EN, datetime.now(UTC))
            stored = f"{loaded.version + 1}:".encode() + orjson.dumps(session_to_dict(newer))
            await self.redis.set(self.keys(tag)["session"], stored)  # type: ignore[attr-defined]
        await super().commit(tag, message_id, loaded, **kw)


async def test_a_session_conflict_is_stepped_again_at_once(pg, redis) -> None:
    store = SavedMeanwhile(redis)
    handled = await pipeline_of(pg, store).handle(hi())
    assert handled.outcome == "ok" and store.conflicts == 0
    assert len(await outbox(redis)) == 1  # the reply of the second try, once
    assert (await store.begin(TAG, "wamid.pipeline.2")).status is Begin.OK  # lock given back


async def test_a_step_that_keeps_asking_for_effects_fails_loudly_and_gives_the_message_back(
    pg, redis, monkeypatch
) -> None:
    def endless(session, event, ctx) -> Outcome:
        return Outcome(Session(State.MENU, Lang.EN, ctx.now), (), (ListBookings(),))

    monkeypatch.setattr(pipeline_module, "step", endless)
    store = SessionStore(redis)
    with pytest.raises(EffectLoop):
        await pipeline_of(pg, store).handle(hi())
    assert await outbox(redis) == []  # nothing half-done was committed
    assert (await store.begin(TAG, "wamid.pipeline.1")).status is Begin.OK  # given back


async def test_a_booking_the_dialogue_refused_itself_is_an_event_line_once_committed(
    pg, redis, monkeypatch
) -> None:
    # The dialogue refuses this number's fifth booking (and an ID it already booked)
    # before asking PostgreSQL: the shell logs it like PostgreSQL's refusals.
    def refusing(session, event, ctx) -> Outcome:
        return Outcome(Session(State.MENU, Lang.BN, ctx.now), (), refused=Refusal.NUMBER_LIMIT)

    monkeypatch.setattr(pipeline_module, "step", refusing)
    with capture_logs() as logs:
        await pipeline_of(pg, SessionStore(redis)).handle(hi(), cid="c0ffee")
    [line] = [e for e in logs if e["event"] == "booking_refused"]
    assert line["reason"] == "number_limit" and line["via"] == "chat" and line["lang"] == "bn"
    assert line["user"] == TAG and line["cid"] == "c0ffee"


async def test_a_redelivered_message_teaches_no_pair_again(pg, redis) -> None:
    """A handled message delivered again (to another process: nothing in its memory)
    is a duplicate before it costs a write, and does not undo a pair that moved
    since (the citizen changed number: sql/012)."""
    user_id, moved_to = "IN.1502576394655843", "919800000099"
    first = Inbound(WA_ID, "wamid.pipeline.pair", datetime.now(UTC), Text("Hi"), user_id)
    assert (await pipeline_of(pg, SessionStore(redis)).handle(first)).outcome == "ok"
    pair = "SELECT wa_id FROM citizen_ids WHERE user_id = $1"
    assert await pg.fetchval(pair, user_id) == WA_ID
    await pg.execute("UPDATE citizen_ids SET wa_id = $1", moved_to)
    again = await pipeline_of(pg, SessionStore(redis)).handle(first)
    assert again.outcome == "duplicate"
    assert await pg.fetchval(pair, user_id) == moved_to


class LostAfterEffects(SessionStore):
    """A store whose first commit fails (Redis away, or the lease ran out) after the
    turn's effects were committed in PostgreSQL: WhatsApp delivers the message again."""

    failures = 1

    async def commit(self, tag, message_id, loaded, **kw) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Redis went away")
        await super().commit(tag, message_id, loaded, **kw)


async def _offer_to(pg, wa_id: str) -> int:
    await make_slot(pg, await make_centre(pg), capacity=1)
    await store.join(pg, wa_id, join_effect(1))
    [offer] = (await store.run_offers(pg, datetime.now(UTC), timedelta(minutes=30))).made
    return offer


@pytest.mark.parametrize("effect", ["join", "leave", "decline", "decline_typed"])
async def test_a_retried_waitlist_turn_answers_as_the_first_did(
    pg, redis, monkeypatch, effect
) -> None:
    """The waitlist's effects are keyed on the message, as a booking is: the retry
    of a turn whose effect was committed is told what the first attempt did, not
    "already on the waitlist" / "not on the waitlist" / "no offer"."""
    if effect == "join":
        asked = join_effect(1)
    elif effect == "leave":
        await store.join(pg, WA_ID, join_effect(1))
        asked = LeaveWaitlist(None)
    else:
        offer = await _offer_to(pg, WA_ID)
        asked = DeclineOffer(offer if effect == "decline" else None)

    def stepping(session, event, ctx) -> Outcome:
        menu = Session(State.MENU, Lang.EN, ctx.now)
        if isinstance(event, Inbound):
            return Outcome(menu, (), (asked,))
        return Outcome(menu, (Say(repr(event)),))  # the result, as the citizen is told

    monkeypatch.setattr(pipeline_module, "step", stepping)
    lost = LostAfterEffects(redis)
    with pytest.raises(ConnectionError):
        await pipeline_of(pg, lost).handle(hi())
    assert (await pipeline_of(pg, lost).handle(hi())).outcome == "ok"
    [reply] = await outbox(redis)
    told = reply["text"]["body"]
    assert (
        told
        == {
            "join": "Joined(position=1)",
            "leave": "WaitlistLeft(entries=1)",
            "decline": "OfferDeclined(found=True, typed=False)",
            "decline_typed": "OfferDeclined(found=True, typed=True)",
        }[effect]
    )
    # Another message is another request: told what is true now.
    again = await pipeline_of(pg, SessionStore(redis)).handle(hi(2))
    assert again.outcome == "ok"
    assert (await outbox(redis))[-1]["text"]["body"] != told
