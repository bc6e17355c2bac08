"""The upload settings of issue 18 (finding 1): read, defaulted, bad values refused."""

from __future__ import annotations

import pytest

from kmcbot.settings import Settings, SettingsError, from_env


def test_upload_settings_default_and_read() -> None:
    assert (from_env({}).body_timeout_s, from_env({}).body_budget_mb) == (10.0, 32)
    settings = from_env({"KMCBOT_BODY_TIMEOUT_S": "2.5", "KMCBOT_BODY_BUDGET_MB": "64"})
    assert (settings.body_timeout_s, settings.body_budget_mb) == (2.5, 64)
    assert Settings().body_timeout_s == 10.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KMCBOT_BODY_TIMEOUT_S", "0"),
        ("KMCBOT_BODY_TIMEOUT_S", "soon"),
        ("KMCBOT_BODY_TIMEOUT_S", "301"),
        ("KMCBOT_BODY_TIMEOUT_S", "nan"),
        ("KMCBOT_BODY_BUDGET_MB", "2"),
        ("KMCBOT_BODY_BUDGET_MB", "lots"),
    ],
)
def test_bad_upload_settings_are_refused_with_their_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        from_env({name: value})
