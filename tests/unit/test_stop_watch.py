"""The stop of a serving process, as logic (tests/reliability/test_workers.py runs it)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.web_runner import GracefulExit

from kmcbot.web.workers import StopWatch


def test_only_the_first_signal_starts_the_graceful_stop() -> None:
    """A second SIGTERM (the parent's, after the whole group's) would make aiohttp
    cancel every task mid-stop; it is ignored instead."""
    loop = asyncio.new_event_loop()
    stop = StopWatch(loop)
    try:
        assert not stop.begun.is_set()
        with pytest.raises(GracefulExit):
            stop.on_signal()
        assert stop.begun.is_set()
        stop.on_signal()  # returns: nothing more happens
    finally:
        stop.done.set()  # the app returned: the watch thread ends without exiting
        loop.close()
