"""The pipeline's own promises, against real PostgreSQL and Redis: a message it
cannot finish is given back (lease and lock), and a bug in the step is loud."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from structlog.testing import capture_logs

from kmcbot import pipeline as pipeline_module
from kmcbot.booking.commands import ListBookings
from kmcbot.booking.model import Refusal
from kmcbot.booking.repository import load_availability
from kmcbot.dialogue.core import Outcome
from kmcbot.dialogue.model import Lang, Session, State, session_to_dict
from kmcbot.messages import Inbound, Text
from kmcbot.pipeline import AvailabilityCache, EffectLoop, Pipeline
from kmcbot.storage.keys import user_tag
from kmcbot.storage.sessions import Begin, SessionStore
from tests.support.relay import outbox

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
