"""The sample Grafana dashboard only uses metrics kmcbot exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kmcbot import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"
SCRAPE_GAUGES = {
    "kmcbot_outbox_depth",
    "kmcbot_outbox_oldest_age_seconds",
    "kmcbot_active_sessions",
}


def exported() -> set[str]:
    names = set(SCRAPE_GAUGES)
    for metric in (
        metrics.INBOUND,
        metrics.HANDLED,
        metrics.REPLIES_SENT,
        metrics.REPLIES_FAILED,
        metrics.BOOKINGS,
        metrics.RATE_LIMITED,
    ):
        names.add(metric._name + "_total")
    names.add(metrics.WEBHOOK_SECONDS._name + "_bucket")
    return names


def test_every_panel_queries_an_exported_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"kmcbot_[a-z_]+", target["expr"])
    }
    assert used and used <= exported(), used - exported()
