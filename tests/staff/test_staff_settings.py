"""KMCBOT_STAFF_SECRET: refused missing outside dev mode, refused short."""

from __future__ import annotations

import pytest

from kmcbot.settings import SettingsError, from_env

PROD = {"KMCBOT_APP_SECRET": "s", "KMCBOT_ID_PEPPER": "p"}


def test_serving_without_the_staff_secret_is_refused_outside_dev_mode() -> None:
    with pytest.raises(SettingsError, match="KMCBOT_STAFF_SECRET is not set"):
        from_env(PROD).check_for_serving()
    from_env({**PROD, "KMCBOT_STAFF_SECRET": "k" * 32}).check_for_serving()
    from_env({"KMCBOT_DEV": "1"}).check_for_serving()  # dev mode: a fixed development key


def test_a_short_staff_secret_is_refused() -> None:
    with pytest.raises(SettingsError, match="32 characters or more"):
        from_env({"KMCBOT_STAFF_SECRET": "too-short"})
    assert from_env({"KMCBOT_STAFF_SECRET": "k" * 32}).staff_secret == b"k" * 32


def test_the_on_list_template_is_a_setting() -> None:
    assert from_env({}).template_on_list == "kmcbot_on_list"
    assert from_env({"KMCBOT_TEMPLATE_ON_LIST": "x_list"}).template_on_list == "x_list"
