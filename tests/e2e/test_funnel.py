"""The conversation funnel (observe/funnel.py) after scripted conversations through
the signed webhook: the steps reached, by language and by how the citizen answered
(tap or typed), and where booking conversations end (booked, gave up, expired)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.support.e2e import days_ago, reach_confirm, start, typed
from tests.support.ids import aadhaar


def reached(step: str, answer: str, lang: str = "en") -> float:
    labels = {"step": step, "lang": lang, "answer": answer}
    return REGISTRY.get_sample_value("kmcbot_funnel_reached_total", labels) or 0.0


def ended(step: str, how: str, lang: str = "en") -> float:
    labels = {"step": step, "lang": lang, "how": how}
    return REGISTRY.get_sample_value("kmcbot_funnel_ended_total", labels) or 0.0


def snapshot() -> dict[tuple[str, ...], float]:
    steps = ("vaccine", "dose_date", "id_type", "id_number", "name", "centre", "day", "slot",
             "confirm", "menu", "resume")  # fmt: skip
    got: dict[tuple[str, ...], float] = {}
    for step in steps:
        for answer in ("tap", "typed"):
            got["reached", step, answer] = reached(step, answer)
        for how in ("booked", "gave_up", "expired"):
            got["ended", step, how] = ended(step, how)
    return got


def moved(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


async def test_a_booking_counts_each_step_reached_by_tap_or_typed_and_ends_booked(
    citizens,
) -> None:
    citizen = citizens("919800000211")
    await start(citizen)
    before = snapshot()
    slot_id = await reach_confirm(citizen, aadhaar(11))
    await citizen.tap(f"confirm:yes:{slot_id}")
    assert moved(before, snapshot()) == {
        ("reached", "vaccine", "tap"): 1,  # "Book" tapped
        ("reached", "dose_date", "tap"): 1,
        ("reached", "id_type", "typed"): 1,  # the first dose's date, typed
        ("reached", "id_number", "tap"): 1,
        ("reached", "name", "typed"): 1,
        ("reached", "centre", "typed"): 1,
        ("reached", "day", "tap"): 1,
        ("reached", "slot", "tap"): 1,
        ("reached", "confirm", "tap"): 1,
        ("reached", "menu", "tap"): 1,  # the ticket, with the menu
        ("ended", "confirm", "booked"): 1,
    }


async def test_leaving_for_the_menu_is_giving_up_at_that_step(citizens) -> None:
    citizen = citizens("919800000212")
    await start(citizen)
    await citizen.tap_earlier("menu:book")
    await citizen.tap("vaccine:covishield")
    await citizen.say(typed(days_ago(120)))
    before = snapshot()
    await citizen.say("menu")
    assert moved(before, snapshot()) == {
        ("reached", "menu", "typed"): 1,
        ("ended", "id_type", "gave_up"): 1,
    }


async def test_coming_back_after_the_session_expired_ends_it_as_expired_where_it_was(
    citizens,
) -> None:
    citizen = citizens("919800000213")
    await start(citizen)
    await citizen.tap_earlier("menu:book")
    await citizen.tap("vaccine:covishield")
    # 24 hours later: the session is gone, the profile remembers the open step.
    await citizen.redis.delete(*[k async for k in citizen.redis.scan_iter(match="*:s")])
    before = snapshot()
    await citizen.say("Hi")
    changed = moved(before, snapshot())
    assert changed[("ended", "dose_date", "expired")] == 1
