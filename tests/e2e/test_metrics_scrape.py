"""A real app's /metrics: every gauge the alerts and the dashboard read at scrape time
is there (tests/support/exported.py lists them for the unit tests), with the values
of a healthy process."""

from __future__ import annotations

import re

from tests.support.exported import SCRAPE_GAUGES, names_in


async def test_the_scrape_shows_every_gauge_the_alerts_read(client, citizen) -> None:
    await citizen.say("Hi")  # the sender has run, and said it is alive
    resp = await client.get("/metrics")
    assert resp.status == 200
    page = await resp.text()
    assert names_in(page) >= SCRAPE_GAUGES, SCRAPE_GAUGES - names_in(page)
    values = dict(re.findall(r"^(kmcbot_(?:ready|senders_alive|sender_running)\S*) (\S+)$",
                             page, re.MULTILINE))  # fmt: skip
    assert values == {
        'kmcbot_ready{component="postgres"}': "1",
        'kmcbot_ready{component="redis"}': "1",
        "kmcbot_senders_alive": "1",
        "kmcbot_sender_running": "1",
    }
    assert re.search(r'^kmcbot_webhook_responses_total\{status="200"\} [1-9]', page, re.M)
