"""The alerting rules in deploy/ (README, "Alerts"): valid, each tested by
`promtool test rules` (Debian's `prometheus` package ships /usr/bin/promtool),
each with a runbook paragraph, and only over metrics kmcbot exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.exported import exported

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "alerts.yml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)


def alert_names() -> list[str]:
    return re.findall(r"^\s+- alert: (\w+)", RULES.read_text(), re.MULTILINE)


@needs_promtool
def test_the_rules_are_valid() -> None:
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_unit_tests_of_every_alert_pass() -> None:
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts.test.yml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO / "deploy",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", (REPO / "deploy/alerts.test.yml").read_text()))
    assert tested == set(alert_names())


def test_each_alert_has_a_runbook_paragraph() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Alerts", 1)[1].split("\n## ", 1)[0]
    for name in alert_names():
        assert f"\n#### {name}\n" in section, name
        assert f"runbook: README.md#{name.lower()}" in RULES.read_text(), name


def test_the_rules_use_only_metrics_kmcbot_exports() -> None:
    used = set(re.findall(r"kmcbot_[a-z_]+", RULES.read_text()))
    assert used and used <= exported(), used - exported()
