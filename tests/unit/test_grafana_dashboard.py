"""The sample Grafana dashboard loads (valid JSON, every panel with a query) and
only uses metrics kmcbot's /metrics shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.exported import exported

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"


def queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_every_panel_queries_an_exported_metric() -> None:
    used = {name for _, expr in queries() for name in re.findall(r"kmcbot_[a-z_]+", expr)}
    assert used and used <= exported(), used - exported()


def test_every_panel_has_a_query_and_a_place_of_its_own() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel
    spots = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in dashboard["panels"]]
    assert len(spots) == len(set(spots))


def test_the_funnel_delivery_and_events_panels_are_there() -> None:
    exprs = " ".join(expr for _, expr in queries())
    for name in ("kmcbot_funnel_reached_total", "kmcbot_funnel_ended_total",
                 "kmcbot_deliveries_total", "kmcbot_notices_failed_total",
                 "kmcbot_bookings_total"):  # fmt: skip
        assert name in exprs, name
