"""The metric names kmcbot's /metrics shows: its counters and histograms as
prometheus_client renders them, and the gauges read at scrape time (the e2e
test_metrics_scrape checks these against a real app's /metrics)."""

from __future__ import annotations

import re

from kmcbot import metrics

SCRAPE_GAUGES = {
    "kmcbot_outbox_depth",
    "kmcbot_outbox_oldest_age_seconds",
    "kmcbot_active_sessions",
    "kmcbot_senders_alive",
    "kmcbot_ready",
    "kmcbot_reminders_due",
    "kmcbot_sender_running",
}


def names_in(text: str) -> set[str]:
    """Every metric and sample name in a Prometheus text page."""
    found = set(re.findall(r"^# (?:HELP|TYPE) (\S+)", text, re.MULTILINE))
    found |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE))
    return found


def exported() -> set[str]:
    return names_in(metrics.render_counters().decode()) | SCRAPE_GAUGES
