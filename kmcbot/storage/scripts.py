"""The Lua scripts run in Redis: each in its own file in lua/, shipped with the package."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def lua(name: str) -> str:
    """The text of lua/<name>.lua, read once per process."""
    return files("kmcbot.storage").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
