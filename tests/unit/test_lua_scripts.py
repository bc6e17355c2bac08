"""The Lua scripts in kmcbot/storage/lua/: each read by name, and each binds its
KEYS and ARGV to named locals at its top, so its body reads by name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kmcbot.storage.scripts import lua

LUA = Path(__file__).resolve().parents[2] / "kmcbot" / "storage" / "lua"
SCRIPTS = sorted(path.stem for path in LUA.glob("*.lua"))


def test_every_script_the_code_runs_is_a_file() -> None:
    assert {
        "begin",
        "commit",
        "abort",
        "take_tokens",
        "lease",
        "alive",
        "gone",
        "release",
        "ack",
        "remember",
        "recall",
    } <= set(SCRIPTS)


# `local a, b = KEYS[1], tonumber(ARGV[2])`: names for arguments, and nothing else.
_VALUE = r"(?:tonumber\()?(?:KEYS|ARGV)\[\d+\]\)?|\d+"
_BINDING = re.compile(rf"local [\w, ]+ = (?:{_VALUE})(?:, (?:{_VALUE}))*(?:\s+--.*)?")


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_binds_its_arguments_to_names_at_its_top(name: str) -> None:
    text = lua(name)
    assert text == (LUA / f"{name}.lua").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("--")]
    top = 0
    while top < len(lines) and _BINDING.fullmatch(lines[top]):
        top += 1
    assert top, f"{name}.lua binds no argument"
    body = "\n".join(lines[top:])
    assert not re.search(r"\b(KEYS|ARGV)\[", body), f"{name}.lua indexes KEYS/ARGV in its body"
